// The data channel: GET /cwa/AsyncDataChannel.ashx?Sid=&AckId=&UA=. Answers at once
// with every event after AckId; when there is none, holds the request until an event
// is queued or --hold-ms passes. A poll is the session's attachment while it runs: a
// newer poll or a WebSocket of the same session releases it (answered empty, its own
// AckId as ackId), and it closes an attached WebSocket (see delivery/attachments.ts).
// While the gateway shuts down, polls are released and no longer held (HeldPolls).
import type { Attachment } from '../../delivery/attachments.js';
import type { ReadOutcome } from '../../delivery/event-log.js';
import type { Session } from '../../engine/session.js';
import { renderEvents } from '../../protocol/responses.js';
import { AttachRefusals, attachSession, isRefusal, readCursor, readRefusal, ticketStillValid, type AttachCursor } from '../attach.js';
import type { TransportContext } from './context.js';
import type { PollRelease } from './held-polls.js';
import type { Auth, Exchange } from './exchange.js';
import { queryParams } from './query.js';

export function dataChannelHandler(ctx: TransportContext) {
  return (x: Exchange, auth: Auth, failed: (x: Exchange, err: unknown) => void): void => {
    const cursor = readCursor(queryParams(x.req.url ?? ''));
    if (isRefusal(cursor)) return x.error(cursor.status, cursor.error, auth.current);
    // A single gateway finds the session and records the poll at once, without waiting a turn.
    let attached;
    try {
      attached = attachSession(ctx, auth.login, cursor, ctx.holdMs === 0);
    } catch (err) {
      return failed(x, err);
    }
    const attach = (found: Awaited<typeof attached>): void => {
      if (isRefusal(found)) return x.error(found.status, found.error, auth.current);
      new Poll(ctx, x, auth, cursor, found.session, failed).read();
    };
    if (attached instanceof Promise) attached.then(attach).catch((err: unknown) => failed(x, err));
    else {
      try {
        attach(attached);
      } catch (err) {
        failed(x, err);
      }
    }
  };
}

/**
 * One poll from its attach to its answer. Held as this object and the log's waiter, not as a
 * suspended async function: that would keep its frame (a generator, its context, promises;
 * about 1.5 kB) for the whole hold, for every held poll.
 */
class Poll implements Attachment {
  readonly kind = 'poll';
  private readonly release: PollRelease;
  private superseded = false;
  private waited = false;
  private finished = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly x: Exchange,
    private readonly auth: Auth,
    private readonly cursor: AttachCursor,
    private readonly session: Session | undefined,
    private readonly failed: (x: Exchange, err: unknown) => void,
  ) {
    // This poll supersedes the session's previous listener (an older poll or a WebSocket);
    // HeldPolls also knows it, to answer it at shutdown and count it while held.
    this.release = ctx.ops.polls.claim(cursor.sid);
    ctx.attachments.attach(cursor.sid, this);
    x.onGone = () => this.release.abort();
  }

  supersede(): void {
    this.superseded = true;
    this.release.abort();
  }

  read(): void {
    // The logs are in memory: answered in this turn.
    let result: ReadOutcome;
    try {
      result = this.ctx.log.readNow(this.cursor.sid, this.cursor.ackId, this.ctx.maxEventsPerPoll);
    } catch (err) {
      return this.fail(err);
    }
    this.answer(result);
  }

  /** Answers from what the log holds, or holds the poll until an event is queued or the hold is over. */
  private answer(result: ReadOutcome): void {
    try {
      this.decide(result);
    } catch (err) {
      this.fail(err);
    }
  }

  private decide(result: ReadOutcome): void {
    const { ctx, x, auth, cursor, release } = this;
    const { sid, ackId } = cursor;
    const { res } = x;
    const refusal = readRefusal(result, cursor);
    if (refusal) {
      if (result.status === 'missing') {
        // When a sign-out everywhere ended it (while held, or since the ticket was checked), the ticket is what failed.
        ticketStillValid(ctx, auth.presented).then((valid) => {
          if (valid) x.error(refusal.status, refusal.error, auth.current);
          else {
            const revoked = AttachRefusals.revoked();
            x.error(revoked.status, revoked.error);
          }
          this.finish();
        }, (err: unknown) => this.fail(err));
        return;
      }
      x.error(refusal.status, refusal.error, auth.current);
      return this.finish();
    }
    if (result.status !== 'ok') return this.finish(); // (narrowing: every other status is refused above)
    const sessionTimeout = this.session ? ctx.engine.secondsLeft(this.session) : 0;
    if (this.superseded) {
      // A newer listener has the session: answer nothing new, so the client's cursor stays
      // where it was (answering the head could skip events the newer listener delivers).
      if (!res.writableEnded && !res.destroyed) {
        x.xml(200, renderEvents({ sid, pollWaitTime: ctx.pollWaitMs, sessionTimeout, ackId: Math.min(ackId, result.head) }, []), auth.current);
      }
      return this.finish();
    }
    if (result.events.length > 0) {
      const last = result.events[result.events.length - 1]!.eid;
      x.xml(200, renderEvents({ sid, pollWaitTime: ctx.pollWaitMs, sessionTimeout, ackId: last }, result.events.map((e) => e.xml), ctx.xmlLayout), auth.current);
      return this.finish();
    }
    if (result.closed) {
      // Everything up to the terminal event was acknowledged.
      const ended = AttachRefusals.ended(sid);
      x.error(ended.status, ended.error, auth.current);
      return this.finish();
    }
    // Nothing after AckId (a cursor ahead of the head is answered with the head), or the hold is over.
    if (this.waited || ackId > result.head || ctx.holdMs === 0 || release.aborted || ctx.ops.shutdown.shuttingDown) {
      if (!res.writableEnded && !res.destroyed) {
        x.xml(200, renderEvents({ sid, pollWaitTime: ctx.pollWaitMs, sessionTimeout, ackId: result.head }, []), auth.current);
      }
      return this.finish();
    }
    this.waited = true;
    // Nothing to wait for after all (more came, or the log closed): read again.
    if (!ctx.log.waitNow(sid, ackId, this.woken)) return this.read();
    this.holding = true;
    this.timer = setTimeout(this.woken, ctx.holdMs);
    release.addEventListener('abort', this.woken);
    ctx.ops.polls.held(+1);
  }

  /** Held: among the log's waiters, with the hold's timer and the release listening. */
  private holding = false;
  private timer: NodeJS.Timeout | undefined;

  /**
   * The hold ends: the log holds more (or was closed or removed), the hold is over, or the
   * poll was released. The log may call this in the middle of a command: the poll reads
   * again once the current turn's work is done, as a promise's callback would.
   */
  private readonly woken = (): void => {
    if (!this.holding) return;
    this.holding = false;
    clearTimeout(this.timer);
    this.ctx.log.unwait(this.cursor.sid, this.woken);
    this.release.removeEventListener('abort', this.woken);
    this.ctx.ops.polls.held(-1);
    queueMicrotask(this.readAgain);
  };

  private readonly readAgain = (): void => {
    if (this.x.res.destroyed) this.finish();
    else this.read();
  };

  private fail(err: unknown): void {
    this.finish();
    this.failed(this.x, err);
  }

  /** Answered, refused or abandoned: the session's listener goes. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.x.onGone = undefined;
    this.ctx.ops.polls.done(this.cursor.sid, this.release);
    this.ctx.attachments.detach(this.cursor.sid, this);
  }
}
