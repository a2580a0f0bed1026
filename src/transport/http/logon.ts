// Sign-in: POST a `logon` request to /forms|iwa|sso/logon.html; the answer carries the
// CWA-Ticket header and a requestSucceeded with the user's uri and signInData.
// Failed logons slow guessing down (ops/logon-guard.ts): per (user, address) and per address
// the attempt is refused with 429 before the password is even checked; per user, only the
// answers to wrong passwords are held, so that nobody can lock the owner out.
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { addressKey } from '../../ops/rate-limit.js';
import { decodeBatch, DocumentRejectedError, findLogon } from '../../protocol/codec.js';
import { renderResponses } from '../../protocol/responses.js';
import { renderSignInData } from '../../protocol/sign-in-data.js';
import { canonicalLogonName } from '../../users/directory.js';
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
    // Only a known login is logged: an unknown "user" may be a password typed in the wrong field.
    const known = name === undefined ? undefined : ctx.engine.userOf(name)?.login;
    const who = { reqId: x.requestId, login: known ?? '(unknown user)', address };
    // Counted by the name's canonical form, known or not: a 429 must not tell who exists.
    const attempt = rates.logon.begin(canonicalLogonName(name), addressKey(address));
    if (!attempt.ok) {
      metrics.logons.inc({ result: 'throttled' });
      logger.warn({ ...who, limit: attempt.limit }, 'logon throttled: too many failures');
      return x.throttled(attempt.limit, attempt.retryAfterS);
    }
    let signedIn;
    try {
      signedIn = await ctx.engine.authenticate(name, password);
    } catch (err) {
      attempt.failed();
      throw err;
    }
    if (!signedIn) {
      const holdMs = attempt.failed();
      metrics.logons.inc({ result: 'failure' });
      logger.info(holdMs > 0 ? { ...who, heldMs: holdMs } : who, 'logon failed');
      // Many failures for this user from everywhere: the wrong answer comes slowly (the right one never does).
      if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
      return x.error(401, { ...cwaError(ErrorCode.InvalidRequest, 'The user name or password is incorrect.'), reason: 'Logon failed' });
    }
    attempt.succeeded();
    const result = { user: signedIn, ticket: await ctx.coordinator.issueTicket(signedIn.login) };
    metrics.logons.inc({ result: 'success' });
    logger.info({ ...who, login: result.user.login }, 'logon');
    const body = renderResponses([{ type: 'logonSucceeded', uri: result.user.uri, signInData: renderSignInData(result.user) }], 1, 0);
    x.xml(200, body, result.ticket);
  };
}
