// The HTTP transport: routes, ticket checks and error mapping. Thin by design: it
// turns HTTP into calls on the codec and the engine and back. The three CWA paths are
// served before Express (fast-path.ts); Express serves everything else.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import type { TransportContext } from './context.js';
import { COMMAND_PATH, cwaPaths, DATA_PATH, LOGON_PATHS } from './fast-path.js';
import { defaultRootAnswers, rootRoute } from './root.js';
import { WEB_CLIENT_PATH, webClientRoutes } from './web-client.js';
import { corsSupport, operatorRoutes, requestContext, RequestLog, securityHeaders, type RequestLocals } from './operability.js';
import { StoreUnavailableError } from '../../store/unavailable.js';
import { sendError } from './replies.js';
import { LOGOFF_PATHS, logoffHandler, REVOKE_PATH, revokeHandler } from './sign-out.js';
import { addressLimit, ticketLimit } from './throttle.js';
import { NOT_SIGNED_IN, SHUTTING_DOWN, STORE_UNAVAILABLE } from '../refusals.js';
import { isUcwaPath, ucwaDoor, ucwaPath, ucwaRootAnswer } from '../ucwa/door.js';
import { sendUcwaError } from '../ucwa/http.js';

export { COMMAND_PATH, DATA_PATH, LOGON_PATHS };

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

/** Express 5 forwards rejected promises to the error handler; this keeps the types plain. */
const wrap =
  (fn: (req: Request, res: Response) => Promise<unknown>, thenNext = false): Handler =>
  (req, res, next) =>
    fn(req, res).then(() => {
      if (thenNext && !res.headersSent) next();
    }, next);

/** Every request after logon needs a valid CWA-Ticket; nothing runs without one. */
function requireTicket(ctx: TransportContext): Handler {
  return wrap(async (req, res) => {
    const presented = req.get('CWA-Ticket');
    const check = await ctx.coordinator.checkTicket(presented);
    if (!check) {
      sendError(res, 401, NOT_SIGNED_IN);
      return;
    }
    res.locals.auth = { login: check.login, current: check.current, presented };
  }, true);
}

/**
 * Once shutdown has started, a request that arrives (on a keep-alive connection that was
 * idle; the listener is closed) is not run: it gets 503, `Retry-After` and an error body,
 * and its connection closes, so the client retries elsewhere or later. Requests that
 * arrived before keep running and are answered (ops/shutdown.ts, server.ts).
 */
function refuseWhileStopping(ctx: TransportContext): Handler {
  return (req, res, next) => {
    if (!ctx.ops.shutdown.shuttingDown) return next();
    res.setHeader('Retry-After', '1');
    if (ucwaDoorOwns(req)) {
      sendUcwaError(req, res, 503, { code: 'ServiceUnavailable', subcode: 'None', message: 'The gateway is shutting down: retry in a moment.' });
      return;
    }
    sendError(res, 503, SHUTTING_DOWN);
  };
}

/** Whether the UCWA door owns a request (it answers in its own representation, §10 of the UCWA reference). */
const ucwaDoorOwns = (req: Request): boolean => isUcwaPath(ucwaPath(req.url).path);

/** A request of the UCWA door over the per-address limit: 429 TooManyRequests in the UCWA representation. */
const UCWA_THROTTLE = {
  owns: ucwaDoorOwns,
  refuse(req: Request, res: Response, retryAfterS: number): void {
    sendUcwaError(req, res, 429, { code: 'TooManyRequests', subcode: 'None', message: `Too many requests from this address: retry after ${retryAfterS} s.` });
  },
};

/** The server's request listener: the CWA paths first, then Express. */
export function createRequestListener(ctx: TransportContext, opts: { isListening?: () => boolean } = {}): RequestListener {
  const requests = new RequestLog(ctx);
  const app = createApp(ctx, requests, opts);
  const fast = cwaPaths(ctx, requests);
  const { inFlight } = ctx.ops;
  const left = () => inFlight.leave();
  return (req: IncomingMessage, res: ServerResponse) => {
    // In flight until answered: the CWA paths say when (exchange.ts), Express's requests at 'close'.
    inFlight.enter();
    if (fast(req, res)) return;
    res.once('close', left);
    app(req, res);
  };
}

