// The HTTP transport: routes, ticket checks and error mapping. Thin by design: it
// turns HTTP into calls on the codec and the engine and back.
import express, { type NextFunction, type Request, type Response } from 'express';
import { cwaError, ErrorCode } from '../../engine/errors.js';
import { xmlBody } from './body.js';
import { commandHandler } from './command-channel.js';
import type { TransportContext } from './context.js';
import { dataChannelHandler } from './data-channel.js';
import { logonHandler } from './logon.js';
import { defaultRootAnswers, rootRoute } from './root.js';
import { corsSupport, operatorRoutes, requestContext, securityHeaders, type RequestLocals } from './operability.js';
import { StoreUnavailableError } from '../../store/unavailable.js';
import { sendError } from './replies.js';
import { LOGOFF_PATHS, logoffHandler, REVOKE_PATH, revokeHandler } from './sign-out.js';
import { addressLimit, logonAddressLimit, ticketLimit } from './throttle.js';

export const LOGON_PATHS = ['/forms/logon.html', '/iwa/logon.html', '/sso/logon.html'];
export const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
export const DATA_PATH = '/cwa/AsyncDataChannel.ashx';

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
      sendError(res, 401, { ...cwaError(ErrorCode.SessionNotFound, 'A valid CWA-Ticket header is required: sign in first.'), reason: 'Not Authenticated' });
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
  return (_req, res, next) => {
    if (!ctx.ops.shutdown.shuttingDown) return next();
    res.setHeader('Retry-After', '1');
    sendError(res, 503, cwaError(ErrorCode.InternalFailure, 'The gateway is shutting down; retry shortly.'));
  };
}

export function createApp(ctx: TransportContext, opts: { isListening?: () => boolean } = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  if (ctx.ops.trustProxy > 0) app.set('trust proxy', ctx.ops.trustProxy);

  app.use(requestContext(ctx, { logon: LOGON_PATHS, command: COMMAND_PATH, data: DATA_PATH }));
  app.use(securityHeaders(ctx));
  corsSupport(app, ctx);
  operatorRoutes(app, ctx, opts.isListening ?? (() => true));
  app.use(refuseWhileStopping(ctx));
  app.use(addressLimit(ctx));

  rootRoute(app, defaultRootAnswers({ logon: LOGON_PATHS, command: COMMAND_PATH, data: DATA_PATH }, ctx.publicUrl));
  const body = xmlBody(ctx.limits.maxBodyBytes, ctx.fallbackCharset);
  const authed = [requireTicket(ctx), ticketLimit(ctx)];
  for (const path of LOGON_PATHS) app.post(path, logonAddressLimit(ctx), body, wrap(logonHandler(ctx)));
  app.post(COMMAND_PATH, ...authed, body, wrap(commandHandler(ctx)));
  app.get(DATA_PATH, ...authed, wrap(dataChannelHandler(ctx)));
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
    if (err instanceof StoreUnavailableError && !res.headersSent) {
      // Fail fast and say so; the client retries, and the gateway serves again once Redis is back.
      res.setHeader('Retry-After', '1');
      sendError(res, 503, cwaError(ErrorCode.InternalFailure, 'The gateway\'s store (Redis) is unavailable; retry shortly.'), (res.locals as { auth?: { current?: string } }).auth?.current);
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
