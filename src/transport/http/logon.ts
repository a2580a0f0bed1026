// Sign-in: POST a `logon` request to /forms|iwa|sso/logon.html; the answer carries the
// CWA-Ticket header and a requestSucceeded with the user's uri and signInData.
// Failed logons are counted per user: past --rate-logon-failures a minute, that user's
// logons are refused with 429 before the password is even checked, so guessing is slow.
import type { Request, Response } from 'express';
import { cwaError, ErrorCode } from '../../engine/errors.js';
import { decodeBatch, DocumentRejectedError, findLogon } from '../../protocol/codec.js';
import { renderResponses } from '../../protocol/responses.js';
import { renderSignInData } from '../../protocol/sign-in-data.js';
import { bodyText } from './body.js';
import type { TransportContext } from './context.js';
import { clientAddress } from './operability.js';
import { sendError, sendXml } from './replies.js';
import { sendThrottled } from './throttle.js';

export function logonHandler(ctx: TransportContext) {
  const { metrics, logger, rates } = ctx.ops;
  return async (req: Request, res: Response) => {
    let found;
    try {
      found = findLogon(decodeBatch(bodyText(req), ctx.limits, ctx.schema));
    } catch (err) {
      if (err instanceof DocumentRejectedError) return sendError(res, 400, err.error);
      throw err;
    }
    if ('error' in found) return sendError(res, 400, found.error);
    const { user, password, uri } = found.logon;
    const name = user ?? uri;
    // Every spelling of a known user shares one bucket; unknown names are bucketed as
    // given, so a throttled answer tells nothing about whether the user exists.
    const known = name === undefined ? undefined : ctx.engine.userOf(name)?.login;
    const userKey = known ?? `?${(name ?? '').toLowerCase()}`;
    // Only a known login is logged: an unknown "user" may be a password typed in the wrong field.
    const who = { reqId: res.locals.requestId, login: known ?? '(unknown user)', address: clientAddress(req, ctx.ops.trustProxy) };
    const allowed = rates.logonUser.check(userKey);
    if (!allowed.ok) {
      metrics.logons.inc({ result: 'throttled' });
      logger.warn(who, 'logon throttled: too many failures for this user');
      return sendThrottled(ctx, res, 'logonUser', allowed.retryAfterS);
    }
    const signedIn = await ctx.engine.authenticate(name, password);
    if (!signedIn) {
      rates.logonUser.take(userKey);
      metrics.logons.inc({ result: 'failure' });
      logger.info(who, 'logon failed');
      return sendError(res, 401, { ...cwaError(ErrorCode.InvalidRequest, 'The user name or password is incorrect.'), reason: 'Logon failed' });
    }
    const result = { user: signedIn, ticket: await ctx.coordinator.issueTicket(signedIn.login) };
    metrics.logons.inc({ result: 'success' });
    logger.info({ ...who, login: result.user.login }, 'logon');
    const body = renderResponses([{ type: 'logonSucceeded', uri: result.user.uri, signInData: renderSignInData(result.user) }], 1, 0);
    sendXml(res, 200, body, result.ticket);
  };
}
