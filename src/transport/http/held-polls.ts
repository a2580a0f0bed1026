// Data-channel GETs in progress, one per session: a newer poll of a session releases
// the older one (answered at once), and shutdown releases them all. Only one is kept
// per session on purpose: every poll of a session would carry the same events, so a
// second held request buys the client nothing and costs the gateway a connection.
import type { Gauge } from 'prom-client';
import type { WaitSignal } from '../../delivery/event-log.js';

/**
 * Releases one poll (a newer poll, its client leaving, a WebSocket attaching, shutdown).
 * What an AbortController does for a wait, without one: building an AbortController and
 * listening to its signal costs about 10 µs, a good part of a poll.
 */
export class PollRelease implements WaitSignal {
  aborted = false;
  private listeners: (() => void)[] | undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
  }

  /** Called once, at the release (callers check `aborted` before they listen). */
  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.listeners!.splice(at, 1);
  }
}

export class HeldPolls {
  private readonly bySid = new Map<number, PollRelease>();

  constructor(private readonly waitingGauge?: Gauge) {}

  /** Registers a poll of `sid`; an older poll of the same session is released. */
  claim(sid: number): PollRelease {
    this.bySid.get(sid)?.abort();
    const release = new PollRelease();
    this.bySid.set(sid, release);
    return release;
  }

  /** The poll has been answered (or its client went away). */
  done(sid: number, release: PollRelease): void {
    if (this.bySid.get(sid) === release) this.bySid.delete(sid);
  }

  /**
   * Runs the wait of a held poll, counted in the held-polls gauge while it lasts. Not an
   * async function: a suspended one keeps its frame (a generator, a context and a promise,
   * about 800 bytes) for the whole hold, for each held poll.
   */
  hold<T>(wait: () => Promise<T>): Promise<T> {
    const gauge = this.waitingGauge;
    if (!gauge) return wait();
    gauge.inc();
    let waiting: Promise<T>;
    try {
      waiting = wait();
    } catch (err) {
      gauge.dec();
      return Promise.reject(err);
    }
    const dec = () => gauge.dec();
    waiting.then(dec, dec);
    return waiting;
  }

  /** A poll began (+1) or stopped (-1) being held, without a promise to wrap (the data channel's polls). */
  held(change: 1 | -1): void {
    this.waitingGauge?.inc(change);
  }

  /** Releases every poll (each is answered with what is queued, or empty); returns how many. */
  releaseAll(): number {
    const all = [...this.bySid.values()];
    for (const release of all) release.abort();
    return all.length;
  }

  /** Polls in progress (for tests and shutdown). */
  get size(): number {
    return this.bySid.size;
  }
}
