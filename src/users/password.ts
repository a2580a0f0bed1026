/**
 * Password hashing for the user directory.
 *
 * Stored format (one string, `$`-separated, no spaces):
 *
 *   scrypt$<N>$<r>$<p>$<saltBase64url>$<hashBase64url>
 *
 * - N, r, p: scrypt cost parameters as decimal integers (N a power of two).
 * - salt: random bytes (16 by default), base64url without padding.
 * - hash: the derived key (32 bytes by default), base64url without padding.
 *
 * Example: `scrypt$16384$8$1$q2x...$Jk9...`. `cwa-gateway hash-password` prints such strings.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface HashOptions {
  N?: number;
  r?: number;
  p?: number;
  saltBytes?: number;
  keyLength?: number;
}

export const DEFAULT_HASH_OPTIONS: Required<HashOptions> = {
  N: 16384,
  r: 8,
  p: 1,
  saltBytes: 16,
  keyLength: 32,
};

// Bounds on what a stored string may ask of us: a hostile or corrupt users file must not be
// able to make one logon burn seconds of CPU or gigabytes of memory.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const MIN_KEY = 16;
const MAX_KEY = 128;
const MIN_SALT = 8;
const MAX_SALT = 64;

function scrypt(password: string, salt: Buffer, keyLength: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keyLength, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

// Node's default maxmem (32 MiB) is below 128*N*r for the largest N we accept.
function maxmemFor(N: number, r: number, p: number): number {
  return 128 * N * r + 128 * r * p + 64 * 1024 * 1024;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

function checkParams(N: number, r: number, p: number): boolean {
  return isPowerOfTwo(N) && N <= MAX_N && Number.isInteger(r) && r >= 1 && r <= MAX_R
    && Number.isInteger(p) && p >= 1 && p <= MAX_P;
}

export async function hashPassword(password: string, opts: HashOptions = {}): Promise<string> {
  const { N, r, p, saltBytes, keyLength } = { ...DEFAULT_HASH_OPTIONS, ...opts };
  if (!checkParams(N, r, p)) throw new RangeError(`invalid scrypt parameters N=${N} r=${r} p=${p}`);
  if (!(saltBytes >= MIN_SALT && saltBytes <= MAX_SALT)) throw new RangeError(`saltBytes must be ${MIN_SALT}..${MAX_SALT}`);
  if (!(keyLength >= MIN_KEY && keyLength <= MAX_KEY)) throw new RangeError(`keyLength must be ${MIN_KEY}..${MAX_KEY}`);
  const salt = randomBytes(saltBytes);
  const key = await scrypt(password, salt, keyLength, { N, r, p, maxmem: maxmemFor(N, r, p) });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const INT = /^[1-9][0-9]{0,9}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Parses a stored hash; returns undefined for anything malformed or out of bounds. */
export function parsePasswordHash(stored: string): ParsedHash | undefined {
  if (typeof stored !== 'string') return undefined;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, nS, rS, pS, saltS, keyS] = parts as [string, string, string, string, string, string];
  if (!INT.test(nS) || !INT.test(rS) || !INT.test(pS)) return undefined;
  if (!B64URL.test(saltS) || !B64URL.test(keyS)) return undefined;
  const N = Number(nS), r = Number(rS), p = Number(pS);
  if (!checkParams(N, r, p)) return undefined;
  const salt = Buffer.from(saltS, 'base64url');
  const key = Buffer.from(keyS, 'base64url');
  if (salt.length < MIN_SALT || salt.length > MAX_SALT) return undefined;
  if (key.length < MIN_KEY || key.length > MAX_KEY) return undefined;
  return { N, r, p, salt, key };
}

export function isPasswordHash(stored: string): boolean {
  return parsePasswordHash(stored) !== undefined;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed || typeof password !== 'string') return false;
  const { N, r, p, salt, key } = parsed;
  try {
    const derived = await scrypt(password, salt, key.length, { N, r, p, maxmem: maxmemFor(N, r, p) });
    return timingSafeEqual(derived, key);
  } catch {
    return false;
  }
}