export function createApp(ctx: TransportContext, requests: RequestLog, opts: { isListening?: () => boolean } = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  if (ctx.ops.trustProxy > 0) app.set('trust proxy', ctx.ops.trustProxy);

  app.use(requestContext(ctx, requests, { logon: LOGON_PATHS, command: COMMAND_PATH, data: DATA_PATH }));
  app.use(securityHeaders(ctx));
  corsSupport(app, ctx);
  operatorRoutes(app, ctx, opts.isListening ?? (() => true));
  app.use(refuseWhileStopping(ctx));
  app.use(addressLimit(ctx, UCWA_THROTTLE));

  // The UCWA door (its own paths, representations and errors), and its answer at the root.
  app.use(ucwaDoor(ctx));
  const rootAnswers = { ...defaultRootAnswers({ logon: LOGON_PATHS, command: COMMAND_PATH, data: DATA_PATH }, ctx.publicUrl), ucwa: ucwaRootAnswer(ctx) };
  if (ctx.webClient) {
    // A browser opening the gateway gets the web client (root.ts says why 302).
    // Behind a proxy that serves the gateway under a path, --public-url names it.
    const target = ctx.publicUrl !== undefined ? `${ctx.publicUrl}${WEB_CLIENT_PATH}` : WEB_CLIENT_PATH;
    rootAnswers.browser = (_req, res) => res.redirect(302, target);
    webClientRoutes(app, ctx.webClient);
  }
  rootRoute(app, rootAnswers);
  // Sign-in, the command and the data channel are served before Express (fast-path.ts).
  const authed = [requireTicket(ctx), ticketLimit(ctx)];
  for (const path of LOGOFF_PATHS) app.post(path, ...authed, wrap(logoffHandler(ctx)));
  if (ctx.ops.adminToken !== undefined) app.post(REVOKE_PATH, wrap(revokeHandler(ctx, ctx.ops.adminToken)));

  // Known paths with the wrong method, then everything else.
  for (const path of [...LOGON_PATHS, ...LOGOFF_PATHS, COMMAND_PATH]) {
    app.all(path, (_req, res) => sendError(res.setHeader('Allow', 'POST'), 405, cwaError(ErrorCode.InvalidRequest, 'use POST')));
  }
  app.all(DATA_PATH, (_req, res) => sendError(res.setHeader('Allow', 'GET'), 405, cwaError(ErrorCode.InvalidRequest, 'use GET')));
  app.all('/', (_req, res) => sendError(res.setHeader('Allow', 'GET, HEAD'), 405, cwaError(ErrorCode.InvalidRequest, 'use GET')));
  app.use((_req, res) => sendError(res, 404, cwaError(ErrorCode.InvalidRequest, 'no such endpoint')));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (ucwaDoorOwns(req) && !res.headersSent) {
      // The UCWA door answers in its own representation (§10).
      if (err instanceof StoreUnavailableError) {
        sendUcwaError(req, res, 503, { code: 'ServiceUnavailable', subcode: 'None', message: 'The gateway cannot reach its store: retry in a moment.' }, { 'Retry-After': '1' });
        return;
      }
      ctx.ops.logger.error({ reqId: (res.locals as RequestLocals).requestId, url: req.path, err }, 'internal error');
      sendUcwaError(req, res, 500, { code: 'ServiceFailure', subcode: 'None', message: 'internal error' });
      return;
    }
    if (err instanceof StoreUnavailableError && !res.headersSent) {
      // Fail fast and say so; the client retries, and the gateway serves again once Redis is back.
      res.setHeader('Retry-After', '1');
      sendError(res, 503, STORE_UNAVAILABLE, (res.locals as { auth?: { current?: string } }).auth?.current);
      return;
    }
    ctx.ops.logger.error({ reqId: (res.locals as RequestLocals).requestId, url: req.path, err }, 'internal error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, 500, cwaError(ErrorCode.InternalFailure, 'internal error'));
  });
  return app;
}
