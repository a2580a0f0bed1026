// The data channel: GET /cwa/AsyncDataChannel.ashx?Sid=&AckId=&UA=. Answers at once
// with every event after AckId; when there is none, holds the request until an event
// is queued or --hold-ms passes. A poll is the session's attachment while it runs: a
// newer poll or a WebSocket of the same session releases it (answered empty, its own
// AckId as ackId), and it closes an attached WebSocket (see delivery/attachments.ts).
// While the gateway shuts down, polls are released and no longer held (HeldPolls).
import type { Attachment } from '../../delivery/attachments.js';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { renderEvents } from '../../protocol/responses.js';
import { findSession } from '../sessions.js';
import type { TransportContext } from './context.js';
import type { Auth, Exchange } from './exchange.js';
import { intParam, queryParams } from './query.js';

/** Whether the ticket still holds; true when that cannot be told (the store is unreachable). */
async function stillValid(ctx: TransportContext, ticket: string): Promise<boolean> {
  try {
    return (await ctx.coordinator.checkTicket(ticket)) !== undefined;
  } catch {
    return true;
  }
}

export function dataChannelHandler(ctx: TransportContext) {
  const { polls, shutdown } = ctx.ops;
  return async (x: Exchange, auth: Auth): Promise<void> => {
    const { res } = x;
    const params = queryParams(x.req.url ?? '');
    const sid = intParam(params, 'sid');
    const ackId = intParam(params, 'ackid') ?? 0;
    if (sid === undefined || Number.isNaN(sid) || Number.isNaN(ackId)) {
      return x.error(400, cwaError(ErrorCode.InvalidRequest, 'Sid (and AckId, when given) must be non-negative integers'), auth.current);
    }
    const ua = params.get('ua')?.trim().toLowerCase();
    const { engine, log } = ctx;
    // A single gateway finds the session and records the poll at once, without waiting a turn.
    const found = findSession(ctx, auth.login, sid, { ackId, fresh: ctx.holdMs === 0 });
    const { session, endedLog } = found instanceof Promise ? await found : found;
    if (!session && !endedLog) {
      return x.error(404, cwaError(ErrorCode.SessionNotFound, `There is no session ${sid} for this user.`), auth.current);
    }
    if (session) {
      const touched = ctx.coordinator.touch(session, ua === undefined ? undefined : ua === 'true');
      if (touched) await touched;
    }

    // This poll supersedes the session's previous listener (an older poll or a WebSocket);
    // HeldPolls also knows it, to answer it at shutdown and count it while held.
    const release = polls.claim(sid);
    let superseded = false;
    const attachment: Attachment = {
      kind: 'poll',
      supersede() {
        superseded = true;
        release.abort();
      },
    };
    ctx.attachments.attach(sid, attachment);
    x.onGone = () => release.abort();
    try {
      let waited = false;
      for (;;) {
        const result = await log.read(sid, ackId, ctx.maxEventsPerPoll);
        if (result.status === 'missing') {
          // When a sign-out everywhere ended it (while held, or since the ticket was checked), the ticket is what failed.
          if (!(await stillValid(ctx, auth.presented))) {
            return x.error(401, { ...cwaError(ErrorCode.SessionNotFound, 'The ticket was revoked: sign in again.'), reason: 'Not Authenticated' });
          }
          return x.error(404, cwaError(ErrorCode.SessionNotFound, `Session ${sid} has ended.`), auth.current);
        }
        if (result.status === 'stale') {
          return x.error(
            409,
            cwaError(
              ErrorCode.InvalidOperation,
              `AckId ${ackId} is older than the events this session still holds: events up to ${result.acked} were acknowledged before.`,
            ),
            auth.current,
          );
        }
        const sessionTimeout = session ? engine.secondsLeft(session) : 0;
        const envelope = { sid, pollWaitTime: ctx.pollWaitMs, sessionTimeout };
        if (superseded) {
          // A newer listener has the session: answer nothing new, so the client's cursor stays
          // where it was (answering the head could skip events the newer listener delivers).
          if (res.writableEnded || res.destroyed) return;
          return x.xml(200, renderEvents({ ...envelope, ackId: Math.min(ackId, result.head) }, []), auth.current);
        }
        if (result.events.length > 0) {
          const last = result.events[result.events.length - 1]!.eid;
          return x.xml(200, renderEvents({ ...envelope, ackId: last }, result.events.map((e) => e.xml), ctx.xmlLayout), auth.current);
        }
        if (result.closed) {
          // Everything up to the terminal event was acknowledged.
          return x.error(404, cwaError(ErrorCode.SessionNotFound, `Session ${sid} has ended.`), auth.current);
        }
        // Nothing after AckId (a cursor ahead of the head is answered with the head), or the hold is over.
        if (waited || ackId > result.head || ctx.holdMs === 0 || release.aborted || shutdown.shuttingDown) {
          if (res.writableEnded || res.destroyed) return;
          return x.xml(200, renderEvents({ ...envelope, ackId: result.head }, []), auth.current);
        }
        await polls.hold(() => log.wait(sid, ackId, ctx.holdMs, release));
        waited = true;
        if (res.destroyed) return;
      }
    } finally {
      x.onGone = undefined;
      polls.done(sid, release);
      ctx.attachments.detach(sid, attachment);
    }
  };
}
