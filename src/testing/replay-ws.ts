// The replayer's WebSocket data channel and its steps (ws, send, ack, close, closed): one
// socket per client, opened by a `ws` step. Frames are kept as they arrive; the replay reads
// them when a step needs them (receive, send's answer, ack, close), so what a step compares
// never depends on when a frame came.
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { XNode } from '../protocol/xml-tree.js';
import { checkFrameContract, compareStatusAndHeaders, documentErrors, queryValue, type Exchange } from './checks.js';
import { Bindings, compareNode, fill, Mismatch, parseXml, xmlEscape } from './match.js';
import { defaultWsUrl, type Step } from './transcript.js';

/** What the upgrade request got: 101 and a socket, or the refusal (status, headers, body). */
export interface WsOpened {
  status: number;
  headers: Headers;
  body: string;
  socket?: ReplaySocket;
}

const toHeaders = (res: IncomingMessage): Headers => {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
  return h;
};

export class ReplaySocket {
  /** Text frames not read by a step yet, in arrival order. */
  private frames: string[] = [];
  private wake: (() => void) | undefined;
  /** Set once the socket has closed: the close code (1006 when there was no close frame). */
  closeCode: number | undefined;
  /** Whether the gateway's side sent a binary frame (the data channel has none). */
  binary = false;
  /** The eid the next event frame continues from: the attach AckId, then each frame's ackId. */
  cursor: number;
  /** No event frame read yet (the first may be empty, its ackId the head). */
  first = true;
  /** cwaResponses frames read but not yet taken by a send step, in order. */
  readonly answers: string[] = [];

