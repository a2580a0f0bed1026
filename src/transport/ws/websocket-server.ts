// The WebSocket door to the data channel: `GET /cwa/AsyncDataChannel.ashx?Sid=&AckId=`
// with `Upgrade: websocket`. The upgrade is checked like a poll (ticket, session,
// cursor) before the handshake, and refused with the same HTTP status and XML error
// body a poll would get; then a Subscriber serves the socket. One heartbeat timer
// pings every socket.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { addressKey } from '../../ops/rate-limit.js';
import type { CwaError } from '../../protocol/cwa-errors.js';
import { renderErrorResponse } from '../../protocol/responses.js';
import type { TransportContext } from '../http/context.js';
import { queryParams } from '../http/query.js';
import { AttachRefusals, attachSession, isRefusal, readCursor, readRefusal } from '../attach.js';
import { StoreUnavailableError } from '../../store/unavailable.js';
import { XML_CONTENT_TYPE } from '../http/replies.js';
import { CloseCode } from './close-codes.js';
import { Subscriber, type EndReason, type SubscriberLimits } from './subscriber.js';
import { SHUTTING_DOWN, STORE_UNAVAILABLE } from '../refusals.js';

export const WS_PATH = '/cwa/AsyncDataChannel.ashx';

export interface WebSocketLimits {
  /** Largest frame accepted from a client (the `ws` library closes with 1009 beyond it). */
  maxPayloadBytes: number;
  /** Send-buffer bound per socket (closed with 4002 beyond it). */
  maxBufferedBytes: number;
  /** Heartbeat period; a socket that misses one pong is dropped. */
  pingIntervalMs: number;
  /** Frames per second read from one socket (0: no limit), after a burst (frame-budget.ts). */
  frameRate: number;
  frameBurst: number;
}

export interface WebSocketStats {
  open: number;
  /** Sockets ended, by close code (or `heartbeat`, `client`). */
  ended: Record<string, number>;
}

type Refusal = { status: number; error: CwaError; ticket?: string; retryAfterS?: number };

/** The client's address as express's `trust proxy` (a hop count) would give it. */
function upgradeAddress(req: http.IncomingMessage, trustProxy: number): string | undefined {
  const remote = req.socket.remoteAddress;
  if (trustProxy <= 0) return remote;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  const chain = [...forwarded, remote];
  return chain[Math.max(0, chain.length - 1 - trustProxy)];
}

export class WebSocketChannel {
  private readonly wss: WebSocketServer;
  private readonly subscribers = new Set<Subscriber>();
  private readonly ended = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  /** The ticket to announce in the 101 answer, per upgrade request. */
  private readonly tickets = new WeakMap<http.IncomingMessage, string>();

  /** What every subscriber is given, made once (an object and a closure per socket otherwise). */
  private readonly subscriberLimits: SubscriberLimits;
  private readonly subscriberEnded = (sub: Subscriber, reason: EndReason): void => this.onEnd(sub, reason);

