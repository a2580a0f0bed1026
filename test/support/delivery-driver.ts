// A client of one session that the delivery-contract property test drives step by
// step over the real doors (HTTP polls, WebSocket frames, command batches), plus a
// recorder of everything the gateway's event log accepted for that session: the
// ground truth the client's view is compared with.
//
// The client keeps one cursor and processes an event only when its eid is the cursor
// + 1 (an eid at or below the cursor is a redelivery and is skipped; anything else is a
// gap, which fails the test). Acknowledging past the cursor (a "future" AckId) gives
// up those events on the client's own word: they are recorded as skipped.
import { expect } from 'chai';
import WebSocket from 'ws';
import type { EventLog, ImmediateLog } from '../../src/delivery/event-log.js';
import { parse, LegacyClient, CWA_NS } from './client.js';
import type { TestGateway } from './gateway.js';
import { expectValidDocument } from './schemas.js';
import type { XNode } from '../../src/protocol/xml-tree.js';

/** Everything the log accepted, per session, in eid order (index = eid - 1). */
export class LogRecorder {
  private readonly bySid = new Map<number, { xml: string[]; closed: boolean }>();

  /** The log itself, under any decorator (reading through the decorator would count as delivering). */
  private readonly inner: EventLog;

  constructor(log: EventLog) {
    this.inner = (log as { underlying?: EventLog }).underlying ?? log;
    const self = this;
    const append = log.append.bind(log);
    const close = log.close.bind(log);
    log.append = async function (sid, records) {
      const out = await append(sid, records);
      await self.sync(sid);
      return out;
    };
    // The engine's sink appends at once (ImmediateLog): recorded at once too.
    const immediate = log as EventLog & Partial<ImmediateLog>;
    const appendNow = immediate.appendNow?.bind(log);
    if (appendNow) {
      immediate.appendNow = function (sid, records) {
        const out = appendNow(sid, records);
        self.syncNow(sid);
        return out;
      };
    }
    log.close = async function (sid, terminal) {
      await close(sid, terminal);
      await self.sync(sid);
    };
  }

  private entry(sid: number) {
    let e = this.bySid.get(sid);
    if (!e) this.bySid.set(sid, (e = { xml: [], closed: false }));
    return e;
  }

  /** Reads what was appended after the recorded head (not yet acknowledged, so still in the log). */
  private async sync(sid: number): Promise<void> {
    const e = this.entry(sid);
    const r = await this.inner.peek(sid, e.xml.length, 1_000_000);
    if (r.status !== 'ok') return;
    for (const ev of r.events) {
      expect(ev.eid, 'log eids are consecutive').to.equal(e.xml.length + 1);
      e.xml.push(ev.xml);
    }
    e.closed = r.closed;
  }

  /** What `sync` does, at once, from the in-memory log's state (its events are consecutive from acked + 1). */
  private syncNow(sid: number): void {
    const log = this.logs().get(sid);
    if (!log) return;
    const e = this.entry(sid);
    if (e.xml.length < log.acked) return;
    for (const ev of log.events.slice(e.xml.length - log.acked)) {
      expect(ev.eid, 'log eids are consecutive').to.equal(e.xml.length + 1);
      e.xml.push(ev.xml);
    }
    e.closed = log.closed;
  }

  private logs(): Map<number, { acked: number; closed: boolean; events: { eid: number; xml: string }[] }> {
    return (this.inner as unknown as { logs: Map<number, { acked: number; closed: boolean; events: { eid: number; xml: string }[] }> }).logs;
  }

  head(sid: number): number {
    return this.entry(sid).xml.length;
  }

  closed(sid: number): boolean {
    return this.entry(sid).closed;
  }

  xml(sid: number, eid: number): string | undefined {
    return this.entry(sid).xml[eid - 1];
  }

  /** The log's acknowledged position (read from the in-memory log's state). */
  acked(sid: number): number | undefined {
    return this.logs().get(sid)?.acked;
  }
}

export interface Frame {
  text: string;
  root: XNode;
}

