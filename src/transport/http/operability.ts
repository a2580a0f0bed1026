// What every HTTP request goes through before its route: a request id and one log line,
// metrics, security headers, CORS, and the operator endpoints (/healthz, /readyz,
// /metrics), which no rate limit applies to.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cors from 'cors';
import type { Express, NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { scrubUrl } from '../../ops/logger.js';
import type { Route, Tally } from '../../ops/metrics.js';
import type { TransportContext } from './context.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** A client's own request id is kept when it is short and plain; otherwise one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Made-up request ids: random per process, then a counter (unique without a random draw per request). */
const ID_PREFIX = randomBytes(6).toString('hex');
let idCounter = 0;
function newRequestId(): string {
  return `${ID_PREFIX}-${(++idCounter).toString(36)}`;
}

export interface RequestLocals {
  requestId: string;
  /** The `code` of the document-level `error` answered, if any (set by sendError). */
  cwaError?: number;
  /** The signed-in user, once the ticket was checked. */
  auth?: { login: string; current: string; presented: string };
}

export function routeOf(path: string, paths: { logon: string[]; command: string; data: string }): Route {
  const p = path.toLowerCase();
  if (paths.logon.includes(p)) return 'logon';
  if (p === paths.command.toLowerCase()) return 'command';
  if (p === paths.data.toLowerCase()) return 'data';
  if (p === '/healthz' || p === '/readyz') return 'health';
  if (p === '/metrics') return 'metrics';
  return 'other';
}

/**
 * X-Forwarded-For's addresses, nearest first (the last one written is the nearest
 * proxy's), as Express's `trust proxy` reads them: commas separate, spaces around are dropped.
 */
function forwardedFor(header: string): string[] {
  const list: string[] = [];
  let end = header.length;
  let start = header.length;
  for (let i = header.length - 1; i >= 0; i--) {
    const c = header.charCodeAt(i);
    if (c === 0x20) {
      if (start === end) start = end = i;
    } else if (c === 0x2c) {
      if (start !== end) list.push(header.substring(start, end));
      start = end = i;
    } else {
      start = i;
    }
  }
  if (start !== end) list.push(header.substring(start, end));
  return list;
}

/**
 * The client's address: the socket's, or, behind `trustProxy` trusted proxies, the address
 * the outermost of them names in X-Forwarded-For (Express's `req.ip` with a hop count).
 */
export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  const socket = req.socket.remoteAddress;
  if (trustProxy <= 0) return socket ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (!header) return socket ?? 'unknown';
  const hops = forwardedFor(Array.isArray(header) ? header.join(', ') : header);
  const at = Math.min(trustProxy, hops.length);
  return (at === 0 ? socket : hops[at - 1]) ?? 'unknown';
}

/** A request id: the client's own when it is short and plain, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : newRequestId();
}

/** What one request leaves behind once answered (or given up by its client): a metric and a log line. */
export interface RequestRecord {
  req: IncomingMessage;
  route: Route;
  status: number;
  requestId: string;
  /** performance.now() when the request arrived. */
  started: number;
  login: string | undefined;
  cwaError: number | undefined;
}

/** Counts and logs answered requests, for the Express routes and the CWA paths alike. */
export class RequestLog {
  /** One tally per route and status (by route, then status), so that counting a request hashes no labels. */
  private readonly counted = new Map<Route, Map<number, Tally>>();

  constructor(private readonly ctx: TransportContext) {}

  record(r: RequestRecord): void {
    const { logger, metrics, trustProxy } = this.ctx.ops;
    let byStatus = this.counted.get(r.route);
    if (!byStatus) this.counted.set(r.route, (byStatus = new Map()));
    let tally = byStatus.get(r.status);
    if (!tally) byStatus.set(r.status, (tally = metrics.tally(metrics.httpRequests, { route: r.route, status: String(r.status) })));
    tally.inc();
    if (r.cwaError !== undefined) metrics.errors.inc({ code: String(r.cwaError), kind: 'document' });
    if (r.route === 'health' || r.route === 'metrics') return;
    const { status } = r;
    const level = status >= 500 ? 'error' : status === 429 || status === 413 ? 'warn' : status >= 400 && ![401, 404, 499].includes(status) ? 'info' : 'debug';
    if (!logger.isLevelEnabled(level)) return;
    const ms = performance.now() - r.started;
    logger[level](
      {
        reqId: r.requestId,
        method: r.req.method,
        url: scrubUrl((r.req as { originalUrl?: string }).originalUrl ?? r.req.url ?? ''),
        status,
        ms: Math.round(ms * 10) / 10,
        address: clientAddress(r.req, trustProxy),
        login: r.login,
        error: r.cwaError,
      },
      'request',
    );
  }
}

