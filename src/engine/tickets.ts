// CWA-Ticket: an opaque bearer token (256 random bits, base64url).
//
// Lifetime slides: a ticket lasts while it is used, and expires after `ttl` without use
// (a use is recorded at most every tenth of `ttl`, so an unused one may go that much
// sooner). A client library that reads the ticket once, at logon, and presents it
// forever therefore stays signed in as long as it is active.
//
// Rotation offers, it never takes away. A ticket used past half its age gets one
// successor, drawn at random, whose plaintext goes to the one client whose request
// caused the rotation (in CWA-Ticket, or a WebSocket `<ticket>` frame). The old ticket
// keeps working: only once the successor is presented — proof that the client took it —
// does the old one retire, after a short grace for requests already in flight. A ticket
// has at most one pending successor; an offer never taken lapses with its own lifetime,
// and the next use offers another.
//
// The gateway keeps no ticket, only its SHA-256: what a cluster writes to Redis (the
// command stream, snapshots) or what a memory dump shows cannot be presented as a
// ticket, and since a successor is random, no old ticket leads to a newer one.
import { randomBytes } from 'node:crypto';
import { digestOf } from './hash.js';
import type { Clock } from './clock.js';
import { refill } from './state-io.js';

interface TicketRecord {
  login: string;
  issuedAt: number;
  /** Last use recorded: the ticket expires `ttl` after it. */
  usedAt: number;
  /** Set once its successor was presented: the ticket then lasts until this moment at most. */
  retiresAt?: number;
  /** Hash of the ticket offered to replace this one, until it is presented (or lapses unused). */
  successor?: string;
  /** Hash of the ticket this one was offered to replace, until this one is first presented. */
  predecessor?: string;
}

export interface TicketCheck {
  login: string;
  /** The ticket to answer in CWA-Ticket: the one presented, or the successor just offered for it. */
  current: string;
}

/** What a check would change, changing nothing (a cluster node proposes it as a command). */
export interface TicketInspection {
  login: string;
  hash: string;
  /** Record this use (the lifetime slides), retiring the predecessor on a successor's first use. */
  renew: boolean;
  /** Offer a successor. */
  rotate: boolean;
}

/** What is kept of a ticket. */
export function ticketHash(ticket: string): string {
  let hash = recent.get(ticket);
  if (hash !== undefined) return hash;
  hash = older.get(ticket) ?? digestOf('sha256', ticket, 'base64url');
  // Only what a ticket looks like (43 characters): junk headers are hashed, not kept.
  if (ticket.length <= MAX_REMEMBERED) remember(ticket, hash);
  return hash;
}

/**
 * The tickets hashed lately, with their hashes: a client presents its ticket request after
 * request (each poll, each command), and a SHA-256 per request is a microsecond. Two
 * generations of at most RECENT tickets each: a ticket used again moves to the newer one,
 * the older one is dropped when the newer fills up. Nothing is kept per session or
 * connection: idle clients' tickets leave the cache. Only this process's memory holds
 * them (as it holds the requests that carry them); the state, snapshots and the cluster's
 * stream hold hashes only.
 */
const RECENT = 512;
const MAX_REMEMBERED = 64;
let recent = new Map<string, string>();
let older = new Map<string, string>();

function remember(ticket: string, hash: string): void {
  if (recent.size >= RECENT) {
    older = recent;
    recent = new Map();
  }
  recent.set(ticket, hash);
}

export function newTicket(): string {
  return randomBytes(32).toString('base64url');
}

