// CWA-Ticket: an opaque bearer token (256 random bits, base64url) that expires and is
// rotated. A ticket older than half its lifetime is replaced on its next use; the old
// one stays valid for a short grace period so requests already in flight still pass.
import type { Clock } from './clock.js';
import type { RandomSource } from './random.js';
import { refill } from './state-io.js';

interface TicketRecord {
  login: string;
  issuedAt: number;
  expiresAt: number;
  successor?: string;
}

export interface TicketCheck {
  login: string;
  /** The ticket the client should use from now on (the same one, or its replacement). */
  current: string;
}

export class TicketService {
  private readonly tickets = new Map<string, TicketRecord>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly ttlMs: number,
    private readonly graceMs = 60_000,
  ) {}

  issue(login: string): string {
    const ticket = this.random.bytes(32).toString('base64url');
    const now = this.clock.now();
    this.tickets.set(ticket, { login, issuedAt: now, expiresAt: now + this.ttlMs });
    return ticket;
  }

  /** Validates a ticket; rotates it when it is old. Undefined for unknown or expired tickets. */
  check(ticket: string | undefined): TicketCheck | undefined {
    const seen = this.inspect(ticket);
    if (!seen || !seen.rotates) return seen && { login: seen.login, current: seen.current };
    const now = this.clock.now();
    const rec = this.tickets.get(seen.current)!;
    const fresh = this.issue(rec.login);
    rec.successor = fresh;
    rec.expiresAt = Math.min(rec.expiresAt, now + this.graceMs);
    return { login: rec.login, current: fresh };
  }

  /**
   * What `check` answers, changing nothing: the newest ticket of the rotation chain, and
   * whether `check` would rotate it now (a node that replays commands proposes that change).
   * A cluster node passes its own time: its engine's clock is that of the last command applied.
   */
  inspect(ticket: string | undefined, now = this.clock.now()): (TicketCheck & { rotates: boolean }) | undefined {
    if (!ticket) return undefined;
    let rec = this.tickets.get(ticket);
    if (!rec || now >= rec.expiresAt) return undefined;
    let current = ticket;
    // Follow the rotation chain to the newest ticket.
    while (rec.successor) {
      const next = this.tickets.get(rec.successor);
      if (!next || now >= next.expiresAt) break;
      current = rec.successor;
      rec = next;
    }
    return { login: rec.login, current, rotates: !rec.successor && now - rec.issuedAt >= this.ttlMs / 2 };
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
