// Password guessing is slowed without ever locking the owner out (OWASP's guidance on
// account lockout): failures are counted per (user, client address) and per client
// address, and only attempts from an address with failures are made to wait. A user's
// failures from all addresses together (a guesser spread over many addresses) only delay
// the answers to wrong passwords: the right password is never refused or delayed for
// failures made elsewhere.
//
// - (user, address): `backoffAfter` failures are free; after that each attempt from
//   there waits a delay that doubles with every further failure (1 s, 2 s, 4 s, … up to
//   `backoffMaxS`). A successful logon from there clears it; otherwise it is forgotten an
//   hour (or twice `backoffMaxS`, if longer) after the last failure. Attempts checked at
//   the same time count: once past the free ones, one attempt at a time.
// - address: `failuresPerAddress` failed logons a minute (and at once), whatever the user.
// - user: past `failuresPerUser` failures a minute from anywhere, a wrong password's
//   answer is held until the user's rate is back under it, at most `holdMaxMs`.
//
// Users are keyed by `canonicalLogonName`, which does not depend on whether the user
// exists, so a throttled answer tells nothing about who does.
import type { Clock } from '../engine/clock.js';
import { RateLimiter } from './rate-limit.js';

export interface LogonGuardSpec {
  /** Failed logons per minute (and at once) from one address; 0 turns the limit off. */
  failuresPerAddress: number;
  /** Failed logons of one user from one address before attempts from there wait; 0: off. */
  backoffAfter: number;
  /** Longest wait imposed on one (user, address). */
  backoffMaxS: number;
  /** Failed logons per minute (and at once) for one user from all addresses; 0: off. */
  failuresPerUser: number;
  /** Longest time a wrong password's answer is held once the user's rate is exceeded. */
  holdMaxMs: number;
}

export type LogonRefusal = { ok: false; limit: 'logonFailures' | 'logonUserAddress'; retryAfterS: number };

/** An attempt let through: say how it ended, exactly once. */
export interface LogonAttempt {
  ok: true;
  succeeded(): void;
  /** Records the failure; returns how long (ms) to hold the answer. */
  failed(): number;
}

interface Pair {
  failures: number;
  /** Attempts let through and not yet ended. */
  pending: number;
  /** No attempt before this time (ms). */
  notBefore: number;
  lastFailure: number;
}

const HOUR_MS = 3_600_000;
const DEFAULT_MAX_PAIRS = 100_000;
const SWEEP_EVERY = 1_000;

export class LogonGuard {
  private readonly pairs = new Map<string, Pair>();
  private readonly byAddress: RateLimiter;
  private readonly byUser: RateLimiter;
  private readonly memoryMs: number;
  private beginsSinceSweep = 0;

  constructor(
    readonly spec: LogonGuardSpec,
    private readonly clock: Clock,
    private readonly maxPairs = DEFAULT_MAX_PAIRS,
  ) {
    this.byAddress = new RateLimiter({ ratePerS: spec.failuresPerAddress / 60, burst: Math.max(1, spec.failuresPerAddress) }, clock);
    this.byUser = new RateLimiter({ ratePerS: spec.failuresPerUser / 60, burst: Math.max(1, spec.failuresPerUser) }, clock);
    this.memoryMs = Math.max(HOUR_MS, 2 * spec.backoffMaxS * 1000);
  }

  /** May `user` try a password from `address` now? Checked before the password is. */
  begin(user: string, address: string): LogonAttempt | LogonRefusal {
    const fromAddress = this.byAddress.check(address);
    if (!fromAddress.ok) return { ok: false, limit: 'logonFailures', retryAfterS: fromAddress.retryAfterS };
    if (++this.beginsSinceSweep >= SWEEP_EVERY) this.sweep();
    const key = `${address} ${user}`;
    let pair = this.pairFor(key);
    if (pair) {
      const now = this.clock.now();
      if (now < pair.notBefore) return { ok: false, limit: 'logonUserAddress', retryAfterS: Math.max(1, Math.ceil((pair.notBefore - now) / 1000)) };
      // Past the free failures, attempts run one at a time, or a burst sent at once would all be checked.
      if (pair.pending > 0 && pair.failures + pair.pending >= this.spec.backoffAfter) {
        return { ok: false, limit: 'logonUserAddress', retryAfterS: 1 };
      }
    }
    if (this.spec.backoffAfter > 0) {
      if (!pair) this.remember(key, (pair = { failures: 0, pending: 0, notBefore: 0, lastFailure: 0 }));
      pair.pending += 1;
    }
    let ended = false;
    const end = (): Pair | undefined => {
      if (ended) throw new Error('a logon attempt ended twice');
      ended = true;
      if (pair) pair.pending -= 1;
      return pair;
    };
    return {
      ok: true,
      succeeded: () => {
        const p = end();
        if (p && p.pending === 0 && this.pairs.get(key) === p) this.pairs.delete(key);
        else if (p) Object.assign(p, { failures: 0, notBefore: 0 });
      },
      failed: () => {
        const p = end();
        const now = this.clock.now();
        this.byAddress.charge(address);
        if (p) {
          p.failures += 1;
          p.lastFailure = now;
          if (p.failures >= this.spec.backoffAfter) {
            const delayMs = Math.min(1000 * 2 ** Math.min(40, p.failures - this.spec.backoffAfter), this.spec.backoffMaxS * 1000);
            p.notBefore = Math.max(p.notBefore, now + delayMs);
          }
        }
        if (!this.byUser.enabled) return 0;
        const tokens = this.byUser.charge(user, 1, -this.byUser.spec.burst);
        if (tokens >= 0) return 0;
        return Math.min(this.spec.holdMaxMs, Math.ceil((-tokens / this.byUser.spec.ratePerS) * 1000));
      },
    };
  }

  /** (user, address) pairs remembered (tests, metrics). */
  size(): number {
    return this.pairs.size;
  }

  /** Drops every pair that is forgotten. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, p] of this.pairs) if (this.forgotten(p, now)) this.pairs.delete(k);
    this.beginsSinceSweep = 0;
  }

  private pairFor(key: string): Pair | undefined {
    const pair = this.pairs.get(key);
    if (!pair) return undefined;
    if (this.forgotten(pair, this.clock.now())) {
      this.pairs.delete(key);
      return undefined;
    }
    // Re-insert so that Map order is least recently used first.
    this.pairs.delete(key);
    this.pairs.set(key, pair);
    return pair;
  }

  private forgotten(pair: Pair, now: number): boolean {
    return pair.pending === 0 && now >= pair.notBefore && now - pair.lastFailure >= this.memoryMs;
  }

  private remember(key: string, pair: Pair): void {
    if (this.pairs.size >= this.maxPairs) {
      this.sweep();
      // Still full: the least recently used pair starts afresh.
      for (const k of this.pairs.keys()) {
        if (this.pairs.size < this.maxPairs) break;
        this.pairs.delete(k);
      }
    }
    this.pairs.set(key, pair);
  }
}
