// The per-session event log behind the ackId cursor. Events are numbered from 1 per
// session; AckId=N acknowledges (and lets the log drop) every event <= N and asks for
// everything after N, in order. Nothing is dropped before it is acknowledged: when a
// log would exceed its bounds it is closed with an explicit terminal event instead.

/** A rendered event: its XML is `head + eid + tail` (rendered once, before the eid exists). */
export interface EventRecord {
  head: string;
  tail: string;
  /**
   * A confirmation that may wait a moment (a sendMessage's messageIdReceived): a long-poll or
   * a WebSocket that finds only such events to deliver waits --confirmation-batch-ms for more
   * (transport/http/data-channel.ts, transport/ws/subscriber.ts).
   */
  lazy?: boolean;
}

export interface StoredEvent {
  eid: number;
  xml: string;
  /** See EventRecord.lazy (part of the replicated state: every node derives it from the same record). */
  lazy: boolean;
}

export interface EventLogLimits {
  /** Unacknowledged events kept per session. */
  maxEvents: number;
  /** Unacknowledged event bytes (UTF-16 length, close to UTF-8 for this text) kept per session. */
  maxBytes: number;
}

export type AppendOutcome =
  | { ok: true; lastEid: number }
  /** The log was full and is now closed with `terminal` as its last event; nothing of this append was kept. */
  | { ok: false; reason: 'overflow' }
  /** The log is closed (or unknown); nothing was appended. */
  | { ok: false; reason: 'closed' };

export type ReadOutcome =
  | { status: 'ok'; events: StoredEvent[]; head: number; closed: boolean }
  /** The cursor is older than what the log still holds (the client acknowledged more before). */
  | { status: 'stale'; acked: number; head: number }
  | { status: 'missing' };

/** What `watch` calls, once, when the log has moved past the watched position (see EventLog.watch). */
export interface LogWatcher {
  logChanged(): void;
}

/** What can cut a `wait` short: an AbortSignal, or anything that has `aborted` and 'abort' listeners as it does. */
export interface WaitSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface EventLog {
  open(sid: number): Promise<void>;
  /** Appends atomically: all records get consecutive eids, or none is kept. */
  append(sid: number, records: EventRecord[]): Promise<AppendOutcome>;
  /** Acknowledges every event <= ackId, then returns up to `max` events after it. */
  read(sid: number, ackId: number, max: number): Promise<ReadOutcome>;
  /**
   * Returns up to `max` events after `afterEid` and acknowledges nothing (a WebSocket
   * pushes past what its client has acknowledged); `stale` when `afterEid` is older
   * than what the log still holds.
   */
  peek(sid: number, afterEid: number, max: number): Promise<ReadOutcome>;
  /** Appends `terminal` (ignoring the bounds) and refuses further appends. */
  close(sid: number, terminal?: EventRecord): Promise<void>;
  remove(sid: number): Promise<void>;
  /**
   * Resolves true as soon as the log holds an event after `afterEid` or is closed or
   * removed, false when `timeoutMs` passes or `signal` aborts first.
   */
  wait(sid: number, afterEid: number, timeoutMs: number, signal?: WaitSignal): Promise<boolean>;
  /**
   * What `wait` does without a promise, a timer or closures, for the waits every idle client
   * holds (a held poll, a WebSocket's pump): registers `watcher`, whose `logChanged` is called
   * once as soon as the log holds an event after `afterEid` or is closed or removed. False,
   * and nothing registered, when that is so already. The caller keeps its own deadline and
   * takes the watcher back with `unwatch` when it stops waiting first.
   */
  watch(sid: number, afterEid: number, watcher: LogWatcher): boolean;
  /** Takes back a watcher `watch` registered and that was not called (nothing when it is not there). */
  unwatch(sid: number, watcher: LogWatcher): void;
  /**
   * What `read(sid, ackId, 0)` does, at once, when the log can (in memory): acknowledges every
   * event <= ackId; the head, or undefined for an unknown log or a cursor older than it holds.
   */
  acknowledge?(sid: number, ackId: number): number | undefined;
  /** What `read` does, at once (the logs are in memory): a poll is answered in the turn it is read. */
  readNow(sid: number, ackId: number, max: number): ReadOutcome;
  /** What `peek` does, at once. */
  peekNow(sid: number, afterEid: number, max: number): ReadOutcome;
  /** Number of open logs (for metrics and tests). */
  size(): number;
  /** The session's last eid and last acknowledged eid, when the log can tell at once (in memory). */
  position?(sid: number): { head: number; acked: number } | undefined;
  /** The session's unacknowledged events (count and bytes as the bounds count them); undefined for an unknown log. */
  backlog?(sid: number): Promise<{ events: number; bytes: number } | undefined>;
}