  constructor(
    private readonly ctx: TransportContext,
    private readonly limits: WebSocketLimits,
  ) {
    this.subscriberLimits = { maxBufferedBytes: limits.maxBufferedBytes, frames: { ratePerS: limits.frameRate, burst: limits.frameBurst } };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes, perMessageDeflate: false, clientTracking: true });
    this.wss.on('headers', (headers, req) => {
      const ticket = this.tickets.get(req);
      if (ticket) headers.push(`CWA-Ticket: ${ticket}`);
    });
    this.timer = setInterval(() => {
      for (const sub of [...this.subscribers]) sub.heartbeat();
    }, limits.pingIntervalMs);
    this.timer.unref();
  }

  /** Serves upgrades of `server` on the data-channel path; other upgrades are refused with 404. */
  listen(server: http.Server): void {
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(req, socket, head).catch((err) => {
        if (err instanceof StoreUnavailableError) {
          // As a poll would be answered: 503, and the client attaches again later.
          return refuse(socket, { status: 503, error: STORE_UNAVAILABLE, retryAfterS: 1 });
        }
        this.ctx.ops.logger.error({ err }, 'WebSocket upgrade failed');
        refuse(socket, { status: 500, error: cwaError(ErrorCode.InternalFailure, 'internal error') });
      });
    });
  }

  async handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Routed like express (paths compare without case), so the same URL works for both doors.
    if (path.toLowerCase() !== WS_PATH.toLowerCase()) {
      return refuse(socket, { status: 404, error: cwaError(ErrorCode.InvalidRequest, 'no such endpoint') });
    }
    const { ops } = this.ctx;
    if (ops.shutdown.shuttingDown) {
      return refuse(socket, { status: 503, error: SHUTTING_DOWN, retryAfterS: 1 });
    }
    // The same per-address limit as every HTTP request.
    const allowed = ops.rates.address.take(addressKey(upgradeAddress(req, ops.trustProxy)));
    if (!allowed.ok) {
      ops.metrics.throttled.inc({ limit: 'address' });
      return refuse(socket, {
        status: 429,
        error: cwaError(ErrorCode.RequestThrottled, `Too many requests from this address: retry after ${allowed.retryAfterS} s.`),
        retryAfterS: allowed.retryAfterS,
      });
    }
    const params = queryParams(url);
    // A browser cannot set headers on a WebSocket: the ticket may come as a query parameter.
    const header = req.headers['cwa-ticket'];
    const presented = (Array.isArray(header) ? header[0] : header) ?? params.get('cwa-ticket') ?? params.get('ticket');
    const { log } = this.ctx;
    const check = await this.ctx.coordinator.checkTicket(presented);
    if (!check || !presented) {
      return refuse(socket, {
        status: 401,
        error: { ...cwaError(ErrorCode.SessionNotFound, 'A valid CWA-Ticket (header, or ticket query parameter) is required: sign in first.'), reason: 'Not Authenticated' },
      });
    }
    const ticket = check.current;
    const cursor = readCursor(params);
    if (isRefusal(cursor)) return refuse(socket, { ...cursor, ticket });
    const { sid, ackId } = cursor;
    const found = await attachSession(this.ctx, check.login, cursor, false);
    if (isRefusal(found)) return refuse(socket, { ...found, ticket });
    // Attaching acknowledges everything <= AckId, exactly as a poll does.
    const r = await log.read(sid, ackId, 0);
    const refusal = readRefusal(r, cursor);
    if (refusal) return refuse(socket, { ...refusal, ticket });
    if (r.status !== 'ok') return; // (narrowing: every other status is refused above)
    // A log whose terminal event is acknowledged too has nothing left to push.
    if (r.closed && ackId >= r.head) return refuse(socket, { ...AttachRefusals.ended(sid), ticket });
    if (socket.destroyed) return;
    this.tickets.set(req, ticket);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const sub = new Subscriber(
        this.ctx,
        ws,
        { login: check.login, sid, presented, current: ticket, cursor: Math.min(ackId, r.head) },
        this.subscriberLimits,
        this.subscriberEnded,
      );
      if (sub.isActive) this.subscribers.add(sub);
    });
  }

  private onEnd(sub: Subscriber, reason: EndReason): void {
    this.subscribers.delete(sub);
    const key = String(reason);
    this.ended.set(key, (this.ended.get(key) ?? 0) + 1);
  }

  stats(): WebSocketStats {
    return { open: this.subscribers.size, ended: Object.fromEntries(this.ended) };
  }

  /** The open sockets (tests use them to kill a connection from the gateway's side). */
  list(): readonly Subscriber[] {
    return [...this.subscribers];
  }

  /** Stops the heartbeat and closes every socket with 1001; connections still open after `graceMs` are dropped. */
  close(graceMs = 1000): void {
    clearInterval(this.timer);
    for (const sub of [...this.subscribers]) sub.close(CloseCode.GoingAway);
    // Sockets still in their closing handshake (these and earlier ones) are dropped after the grace.
    const drop = () => {
      for (const ws of this.wss.clients) ws.terminate();
    };
    if (graceMs <= 0) drop();
    else setTimeout(drop, graceMs).unref();
    this.wss.close();
  }
}

/** Answers an upgrade request with a plain HTTP error (the same body a poll would get) and closes. */
function refuse(socket: Duplex, { status, error, ticket, retryAfterS }: Refusal): void {
  if (socket.destroyed) return;
  const body = renderErrorResponse(error);
  const head = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`,
    `Content-Type: ${XML_CONTENT_TYPE}`,
    'Cache-Control: no-cache, no-store',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(ticket ? [`CWA-Ticket: ${ticket}`] : []),
    ...(retryAfterS !== undefined ? [`Retry-After: ${retryAfterS}`] : []),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
