/**
 * The user directory: who may log on, and what the gateway publishes about them.
 * Loaded from a JSON file (`--users`) or, when none is given, the bundled demo users.
 */
import { readFile } from 'node:fs/promises';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parsePasswordHash, verifyPassword } from './password.js';

/** What the rest of the gateway sees of a user; credentials never leave this module. */
export interface UserRecord {
  login: string;
  uri: string;
  displayName: string;
  email?: string;
  title?: string;
  office?: string;
  phone?: string;
  company?: string;
  firstName?: string;
  lastName?: string;
  homePhone?: string;
  cellPhone?: string;
  otherPhone?: string;
  city?: string;
  state?: string;
  country?: string;
}

/** One entry of the users file: a record plus exactly one of `password` / `passwordHash`. */
export interface UserEntry extends Partial<UserRecord> {
  password?: string;
  passwordHash?: string;
}

/** A users file (or entry list) that cannot be used; the message names the file and entry. */
export class UserDirectoryError extends Error {
  override name = 'UserDirectoryError';
}

const OPTIONAL_FIELDS = [
  'email', 'title', 'office', 'phone', 'company', 'firstName', 'lastName',
  'homePhone', 'cellPhone', 'otherPhone', 'city', 'state', 'country',
] as const;
const KNOWN_KEYS = new Set<string>(['login', 'uri', 'displayName', 'password', 'passwordHash', ...OPTIONAL_FIELDS]);

interface Account {
  record: Readonly<UserRecord>;
  /** sha256 of a clear-text password, so the comparison is constant-time whatever the lengths. */
  passwordDigest?: Buffer;
  passwordHash?: string;
  clearPassword?: string; // kept only for the demo directory, to print its credentials
}

const DEMO_DOMAIN = 'example.com';
const DEMO_USERS: ReadonlyArray<Omit<UserRecord, 'uri' | 'email' | 'company' | 'firstName' | 'lastName'>> = [
  { login: 'alice', displayName: 'Alice Anders', title: 'Engineering Manager', office: 'Building 1, 4/112', phone: '+1 425 555 0101' },
  { login: 'bob', displayName: 'Bob Brennan', title: 'Software Engineer', office: 'Building 1, 4/118', phone: '+1 425 555 0102' },
  { login: 'carol', displayName: 'Carol Chen', title: 'Product Manager', office: 'Building 2, 2/204', phone: '+1 425 555 0103' },
  { login: 'dave', displayName: 'Dave Dawson', title: 'Support Engineer', office: 'Building 3, 1/010', phone: '+1 425 555 0104' },
  { login: 'erin', displayName: 'Erin Evans', title: 'Sales Director', office: 'Building 2, 3/301', phone: '+1 425 555 0105' },
];

/**
 * The one form of a logon name that its spellings share, whether or not such a user exists:
 * without case, a `sip:` scheme, a `DOMAIN\` or an `@domain`. Logon throttling counts failures
 * by it; since it does not look at the directory, a throttled answer cannot tell who exists.
 */
export function canonicalLogonName(name: string | undefined): string {
  if (typeof name !== 'string') return '';
  let n = name.trim().toLowerCase();
  if (n.startsWith('sip:')) n = n.slice(4);
  n = n.slice(n.lastIndexOf('\\') + 1);
  const at = n.indexOf('@');
  return at > 0 ? n.slice(0, at) : n;
}