/** One WebSocket of the driver: frames are buffered; the test decides when the client processes them. */
export class DriverSocket {
  readonly frames: Frame[] = [];
  consumed = 0;
  closeCode: number | undefined;
  /** The next eid this socket must push (its frames are contiguous from the attach cursor). */
  next: number;
  responses = 0;
  private readonly closedPromise: Promise<number>;
  private wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket, attachCursor: number) {
    this.next = attachCursor + 1;
    ws.on('message', (data) => {
      const text = data.toString();
      expectValidDocument(text);
      const root = parse(text);
      if (root.name === 'cwaEvents') {
        if (root.children.length > 0) {
          const eids = root.children.map((e) => Number(e.attrs.eid));
          expect(eids[0], `socket frames are contiguous: ${text.slice(0, 200)}`).to.equal(this.next);
          eids.forEach((eid, i) => expect(eid).to.equal(this.next + i));
          expect(Number(root.attrs.ackId)).to.equal(eids[eids.length - 1]);
          this.next = eids[eids.length - 1]! + 1;
        } else {
          // Only the attach confirmation is empty; its ackId is the head (it may correct a cursor ahead of it).
          expect(this.frames.length, 'an empty frame comes first only').to.equal(0);
          this.next = Number(root.attrs.ackId) + 1;
        }
      }
      if (root.name === 'cwaResponses') this.responses += 1;
      this.frames.push({ text, root });
      this.wake?.();
    });
    this.closedPromise = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake?.();
        resolve(code);
      }),
    );
    ws.on('error', () => undefined);
  }

  get open(): boolean {
    return this.closeCode === undefined;
  }

  /** Resolves when `pred` holds (checked on every frame and at close); fails after `ms`. */
  async until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 20);
      });
    }
  }

  /** The close code; fails when the socket is still open after `ms`. */
  closed(ms = 3000): Promise<number> {
    let timer: ReturnType<typeof setTimeout>;
    const timeout = new Promise<number>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket is still open after ${ms} ms`)), ms);
    });
    return Promise.race([this.closedPromise, timeout]).finally(() => clearTimeout(timer));
  }
}

export class DeliveryDriver {
  cursor = 0;
  readonly processed: number[] = [];
  readonly skipped: number[] = [];
  /** The highest position the client ever acknowledged (AckId of polls and attaches, ack frames), clamped to the head. */
  clientAcked = 0;
  socket: DriverSocket | undefined;
  lastBatch: { text: string; response?: string; headAfter: number } | undefined;
  private batches = 0;
  readonly terminalSeen: string[] = [];

  constructor(
    readonly gw: TestGateway,
    readonly http: LegacyClient,
    readonly recorder: LogRecorder,
    readonly sid: number,
  ) {}

  get head(): number {
    return this.recorder.head(this.sid);
  }

  get closed(): boolean {
    return this.recorder.closed(this.sid);
  }

  get acked(): number {
    return this.recorder.acked(this.sid) ?? Number.POSITIVE_INFINITY;
  }

  /** The client's processing rule: skip redeliveries, take cursor + 1, fail on a gap; compare with the log. */
  take(events: XNode[], raw: string): void {
    for (const ev of events) {
      const eid = Number(ev.attrs.eid);
      if (eid <= this.cursor) continue;
      expect(eid, `no gap after ${this.cursor} in ${raw.slice(0, 300)}`).to.equal(this.cursor + 1);
      const expected = this.recorder.xml(this.sid, eid);
      expect(raw, `event ${eid} as the log holds it`).to.include(expected);
      this.cursor = eid;
      this.processed.push(eid);
      if (ev.name === 'sessionTerminated') this.terminalSeen.push(ev.attrs.reason ?? '');
    }
  }

  /** The client acknowledges past its cursor: the events up to `to` are given up on its own word. */
  giveUpTo(to: number): void {
    for (let eid = this.cursor + 1; eid <= to; eid++) this.skipped.push(eid);
    if (to > this.cursor) this.cursor = to;
  }

  noteAck(ackId: number): void {
    this.clientAcked = Math.max(this.clientAcked, Math.min(ackId, this.head));
  }

  /**
   * Waits until the log has applied an acknowledgement up to `upTo` (at once on one gateway;
   * a cluster node applies it through the shared stream, after answering), so the next step
   * sees a settled log.
   */
  async ackSettled(upTo: number): Promise<void> {
    const deadline = Date.now() + 2000;
    for (;;) {
      const acked = this.recorder.acked(this.sid);
      if (acked === undefined || acked >= upTo) return;
      if (Date.now() > deadline) throw new Error(`the acknowledgement up to ${upTo} was not applied (acked ${acked})`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** The gateway never drops what the client did not acknowledge. */
  checkAcked(): void {
    const acked = this.recorder.acked(this.sid);
    if (acked !== undefined) expect(acked, 'acknowledged position').to.be.at.most(this.clientAcked);
  }

  async attach(ackId: number): Promise<{ status: number; socket?: DriverSocket }> {
    const url = `${this.gw.url.replace('http', 'ws')}/cwa/AsyncDataChannel.ashx?Sid=${this.sid}&AckId=${ackId}`;
    const ws = new WebSocket(url, { headers: { 'CWA-Ticket': this.http.ticket! } });
    const socket = new DriverSocket(ws, Math.min(ackId, this.head));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ status: 101, socket }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          expectValidDocument(body);
          resolve({ status: res.statusCode ?? 0 });
        });
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** A new batch: an invitation to an unknown user (its failure sequence is queued to this session). */
  newBatch(): string {
    this.batches += 1;
    return (
      `<cwaRequests xmlns="${CWA_NS}" sid="${this.sid}"><conference rid="b${this.batches}" confId="0"><initiateImSession>` +
      `<uris><uri>sip:nobody${this.batches}@example.com</uri></uris><message><content>m${this.batches}</content></message>` +
      '</initiateImSession></conference></cwaRequests>'
    );
  }

  async postBatch(text: string): Promise<string> {
    const res = await fetch(`${this.gw.url}/cwa/MainCommandHandler.ashx`, {
      method: 'POST',
      body: text,
      headers: { 'Content-Type': 'text/xml', 'CWA-Ticket': this.http.ticket! },
    });
    const body = await res.text();
    expect(res.status, body).to.equal(200);
    expectValidDocument(body);
    return body;
  }

  /** Waits until an open socket has pushed everything the log holds (or closed). */
  async settle(): Promise<void> {
    const s = this.socket;
    if (!s || !s.open) return;
    await s.until(() => !s.open || (s.frames.length > 0 && s.next > this.head), `the socket to push up to ${this.head}`);
  }
}
