// The data channel: GET /cwa/AsyncDataChannel.ashx?Sid=&AckId=&UA=. Answers at once
// with every event after AckId; when there is none, holds the request until an event
// is queued or --hold-ms passes. A poll is the session's attachment while it runs: a
// newer poll or a WebSocket of the same session releases it (answered empty, its own
// AckId as ackId), and it closes an attached WebSocket (see delivery/attachments.ts).
// While the gateway shuts down, polls are released and no longer held (HeldPolls).
import type { Attachment } from '../../delivery/attachments.js';
import { renderEvents } from '../../protocol/responses.js';
import { AttachRefusals, attachSession, isRefusal, readCursor, readRefusal, ticketStillValid } from '../attach.js';
import type { TransportContext } from './context.js';
import type { Auth, Exchange } from './exchange.js';
import { queryParams } from './query.js';

export function dataChannelHandler(ctx: TransportContext) {
  const { polls, shutdown } = ctx.ops;
  return async (x: Exchange, auth: Auth): Promise<void> => {
    const { res } = x;
    const cursor = readCursor(queryParams(x.req.url ?? ''));
    if (isRefusal(cursor)) return x.error(cursor.status, cursor.error, auth.current);
    const { sid, ackId } = cursor;
    const { engine, log } = ctx;
    // A single gateway finds the session and records the poll at once, without waiting a turn.
    const attached = attachSession(ctx, auth.login, cursor, ctx.holdMs === 0);
    const found = attached instanceof Promise ? await attached : attached;
    if (isRefusal(found)) return x.error(found.status, found.error, auth.current);
    const { session } = found;

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
        const refusal = readRefusal(result, cursor);
        if (refusal) {
          // When a sign-out everywhere ended it (while held, or since the ticket was checked), the ticket is what failed.
          if (result.status === 'missing' && !(await ticketStillValid(ctx, auth.presented))) {
            const revoked = AttachRefusals.revoked();
            return x.error(revoked.status, revoked.error);
          }
          return x.error(refusal.status, refusal.error, auth.current);
        }
        if (result.status !== 'ok') return; // (narrowing: every other status is refused above)
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
          const ended = AttachRefusals.ended(sid);
          return x.error(ended.status, ended.error, auth.current);
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
