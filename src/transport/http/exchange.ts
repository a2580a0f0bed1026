// One request on a CWA path and its answer (fast-path.ts), without Express: the request id,
// the signed-in user, the `error` answered, and the answer written with one `writeHead`
// (every header in one precomputed list) and one `end`. Each request is counted and logged
// when it is answered; a client that goes away first is counted with status 499 by one
// 'close' listener per connection, not one listener per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CwaError } from '../../protocol/cwa-errors.js';
import type { Route, ThrottleLimit } from '../../ops/metrics.js';
import type { RequestsInFlight, ShutdownRegistry } from '../../ops/shutdown.js';
import { renderErrorResponse } from '../../protocol/responses.js';
import type { CommonHeaders } from './headers.js';
import { REQUEST_ID_HEADER, requestIdOf, type RequestLog } from './operability.js';
import { XML_CONTENT_TYPE } from './replies.js';
import { throttledError } from './throttle.js';

export interface Auth {
  login: string;
  /** The ticket to answer in CWA-Ticket (the one presented, or its successor just offered). */
  current: string;
  presented: string;
}

/** What the exchanges of one gateway share. */
export interface ExchangeShared {
  headers: CommonHeaders;
  requests: RequestLog;
  shutdown: ShutdownRegistry;
  inFlight: RequestsInFlight;
  countThrottled(limit: ThrottleLimit): void;
}

const PENDING = Symbol('cwa exchanges in progress');
/** Unanswered exchanges of a connection (several when requests are pipelined); null once it closed. */
type Connection = Socket & { [PENDING]?: Exchange[] | null };

/** The connection closed: every exchange on it still unanswered lost its client. */
function connectionClosed(this: Connection): void {
  const pending = this[PENDING];
  this[PENDING] = null;
  if (pending) for (const x of pending) x.gone();
}

export class Exchange {
  readonly requestId: string;
  readonly started = performance.now();
  auth: Auth | undefined;
  /** The `code` of the document-level `error` answered, if any. */
  cwaError: number | undefined;
  /** Told once if the client goes away before its answer (a held poll stops waiting). */
  onGone: { clientGone(): void } | undefined;
  private settled = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: Route,
    private readonly shared: ExchangeShared,
  ) {
    this.requestId = requestIdOf(req);
    const socket = req.socket as Connection;
    const pending = socket[PENDING];
    if (pending) pending.push(this);
    else if (pending === undefined) {
      // Once per connection (a keep-alive connection carries many requests).
      socket.once('close', connectionClosed);
      socket[PENDING] = [this];
    }
  }

  /** True once answered, or once its client went away. */
  get done(): boolean {
    return this.settled;
  }

  /** Answers XML: the common headers, the request id, no caching, and the client's current ticket. */
  xml(status: number, body: string, ticket?: string, extra?: readonly string[]): void {
    const { res } = this;
    const headers = this.shared.headers.forRequest(this.req);
    headers.push(REQUEST_ID_HEADER, this.requestId, 'Content-Type', XML_CONTENT_TYPE, 'Cache-Control', 'no-cache, no-store');
    if (ticket) headers.push('CWA-Ticket', ticket);
    if (extra) headers.push(...extra);
    headers.push('Content-Length', String(Buffer.byteLength(body)));
    // While shutting down, each connection ends after its answer, so the process can exit.
    if (this.shared.shutdown.shuttingDown) res.shouldKeepAlive = false;
    res.writeHead(status, headers);
    res.end(body);
    this.settle(status);
  }

  error(status: number, error: CwaError, ticket?: string, extra?: readonly string[]): void {
    this.cwaError = error.code; // for the request's log line and the errors metric
    this.xml(status, renderErrorResponse(error), ticket, extra);
  }

  /** 429 with Retry-After and `error` 18101 "Request Throttled". */
  throttled(limit: ThrottleLimit, retryAfterS: number, ticket?: string): void {
    this.shared.countThrottled(limit);
    this.error(429, throttledError(limit, retryAfterS), ticket, ['Retry-After', String(retryAfterS)]);
  }

  /** The client went away before its answer: counted and logged with status 499 (nginx's convention). */
  gone(): void {
    if (this.settled) return;
    this.onGone?.clientGone();
    this.settle(499);
  }

  private settle(status: number): void {
    if (this.settled) return;
    this.settled = true;
    this.shared.inFlight.leave();
    const pending = (this.req.socket as Connection)[PENDING];
    if (pending) {
      if (pending.length === 1 && pending[0] === this) pending.pop();
      else {
        const at = pending.indexOf(this);
        if (at >= 0) pending.splice(at, 1);
      }
    }
    this.shared.requests.record({
      req: this.req,
      route: this.route,
      status,
      requestId: this.requestId,
      started: this.started,
      login: this.auth?.login,
      cwaError: this.cwaError,
    });
  }
}