  private constructor(
    private readonly ws: WebSocket,
    readonly url: string,
    /** The Sid the socket attached with, as sent. */
    readonly sid: string | undefined,
    ackId: number,
  ) {
    this.cursor = ackId;
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.binary = true;
      else this.frames.push(data.toString());
      this.notify();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.notify();
    });
    ws.on('error', () => undefined);
  }

  /** Opens `url` (ws:// or wss://); resolves with the handshake's outcome. */
  static open(url: string, headers: Record<string, string>, sid: string | undefined, ackId: number, timeoutMs: number): Promise<WsOpened> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
      // Listening from the start: the first frame follows the 101 at once.
      const socket = new ReplaySocket(ws, url, sid, ackId);
      let upgraded: Headers | undefined;
      ws.once('upgrade', (res) => (upgraded = toHeaders(res)));
      ws.once('open', () => resolve({ status: 101, headers: upgraded ?? new Headers(), body: '', socket }));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: toHeaders(res), body: Buffer.concat(chunks).toString('utf8') });
          ws.terminate();
        });
        res.on('error', reject);
      });
      // After a refusal was read, terminating the socket reports an error too: the promise is settled by then.
      ws.once('error', (err) => reject(err));
    });
  }

  get open(): boolean {
    return this.closeCode === undefined;
  }

  /** Open and not closing: a frame sent now reaches the server. */
  get sendable(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The frames that arrived since the last call. */
  take(): string[] {
    return this.frames.splice(0);
  }

  /** Resolves when a frame arrives, the socket closes, or `deadline` (epoch ms) passes. */
  wait(deadline: number): Promise<void> {
    if (this.frames.length > 0 || !this.open) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  send(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) throw new Error(`the socket is not open (close code ${this.closeCode ?? 'none yet'})`);
    this.ws.send(text);
  }

  /** Closes with `code` and waits (up to `timeoutMs`) for the closing handshake. */
  async close(code: number, timeoutMs: number): Promise<void> {
    if (!this.open) return;
    this.ws.close(code);
    const deadline = Date.now() + timeoutMs;
    while (this.open && Date.now() < deadline) await this.wait(deadline);
    if (this.open) this.ws.terminate();
  }

  /** Drops the connection (end of the replay). */
  terminate(): void {
    this.ws.terminate();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

// ---- the WebSocket steps ---------------------------------------------------------------

/** What a WebSocket step needs of the replay: the client's state and the step's bindings. */
export interface ClientChannel {
  name: string;
  b: Bindings;
  /** `steps[N]`, where captures are made. */
  from: string;
  /** The step's exchange, for its failure message. */
  ex: Exchange;
  timeoutMs: number;
  /** The server's base URL (http:// or https://). */
  baseUrl: string;
  /** Every client's open socket. */
  sockets: Map<string, ReplaySocket>;
  /** The events this client received and no receive step took yet. */
  pending: XNode[];
  /** The highest eid the client received in its session. */
  seen(): number;
  /** The client received everything up to `ackId`: its cursor moves there. */
  receivedUpTo(ackId: string): void;
  ticket(): string | undefined;
}

export type WebSocketStep = Extract<Step, { kind: 'ws' | 'send' | 'ack' | 'close' | 'closed' }>;

/**
 * Reads the frames the client's socket received so far: events join what the client must
 * receive (redeliveries skipped), answers wait for their send step, a successor ticket
 * becomes the client's. Every frame must validate and keep the delivery contract.
 */
export function readFrames(s: ReplaySocket, ch: ClientChannel): void {
  if (s.binary) throw new Mismatch('frame', 'the server sent a binary frame (the data channel sends text frames only)');
  for (const text of s.take()) {
    ch.ex.frame = text;
    const errors = documentErrors(text);
    if (errors.length) throw new Mismatch('frame', `the frame does not validate against schemas/: ${errors.join('; ')}`);
    const root = parseXml(text);
    if (root.name === 'cwaResponses') s.answers.push(text);
    else if (root.name === 'ticket') ch.b.update(`ticket.${ch.name}`, root.text.trim(), ch.from);
    else if (root.name === 'cwaEvents') {
      checkFrameContract(root, s);
      const last = ch.seen();
      ch.pending.push(...root.children.filter((e) => Number(e.attrs.eid) > last));
      if (root.children.length > 0 || Number(root.attrs.ackId) > last) ch.receivedUpTo(root.attrs.ackId!);
    } else throw new Mismatch('frame', `a frame the data channel does not send: <${root.name}>`);
  }
  ch.ex.frame = undefined;
}

/** A receive step on an open socket: reads frames until `want` events are pending or `deadline` passed. */
export async function receiveFrames(s: ReplaySocket, ch: ClientChannel, want: number, deadline: number): Promise<void> {
  ch.ex.request = `WebSocket ${s.url.replace(/^wss?:\/\/[^/]+/, '')}: event frames`;
  readFrames(s, ch);
  while (ch.pending.length < want && s.open && Date.now() < deadline) {
    await s.wait(deadline);
    readFrames(s, ch);
  }
  if (ch.pending.length < want && !s.open) {
    throw new Mismatch('', `the server closed ${ch.name}'s socket (code ${s.closeCode}) after ${ch.pending.length} of the ${want} expected events`);
  }
}

/** Runs a ws, send, ack, close or closed step; a difference is thrown as a Mismatch. */
export async function runWebSocketStep(step: WebSocketStep, ch: ClientChannel): Promise<void> {
  const { b, from, ex, name: c, timeoutMs } = ch;
  const socketOf = (what: string): ReplaySocket => {
    const s = ch.sockets.get(c);
    if (!s) throw new Mismatch('', `${what} needs an open WebSocket: ${c} has none (a ws step opens one)`);
    return s;
  };
  /** Reads frames until `done` or the socket closed or the timeout passed. */
  const readUntil = async (s: ReplaySocket, done: () => boolean) => {
    const deadline = Date.now() + timeoutMs;
    readFrames(s, ch);
    while (!done() && s.open && Date.now() < deadline) {
      await s.wait(deadline);
      readFrames(s, ch);
    }
    readFrames(s, ch);
  };

  if (step.kind === 'ws') {
    const query = fill(step.ws.url ?? defaultWsUrl(c), b, encodeURIComponent);
    ex.request = `GET ${query} (Upgrade: websocket)`;
    const headers: Record<string, string> = {};
    const ticket = ch.ticket();
    if (step.ws.ticketHeader !== false && ticket) headers['CWA-Ticket'] = ticket;
    const search = query.includes('?') ? query.slice(query.indexOf('?') + 1) : '';
    const old = ch.sockets.get(c);
    if (old) readFrames(old, ch);
    const ackId = Number(queryValue(search, 'ackid')?.trim() || 0);
    const opened = await ReplaySocket.open(ch.baseUrl.replace(/^http/i, 'ws') + query, headers, queryValue(search, 'sid')?.trim(), ackId, timeoutMs);
    ex.raw = { status: opened.status, body: opened.body };
    if (opened.socket) {
      // The old socket (superseded by this one) has nothing more to say.
      old?.terminate();
      ch.sockets.set(c, opened.socket);
    }
    compareStatusAndHeaders(step.expect, opened.status, opened.headers, b, from);
    const newTicket = opened.headers.get('cwa-ticket');
    if (newTicket) b.update(`ticket.${c}`, newTicket, from);
    if (opened.status !== 101) {
      // Refused as a poll would be: the same checks as any answer.
      const type = opened.headers.get('content-type') ?? '';
      if (!/^text\/xml/.test(type)) throw new Mismatch('', `content type must be text/xml, got "${type}"`);
      const errors = documentErrors(opened.body);
      if (errors.length) throw new Mismatch('', `the answer does not validate against schemas/: ${errors.join('; ')}`);
      if (step.expect.body) compareNode(step.expect.body, parseXml(opened.body), b, `/${step.expect.body.name}`, from);
    }
    return;
  }
  if (step.kind === 'send') {
    const s = socketOf('a send step');
    const text = fill(step.send, b, xmlEscape);
    ex.request = `WebSocket frame: ${text}`;
    readFrames(s, ch);
    if (!s.sendable) throw new Mismatch('', `the server closed ${c}'s socket (code ${s.closeCode ?? 'on its way'}) before this frame`);
    const before = s.answers.length;
    s.send(text);
    if (!step.expect?.body) return;
    // Answers come in the order of the frames: this one is the next after those already waiting.
    await readUntil(s, () => s.answers.length > before);
    const answer = s.answers.splice(0, before + 1)[before];
    if (answer === undefined) {
      throw new Mismatch('', s.open ? `no answer frame within ${timeoutMs} ms` : `the server closed the socket (code ${s.closeCode}) without answering`);
    }
    ex.raw = { status: 101, body: answer };
    compareNode(step.expect.body, parseXml(answer), b, `/${step.expect.body.name}`, from);
    return;
  }
  if (step.kind === 'ack') {
    const s = socketOf('an ack step');
    readFrames(s, ch);
    const ua = step.ack.ua === undefined ? '' : ` ua="${fill(step.ack.ua, b, xmlEscape)}"`;
    const text = `<ack ackId="${fill(step.ack.ackId ?? `{ack.${c}}`, b, xmlEscape)}"${ua}/>`;
    ex.request = `WebSocket frame: ${text}`;
    // An ack races with the server closing the socket (after a terminateSession, say); it asks
    // for no answer, so one the closing socket can no longer carry is simply not sent.
    if (s.sendable) s.send(text);
    return;
  }
  const s = socketOf(`a ${step.kind} step`);
  ex.request = step.kind === 'close' ? `close the WebSocket (${step.close.code ?? 1000})` : 'wait for the server to close the WebSocket';
  readFrames(s, ch);
  if (step.kind === 'close') await s.close(step.close.code ?? 1000, timeoutMs);
  await readUntil(s, () => !s.open);
  ch.sockets.delete(c);
  if (s.open) {
    s.terminate();
    throw new Mismatch('', `the server did not close ${c}'s socket within ${timeoutMs} ms`);
  }
  const code = step.kind === 'closed' ? step.expect?.code : undefined;
  if (code !== undefined && s.closeCode !== code) throw new Mismatch('close code', `expected ${code}, got ${s.closeCode}`);
}
