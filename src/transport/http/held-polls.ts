// Data-channel GETs in progress, one per session: a newer poll of a session releases
// the older one (answered at once), and shutdown releases them all. Only one is kept
// per session on purpose: every poll of a session would carry the same events, so a
// second held request buys the client nothing and costs the gateway a connection.
import type { Gauge } from 'prom-client';

export class HeldPolls {
  private readonly bySid = new Map<number, AbortController>();

  constructor(private readonly waitingGauge?: Gauge) {}

  /** Registers a poll of `sid`; an older poll of the same session is released. */
  claim(sid: number): AbortController {
    this.bySid.get(sid)?.abort();
    const abort = new AbortController();
    this.bySid.set(sid, abort);
    return abort;
  }

  /** The poll has been answered (or its client went away). */
  done(sid: number, abort: AbortController): void {
    if (this.bySid.get(sid) === abort) this.bySid.delete(sid);
  }

  /** Runs the wait of a held poll, counted in the held-polls gauge while it lasts. */
  async hold<T>(wait: () => Promise<T>): Promise<T> {
    this.waitingGauge?.inc();
    try {
      return await wait();
    } finally {
      this.waitingGauge?.dec();
    }
  }

  /** Releases every poll (each is answered with what is queued, or empty); returns how many. */
  releaseAll(): number {
    const all = [...this.bySid.values()];
    for (const abort of all) abort.abort();
    return all.length;
  }

  /** Polls in progress (for tests and shutdown). */
  get size(): number {
    return this.bySid.size;
  }
}