/**
 * What a log in memory does at once: the engine's event sink appends and reads backlogs
 * without a promise each (a command's events are queued in the turn it runs), and a poll
 * or a WebSocket reads in the turn it asks.
 */
export interface ImmediateLog {
  /** What `append` does, at once. */
  appendNow(sid: number, records: EventRecord[]): AppendOutcome;
  /** What `backlog` tells, at once. */
  backlogNow(sid: number): { events: number; bytes: number } | undefined;
  readNow(sid: number, ackId: number, max: number): ReadOutcome;
  peekNow(sid: number, afterEid: number, max: number): ReadOutcome;
}

interface MemoryLog {
  /** Retained (unacknowledged) events, oldest first. */
  events: StoredEvent[];
  bytes: number;
  head: number;
  acked: number;
  closed: boolean;
  /**
   * Pending `wait` and `watch` calls: none, the one (a held poll or a WebSocket: the common
   * case), or a Set from the second on. An empty Set per session would cost about 180 bytes of heap.
   */
  waiters: LogWatcher | Set<LogWatcher> | undefined;
}

export class MemoryEventLog implements EventLog, ImmediateLog {
  private readonly logs = new Map<number, MemoryLog>();

  constructor(
    private readonly limits: EventLogLimits,
    /** The terminal event written when a log overflows. */
    private readonly overflowRecord: EventRecord,
  ) {}

  async open(sid: number): Promise<void> {
    if (!this.logs.has(sid)) {
      this.logs.set(sid, { events: [], bytes: 0, head: 0, acked: 0, closed: false, waiters: undefined });
    }
  }

  async append(sid: number, records: EventRecord[]): Promise<AppendOutcome> {
    return this.appendNow(sid, records);
  }

