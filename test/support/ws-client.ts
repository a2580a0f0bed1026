// A WebSocket data-channel client as the tests drive it: raw frames, every one
// checked against schemas/ (cwaEvents, cwaResponses, ack/ticket frames).
import { expect } from 'chai';
import WebSocket from 'ws';
import type { XNode } from '../../src/protocol/xml-tree.js';
import { CWA_NS, parse } from './client.js';
import { expectValidDocument } from './schemas.js';

export interface AttachOptions {
  sid: number;
  ackId?: number;
  ticket?: string;
  /** Where the ticket goes: the CWA-Ticket header (default) or the `ticket` query parameter. */
  ticketIn?: 'header' | 'query';
  /** Extra query text appended as is (e.g. `&UA=true`). */
  extraQuery?: string;
  path?: string;
}

export interface Closed {
  code: number;
  reason: string;
}

export function wsUrl(baseUrl: string, o: AttachOptions): string {
  const q = `Sid=${o.sid}&AckId=${o.ackId ?? 0}${o.ticketIn === 'query' && o.ticket ? `&ticket=${encodeURIComponent(o.ticket)}` : ''}${o.extraQuery ?? ''}`;
  return `${baseUrl.replace(/^http/, 'ws')}${o.path ?? '/cwa/AsyncDataChannel.ashx'}?${q}`;
}

export class WsTestClient {
  /** Every frame received, in order. */
  readonly frames: string[] = [];
  /** Every event received, in order, across frames. */
  readonly events: XNode[] = [];
  readonly closed: Promise<Closed>;
  /** The ticket from the handshake answer or the last ticket frame. */
  ticket: string | undefined;
  private waiters: { pred: () => boolean; resolve: () => void; fail: (why: string) => void }[] = [];
  private closeInfo: Closed | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      expect(isBinary, 'the gateway sends text frames').to.equal(false);
      const text = data.toString();
      expectValidDocument(text);
      this.frames.push(text);
      const root = parse(text);
      if (root.name === 'cwaEvents') this.events.push(...root.children);
      if (root.name === 'ticket') this.ticket = root.text;
      this.check();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.check();
        resolve(this.closeInfo);
      });
    });
  }

  /** Opens a socket; rejects with the HTTP status and body when the upgrade is refused. */
  static attach(baseUrl: string, o: AttachOptions): Promise<WsTestClient> {
    const headers: Record<string, string> = o.ticketIn !== 'query' && o.ticket ? { 'CWA-Ticket': o.ticket } : {};
    const socket = new WebSocket(wsUrl(baseUrl, o), { headers });
    return new Promise((resolve, reject) => {
      let ticket: string | undefined;
      socket.on('upgrade', (res) => {
        const t = res.headers['cwa-ticket'];
        ticket = Array.isArray(t) ? t[0] : t;
      });
      const client = new WsTestClient(socket);
      socket.once('open', () => {
        client.ticket ??= ticket;
        resolve(client);
      });
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body, res.headers['content-type'] ?? '')));
      });
      socket.once('error', (err) => reject(err));
    });
  }

  /** Resolves the HTTP refusal of an upgrade that must fail (and checks its body against the schemas). */
  static async refusal(baseUrl: string, o: AttachOptions): Promise<UpgradeRefused> {
    try {
      const c = await WsTestClient.attach(baseUrl, o);
      c.socket.terminate();
    } catch (err) {
      if (err instanceof UpgradeRefused) {
        expect(err.contentType).to.match(/^text\/xml/);
        expectValidDocument(err.body);
        return err;
      }
      throw err;
    }
    throw new Error('the upgrade was accepted');
  }

  get closeCode(): number | undefined {
    return this.closeInfo?.code;
  }

  get lastEid(): number {
    const last = this.events[this.events.length - 1];
    return last ? Number(last.attrs.eid) : 0;
  }

  /** Waits until `pred` holds (checked after every frame and at close), or fails after `ms`. */
  until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${why} waiting for ${what}; frames:\n${this.frames.join('\n')}`));
      };
      const timer = setTimeout(() => fail('timed out'), ms);
      const waiter = {
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        fail,
      };
      this.waiters.push(waiter);
    });
  }

  untilEid(eid: number, ms?: number): Promise<void> {
    return this.until(() => this.lastEid >= eid, `eid ${eid}`, ms);
  }

  untilFrames(n: number, ms?: number): Promise<void> {
    return this.until(() => this.frames.length >= n, `${n} frames`, ms);
  }

  send(text: string): void {
    this.socket.send(text);
  }

  ack(ackId: number, ua?: boolean): void {
    this.send(`<ack ackId="${ackId}"${ua === undefined ? '' : ` ua="${ua}"`}/>`);
  }

  /** Sends a text frame and resolves with the next cwaResponses frame after it. */
  async request(text: string, ms?: number): Promise<{ body: string; root: XNode }> {
    const before = this.frames.length;
    this.send(text);
    let found: string | undefined;
    await this.until(() => {
      found = this.frames.slice(before).find((f) => f.startsWith('<cwaResponses'));
      return found !== undefined;
    }, 'a cwaResponses frame', ms);
    return { body: found!, root: parse(found!) };
  }

  /** A cwaRequests batch for `sid` holding `inner`. */
  command(sid: number, inner: string): Promise<{ body: string; root: XNode }> {
    return this.request(`<cwaRequests xmlns="${CWA_NS}" sid="${sid}">${inner}</cwaRequests>`);
  }

  async close(): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    return this.closed;
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      if (w.pred()) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      } else if (this.closeInfo) {
        w.fail(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason})`);
      }
    }
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: string, readonly contentType: string) {
    super(`upgrade refused with HTTP ${status}`);
    this.name = 'UpgradeRefused';
  }
}
