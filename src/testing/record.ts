// A recording reverse proxy: forwards every request to a UC AJAX API server and keeps the
// logons, commands, polls and WebSocket data channels it saw, to be written as one
// transcript (record-transcript.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { TranscriptBuilder, type Exchange, type TranscriptDocument } from './record-transcript.js';

export interface RecordOptions {
  /** The server to record: a CWA 2007 R2 or a cwa-gateway, e.g. http://127.0.0.1:8080 */
  target: string;
  port: number;
  host?: string;
  title?: string;
}

export interface Recorder {
  /** Where clients connect: http://HOST:PORT */
  url: string;
  /** Requests recorded so far. */
  readonly recorded: number;
  /** Stops listening (open connections are cut) and returns the transcript. */
  stop(): Promise<TranscriptDocument>;
}

const MAX_BODY = 16 * 1024 * 1024;
/** Hop-by-hop headers, and those the proxy recomputes. */
const DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-encoding']);

function kindOf(path: string): Exchange['kind'] | undefined {
  const p = path.toLowerCase();
  if (/^\/(forms|iwa|sso)\/logon\.html$/.test(p)) return 'logon';
  if (p === '/cwa/maincommandhandler.ashx') return 'command';
  if (p === '/cwa/asyncdatachannel.ashx') return 'poll';
  return undefined;
}

