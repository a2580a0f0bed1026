// A recording reverse proxy: forwards every request to a UC AJAX API server and keeps the
// logons, commands and polls it saw, to be written as one transcript (record-transcript.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { TranscriptBuilder, type Exchange, type TranscriptDocument } from './record-transcript.js';

export interface RecordOptions {
  /** The server to record: a CWA 2007 R2 or a cwa-gateway, e.g. http://127.0.0.1:8080 */
  target: string;
  port: number;
  host?: string;
  title?: string;
  /** Told about what the proxy passes through without recording (WebSocket data channels). */
  warn?: (message: string) => void;
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
  const target = new URL(opts.target);
  const base = opts.target.replace(/\/+$/, '');
  // Answers are kept in the order they came back: what a client had seen when it sent its next request.
  const exchanges: Exchange[] = [];
  let warnedWs = false;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const kind = kindOf(url.pathname);
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
      exchanges.push({
        kind,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        ticketIn: req.headers['cwa-ticket'] as string | undefined,
        ticketOut: answer.headers.get('cwa-ticket') ?? undefined,
        requestBody: decode(body, req.headers['content-type']),
        status: answer.status,
        responseBody: decode(answerBody, answer.headers.get('content-type')),
      });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502).end(String(err));
      else res.destroy();
    });
  });
  // WebSocket data channels are passed through as they are (not recorded).
  const tunnels = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!warnedWs) {
      warnedWs = true;
      opts.warn?.('a WebSocket data channel is passed through but not recorded: record with polling clients');
    }
    const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
    const upstream = target.protocol === 'https:' ? tlsConnect({ host: target.hostname, port, servername: target.hostname }) : netConnect({ host: target.hostname, port });
    tunnels.add(socket).add(upstream);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i]!.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) upstream.write(head);
    upstream.pipe(socket).pipe(upstream);
    const close = () => {
      socket.destroy();
      upstream.destroy();
      tunnels.delete(socket);
      tunnels.delete(upstream);
    };
    socket.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
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
      return exchanges.length;
    },
    async stop() {
      server.closeAllConnections();
      for (const s of tunnels) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const builder = new TranscriptBuilder({
        title: opts.title ?? `recorded from ${opts.target}`,
        source: `recorded with cwa-gateway record in front of ${opts.target}, ${new Date().toISOString().slice(0, 10)}`,
      });
      for (const x of exchanges) builder.add(x);
      return builder.build();
    },
  };
}
