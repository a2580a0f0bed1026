// What the presence, contact-list and directory parts of the client need from it: run one
// request of the session, number requests, and see every event. Most of their requests are
// answered twice: `requestAccepted` at once, then `requestSucceeded` or `requestFailed`
// (carrying the same rid) on the event channel; RidWaiters matches the second answer.
import type { Unsubscribe } from './emitter.js';
import { CwaRequestError, RequestFailedError } from './errors.js';
import { childOf, type XmlElement } from './xml.js';

export interface RequestRunner {
  /** Runs one request (its XML with a rid); resolves with the answer, rejects with a CwaRequestError. */
  request(requestXml: string): Promise<XmlElement>;
  nextRid(): string;
  onEvent(fn: (event: XmlElement) => void): Unsubscribe;
  /** The session is over (no outcome will come for a request still waiting). */
  onEnded(fn: () => void): Unsubscribe;
}

interface Waiter {
  resolve: (ev: XmlElement) => void;
  reject: (err: unknown) => void;
  /** Settle on requestSucceeded (else the owner settles with `resolve`). */
  onSucceeded: boolean;
}

/** Requests waiting for their outcome event, by rid. */
export class RidWaiters {
  private readonly waiting = new Map<string, Waiter>();

  constructor(private readonly runner: RequestRunner) {
    runner.onEvent((ev) => {
      const rid = ev.attrs.rid;
      if (rid === undefined) return;
      const w = this.waiting.get(rid);
      if (!w) return;
      if (ev.name === 'requestFailed') {
        this.waiting.delete(rid);
        w.reject(CwaRequestError.fromError(childOf(ev, 'error'), 'the request failed'));
      } else if (ev.name === 'requestSucceeded' && w.onSucceeded) {
        this.waiting.delete(rid);
        w.resolve(ev);
      }
    });
    runner.onEnded(() => this.rejectAll('the session ended'));
  }

  /**
   * Sends the request `make(rid)` and resolves with its requestSucceeded event (`onSucceeded`,
   * the default) or with what `resolve(rid, …)` is given; rejects when the gateway refuses it,
   * at once or later.
   */
  async run(make: (rid: string) => string, onSucceeded = true): Promise<XmlElement> {
    const rid = this.runner.nextRid();
    const done = new Promise<XmlElement>((resolve, reject) => this.waiting.set(rid, { resolve, reject, onSucceeded }));
    try {
      await this.runner.request(make(rid));
    } catch (err) {
      this.waiting.delete(rid);
      throw err;
    }
    return done;
  }

  /** Whether a request with this rid is waiting. */
  has(rid: string): boolean {
    return this.waiting.has(rid);
  }

  resolve(rid: string, ev: XmlElement): void {
    const w = this.waiting.get(rid);
    if (!w) return;
    this.waiting.delete(rid);
    w.resolve(ev);
  }

  /** The session ended: nothing will answer any more. */
  rejectAll(why: string): void {
    for (const w of this.waiting.values()) w.reject(new RequestFailedError(why));
    this.waiting.clear();
  }
}

/** A SIP URI as the key of a map (the scheme and the host are not case-sensitive; neither is the gateway). */
export function uriKey(uri: string): string {
  return uri.trim().toLowerCase();
}
