// Signing a user out everywhere: every ticket of the user is revoked and every session
// of it ends (peers see the user leave; its WebSockets close with 4003). The reference
// has no such request (`terminateSession` ends one session and leaves the ticket valid),
// so the gateway adds two doors:
//
//   POST /forms/logoff.html (also /iwa/, /sso/)   the client, with its CWA-Ticket
//   POST /admin/revoke?user=LOGIN                 an operator, with `Authorization: Bearer
//                                                 <--admin-token>`; absent without the option
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { renderSignedOut } from '../../protocol/responses.js';
import type { TransportContext } from './context.js';
import { clientAddress } from './operability.js';
import { sendXml } from './replies.js';

export const LOGOFF_PATHS = ['/forms/logoff.html', '/iwa/logoff.html', '/sso/logoff.html'];
export const REVOKE_PATH = '/admin/revoke';

/** The client signs its user out everywhere (after requireTicket). */
export function logoffHandler(ctx: TransportContext) {
  return async (_req: Request, res: Response) => {
    const auth = res.locals.auth as { login: string };
    const ended = await ctx.coordinator.signOut(auth.login);
    ctx.ops.logger.info({ reqId: res.locals.requestId, login: auth.login, ...ended }, 'signed out everywhere');
    // No CWA-Ticket: there is none left.
    sendXml(res, 200, renderSignedOut());
  };
}

/** Compares without telling, by its timing, how much of the token was right. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** An operator revokes a user's tickets and ends its sessions. JSON in, JSON out. */
export function revokeHandler(ctx: TransportContext, adminToken: string) {
  const json = (res: Response, status: number, body: object) => {
    res.status(status).setHeader('Cache-Control', 'no-store');
    res.json(body);
  };
  return async (req: Request, res: Response) => {
    const header = req.get('Authorization') ?? '';
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (token === undefined || !sameToken(token, adminToken)) {
      ctx.ops.logger.warn({ reqId: res.locals.requestId, address: clientAddress(req, ctx.ops.trustProxy) }, 'admin request refused: wrong or missing token');
      res.setHeader('WWW-Authenticate', 'Bearer');
      return json(res, 401, { error: 'a valid admin token is required (Authorization: Bearer <--admin-token>)' });
    }
    const name = new URL(req.originalUrl, 'http://gateway').searchParams.get('user');
    if (!name) return json(res, 400, { error: 'name the user: ?user=LOGIN' });
    const user = ctx.engine.userOf(name);
    if (!user) return json(res, 404, { error: `no user "${name}" in the directory` });
    const ended = await ctx.coordinator.signOut(user.login);
    ctx.ops.logger.warn({ reqId: res.locals.requestId, login: user.login, ...ended }, 'operator signed a user out everywhere');
    json(res, 200, { login: user.login, ticketsRevoked: ended.tickets, sessionsEnded: ended.sessions });
  };
}
