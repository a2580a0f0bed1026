// --confirmation-batch-ms, as both CWA doors apply it (a held long-poll, a WebSocket's pump):
// while only confirmations (EventRecord.lazy: a sendMessage's messageIdReceived) are to be
// delivered, the door waits for more, watching the log for anything else, until the batch's
// time, then delivers whatever came in one answer or frame. Tigase batches its BOSH answers
// the same way. A client that keeps sending gets its confirmations a batch at a time instead
// of an answer (or a frame and its ack) per message.
import type { EventLog, LogWatcher, StoredEvent } from './event-log.js';

/** The batch a door holds for one client: made when a door first finds only confirmations. */
export class ConfirmationBatch {
  /** When the batch is due, ms since the epoch; 0 before it started. */
  private until = 0;
  /** The log's head when the door last found only confirmations to deliver. */
  private head = 0;

  /**
   * The door found `events` (its whole delivery, `head` the log's head): how long to wait for
   * more, in ms, with `watcher` registered from `head`; 0 when they go now (not confirmations
   * only, as many as one answer holds, the batch's time come, or the log moved meanwhile).
   */
  hold(log: EventLog, sid: number, events: readonly StoredEvent[], head: number, batchMs: number, max: number, watcher: LogWatcher): number {
    if (batchMs === 0 || events.length >= max || !onlyConfirmations(events)) return 0;
    const now = Date.now();
    if (this.until === 0) this.until = now + batchMs;
    const wait = this.until - now;
    if (wait < 1 || !log.watch(sid, head, watcher)) return 0;
    this.head = head;
    return wait;
  }

  /**
   * While the door waits: true when what came since it last looked is confirmations too (those
   * alone are read, not the whole batch again: a busy sender adds one at a time, up to an
   * answer's `max` after the client's cursor `from`), and `watcher` is registered again.
   */
  more(log: EventLog, sid: number, from: number, max: number, watcher: LogWatcher): boolean {
    const r = log.peekNow(sid, this.head, max);
    if (r.status !== 'ok' || r.closed || r.head - from >= max || !onlyConfirmations(r.events)) return false;
    if (!log.watch(sid, r.head, watcher)) return false;
    this.head = r.head;
    return true;
  }
}

/** True when every event may wait (`!== true`: an event of a snapshot written before the field existed has none). */
function onlyConfirmations(events: readonly StoredEvent[]): boolean {
  for (let i = 0; i < events.length; i++) if (events[i]!.lazy !== true) return false;
  return true;
}
