// Signing in with a name and a password, the same for every door (the CWA logon and the UCWA
// token endpoint): failed sign-ins slow guessing down (ops/logon-guard.ts) — per (user,
// address) and per address the attempt is refused before the password is even checked; per
// user, only the answers to wrong passwords are held, so that nobody can lock the owner out.
// Each door turns the outcome into its own answer.
import type { DirectoryUser } from '../engine/ports.js';
import type { ThrottleLimit } from '../ops/metrics.js';
import { addressKey } from '../ops/rate-limit.js';
import { canonicalLogonName } from '../users/directory.js';
import type { TransportContext } from './http/context.js';

export type SignInOutcome =
  | { ok: true; user: DirectoryUser; ticket: string; throttled?: undefined }
  /** Refused before the password was checked: too many failures for this user from this address, or from this address. */
  | { ok: false; throttled: { limit: ThrottleLimit; retryAfterS: number } }
  /** A wrong name or password (answered after the hold the guard asked for). */
  | { ok: false; throttled?: undefined };

export async function signInWithPassword(
  ctx: TransportContext,
  name: string | undefined,
  password: string | undefined,
  /** The client address (clientAddress), and what the log lines carry besides (request id, door). */
  address: string,
  logged: Record<string, unknown> = {},
): Promise<SignInOutcome> {
  const { metrics, logger, rates } = ctx.ops;
  // Only a known login is logged: an unknown "user" may be a password typed in the wrong field.
  const known = name === undefined ? undefined : ctx.engine.userOf(name)?.login;
  const who = { ...logged, login: known ?? '(unknown user)', address };
  // Counted by the name's canonical form, known or not: a 429 must not tell who exists.
  const attempt = rates.logon.begin(canonicalLogonName(name), addressKey(address));
  if (!attempt.ok) {
    metrics.logons.inc({ result: 'throttled' });
    logger.warn({ ...who, limit: attempt.limit }, 'logon throttled: too many failures');
    return { ok: false, throttled: { limit: attempt.limit, retryAfterS: attempt.retryAfterS } };
  }
  let user;
  try {
    user = await ctx.engine.authenticate(name, password);
  } catch (err) {
    attempt.failed();
    throw err;
  }
  if (!user) {
    const holdMs = attempt.failed();
    metrics.logons.inc({ result: 'failure' });
    logger.info(holdMs > 0 ? { ...who, heldMs: holdMs } : who, 'logon failed');
    // Many failures for this user from everywhere: the wrong answer comes slowly (the right one never does).
    if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
    return { ok: false };
  }
  attempt.succeeded();
  const ticket = await ctx.coordinator.issueTicket(user.login);
  metrics.logons.inc({ result: 'success' });
  logger.info({ ...who, login: user.login }, 'logon');
  return { ok: true, user, ticket };
}