export class TicketService {
  /** By ticket hash. */
  private readonly tickets = new Map<string, TicketRecord>();
  /** Told when a ticket is dropped (expired or revoked), by hash. */
  forgotten?: (hash: string) => void;
  private readonly renewEveryMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly graceMs = 60_000,
  ) {
    this.renewEveryMs = Math.max(1, Math.floor(ttlMs / 10));
  }

  /** A new ticket for `login`. */
  issue(login: string): string {
    const ticket = newTicket();
    this.adopt(ticketHash(ticket), login);
    return ticket;
  }

  /** Records a ticket by its hash (a cluster node applying a sign-in another node made). */
  adopt(hash: string, login: string): void {
    const now = this.clock.now();
    this.tickets.set(hash, { login, issuedAt: now, usedAt: now });
  }

  /** Validates a ticket, records its use and offers a successor when it is old. Undefined for unknown, expired or revoked tickets. */
  check(ticket: string | undefined): TicketCheck | undefined {
    const seen = this.inspect(ticket);
    if (!seen) return undefined;
    if (seen.rotate) {
      const fresh = newTicket();
      this.rotate(seen.hash, ticketHash(fresh));
      return { login: seen.login, current: fresh };
    }
    if (seen.renew) this.renew(seen.hash);
    return { login: seen.login, current: ticket! };
  }

  /**
   * What `check` would do, changing nothing. A cluster node passes its own time: its
   * engine's clock is that of the last command applied.
   */
  inspect(ticket: string | undefined, now = this.clock.now()): TicketInspection | undefined {
    if (!ticket) return undefined;
    const hash = ticketHash(ticket);
    const rec = this.tickets.get(hash);
    if (!rec || !this.valid(rec, now)) return undefined;
    const rotate = rec.retiresAt === undefined && this.pendingSuccessor(rec, now) === undefined && now - rec.issuedAt >= this.ttlMs / 2;
    const renew = rec.predecessor !== undefined || now - rec.usedAt >= this.renewEveryMs;
    return { login: rec.login, hash, renew, rotate };
  }

  /** The hash of the successor offered for the ticket hashed `hash` and not yet taken, if any. */
  successorOf(hash: string, now = this.clock.now()): string | undefined {
    const rec = this.tickets.get(hash);
    return rec && this.pendingSuccessor(rec, now);
  }

  private valid(rec: TicketRecord, now: number): boolean {
    return now < rec.usedAt + this.ttlMs && (rec.retiresAt === undefined || now < rec.retiresAt);
  }

  private pendingSuccessor(rec: TicketRecord, now: number): string | undefined {
    const next = rec.successor === undefined ? undefined : this.tickets.get(rec.successor);
    return next && next.predecessor !== undefined && this.valid(next, now) ? rec.successor : undefined;
  }

  /** Records a use of the ticket hashed `hash`; its successor's first use retires its predecessor after the grace period. */
  renew(hash: string): void {
    const rec = this.tickets.get(hash);
    const now = this.clock.now();
    if (!rec || !this.valid(rec, now)) return;
    rec.usedAt = now;
    if (rec.predecessor === undefined) return;
    const old = this.tickets.get(rec.predecessor);
    if (old && old.successor === hash) {
      old.retiresAt = Math.min(old.retiresAt ?? Number.POSITIVE_INFINITY, now + this.graceMs);
      old.successor = undefined;
    }
    rec.predecessor = undefined;
  }

  /** Offers the ticket hashed `to` as the successor of the one hashed `from` (which this use renews), unless one is pending already. */
  rotate(from: string, to: string): void {
    const rec = this.tickets.get(from);
    const now = this.clock.now();
    if (!rec || !this.valid(rec, now) || rec.retiresAt !== undefined) return;
    rec.usedAt = now;
    if (this.pendingSuccessor(rec, now) !== undefined) return;
    // An earlier offer that lapsed unused goes.
    if (rec.successor !== undefined) this.forget(rec.successor);
    rec.successor = to;
    this.tickets.set(to, { login: rec.login, issuedAt: now, usedAt: now, predecessor: from });
  }

  /** Revokes every ticket of `login`; answers how many there were. */
  revokeAll(login: string): number {
    let n = 0;
    for (const [hash, rec] of [...this.tickets]) {
      if (rec.login !== login) continue;
      this.forget(hash);
      n += 1;
    }
    return n;
  }

  /** Drops expired tickets. */
  sweep(): void {
    const now = this.clock.now();
    for (const [hash, rec] of [...this.tickets]) if (!this.valid(rec, now)) this.forget(hash);
  }

  private forget(hash: string): void {
    if (!this.tickets.delete(hash)) return;
    this.forgotten?.(hash);
  }

  exportState(): Map<string, TicketRecord> {
    return this.tickets;
  }

  importState(tickets: Map<string, TicketRecord>): void {
    refill(this.tickets, tickets);
  }

  size(): number {
    return this.tickets.size;
  }
}
