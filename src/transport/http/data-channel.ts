// The data channel: GET /cwa/AsyncDataChannel.ashx?Sid=&AckId=&UA=. Answers at once
// with every event after AckId; when there is none, holds the request until an event
// is queued or --hold-ms passes. A poll is the session's attachment while it runs: a
// newer poll or a WebSocket of the same session releases it (answered empty, its own
// AckId as ackId), and it closes an attached WebSocket (see delivery/attachments.ts).
// While the gateway shuts down, polls are released and no longer held (HeldPolls).
import type { Attachment } from '../../delivery/attachments.js';
import { ConfirmationBatch } from '../../delivery/confirmation-batch.js';
import type { LogWatcher, ReadOutcome, StoredEvent } from '../../delivery/event-log.js';
import type { Session } from '../../engine/session.js';
import { renderEvents } from '../../protocol/responses.js';
import { AttachRefusals, attachSession, isRefusal, readCursor, readRefusal, ticketStillValid, type AttachCursor } from '../attach.js';
import type { TransportContext } from './context.js';
import type { Releasable } from './held-polls.js';
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

/** A held poll's deadline (a function of the module, so a hold costs its timer and no closure). */
function holdOver(poll: Poll): void {
  poll.holdOver();
}

/**
 * One poll from its attach to its answer. Held as this object, registered with the log as
 * its watcher, and one timer: not as a suspended async function (its frame: a generator, its
 * context, promises, about 1.5 kB) nor as a promise-returning wait (a promise, its reactions,
 * four closures and their context, about 0.7 kB), for the whole hold, for every held poll.
 */
class Poll implements Attachment, LogWatcher, Releasable {
  readonly kind = 'poll';
  /** A newer poll, a WebSocket, the client leaving or shutdown released it: it answers at once. */
  private released = false;
  private superseded = false;
  private waited = false;
  private finished = false;
  /** The hold's or the batch's deadline passed: what is queued is answered. */
  private due = false;
  /** The confirmations it holds on for (batches); none until it finds only confirmations queued. */
  private batch: ConfirmationBatch | undefined;
  /** Set while the poll is held (waiting on the log). */
  private timer: NodeJS.Timeout | undefined;

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
    ctx.ops.polls.claim(cursor.sid, this);
    ctx.attachments.attach(cursor.sid, this);
    x.onGone = this;
  }

  supersede(): void {
    this.superseded = true;
    this.release();
  }

  /** HeldPolls: a newer poll of the session, or shutdown. */
  release(): void {
    this.released = true;
    this.endHold();
  }

  /** The client went away (Exchange). */
  clientGone(): void {
    this.release();
  }

  /** The log holds an event after the cursor, or was closed or removed (LogWatcher; the log let go of it). */
  logChanged(): void {
    // Batching, and only more confirmations came: it goes on holding, its batch's time unchanged.
    const { ctx, cursor } = this;
    if (this.batch !== undefined && !this.due && this.batch.more(ctx.log, cursor.sid, cursor.ackId, ctx.maxEventsPerPoll, this)) return;
    this.endHold(false);
  }

  /** --hold-ms, or the batch's time (batches), passed. */
  holdOver(): void {
    this.due = true;
    this.endHold();
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
    const { ctx, x, auth, cursor } = this;
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
      if (this.batches(result.events, result.head)) return;
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
    if (this.waited || ackId > result.head || ctx.holdMs === 0 || this.released || ctx.ops.shutdown.shuttingDown) {
      if (!res.writableEnded && !res.destroyed) {
        x.xml(200, renderEvents({ sid, pollWaitTime: ctx.pollWaitMs, sessionTimeout, ackId: result.head }, []), auth.current);
      }
      return this.finish();
    }
    this.waited = true;
    // Something came between the read and now (or the log went): read again at once.
    if (!ctx.log.watch(sid, ackId, this)) return this.read();
    this.timer = setTimeout(holdOver, ctx.holdMs, this);
    ctx.ops.polls.waitStarted();
  }

  /**
   * Only confirmations are queued: the poll holds on for more until --confirmation-batch-ms
   * after it first found them (delivery/confirmation-batch.ts), and then answers with whatever
   * came meanwhile. True when it holds on.
   */
  private batches(events: readonly StoredEvent[], head: number): boolean {
    const { ctx } = this;
    if (events[0]!.lazy !== true || this.due || this.released || ctx.ops.shutdown.shuttingDown) return false;
    const wait = (this.batch ??= new ConfirmationBatch()).hold(ctx.log, this.cursor.sid, events, head, ctx.confirmationBatchMs, ctx.maxEventsPerPoll, this);
    if (wait === 0) return false;
    this.timer = setTimeout(holdOver, wait, this);
    ctx.ops.polls.waitStarted();
    return true;
  }

  /** The hold ends (an event, the deadline, a release): read again, which answers. */
  private endHold(unwatch = true): void {
    const timer = this.timer;
    if (timer === undefined) return;
    this.timer = undefined;
    clearTimeout(timer);
    if (unwatch) this.ctx.log.unwatch(this.cursor.sid, this);
    this.ctx.ops.polls.waitEnded();
    // The wait ended in a later turn, as a promise's would: what released it finishes its own work first.
    queueMicrotask(() => (this.x.res.destroyed ? this.finish() : this.read()));
  }

  private fail(err: unknown): void {
    this.finish();
    this.failed(this.x, err);
  }

  /** Answered, refused or abandoned: the session's listener goes. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.x.onGone = undefined;
    this.ctx.ops.polls.done(this.cursor.sid, this);
    this.ctx.attachments.detach(this.cursor.sid, this);
  }
}
