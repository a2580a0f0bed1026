// CWA-Ticket: an opaque bearer token (256 random bits, base64url) that expires and is
// rotated. A ticket older than half its lifetime is replaced on its next use; the old
// one stays valid for a short grace period so requests already in flight still pass.
//
// The gateway keeps no ticket, only its SHA-256: what a cluster writes to Redis (the
// command stream, snapshots) or what a memory dump shows cannot be presented as a
// ticket. A ticket's replacement is derived from the ticket itself (HMAC-SHA-256 keyed
// with it), so only a holder of the old ticket can learn the new one, and every node
// of a cluster, holding only the hashes, agrees on the rotation.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Clock } from './clock.js';
import { refill } from './state-io.js';

interface TicketRecord {
  login: string;
  issuedAt: number;
  expiresAt: number;
  /** Hash of the ticket that replaced this one. */
  successor?: string;
}

export interface TicketCheck {
  login: string;
  /** The ticket the client should use from now on (the same one, or its replacement). */
  current: string;
}

/** What is kept of a ticket. */
export function ticketHash(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

/** The ticket that replaces `ticket` when it is rotated. */
export function successorOf(ticket: string): string {
  return createHmac('sha256', ticket).update('cwa-gateway ticket rotation').digest('base64url');
}

export function newTicket(): string {
  return randomBytes(32).toString('base64url');
}

export class TicketService {
  /** By ticket hash. */
  private readonly tickets = new Map<string, TicketRecord>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly graceMs = 60_000,
  ) {}

  /** A new ticket for `login`. */
  issue(login: string): string {
    const ticket = newTicket();
    this.adopt(ticketHash(ticket), login);
    return ticket;
  }

  /** Records a ticket by its hash (a cluster node applying a sign-in another node made). */
  adopt(hash: string, login: string): void {
    const now = this.clock.now();
    this.tickets.set(hash, { login, issuedAt: now, expiresAt: now + this.ttlMs });
  }

  /** Validates a ticket; rotates it when it is old. Undefined for unknown or expired tickets. */
  check(ticket: string | undefined): TicketCheck | undefined {
    const seen = this.inspect(ticket);
    if (!seen || !seen.rotates) return seen && { login: seen.login, current: seen.current };
    const fresh = successorOf(seen.current);
    this.rotate(ticketHash(seen.current), ticketHash(fresh));
    return { login: seen.login, current: fresh };
  }

  /**
   * What `check` answers, changing nothing: the newest ticket of the rotation chain, and
   * whether `check` would rotate it now (a node that replays commands proposes that change).
   * A cluster node passes its own time: its engine's clock is that of the last command applied.
   */
  inspect(ticket: string | undefined, now = this.clock.now()): (TicketCheck & { rotates: boolean }) | undefined {
    if (!ticket) return undefined;
    let rec = this.tickets.get(ticketHash(ticket));
    if (!rec || now >= rec.expiresAt) return undefined;
    let current = ticket;
    // Follow the rotation chain to the newest ticket.
    while (rec.successor) {
      const next = this.tickets.get(rec.successor);
      if (!next || now >= next.expiresAt) break;
      current = successorOf(current);
      rec = next;
    }
    return { login: rec.login, current, rotates: !rec.successor && now - rec.issuedAt >= this.ttlMs / 2 };
  }

  /** Replaces the ticket hashed `from` by the one hashed `to`, unless it was replaced already. */
  rotate(from: string, to: string): void {
    const rec = this.tickets.get(from);
    if (!rec || rec.successor) return;
    const now = this.clock.now();
    rec.successor = to;
    rec.expiresAt = Math.min(rec.expiresAt, now + this.graceMs);
    this.tickets.set(to, { login: rec.login, issuedAt: now, expiresAt: now + this.ttlMs });
  }

  revokeAll(login: string): void {
    for (const [t, rec] of this.tickets) if (rec.login === login) this.tickets.delete(t);
  }

  /** Drops expired tickets. */
  sweep(): void {
    const now = this.clock.now();
    for (const [t, rec] of this.tickets) if (now >= rec.expiresAt) this.tickets.delete(t);
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
