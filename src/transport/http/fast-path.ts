// The three CWA paths (sign-in, command channel, data channel) served straight from
// node:http's 'request' event, before Express: one lookup on the request's path (without
// case, one trailing slash allowed, as Express's router matches), then the same steps the
// Express routes ran, in the same order: request id, refusal once shutdown began (503),
// address limit, ticket check, ticket limit, body, handler. Everything else (other paths, other methods on these paths, CORS
// preflights, 404s and 405s) goes to Express (app.ts). Answers carry the same headers
// (headers.ts) and are counted and logged alike (exchange.ts, operability.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import type { TicketCheck } from '../../engine/tickets.js';
import type { Route } from '../../ops/metrics.js';
import { addressKey } from '../../ops/rate-limit.js';
import { StoreUnavailableError } from '../../store/unavailable.js';
import { readXmlBody } from './body.js';
import { commandHandler } from './command-channel.js';
import type { TransportContext } from './context.js';
import { dataChannelHandler } from './data-channel.js';
import { Exchange, type Auth, type ExchangeShared } from './exchange.js';
import { CommonHeaders } from './headers.js';
import { logonHandler } from './logon.js';
import { clientAddress, type RequestLog } from './operability.js';
import { NOT_SIGNED_IN, SHUTTING_DOWN, STORE_UNAVAILABLE } from '../refusals.js';

export const LOGON_PATHS = ['/forms/logon.html', '/iwa/logon.html', '/sso/logon.html'];
export const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
export const DATA_PATH = '/cwa/AsyncDataChannel.ashx';

const RETRY_SOON = ['Retry-After', '1'];

interface CwaRoute {
  route: Route;
  /** Methods served here; others go to Express (405, or the preflight for OPTIONS). */
  methods: readonly string[];
  serve(x: Exchange): void;
}

/**
 * The path of a request-target, as Express's router reads it: up to `?` or `#`, for the
 * origin form (`/cwa/…`) and the absolute form (`http://host/cwa/…`); lowercased, one
 * trailing slash dropped. Undefined for anything else (Express decides).
 */
export function routePath(url: string): string | undefined {
  let path: string;
  if (url.charCodeAt(0) === 0x2f) {
    let end = url.length;
    for (let i = 1; i < end; i++) {
      const c = url.charCodeAt(i);
      if (c === 0x3f || c === 0x23) end = i;
    }
    path = url.slice(0, end);
  } else if (/^https?:\/\//i.test(url)) {
    try {
      path = new URL(url).pathname;
    } catch {
      return undefined;
    }
  } else {
    return undefined;
  }
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f) path = path.slice(0, -1);
  return path.toLowerCase();
}

/** The request handler of the CWA paths: true when it took the request, false to leave it to Express. */
export function cwaPaths(ctx: TransportContext, requests: RequestLog): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { rates, trustProxy, metrics, logger, shutdown } = ctx.ops;
  const throttledBy = new Map<string, { inc(): void }>();
  const shared: ExchangeShared = {
    headers: new CommonHeaders(ctx),
    requests,
    shutdown: ctx.ops.shutdown,
    inFlight: ctx.ops.inFlight,
    countThrottled(limit) {
      let child = throttledBy.get(limit);
      if (!child) throttledBy.set(limit, (child = metrics.throttled.labels({ limit })));
      child.inc();
    },
  };
  const logon = logonHandler(ctx);
  const command = commandHandler(ctx);
  const data = dataChannelHandler(ctx);
  const { maxBodyBytes } = ctx.limits;

  /** Anything a handler throws: 503 while the store is unreachable, else 500 (or the connection cut, once answered). */
  const failed = (x: Exchange, err: unknown): void => {
    if (err instanceof StoreUnavailableError && !x.res.headersSent) {
      // Fail fast and say so; the client retries, and the gateway serves again once Redis is back.
      x.error(503, STORE_UNAVAILABLE, x.auth?.current, RETRY_SOON);
      return;
    }
    logger.error({ reqId: x.requestId, url: (x.req.url ?? '').split('?')[0], err }, 'internal error');
    if (x.res.headersSent) {
      x.res.destroy();
      return;
    }
    x.error(500, cwaError(ErrorCode.InternalFailure, 'internal error'));
  };
  const run = (x: Exchange, work: Promise<void>): void => {
    work.catch((err: unknown) => failed(x, err));
  };

  /** Every request after logon needs a valid CWA-Ticket; nothing runs without one. */
  const signedIn = (x: Exchange, then: (x: Exchange, auth: Auth) => void): void => {
    const presented = x.req.headers['cwa-ticket'] as string | undefined;
    const checked = (check: TicketCheck | undefined): void => {
      if (!check || presented === undefined) {
        x.error(401, NOT_SIGNED_IN);
        return;
      }
      const auth: Auth = { login: check.login, current: check.current, presented };
      x.auth = auth;
      const outcome = rates.ticket.take(auth.current);
      if (!outcome.ok) return x.throttled('ticket', outcome.retryAfterS, auth.current);
      then(x, auth);
    };
    let check;
    try {
      check = ctx.coordinator.checkTicket(presented);
    } catch (err) {
      return failed(x, err);
    }
    if (check instanceof Promise) check.then(checked).catch((err: unknown) => failed(x, err));
    else checked(check);
  };

  const withBody = (x: Exchange, then: (text: string) => void | Promise<void>): Promise<void> =>
    readXmlBody(x, maxBodyBytes, ctx.fallbackCharset).then((text) => (text === undefined ? undefined : then(text)));

  const logonRoute: CwaRoute = {
    route: 'logon',
    methods: ['POST'],
    serve(x) {
      // Logon attempts from one client address, successful or not (each costs a password hash).
      const outcome = rates.logonAddress.take(addressKey(clientAddress(x.req, trustProxy)));
      if (!outcome.ok) {
        metrics.logons.inc({ result: 'throttled' });
        return x.throttled('logonAddress', outcome.retryAfterS);
      }
      run(x, withBody(x, (text) => logon(x, text)));
    },
  };
  const commandRoute: CwaRoute = {
    route: 'command',
    methods: ['POST'],
    serve(x) {
      signedIn(x, (x, auth) => run(x, withBody(x, (text) => command(x, auth, text))));
    },
  };
  const dataRoute: CwaRoute = {
    route: 'data',
    // Express's app.get() serves HEAD too.
    methods: ['GET', 'HEAD'],
    serve(x) {
      signedIn(x, (x, auth) => data(x, auth, failed));
    },
  };
  const routes = new Map<string, CwaRoute>([
    ...LOGON_PATHS.map((p) => [p.toLowerCase(), logonRoute] as const),
    [COMMAND_PATH.toLowerCase(), commandRoute],
    [DATA_PATH.toLowerCase(), dataRoute],
  ]);

  return (req, res) => {
    const path = routePath(req.url ?? '');
    const route = path === undefined ? undefined : routes.get(path);
    if (!route || !route.methods.includes(req.method!)) return false;
    const x = new Exchange(req, res, route.route, shared);
    try {
      if (shutdown.shuttingDown) {
        // Arrived once shutdown began (on a keep-alive connection that was idle): not run; the
        // client retries elsewhere or later, and the connection closes after this answer.
        x.error(503, SHUTTING_DOWN, undefined, RETRY_SOON);
        return true;
      }
      // Every request from one client address (IPv6: one /64), before anything is read.
      const outcome = rates.address.take(addressKey(clientAddress(req, trustProxy)));
      if (!outcome.ok) {
        x.throttled('address', outcome.retryAfterS);
        return true;
      }
      route.serve(x);
    } catch (err) {
      failed(x, err);
    }
    return true;
  };
}
