// Token buckets keyed by client address, ticket or login. A bucket holds up to `burst`
// tokens and refills at `ratePerS`; each request takes one. Memory is bounded: a bucket
// that has refilled completely is the same as no bucket and is swept, and past
// `maxKeys` the least recently used bucket is dropped (that key starts afresh).
// `charge` may take a bucket below zero: what is counted after the fact (a failed logon)
// cannot be refused, so attempts that raced past `check` are paid for with a longer wait.
import type { Clock } from '../engine/clock.js';

export interface RateLimitSpec {
  /** Tokens added per second; 0 disables the limiter. */
  ratePerS: number;
  /** Bucket capacity: requests accepted at once. */
  burst: number;
}

export type TakeOutcome = { ok: true } | { ok: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

const DEFAULT_MAX_KEYS = 100_000;
const SWEEP_EVERY = 1_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private takesSinceSweep = 0;
  /** The key last put at the end of `buckets` (the most recently used): taken again, it is already in its place. */
  private newest: string | undefined;

  constructor(
    readonly spec: RateLimitSpec,
    private readonly clock: Clock,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {}

  get enabled(): boolean {
    return this.spec.ratePerS > 0;
  }

  /** Takes `cost` tokens from `key`'s bucket, or says how long to wait for them. */
  take(key: string, cost = 1): TakeOutcome {
    if (!this.enabled) return { ok: true };
    const bucket = this.refill(key);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      this.maybeSweep();
      return { ok: true };
    }
    return { ok: false, retryAfterS: this.secondsUntil(bucket, cost) };
  }

  /** Like `take` but takes nothing: would `cost` tokens be available now? */
  check(key: string, cost = 1): TakeOutcome {
    if (!this.enabled) return { ok: true };
    const existing = this.buckets.get(key);
    if (!existing) return { ok: true };
    const bucket = this.refill(key);
    return bucket.tokens >= cost ? { ok: true } : { ok: false, retryAfterS: this.secondsUntil(bucket, cost) };
  }

  /**
   * Takes `cost` tokens whatever the bucket holds, down to `floor` at most (a debt that
   * delays the next `check`); returns the tokens left, negative when in debt.
   */
  charge(key: string, cost = 1, floor = -Infinity): number {
    if (!this.enabled) return this.spec.burst;
    const bucket = this.refill(key);
    bucket.tokens = Math.max(floor, bucket.tokens - cost);
    this.maybeSweep();
    return bucket.tokens;
  }

  /** Buckets held (for tests and metrics). */
  size(): number {
    return this.buckets.size;
  }

  /** Drops every bucket that has refilled completely. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.spec.ratePerS >= this.spec.burst) {
        this.buckets.delete(key);
        if (key === this.newest) this.newest = undefined;
      }
    }
    this.takesSinceSweep = 0;
  }

  private refill(key: string): Bucket {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.spec.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.spec.ratePerS);
      bucket.at = now;
      if (key === this.newest) return bucket;
      // Re-insert so that Map order is least recently used first.
      this.buckets.delete(key);
    } else {
      bucket = { tokens: this.spec.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.evict();
    }
    this.buckets.set(key, bucket);
    this.newest = key;
    return bucket;
  }

  private evict(): void {
    this.sweep();
    while (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done) break;
      this.buckets.delete(oldest.value);
      if (oldest.value === this.newest) this.newest = undefined;
    }
  }

  private maybeSweep(): void {
    if (++this.takesSinceSweep >= SWEEP_EVERY) this.sweep();
  }

  private secondsUntil(bucket: Bucket, cost: number): number {
    const missing = Math.min(cost, this.spec.burst) - bucket.tokens;
    return Math.max(1, Math.ceil(missing / this.spec.ratePerS));
  }
}

/**
 * The rate-limit key of a client address: IPv4 as is (IPv4-mapped IPv6 included), IPv6
 * by its /64 prefix, since one client usually holds a whole /64 and could otherwise
 * walk through addresses to get fresh buckets.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  // Requests come from a few addresses, one after another (a proxy, a client's connection): the last one is remembered.
  if (address === lastAddress) return lastKey;
  const key = keyOf(address);
  lastAddress = address;
  lastKey = key;
  return key;
}

let lastAddress = '';
let lastKey = '';

function keyOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head = '', tail = ''] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = bare.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
