// Data-channel GETs in progress, one per session: a newer poll of a session releases
// the older one (answered at once), and shutdown releases them all. Only one is kept
// per session on purpose: every poll of a session would carry the same events, so a
// second held request buys the client nothing and costs the gateway a connection.
import type { Gauge } from 'prom-client';
import type { WaitSignal } from '../../delivery/event-log.js';

/** What HeldPolls releases: a data-channel poll (data-channel.ts) or a PollRelease. */
export interface Releasable {
  release(): void;
}

/**
 * Releases one poll (a newer poll, its client leaving, a WebSocket attaching, shutdown).
 * What an AbortController does for a wait, without one: building an AbortController and
 * listening to its signal costs about 10 µs, a good part of a poll.
 */
export class PollRelease implements WaitSignal, Releasable {
  aborted = false;
  private listeners: (() => void)[] | undefined;

  release(): void {
    this.abort();
  }

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
  private readonly bySid = new Map<number, Releasable>();

  constructor(private readonly waitingGauge?: Gauge) {}

  /** Registers a poll of `sid` (a new PollRelease, or the poll itself); an older poll of the same session is released. */
  claim(sid: number): PollRelease;
  claim<T extends Releasable>(sid: number, holder: T): T;
  claim(sid: number, holder: Releasable = new PollRelease()): Releasable {
    this.bySid.get(sid)?.release();
    this.bySid.set(sid, holder);
    return holder;
  }

  /** The poll has been answered (or its client went away). */
  done(sid: number, holder: Releasable): void {
    if (this.bySid.get(sid) === holder) this.bySid.delete(sid);
  }

  /** A poll that waits without a promise (data-channel.ts) counts itself in the held-polls gauge while it waits. */
  waitStarted(): void {
    this.waitingGauge?.inc();
  }

  waitEnded(): void {
    this.waitingGauge?.dec();
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

  /** Releases every poll (each is answered with what is queued, or empty); returns how many. */
  releaseAll(): number {
    const all = [...this.bySid.values()];
    for (const holder of all) holder.release();
    return all.length;
  }

  /** Polls in progress (for tests and shutdown). */
  get size(): number {
    return this.bySid.size;
  }
}
