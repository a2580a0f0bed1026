// How often a cluster node tells the shared stream that a session is in use. Each poll,
// pong and frame shows activity, and each may report UA; every `touch` is a command that
// every node applies, so a node proposes one only when the session's activity needs
// refreshing (every `everyMs`) or its UA changes, and at most once per `everyMs` per
// session: a change within the interval waits for its end and goes then, with the UA
// reported last (a client flipping UA on every WebSocket frame would otherwise append a
// command per frame).
import type { Session } from '../engine/session.js';

export interface TouchPacerOptions {
  everyMs: number;
  now: () => number;
  /** Appends the touch command. */
  propose: (session: Session, ua: boolean | undefined) => Promise<void>;
  /** The session as the node's replica holds it now (the replica may have been replaced), if still live. */
  current: (session: Session) => Session | undefined;
}

interface Paced {
  /** When this node last proposed a touch of the session. */
  at: number;
  /** A change waiting for the interval to pass, with the UA reported last. */
  later?: { ua: boolean | undefined; timer: NodeJS.Timeout };
}

export class TouchPacer {
  private readonly bySid = new Map<number, Paced>();
  private sweepAt = 10_000;

  constructor(private readonly opts: TouchPacerOptions) {}

  async touch(session: Session, ua?: boolean): Promise<void> {
    const now = this.opts.now();
    const every = this.opts.everyMs;
    const needed =
      (ua !== undefined && ua !== session.userActive) ||
      (ua === true && now - session.userActiveAt >= every) ||
      now - session.lastActivity >= every;
    const { sid } = session;
    const last = this.bySid.get(sid);
    // A touch waiting for the interval carries the UA reported last, even one that matches the state now.
    if (last?.later && ua !== undefined) last.later.ua = ua;
    if (!needed) return;
    if (last && now - last.at < every) {
      if (!last.later) {
        const timer = setTimeout(() => this.later(session), last.at + every - now);
        timer.unref();
        last.later = { ua, timer };
      }
      return;
    }
    if (last?.later) clearTimeout(last.later.timer);
    this.bySid.delete(sid);
    this.bySid.set(sid, { at: now });
    if (this.bySid.size > this.sweepAt) this.sweep(now);
    await this.opts.propose(session, ua);
  }

  /** The interval after a touch is over: the change that waited goes now, if it still is one. */
  private later(session: Session): void {
    const ua = this.bySid.get(session.sid)?.later?.ua;
    this.bySid.delete(session.sid);
    const current = this.opts.current(session);
    if (current) this.touch(current, ua).catch(() => undefined);
  }

  private sweep(now: number): void {
    for (const [sid, p] of this.bySid) if (!p.later && now - p.at >= this.opts.everyMs) this.bySid.delete(sid);
    this.sweepAt = Math.max(10_000, 2 * this.bySid.size);
  }

  /** Drops the waiting changes (the node stops). */
  clear(): void {
    for (const p of this.bySid.values()) if (p.later) clearTimeout(p.later.timer);
    this.bySid.clear();
  }
}