/** Request id, Connection: close while shutting down, and one log line and metric per request. */
export function requestContext(ctx: TransportContext, requests: RequestLog, paths: { logon: string[]; command: string; data: string }) {
  const { shutdown } = ctx.ops;
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const requestId = requestIdOf(req);
    (res.locals as RequestLocals).requestId = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // While shutting down, each connection ends after its answer (also an answer to a
    // request that arrived before), so the process can exit.
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: unknown[]) {
      if (shutdown.shuttingDown) this.shouldKeepAlive = false;
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as typeof res.writeHead;
    // 'close' comes after the answer was sent, or when the client left before it.
    res.on('close', () => {
      const locals = res.locals as RequestLocals;
      requests.record({
        req,
        route: routeOf(req.path, paths),
        // A client that went away before its answer is logged with status 499 (nginx's convention).
        status: res.writableFinished ? res.statusCode : 499,
        requestId,
        started,
        login: locals.auth?.login,
        cwaError: locals.cwaError,
      });
    });
    next();
  };
}

/**
 * Security headers that matter for an XML API: no sniffing, no framing, no referrer, a
 * CSP that lets an answer opened in a browser run nothing, and a resource policy. No HSTS,
 * also over --tls-cert HTTPS: binding a host name to HTTPS is the site's decision; headers for
 * old browsers and plug-ins (X-XSS-Protection, X-Download-Options, X-DNS-Prefetch-Control,
 * X-Permitted-Cross-Domain-Policies, Origin-Agent-Cluster) are left out: every header is
 * paid for on every poll. Content-Type and caching of the XML answers are untouched.
 */
export function securityHeaders(ctx: TransportContext) {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: ctx.ops.corsOrigins.length === 0 ? 'same-origin' : 'cross-origin' },
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    originAgentCluster: false,
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
    xContentTypeOptions: true,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: { action: 'deny' },
    xPermittedCrossDomainPolicies: false,
    xPoweredBy: false,
    xXssProtection: false,
  });
}

/**
 * CORS for the configured origins: simple requests get Access-Control-Allow-Origin and
 * may read CWA-Ticket; preflights (OPTIONS) are answered 204 with the methods and the
 * headers a UC AJAX client sends. An OPTIONS without CORS (no origins configured, no
 * Origin header, an origin not allowed) still gets 204 with Allow, never an error.
 */
export function corsSupport(app: Express, ctx: TransportContext): void {
  const origins = ctx.ops.corsOrigins;
  if (origins.length > 0) {
    app.use(
      cors({
        origin: origins === '*' ? '*' : origins,
        methods: ['GET', 'POST', 'OPTIONS'],
        allowedHeaders: ['Content-Type', 'CWA-Ticket', REQUEST_ID_HEADER],
        exposedHeaders: ['CWA-Ticket', REQUEST_ID_HEADER, 'Retry-After'],
        maxAge: 600,
        optionsSuccessStatus: 204,
      }),
    );
  }
  app.use((req, res, next) => {
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Allow', 'GET, POST, OPTIONS');
    res.status(204).end();
  });
}

/** /healthz (the process answers), /readyz (listening, not shutting down, shared state reachable), /metrics. */
export function operatorRoutes(app: Express, ctx: TransportContext, isListening: () => boolean): void {
  const plain = (res: Response, status: number, text: string) => {
    res.status(status).type('text/plain').setHeader('Cache-Control', 'no-store');
    res.send(text);
  };
  app.get('/healthz', (_req, res) => plain(res, 200, 'ok'));
  app.get('/readyz', (_req, res) => {
    if (ctx.ops.shutdown.shuttingDown) return plain(res, 503, 'shutting down');
    if (!isListening()) return plain(res, 503, 'not listening');
    // A cluster node cut off from Redis, or still catching up with the command stream, answers 503s.
    if (!ctx.coordinator.available()) return plain(res, 503, 'shared state unavailable');
    plain(res, 200, 'ready');
  });
  app.get('/metrics', async (_req, res, next) => {
    try {
      const text = await ctx.ops.metrics.text();
      res.status(200).setHeader('Content-Type', ctx.ops.metrics.registry.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.end(text);
    } catch (err) {
      next(err);
    }
  });
}
