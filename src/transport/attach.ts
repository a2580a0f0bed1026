// Attaching to a session's event log, written once for both CWA doors (the long-poll data
// channel and the WebSocket): the Sid/AckId/UA cursor, finding the session, the activity
// it reports, the cursor rules, and the refusals of each (status and error).
//
// Finding the session a poll or WebSocket names: a cluster node may be a moment behind
// the command stream: the session may have begun, or the events the client acknowledges
// been queued, on another node just now. When the session is unknown here, or the cursor
// is ahead of what this node holds, or the caller wants an answer that reflects every
// change made before it (a poll that is not held), the node first catches up (`sync`).
// Otherwise a held poll simply waits: the events arrive as the node applies them.
import type { ReadOutcome } from '../delivery/event-log.js';
import type { Session } from '../engine/session.js';
import { type CwaError, cwaError, ErrorCode } from '../protocol/cwa-errors.js';
import type { TransportContext } from './http/context.js';
import { intParam } from './http/query.js';

/** Why an attach (a poll, a WebSocket upgrade) is refused: the HTTP status and the error answered. */
export interface AttachRefusal {
  status: number;
  error: CwaError;
}

export const AttachRefusals = {
  badCursor: (): AttachRefusal => ({ status: 400, error: cwaError(ErrorCode.InvalidRequest, 'Sid (and AckId, when given) must be non-negative integers') }),
  noSession: (sid: number): AttachRefusal => ({ status: 404, error: cwaError(ErrorCode.SessionNotFound, `There is no session ${sid} for this user.`) }),
  ended: (sid: number): AttachRefusal => ({ status: 404, error: cwaError(ErrorCode.SessionNotFound, `Session ${sid} has ended.`) }),
  stale: (ackId: number, acked: number): AttachRefusal => ({
    status: 409,
    error: cwaError(ErrorCode.InvalidOperation, `AckId ${ackId} is older than the events this session still holds: events up to ${acked} were acknowledged before.`),
  }),
  /** A sign-out everywhere ended the session the ticket was attached to: the ticket is what failed. */
  revoked: (): AttachRefusal => ({ status: 401, error: { ...cwaError(ErrorCode.SessionNotFound, 'The ticket was revoked: sign in again.'), reason: 'Not Authenticated' } }),
} as const;

/** What an attach names: the session, the cursor (every event <= ackId is acknowledged), and the activity reported (UA). */
export interface AttachCursor {
  sid: number;
  ackId: number;
  /** UA=true/false when given. */
  ua: boolean | undefined;
}

/** The Sid/AckId/UA query parameters (names compared without case); a missing AckId is 0. */
export function readCursor(params: Map<string, string>): AttachCursor | AttachRefusal {
  const sid = intParam(params, 'sid');
  const ackId = intParam(params, 'ackid') ?? 0;
  if (sid === undefined || Number.isNaN(sid) || Number.isNaN(ackId)) return AttachRefusals.badCursor();
  const ua = params.get('ua')?.trim().toLowerCase();
  return { sid, ackId, ua: ua === undefined ? undefined : ua === 'true' };
}

export function isRefusal<T extends object>(v: T | AttachRefusal): v is AttachRefusal {
  return 'error' in v;
}

/**
 * Finds the session `login` attaches to and records the activity the attach reports; the
 * session is undefined when it has ended and only its log is still readable. A single
 * gateway answers at once, without waiting a turn.
 */
export function attachSession(ctx: TransportContext, login: string, cursor: AttachCursor, fresh: boolean): { session?: Session } | AttachRefusal | Promise<{ session?: Session } | AttachRefusal> {
  const found = findSession(ctx, login, cursor.sid, { ackId: cursor.ackId, fresh });
  return found instanceof Promise ? found.then((f) => touched(ctx, f, cursor)) : touched(ctx, found, cursor);
}

function touched(ctx: TransportContext, { session, endedLog }: SessionLookup, cursor: AttachCursor): { session?: Session } | AttachRefusal | Promise<{ session?: Session }> {
  if (!session && !endedLog) return AttachRefusals.noSession(cursor.sid);
  if (!session) return {};
  const t = ctx.coordinator.touch(session, cursor.ua);
  return t ? t.then(() => ({ session })) : { session };
}

/** The refusal a read of the log at the attach cursor gives (`missing`: the session ended), if any. */
export function readRefusal(r: ReadOutcome, cursor: AttachCursor): AttachRefusal | undefined {
  if (r.status === 'missing') return AttachRefusals.ended(cursor.sid);
  if (r.status === 'stale') return AttachRefusals.stale(cursor.ackId, r.acked);
  return undefined;
}

/** Whether the ticket still holds; true when that cannot be told (the store is unreachable). */
export async function ticketStillValid(ctx: TransportContext, ticket: string): Promise<boolean> {
  try {
    return (await ctx.coordinator.checkTicket(ticket)) !== undefined;
  } catch {
    return true;
  }
}

export interface SessionLookup {
  /** The live session, when `login` owns it. */
  session?: Session;
  /** True when the session has ended but its log is still readable by `login`. */
  endedLog: boolean;
}

/** At once when the node need not catch up (always on a single gateway), else once it has. */
export function findSession(ctx: TransportContext, login: string, sid: number, cursor: { ackId: number; fresh: boolean }): SessionLookup | Promise<SessionLookup> {
  const look = (): SessionLookup => {
    const session = ctx.engine.sessionFor(login, sid);
    // A UCWA application's log holds UCWA events: the CWA doors do not read it.
    if (ctx.engine.dialectOf(sid) === 'ucwa') return { endedLog: false };
    return session ? { session, endedLog: false } : { endedLog: ctx.engine.ownsEndedLog(login, sid) };
  };
  const here = look();
  const head = ctx.log.position?.(sid)?.head ?? 0;
  if ((here.session || here.endedLog) && !cursor.fresh && cursor.ackId <= head) return here;
  const synced = ctx.coordinator.sync();
  return synced ? synced.then(look) : look();
}