/** A body as text, in the charset its Content-Type names (UTF-8 when none). */
function decode(body: Buffer, type: string | undefined | null): string {
  const charset = /charset="?([^";\s]+)/i.exec(type ?? '')?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(body).replace(/^\uFEFF/, '');
  } catch {
    return body.toString('utf8');
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error(`request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function record(opts: RecordOptions): Promise<Recorder> {
  const base = opts.target.replace(/\/+$/, '');
  // The order of the transcript: a logon or command where its request arrived (what it causes
  // may reach a held poll before its own answer is back), events where they came back.
  let clock = 0;
  const recorded: { order: number; x: Exchange }[] = [];
  const exchanges = { push: (x: Exchange, order = ++clock) => recorded.push({ order, x }) };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const kind = kindOf(url.pathname);
    const order = ++clock;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      res.writeHead(413).end((err as Error).message);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!DROPPED.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    let answer: Response;
    try {
      const method = req.method ?? 'GET';
      answer = await fetch(base + (req.url ?? '/'), { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(body), redirect: 'manual' });
    } catch (err) {
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`cwa-gateway record: ${opts.target} did not answer: ${(err as Error).message}`);
      return;
    }
    const answerBody = Buffer.from(await answer.arrayBuffer());
    const out: Record<string, string | string[]> = {};
    answer.headers.forEach((v, k) => {
      if (!DROPPED.has(k)) out[k] = k === 'set-cookie' ? answer.headers.getSetCookie() : v;
    });
    res.writeHead(answer.status, out).end(answerBody);
    if (kind) {
      exchanges.push(
        {
        kind,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        ticketIn: req.headers['cwa-ticket'] as string | undefined,
        ticketOut: answer.headers.get('cwa-ticket') ?? undefined,
        requestBody: decode(body, req.headers['content-type']),
        status: answer.status,
        responseBody: decode(answerBody, answer.headers.get('content-type')),
        },
        kind === 'poll' ? ++clock : order,
      );
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502).end(String(err));
      else res.destroy();
    });
  });
  // WebSocket data channels: relayed frame by frame; events, command batches and their answers are recorded.
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  const channels = new Set<FrameRecorder>();
  /** Set by stop(): the sockets it cuts are not the conversation's. */
  let stopping = false;
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!DROPPED.has(k) && !k.startsWith('sec-websocket') && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const order = ++clock;
    const queryTicket = url.searchParams.get('ticket') ?? url.searchParams.get('CWA-Ticket') ?? url.searchParams.get('cwa-ticket') ?? undefined;
    const channel = new FrameRecorder(
      url.pathname,
      url.search.replace(/^\?/, ''),
      (req.headers['cwa-ticket'] as string | undefined) ?? queryTicket,
      req.headers['cwa-ticket'] !== undefined,
      (x, at) => exchanges.push(x, at),
      () => ++clock,
    );
    channels.add(channel);
    const up = new WebSocket(base.replace(/^http/, 'ws') + (req.url ?? '/'), { headers });
    sockets.add(up);
    const early: { data: RawData; binary: boolean }[] = [];
    let client: WebSocket | undefined;
    up.on('message', (data, binary) => {
      if (!binary) channel.fromServer(data.toString());
      if (client) client.send(data, { binary });
      else early.push({ data, binary });
    });
    // A refused attach: the client gets the status and body the server answered.
    up.on('unexpected-response', (_r, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const body = Buffer.concat(chunks);
        channel.opened(order, res.statusCode ?? 0, decode(body, res.headers['content-type']));
        socket.end(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\nContent-Type: ${res.headers['content-type'] ?? 'text/xml'}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`, 'latin1');
      });
      sockets.delete(up);
    });
    up.on('error', () => socket.destroy());
    up.on('open', () => {
      channel.opened(order, 101, '');
      wss.handleUpgrade(req, socket, head, (ws) => {
        client = ws;
        sockets.add(ws);
        for (const f of early.splice(0)) ws.send(f.data, { binary: f.binary });
        ws.on('message', (data, binary) => {
          if (!binary) channel.fromClient(data.toString());
          up.send(data, { binary });
        });
        const closeCode = (code: number) => (code === 1005 || code === 1006 || code === 1015 ? 1000 : code);
        // Who closed first is what the transcript says: the client (close) or the server (closed, with its code).
        ws.on('close', (code, reason) => {
          sockets.delete(ws);
          if (!stopping) channel.closed('client', code);
          if (up.readyState === WebSocket.OPEN) up.close(closeCode(code), reason);
        });
        up.on('close', (code, reason) => {
          sockets.delete(up);
          if (!stopping) channel.closed('server', code);
          if (ws.readyState === WebSocket.OPEN) ws.close(closeCode(code), reason);
        });
        ws.on('error', () => up.terminate());
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    get recorded() {
      return recorded.length;
    },
    async stop() {
      stopping = true;
      for (const ch of channels) ch.flush();
      server.closeAllConnections();
      for (const s of sockets) s.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const builder = new TranscriptBuilder({
        title: opts.title ?? `recorded from ${opts.target}`,
        source: `recorded with cwa-gateway record in front of ${opts.target}, ${new Date().toISOString().slice(0, 10)}`,
      });
      for (const { x } of recorded.sort((a, b) => a.order - b.order)) builder.add(x);
      return builder.build();
    },
  };
}

/** An ack frame as clients write it: recorded as an ack step. */
const ACK_FRAME = /^\s*<ack\s+ackId="\d+"(?:\s+ua="[^"]*")?\s*\/>\s*$/;

/**
 * One WebSocket data channel: its opening, the frames the client sent (acks; command
 * batches with the answer frame that follows, answers coming in order), the events it
 * received (as what a poll would have brought), successor tickets, and who closed it.
 */
class FrameRecorder {
  private readonly pending: { text: string; order: number }[] = [];
  private done = false;
  constructor(
    private readonly path: string,
    private readonly query: string,
    private ticket: string | undefined,
    private readonly ticketInHeader: boolean,
    private readonly push: (x: Exchange, order?: number) => void,
    private readonly tick: () => number,
  ) {}

  private get base() {
    return { query: this.query, ticketIn: this.ticket, status: 200, requestBody: '', responseBody: '' };
  }

  /** The upgrade's outcome: 101, or the refusal the server answered. */
  opened(order: number, status: number, body: string): void {
    this.push({ ...this.base, kind: 'wsOpen', path: this.path, status, responseBody: body, ticketInHeader: this.ticketInHeader }, order);
  }

  fromClient(text: string): void {
    if (ACK_FRAME.test(text)) this.push({ ...this.base, kind: 'wsAck', path: this.path, requestBody: text.trim() });
    // Anything else is answered by one cwaResponses frame (a batch's answer, or the error for an unusable frame).
    else this.pending.push({ text, order: this.tick() });
  }

  fromServer(text: string): void {
    const t = text.trimStart();
    if (t.startsWith('<cwaEvents')) this.push({ ...this.base, kind: 'poll', path: this.path, responseBody: t });
    else if (t.startsWith('<cwaResponses') && this.pending.length) {
      const { text: requestBody, order } = this.pending.shift()!;
      this.push({ ...this.base, kind: 'wsSend', path: this.path, requestBody, responseBody: t }, order);
    } else if (t.startsWith('<ticket')) {
      // A successor ticket: the client's from now on.
      const next = /<ticket[^>]*>([^<]*)<\/ticket>/.exec(t)?.[1];
      if (next) {
        this.push({ ...this.base, kind: 'ticket', path: '', ticketOut: next });
        this.ticket = next;
      }
    }
  }

  closed(by: 'client' | 'server', code: number): void {
    if (this.done) return;
    this.flush();
    this.done = true;
    this.push({ ...this.base, kind: 'wsClose', path: this.path, closedBy: by, closeCode: code });
  }

  /** Frames still waiting for an answer are recorded without one. */
  flush(): void {
    for (const { text, order } of this.pending.splice(0)) this.push({ ...this.base, kind: 'wsSend', path: this.path, requestBody: text }, order);
  }
}
