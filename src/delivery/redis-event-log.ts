// The event log on Redis: one stream per session holding the retained events with their
// eids, a small hash beside it (head, acknowledged, bytes, closed), and Lua scripts for
// every change so that appends are all-or-nothing with consecutive eids, an acknowledgement
// trims in the same step, and the bounds hold whatever other processes do at the same time.
// Same contract as MemoryEventLog; see docs/compatibility.md ("Redis") for the measurements
// behind the choices (stream, pub/sub wake-ups).
import type { Redis } from 'ioredis';
import { guarded } from '../store/unavailable.js';
import type { AppendOutcome, EventLog, EventLogLimits, EventRecord, ReadOutcome, StoredEvent } from './event-log.js';
import { APPEND, CLOSE, OPEN, READ, REMOVE } from './redis-scripts.js';

export interface RedisEventLogOptions {
  /** Namespace of every key and channel, e.g. `cwa:`. */
  prefix?: string;
  /** A log nobody reads or writes for this long disappears (a dead session's log does not stay). */
  ttlMs?: number;
  /**
   * How a waiting poll learns of an append made by any process: `pubsub` (one subscriber
   * connection per process, a channel per session; the default, see the docs for why) or
   * `block` (XREAD BLOCK on a connection of its own per waiting poll).
   */
  wake?: 'pubsub' | 'block';
  /** pubsub: how long a session's channel stays subscribed after its last waiter left. */
  lingerMs?: number;
}

interface Waiter {
  afterEid: number;
  wake(): void;
}

interface Blocking {
  conn: Redis;
  id: number;
}

type Scripted = Record<string, (...args: Array<string | number>) => Promise<unknown>>;

const SCRIPTS = { cwaLogAppend: [2, APPEND], cwaLogRead: [2, READ], cwaLogClose: [3, CLOSE], cwaLogRemove: [3, REMOVE], cwaLogOpen: [3, OPEN] } as const;

