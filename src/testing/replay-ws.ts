// The replayer's WebSocket data channel: one socket per client, opened by a `ws` step.
// Frames are kept as they arrive; the replay reads them when a step needs them (receive,
// send's answer, ack, closed), so what a step compares never depends on when it ran.
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

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
