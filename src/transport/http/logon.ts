// Sign-in: POST a `logon` request to /forms|iwa|sso/logon.html; the answer carries the
// CWA-Ticket header and a requestSucceeded with the user's uri and signInData.
import type { Request, Response } from 'express';
import { cwaError, ErrorCode } from '../../engine/errors.js';
import { decodeBatch, DocumentRejectedError, findLogon } from '../../protocol/codec.js';
import { renderResponses } from '../../protocol/responses.js';
import { renderSignInData } from '../../protocol/sign-in-data.js';
import { bodyText } from './body.js';
import type { TransportContext } from './context.js';
import { sendError, sendXml } from './replies.js';

export function logonHandler(ctx: TransportContext) {
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
    const result = await ctx.engine.logon(user ?? uri, password);
    if (!result) {
      return sendError(res, 401, { ...cwaError(ErrorCode.InvalidRequest, 'The user name or password is incorrect.'), reason: 'Logon failed' });
    }
    const body = renderResponses([{ type: 'logonSucceeded', uri: result.user.uri, signInData: renderSignInData(result.user) }], 1, 0);
    sendXml(res, 200, body, result.ticket);
  };
}