  appendNow(sid: number, records: EventRecord[]): AppendOutcome {
    const log = this.logs.get(sid);
    if (!log || log.closed) return { ok: false, reason: 'closed' };
    const { events } = log;
    const kept = events.length;
    if (kept + records.length > this.limits.maxEvents) return this.overflow(log);
    // Rendered into the log as they come; taken back if the bytes bound is passed.
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const eid = log.head + 1 + i;
      const record = records[i]!;
      const xml = record.head + eid + record.tail;
      bytes += xml.length;
      events.push({ eid, xml, lazy: record.lazy === true });
    }
    if (log.bytes + bytes > this.limits.maxBytes) {
      events.length = kept;
      return this.overflow(log);
    }
    log.bytes += bytes;
    log.head += records.length;
    if (records.length > 0) this.wake(log);
    return { ok: true, lastEid: log.head };
  }

  private overflow(log: MemoryLog): AppendOutcome {
    this.closeLog(log, this.overflowRecord);
    return { ok: false, reason: 'overflow' };
  }

  async read(sid: number, ackId: number, max: number): Promise<ReadOutcome> {
    return this.readNow(sid, ackId, max);
  }

  readNow(sid: number, ackId: number, max: number): ReadOutcome {
    const log = this.logs.get(sid);
    if (!log) return { status: 'missing' };
    if (ackId < log.acked) return { status: 'stale', acked: log.acked, head: log.head };
    dropAcknowledged(log, ackId);
    return { status: 'ok', events: log.events.slice(0, max), head: log.head, closed: log.closed };
  }

  acknowledge(sid: number, ackId: number): number | undefined {
    const log = this.logs.get(sid);
    if (!log || ackId < log.acked) return undefined;
    dropAcknowledged(log, ackId);
    return log.head;
  }

  /** The logs without their waiters (a cluster node's snapshot). */
  exportState(): Map<number, Omit<MemoryLog, 'waiters'>> {
    const out = new Map<number, Omit<MemoryLog, 'waiters'>>();
    for (const [sid, { waiters: _w, ...log }] of this.logs) out.set(sid, log);
    return out;
  }

  importState(logs: Map<number, Omit<MemoryLog, 'waiters'>>): void {
    for (const log of this.logs.values()) this.wake(log);
    this.logs.clear();
    for (const [sid, log] of logs) this.logs.set(sid, { ...log, waiters: undefined });
  }

  /** The session's last eid and last acknowledged eid, undefined for an unknown log. */
  position(sid: number): { head: number; acked: number } | undefined {
    const log = this.logs.get(sid);
    return log && { head: log.head, acked: log.acked };
  }

  async backlog(sid: number): Promise<{ events: number; bytes: number } | undefined> {
    return this.backlogNow(sid);
  }

  backlogNow(sid: number): { events: number; bytes: number } | undefined {
    const log = this.logs.get(sid);
    return log && { events: log.events.length, bytes: log.bytes };
  }

  async peek(sid: number, afterEid: number, max: number): Promise<ReadOutcome> {
    return this.peekNow(sid, afterEid, max);
  }

  peekNow(sid: number, afterEid: number, max: number): ReadOutcome {
    const log = this.logs.get(sid);
    if (!log) return { status: 'missing' };
    if (afterEid < log.acked) return { status: 'stale', acked: log.acked, head: log.head };
    // Retained events are consecutive from acked + 1, so the position is arithmetic.
    const from = Math.min(afterEid - log.acked, log.events.length);
    return { status: 'ok', events: log.events.slice(from, from + max), head: log.head, closed: log.closed };
  }

  async close(sid: number, terminal?: EventRecord): Promise<void> {
    const log = this.logs.get(sid);
    if (log && !log.closed) this.closeLog(log, terminal);
  }

  async remove(sid: number): Promise<void> {
    const log = this.logs.get(sid);
    if (!log) return;
    this.logs.delete(sid);
    this.wake(log);
  }

  wait(sid: number, afterEid: number, timeoutMs: number, signal?: WaitSignal): Promise<boolean> {
    const log = this.logs.get(sid);
    if (!log || log.closed || log.head > afterEid) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        removeWaiter(log, watcher);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const watcher: LogWatcher = { logChanged: () => done(true) };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      addWaiter(log, watcher);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  watch(sid: number, afterEid: number, watcher: LogWatcher): boolean {
    const log = this.logs.get(sid);
    if (!log || log.closed || log.head > afterEid) return false;
    addWaiter(log, watcher);
    return true;
  }

  unwatch(sid: number, watcher: LogWatcher): void {
    const log = this.logs.get(sid);
    if (log) removeWaiter(log, watcher);
  }

  size(): number {
    return this.logs.size;
  }

  /** Pending `wait` calls over all logs (tests check that a vanished client leaves none behind). */
  waiting(): number {
    let n = 0;
    for (const { waiters } of this.logs.values()) n += waiters === undefined ? 0 : waiters instanceof Set ? waiters.size : 1;
    return n;
  }

  private closeLog(log: MemoryLog, terminal?: EventRecord): void {
    if (terminal) {
      const eid = log.head + 1;
      const xml = terminal.head + eid + terminal.tail;
      log.events.push({ eid, xml, lazy: false });
      log.bytes += xml.length;
      log.head = eid;
    }
    log.closed = true;
    this.wake(log);
  }

  private wake(log: MemoryLog): void {
    const waiters = log.waiters;
    if (waiters === undefined) return;
    log.waiters = undefined;
    if (waiters instanceof Set) for (const w of [...waiters]) w.logChanged();
    else waiters.logChanged();
  }
}

/** Drops every event <= ackId (never beyond the head). */
function dropAcknowledged(log: MemoryLog, ackId: number): void {
  const upTo = Math.min(ackId, log.head);
  let drop = 0;
  while (drop < log.events.length && log.events[drop]!.eid <= upTo) {
    log.bytes -= log.events[drop]!.xml.length;
    drop++;
  }
  if (drop > 0) log.events.splice(0, drop);
  log.acked = Math.max(log.acked, upTo);
}

function addWaiter(log: MemoryLog, waiter: LogWatcher): void {
  const current = log.waiters;
  if (current === undefined) log.waiters = waiter;
  else if (current instanceof Set) current.add(waiter);
  else log.waiters = new Set([current, waiter]);
}

function removeWaiter(log: MemoryLog, waiter: LogWatcher): void {
  const current = log.waiters;
  if (current === waiter) log.waiters = undefined;
  else if (current instanceof Set) {
    current.delete(waiter);
    if (current.size === 0) log.waiters = undefined;
  }
}