export class RedisEventLog implements EventLog {
  readonly prefix: string;
  private readonly ttlMs: number;
  private readonly mode: 'pubsub' | 'block';
  private readonly lingerMs: number;
  private readonly opened = new Set<number>();
  // pubsub
  private sub: Redis | undefined;
  private readonly waiters = new Map<number, Set<Waiter>>();
  private readonly subscribed = new Map<number, Promise<unknown>>();
  private readonly linger = new Map<number, NodeJS.Timeout>();
  // block
  private readonly idle: Blocking[] = [];
  private readonly blocking = new Set<Blocking>();
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly limits: EventLogLimits,
    private readonly overflowRecord: EventRecord,
    options: RedisEventLogOptions = {},
  ) {
    this.prefix = options.prefix ?? 'cwa:';
    this.ttlMs = options.ttlMs ?? 24 * 3600 * 1000;
    this.mode = options.wake ?? 'pubsub';
    this.lingerMs = options.lingerMs ?? 30_000;
    for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    if (this.mode === 'pubsub') this.subscriber(); // connected before the first poll waits
  }

  private keys(sid: number): [meta: string, log: string, ctl: string] {
    const tag = `${this.prefix}{s${sid}}`;
    return [`${tag}:meta`, `${tag}:log`, `${tag}:ctl`];
  }

  private channel(sid: number): string {
    return `${this.prefix}wake:${sid}`;
  }

  private script(name: keyof typeof SCRIPTS, ...args: Array<string | number>): Promise<unknown> {
    return guarded((this.redis as unknown as Scripted)[name]!(...args));
  }

  async open(sid: number): Promise<void> {
    const [meta, log, ctl] = this.keys(sid);
    await this.script('cwaLogOpen', meta, log, ctl, this.ttlMs);
    this.opened.add(sid);
  }

  async append(sid: number, records: EventRecord[]): Promise<AppendOutcome> {
    const [meta, log] = this.keys(sid);
    const o = this.overflowRecord;
    const args: Array<string | number> = [meta, log, this.limits.maxEvents, this.limits.maxBytes, this.ttlMs, this.channel(sid)];
    args.push(o.head, o.tail, o.head.length + o.tail.length, records.length);
    for (const r of records) args.push(r.head, r.tail, r.head.length + r.tail.length);
    const result = Number(await this.script('cwaLogAppend', ...args));
    if (result === -1) return { ok: false, reason: 'closed' };
    if (result === -2) return { ok: false, reason: 'overflow' };
    return { ok: true, lastEid: result };
  }

  read(sid: number, ackId: number, max: number): Promise<ReadOutcome> {
    return this.range(sid, ackId, max, true);
  }

  peek(sid: number, afterEid: number, max: number): Promise<ReadOutcome> {
    return this.range(sid, afterEid, max, false);
  }

  private async range(sid: number, cursor: number, max: number, ack: boolean): Promise<ReadOutcome> {
    const [meta, log] = this.keys(sid);
    const r = (await this.script('cwaLogRead', meta, log, cursor, max, this.ttlMs, ack ? 1 : 0)) as unknown[];
    if (r[0] === 0) return { status: 'missing' };
    if (r[0] === 1) return { status: 'stale', acked: Number(r[1]), head: Number(r[2]) };
    const entries = r[3] as Array<[string, string[]]>;
    const events: StoredEvent[] = entries.map(([id, fields]) => ({ eid: parseInt(id, 10), xml: fields[1]! }));
    return { status: 'ok', events, head: Number(r[1]), closed: Number(r[2]) === 1 };
  }

  async close(sid: number, terminal?: EventRecord): Promise<void> {
    const [meta, log, ctl] = this.keys(sid);
    const t = terminal ? [1, terminal.head, terminal.tail, terminal.head.length + terminal.tail.length] : [0, '', '', 0];
    await this.script('cwaLogClose', meta, log, ctl, this.ttlMs, this.channel(sid), ...t);
  }

  async remove(sid: number): Promise<void> {
    const [meta, log, ctl] = this.keys(sid);
    this.opened.delete(sid);
    await this.script('cwaLogRemove', meta, log, ctl, this.ttlMs, this.channel(sid));
  }

  /** Whether a waiter after `afterEid` may return at once (log gone, closed, or ahead). */
  private async ready(sid: number, afterEid: number): Promise<boolean> {
    const [h, c] = await guarded(this.redis.hmget(this.keys(sid)[0], 'h', 'c'));
    return h === null || c === '1' || Number(h) > afterEid;
  }

  async wait(sid: number, afterEid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (timeoutMs <= 0 || signal?.aborted) return this.ready(sid, afterEid);
    return this.mode === 'block' ? this.waitBlocking(sid, afterEid, timeoutMs, signal) : this.waitPubSub(sid, afterEid, timeoutMs, signal);
  }

  // ---- pub/sub wake-ups ---------------------------------------------------------------

  private subscriber(): Redis {
    if (!this.sub) {
      // Queues while (re)connecting: a wait fails fast through its state check on the main
      // connection instead, and the subscription is in place as soon as Redis is back.
      const sub = this.redis.duplicate({ enableOfflineQueue: true });
      sub.on('error', () => undefined); // the main connection reports; requests fail with 503
      sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
      // After a reconnection, messages sent meanwhile are lost: wake every waiter to re-read.
      let first = true;
      sub.on('ready', () => {
        if (!first) for (const sid of [...this.waiters.keys()]) this.wakeAll(sid, () => true);
        first = false;
      });
      this.sub = sub;
    }
    return this.sub;
  }

  private onMessage(channel: string, message: string): void {
    const sid = Number(channel.slice(channel.lastIndexOf(':') + 1));
    const head = Number(message);
    this.wakeAll(sid, (w) => Number.isNaN(head) || head > w.afterEid);
  }

  private wakeAll(sid: number, which: (w: Waiter) => boolean): void {
    for (const w of [...(this.waiters.get(sid) ?? [])]) if (which(w)) w.wake();
  }

  private subscribe(sid: number): Promise<unknown> {
    const pending = this.linger.get(sid);
    if (pending) {
      clearTimeout(pending);
      this.linger.delete(sid);
    }
    let s = this.subscribed.get(sid);
    if (!s) {
      s = guarded(this.subscriber().subscribe(this.channel(sid)));
      s.catch(() => this.subscribed.delete(sid));
      this.subscribed.set(sid, s);
    }
    return s;
  }

  private unsubscribeLater(sid: number): void {
    if (this.linger.has(sid) || !this.subscribed.has(sid)) return;
    const timer = setTimeout(() => {
      this.linger.delete(sid);
      if (this.waiters.get(sid)?.size) return;
      this.subscribed.delete(sid);
      this.sub?.unsubscribe(this.channel(sid)).catch(() => undefined);
    }, this.opened.has(sid) ? this.lingerMs : 0);
    timer.unref();
    this.linger.set(sid, timer);
  }

  private waitPubSub(sid: number, afterEid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      let set = this.waiters.get(sid);
      if (!set) this.waiters.set(sid, (set = new Set()));
      const waiter: Waiter = { afterEid, wake: () => done(true) };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (value: boolean | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const s = this.waiters.get(sid);
        s?.delete(waiter);
        if (s && s.size === 0) {
          this.waiters.delete(sid);
          this.unsubscribeLater(sid);
        }
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Subscribed first, then look: an append between the two is seen by one or the other.
      this.subscribe(sid)
        .then(() => this.ready(sid, afterEid))
        .then((now) => now && done(true))
        .catch((err: Error) => done(err));
    });
  }

  // ---- blocking stream reads ----------------------------------------------------------

  private async waitBlocking(sid: number, afterEid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (await this.ready(sid, afterEid)) return true;
    if (signal?.aborted) return false;
    const b = this.idle.pop() ?? (await this.blockingConnection());
    this.blocking.add(b);
    let unblocked = false;
    const onAbort = () => {
      unblocked = true;
      // Ends the XREAD early (it answers nil, as on a timeout).
      this.redis.client('UNBLOCK', b.id).catch(() => b.conn.disconnect());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [, log, ctl] = this.keys(sid);
      const r = await guarded(b.conn.xread('BLOCK', timeoutMs, 'STREAMS', log, ctl, `${afterEid}-0`, '0-0'));
      return r !== null && !unblocked;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.blocking.delete(b);
      if (this.closed || this.idle.length >= 64 || b.conn.status !== 'ready') b.conn.disconnect();
      else this.idle.push(b);
    }
  }

  /** A connection of its own for one blocked XREAD; its id lets an abort unblock it. */
  private async blockingConnection(): Promise<Blocking> {
    const conn = this.redis.duplicate({ enableOfflineQueue: true });
    conn.on('error', () => undefined);
    try {
      return { conn, id: Number(await guarded(conn.client('ID'))) };
    } catch (err) {
      conn.disconnect();
      throw err;
    }
  }

  size(): number {
    return this.opened.size;
  }

  /** Polls waiting in this process (a leak check for tests, as MemoryEventLog.waiting). */
  waiting(): number {
    let n = this.blocking.size;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  /** Drops the connections this log opened (the main connection belongs to the caller). */
  async disconnect(): Promise<void> {
    this.closed = true;
    for (const t of this.linger.values()) clearTimeout(t);
    this.linger.clear();
    for (const set of this.waiters.values()) for (const w of [...set]) w.wake();
    this.sub?.disconnect();
    this.sub = undefined;
    for (const b of [...this.idle, ...this.blocking]) b.conn.disconnect();
    this.idle.length = 0;
  }
}