/** scrypt parameters of a stored hash: what verifying a password against it costs. */
export interface HashCost {
  N: number;
  r: number;
  p: number;
  keyLength: number;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** "Alice van Anders" -> first "Alice", last "van Anders"; a single word is a first name only. */
function splitDisplayName(displayName: string): { firstName?: string; lastName?: string } {
  const words = displayName.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return {};
  if (words.length === 1) return { firstName: words[0] };
  return { firstName: words[0], lastName: words.slice(1).join(' ') };
}

function validateEntry(raw: unknown, where: string): Account {
  const fail = (msg: string): never => { throw new UserDirectoryError(`${where}: ${msg}`); };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be an object');
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!KNOWN_KEYS.has(key)) fail(`unknown field "${key}" (allowed: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const requireString = (key: string): string => {
    const v = e[key];
    if (typeof v !== 'string' || v.trim() === '') fail(`missing or empty "${key}"`);
    return (v as string).trim();
  };
  const login = requireString('login');
  if (/[\s\\]/.test(login)) fail(`"login" must not contain whitespace or a backslash: "${login}"`);
  let uri = requireString('uri');
  if (!/^sip:\S+$/i.test(uri)) fail(`"uri" must be a SIP URI starting with "sip:", got "${uri}"`);
  uri = 'sip:' + uri.slice(4); // emit the scheme in the canonical lower case
  const displayName = requireString('displayName');

  const record: UserRecord = { login, uri, displayName };
  for (const key of OPTIONAL_FIELDS) {
    const v = e[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') fail(`"${key}" must be a string`);
    record[key] = v as string;
  }
  const names = splitDisplayName(displayName);
  record.firstName ??= names.firstName;
  record.lastName ??= names.lastName;
  for (const key of ['firstName', 'lastName'] as const) if (record[key] === undefined) delete record[key];

  const hasPassword = e.password !== undefined;
  const hasHash = e.passwordHash !== undefined;
  if (hasPassword === hasHash) fail('exactly one of "password" or "passwordHash" is required');
  const account: Account = { record: Object.freeze(record) };
  if (hasPassword) {
    if (typeof e.password !== 'string' || e.password === '') fail('"password" must be a non-empty string');
    account.passwordDigest = sha256(e.password as string);
    account.clearPassword = e.password as string;
  } else {
    if (typeof e.passwordHash !== 'string' || !parsePasswordHash(e.passwordHash)) {
      fail('"passwordHash" is not a valid "scrypt$N$r$p$salt$hash" string (make one with `cwa-gateway hash-password`)');
    }
    account.passwordHash = e.passwordHash as string;
  }
  return account;
}

export class UserDirectory {
  private readonly byLogin = new Map<string, Account>();
  private readonly byUri = new Map<string, Account>();
  private readonly demo: boolean;
  /**
   * The scrypt costs of the stored hashes, each with how many accounts use it (none in an
   * all-clear-text directory); decides what an unknown login costs (see authenticate).
   */
  private readonly costs: { cost: HashCost; accounts: number; dummy: string }[];
  /** Keys the choice of a dummy cost per name: secret (it covers the stored hashes), stable across restarts. */
  private readonly costKey: Buffer;

  private constructor(accounts: Account[], source: string, demo: boolean) {
    accounts.forEach((acc, i) => {
      const login = acc.record.login.toLowerCase();
      const uri = acc.record.uri.toLowerCase();
      if (this.byLogin.has(login)) throw new UserDirectoryError(`${source}: users[${i}]: duplicate login "${acc.record.login}"`);
      if (this.byUri.has(uri)) throw new UserDirectoryError(`${source}: users[${i}]: duplicate uri "${acc.record.uri}"`);
      this.byLogin.set(login, acc);
      this.byUri.set(uri, acc);
    });
    this.demo = demo;
    const byCost = new Map<string, { cost: HashCost; accounts: number; dummy: string }>();
    const secret = createHash('sha256');
    for (const acc of accounts) {
      secret.update(acc.passwordHash ?? acc.passwordDigest ?? '').update('\n');
      const parsed = acc.passwordHash === undefined ? undefined : parsePasswordHash(acc.passwordHash);
      if (!parsed) continue;
      const cost = { N: parsed.N, r: parsed.r, p: parsed.p, keyLength: parsed.key.length };
      const id = `${cost.N}$${cost.r}$${cost.p}$${cost.keyLength}`;
      const known = byCost.get(id);
      if (known) known.accounts += 1;
      else {
        // A stored hash no password matches (its key is random): verifying against it costs what a real one does.
        const dummy = ['scrypt', cost.N, cost.r, cost.p, randomBytes(16).toString('base64url'), randomBytes(cost.keyLength).toString('base64url')].join('$');
        byCost.set(id, { cost, accounts: 1, dummy });
      }
    }
    this.costs = [...byCost.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, c]) => c);
    this.costKey = secret.digest();
  }

  /** Loads and validates a users file; every problem is reported with the file and entry index. */
  static async fromFile(path: string): Promise<UserDirectory> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new UserDirectoryError(`${path}: cannot read users file: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new UserDirectoryError(`${path}: invalid JSON: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { users?: unknown }).users)) {
      throw new UserDirectoryError(`${path}: expected an object { "users": [ ... ] }`);
    }
    return UserDirectory.build((doc as { users: unknown[] }).users, path, false);
  }

  /** Builds a directory from in-memory entries (tests, embedding); same rules as a file. */
  static fromRecords(entries: readonly UserEntry[]): UserDirectory {
    return UserDirectory.build(entries, 'users', false);
  }

  /** Five users at example.com whose password is the login followed by "-demo". */
  static demo(): UserDirectory {
    const entries: UserEntry[] = DEMO_USERS.map((u) => ({
      ...u,
      uri: `sip:${u.login}@${DEMO_DOMAIN}`,
      email: `${u.login}@${DEMO_DOMAIN}`,
      company: 'Example Corp',
      password: `${u.login}-demo`,
    }));
    return UserDirectory.build(entries, 'demo users', true);
  }

  private static build(entries: readonly unknown[], source: string, demo: boolean): UserDirectory {
    if (entries.length === 0) throw new UserDirectoryError(`${source}: the "users" list is empty`);
    const accounts = entries.map((e, i) => validateEntry(e, `${source}: users[${i}]`));
    return new UserDirectory(accounts, source, demo);
  }

  get isDemo(): boolean {
    return this.demo;
  }

  /** The demo logins and passwords, for the start-up warning; empty for a real directory. */
  demoCredentials(): { login: string; password: string }[] {
    if (!this.demo) return [];
    return [...this.byLogin.values()].map((a) => ({ login: a.record.login, password: a.clearPassword ?? '' }));
  }

  /** Resolves the `<user>` of a logon: `login`, `DOMAIN\login`, `login@domain` or the SIP URI. */
  findByLogonName(name: string): UserRecord | undefined {
    return this.findAccount(name)?.record;
  }

  findByUri(uri: string): UserRecord | undefined {
    if (typeof uri !== 'string') return undefined;
    return this.byUri.get(uri.trim().toLowerCase())?.record;
  }

  all(): UserRecord[] {
    return [...this.byLogin.values()].map((a) => a.record);
  }

  /**
   * Checks a logon. The work done does not depend on whether the login exists: in a directory
   * holding any scrypt hash, every attempt runs one scrypt (a dummy one for unknown logins and
   * clear-text accounts, see dummyHashFor); in an all-clear-text directory, none does.
   */
  async authenticate(user: string, password: string): Promise<UserRecord | null> {
    if (typeof password !== 'string') password = '';
    const account = typeof user === 'string' ? this.findAccount(user) : undefined;
    if (account?.passwordHash !== undefined) {
      return (await verifyPassword(password, account.passwordHash)) ? account.record : null;
    }
    const expected = account?.passwordDigest ?? sha256(randomBytes(16).toString('hex'));
    const match = timingSafeEqual(sha256(password), expected);
    const dummy = this.dummyHashFor(user);
    if (dummy !== undefined) await verifyPassword(password, dummy);
    return account && match ? account.record : null;
  }

  /**
   * The stored hash an unknown login (or a clear-text account) is verified against, so that it
   * costs what a real user's does: one of the directory's scrypt costs, picked for the name's
   * canonical form (the same for every spelling and every attempt) in proportion to how many
   * accounts use it. Unknown names thus spread over the costs as real users do: no cost
   * singles out real users (as the most common or the largest one would, for the users with
   * other costs), and repeating a name shows no variation (as a random pick per attempt would).
   * Undefined when no account has a hash.
   */
  dummyHashFor(name: string | undefined): string | undefined {
    if (this.costs.length === 0) return undefined;
    const total = this.costs.reduce((n, c) => n + c.accounts, 0);
    let at = createHmac('sha256', this.costKey).update(canonicalLogonName(name)).digest().readUInt32BE(0) % total;
    for (const c of this.costs) {
      if (at < c.accounts) return c.dummy;
      at -= c.accounts;
    }
    return this.costs[this.costs.length - 1]!.dummy;
  }

  private findAccount(name: string): Account | undefined {
    if (typeof name !== 'string') return undefined;
    const n = name.trim().toLowerCase();
    if (n === '') return undefined;
    const exact = this.byLogin.get(n);
    if (exact) return exact;
    if (n.startsWith('sip:')) return this.byUri.get(n);
    const viaUri = this.byUri.get('sip:' + n);
    if (viaUri) return viaUri;
    const backslash = n.lastIndexOf('\\');
    if (backslash >= 0) return this.byLogin.get(n.slice(backslash + 1));
    const at = n.indexOf('@');
    if (at > 0) return this.byLogin.get(n.slice(0, at));
    return undefined;
  }
}
