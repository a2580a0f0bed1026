// An EventLog decorator that counts what goes through any EventLog implementation:
// events queued, delivered for the first time or again, acknowledged, overflowed.
// Whatever transport reads the log (polls, WebSockets) is counted the same way.
import type { AppendOutcome, EventLog, EventRecord, ImmediateLog, LogWatcher, ReadOutcome, WaitSignal } from '../delivery/event-log.js';
import type { GatewayMetrics } from './metrics.js';

interface Cursor {
  /** Last eid queued. */
  head: number;
  /** Last eid acknowledged. */
  acked: number;
  /** Highest eid handed to a reader so far. */
  sent: number;
  closed: boolean;
}

export class MeteredEventLog implements EventLog, ImmediateLog {
  private readonly cursors = new Map<number, Cursor>();

  constructor(
    private readonly inner: EventLog & ImmediateLog,
    private readonly metrics: GatewayMetrics,
    /** Called when a session's log overflows (after it was closed with its terminal event). */
    private readonly onOverflow: (sid: number) => void = () => undefined,
  ) {
    if (inner.acknowledge) this.acknowledge = (sid, ackId) => this.acknowledgeNow(sid, ackId);
  }

  async open(sid: number): Promise<void> {
    await this.inner.open(sid);
    if (!this.cursors.has(sid)) this.cursors.set(sid, { head: 0, acked: 0, sent: 0, closed: false });
  }

  async append(sid: number, records: EventRecord[]): Promise<AppendOutcome> {
    return this.appendNow(sid, records);
  }

  appendNow(sid: number, records: EventRecord[]): AppendOutcome {
    const outcome = this.inner.appendNow(sid, records);
    const c = this.cursors.get(sid);
    if (outcome.ok) {
      this.metrics.eventsQueued.inc(c ? outcome.lastEid - c.head : records.length);
      if (c) c.head = outcome.lastEid;
    } else if (outcome.reason === 'overflow') {
      this.metrics.eventsQueued.inc(); // the terminal event
      this.metrics.eventLogOverflows.inc();
      if (c) {
        c.head += 1;
        c.closed = true;
      }
      this.onOverflow(sid);
    }
    return outcome;
  }

  async read(sid: number, ackId: number, max: number): Promise<ReadOutcome> {
    return this.readNow(sid, ackId, max);
  }

  readNow(sid: number, ackId: number, max: number): ReadOutcome {
    const result = this.inner.readNow(sid, ackId, max);
    const c = this.cursors.get(sid);
    if (result.status === 'ok' && c) {
      c.head = result.head;
      c.acked = Math.max(c.acked, Math.min(ackId, result.head));
      this.countSent(c, result.events);
    }
    return result;
  }

  /** Present when the inner log acknowledges at once (see EventLog.acknowledge). */
  readonly acknowledge?: (sid: number, ackId: number) => number | undefined;

  private acknowledgeNow(sid: number, ackId: number): number | undefined {
    const head = this.inner.acknowledge!(sid, ackId);
    const c = this.cursors.get(sid);
    if (head !== undefined && c) {
      c.head = head;
      c.acked = Math.max(c.acked, Math.min(ackId, head));
    }
    return head;
  }

  private countSent(c: Cursor, events: readonly { eid: number }[]): void {
    let fresh = 0;
    for (const e of events) if (e.eid > c.sent) fresh++;
    if (fresh > 0) this.metrics.eventsDelivered.inc(fresh);
    if (events.length > fresh) this.metrics.eventsRedelivered.inc(events.length - fresh);
    const last = events[events.length - 1];
    if (last && last.eid > c.sent) c.sent = last.eid;
  }

  /** The inner log's position of a session (logs that know it: the in-memory one). */
  position(sid: number): { head: number; acked: number } | undefined {
    const inner = this.inner as EventLog & { position?: (sid: number) => { head: number; acked: number } | undefined };
    return inner.position?.(sid);
  }

  async backlog(sid: number): Promise<{ events: number; bytes: number } | undefined> {
    return this.inner.backlogNow(sid);
  }

  backlogNow(sid: number): { events: number; bytes: number } | undefined {
    return this.inner.backlogNow(sid);
  }

  /** What a WebSocket pushes: counted like a read, but nothing is acknowledged. */
  async peek(sid: number, afterEid: number, max: number): Promise<ReadOutcome> {
    return this.peekNow(sid, afterEid, max);
  }

  peekNow(sid: number, afterEid: number, max: number): ReadOutcome {
    const result = this.inner.peekNow(sid, afterEid, max);
    const c = this.cursors.get(sid);
    if (result.status === 'ok' && c) this.countSent(c, result.events);
    return result;
  }

  async close(sid: number, terminal?: EventRecord): Promise<void> {
    await this.inner.close(sid, terminal);
    const c = this.cursors.get(sid);
    if (c && !c.closed) {
      c.closed = true;
      if (terminal) {
        c.head += 1;
        this.metrics.eventsQueued.inc();
      }
    }
  }

  async remove(sid: number): Promise<void> {
    await this.inner.remove(sid);
    this.cursors.delete(sid);
  }

  wait(sid: number, afterEid: number, timeoutMs: number, signal?: WaitSignal): Promise<boolean> {
    return this.inner.wait(sid, afterEid, timeoutMs, signal);
  }

  watch(sid: number, afterEid: number, watcher: LogWatcher): boolean {
    return this.inner.watch(sid, afterEid, watcher);
  }

  unwatch(sid: number, watcher: LogWatcher): void {
    this.inner.unwatch(sid, watcher);
  }

  size(): number {
    return this.inner.size();
  }

  /** Events queued and not acknowledged, over all logs. */
  pending(): number {
    let n = 0;
    for (const c of this.cursors.values()) n += c.head - c.acked;
    return n;
  }

  /** The wrapped log (tests reach through to implementation-specific counters). */
  get underlying(): EventLog {
    return this.inner;
  }
}
