// Sign-in: POST a `logon` request to /forms|iwa|sso/logon.html; the answer carries the
// CWA-Ticket header and a requestSucceeded with the user's uri and signInData.
// Failed logons slow guessing down (../sign-in.ts, shared with the UCWA door's token endpoint).
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { decodeBatch, DocumentRejectedError, findLogon } from '../../protocol/codec.js';
import { renderResponses } from '../../protocol/responses.js';
import { renderSignInData } from '../../protocol/sign-in-data.js';
import { signInWithPassword } from '../sign-in.js';
import type { TransportContext } from './context.js';
import type { Exchange } from './exchange.js';
import { clientAddress } from './operability.js';

export function logonHandler(ctx: TransportContext) {
  const { metrics, logger, rates } = ctx.ops;
  return async (x: Exchange, text: string): Promise<void> => {
    let found;
    try {
      found = findLogon(decodeBatch(text, ctx.limits, ctx.schema));
    } catch (err) {
      if (err instanceof DocumentRejectedError) return x.error(400, err.error);
      throw err;
    }
    if ('error' in found) return x.error(400, found.error);
    const { user, password, uri } = found.logon;
    const name = user ?? uri;
    const address = clientAddress(x.req, ctx.ops.trustProxy);
    const signedIn = await signInWithPassword(ctx, name, password, address, { reqId: x.requestId });
    if (signedIn.throttled) return x.throttled(signedIn.throttled.limit, signedIn.throttled.retryAfterS);
    if (!signedIn.ok) return x.error(401, { ...cwaError(ErrorCode.InvalidRequest, 'The user name or password is incorrect.'), reason: 'Logon failed' });
    const body = renderResponses([{ type: 'logonSucceeded', uri: signedIn.user.uri, signInData: renderSignInData(signedIn.user) }], 1, 0);
    x.xml(200, body, signedIn.ticket);
  };
}
