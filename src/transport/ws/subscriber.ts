// One attached WebSocket: it pushes the session's events (same bytes as polls), takes
// acknowledgements and command batches, answers the heartbeat, and offers the client
// a new ticket when its ticket rotates. It is the session's attachment until it closes or another
// poll or WebSocket supersedes it.
//
// The socket keeps two cursors: `sent` (the last eid pushed on this socket) and the
// log's acknowledged position (moved only by the client: the AckId it attached with,
// its <ack> frames, or a later poll). Events between the two are pushed but not yet
// acknowledged, so a socket that dies loses nothing: its successor starts from the
// client's cursor and gets them again.
import type { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import type { Attachment, AttachmentKind } from '../../delivery/attachments.js';
import { ConfirmationBatch } from '../../delivery/confirmation-batch.js';
import type { LogWatcher, ReadOutcome, StoredEvent } from '../../delivery/event-log.js';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { renderErrorResponse, renderEvents } from '../../protocol/responses.js';
import { countRefusals, runBatch } from '../command-runner.js';
import type { TransportContext } from '../http/context.js';
import { CLOSE_REASONS, CloseCode, type CloseCodeValue } from './close-codes.js';
import { FrameBudget, type FrameBudgetSpec } from './frame-budget.js';
import { classifyFrame, renderTicketFrame } from './frames.js';
import { Serial } from '../../engine/serial.js';
import type { TicketCheck } from '../../engine/tickets.js';
import { StoreUnavailableError } from '../../store/unavailable.js';
import { STORE_UNAVAILABLE } from '../refusals.js';

/** One object for all the sockets of a server (not one per socket). */
export interface SubscriberLimits {
  /** Bytes allowed to wait in the socket's send buffer before it is closed with 4002. */
  maxBufferedBytes: number;
  /** Frames per second read from the client (0: no limit), after a burst (frame-budget.ts). */
  frames: FrameBudgetSpec;
}

export interface SubscriberStart {
  login: string;
  sid: number;
  /** The ticket the client attached with, and the one to offer it (they differ when the attach caused a rotation). */
  presented: string;
  current: string;
  /** Where pushing starts: the attach AckId, clamped to the log's head. */
  cursor: number;
}

/** How a subscriber ended, for the server's statistics. */
export type EndReason = CloseCodeValue | 'heartbeat' | 'client' | 'killed';

/** The pump's next round, a turn after the log moved (a function of the module: no closure per wake). */
function pumpAgain(sub: Subscriber): void {
  sub.pumpAgain();
}

/** Confirmations waited their --confirmation-batch-ms (a function of the module: no closure per batch). */
function batchDue(sub: Subscriber): void {
  sub.batchDue();
}

/** The answer's uncork, once the pump had its turn (no closure per answer). */
function uncorkAnswer(sub: Subscriber, raw: Duplex): void {
  sub.uncork(raw);
}

const xmlOf = (e: { xml: string }): string => e.xml;

export class Subscriber implements Attachment, LogWatcher {
  readonly kind = 'websocket' as const;
  readonly login: string;
  readonly sid: number;
  /** The ticket the socket presents for its client: the one it attached with, until the client shows it took an offered one. */
  private ticket: string;
  /** A successor offered in a `<ticket>` frame and not yet known to be taken. */
  private offered: string | undefined;
  private sent: number;
  private active = true;
  /** Whether the socket answered the last ping. */
  private alive = true;
  /** Until the first frame has gone out (it goes at once, even empty). */
  private first = true;
  /** Command frames being run; the socket closes after their answers went out. */
  private commandsRunning = 0;
  private endAfterCommands: CloseCodeValue | undefined;
  private readonly budget: FrameBudget;
  /** Frames that arrived past the budget, in order; reading is paused while there are any (none: no array). */
  private waiting: Array<[RawData, boolean]> | undefined;
  private waitTimer: NodeJS.Timeout | undefined;
  /** Confirmations waiting for more before they are pushed (batches), and the timer of their batch. */
  private batch: ConfirmationBatch | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  /** The batch's time has come: what waits is pushed. */
  private batchOver = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly socket: WebSocket,
    start: SubscriberStart,
    private readonly limits: SubscriberLimits,
    private readonly onEnd: (sub: Subscriber, reason: EndReason) => void,
  ) {
    this.login = start.login;
    this.sid = start.sid;
    this.ticket = start.presented;
    this.sent = start.cursor;
    this.budget = new FrameBudget(limits.frames);
    socket.on('message', (data: RawData, isBinary: boolean) => this.onFrame(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
      this.touch();
    });
    socket.on('close', () => this.finish('client'));
    socket.on('error', () => this.finish('client'));
    ctx.ops.metrics.webSockets.inc();
    ctx.attachments.attach(this.sid, this);
    if (start.current !== start.presented) this.offer(start.current);
    this.pump();
  }

  get isActive(): boolean {
    return this.active;
  }

  supersede(_by: AttachmentKind): void {
    this.end(CloseCode.Superseded);
  }

  /** Called on every heartbeat tick: drop a socket that missed the last ping, ping the rest, rotate the ticket. */
  heartbeat(): void {
    if (!this.active) return;
    if (!this.alive) {
      this.end('heartbeat');
      return;
    }
    this.alive = false;
    this.socket.ping();
    // A store that cannot be reached now is not a reason to drop the client: the next beat looks again.
    const still = (ok: boolean) => ok || this.end(CloseCode.NotAuthenticated);
    let followed;
    try {
      followed = this.followTicket();
    } catch {
      return;
    }
    if (followed instanceof Promise) followed.then(still, () => undefined);
    else still(followed);
  }

  /** Closes the socket with a close frame (gateway shutdown). */
  close(code: CloseCodeValue): void {
    this.end(code);
  }

  /** Drops the TCP connection without a close frame (shutdown after the close grace; tests). */
  kill(): void {
    this.socket.terminate();
    this.finish('killed');
  }

  // ---- pushing events ---------------------------------------------------------

  /**
   * Pushes what the log holds past `sent`, then registers the subscriber as the log's watcher
   * and returns. An idle socket holds no promise, timer or suspended async frame (a pump
   * written as a loop awaiting the log kept a generator, its registers, a wait's promise,
   * closures and a timer: about 1 kB per socket).
   */
  private pump(): void {
    if (!this.active) return;
    // The logs are in memory: read in this turn.
    let r: ReadOutcome;
    try {
      r = this.ctx.log.peekNow(this.sid, this.sent, this.ctx.maxEventsPerPoll);
    } catch (err) {
      return this.pumpFailed(err);
    }
    this.pushFrom(r);
  }

  private pushFrom(r: ReadOutcome): void {
    if (!this.active) return;
    try {
      const { engine, log } = this.ctx;
      // The session is gone: signed out everywhere (its tickets revoked: 4003), or ended (4004).
      if (r.status === 'missing') {
        this.ticketStillValid().then(
          (valid) => this.endWhenAnswered(valid ? CloseCode.SessionEnded : CloseCode.NotAuthenticated),
          (err: unknown) => this.pumpFailed(err),
        );
        return;
      }
      // Acknowledged past this socket's position: only another attachment does that.
      if (r.status === 'stale') return this.end(CloseCode.Superseded);
      const session = engine.sessionFor(this.login, this.sid);
      const sessionTimeout = session ? engine.secondsLeft(session) : 0;
      const { events } = r;
      if (events.length > 0) {
        if (this.batches(events, r.head)) return;
        this.batchDone();
        const last = events[events.length - 1]!.eid;
        if (!this.send(renderEvents({ sid: this.sid, pollWaitTime: this.ctx.pollWaitMs, sessionTimeout, ackId: last }, events.map(xmlOf), this.ctx.xmlLayout))) return;
        this.sent = last;
        this.first = false;
        // A full frame: more may be waiting at once (otherwise the log is not read a second time).
        if (events.length >= this.ctx.maxEventsPerPoll) return this.pump();
      } else if (this.first) {
        // The first frame goes out at once, as an unheld poll answer would: the events after
        // the cursor, or an empty cwaEvents whose ackId is the head (it confirms the attach
        // and corrects a cursor that was ahead of the head).
        this.sent = r.head;
        if (!this.send(renderEvents({ sid: this.sid, pollWaitTime: this.ctx.pollWaitMs, sessionTimeout, ackId: r.head }, []))) return;
        this.first = false;
      }
      // Everything up to the terminal event has been pushed (the terminal event is the last one a log holds).
      if (r.closed && this.sent >= r.head) return this.endWhenAnswered(CloseCode.SessionEnded);
      // More came meanwhile (or the log went): a turn later, as when the log calls.
      if (!log.watch(this.sid, this.sent, this)) this.logChanged();
    } catch (err) {
      this.pumpFailed(err);
    }
  }

  /**
   * Only confirmations are to be pushed: the pump waits for more until --confirmation-batch-ms
   * after it first found them (delivery/confirmation-batch.ts), then pushes whatever came in
   * one frame, which the client acknowledges once. True when the pump waits.
   */
  private batches(events: readonly StoredEvent[], head: number): boolean {
    const { ctx } = this;
    if (events[0]!.lazy !== true || this.batchOver || this.first || ctx.ops.shutdown.shuttingDown) return false;
    const wait = (this.batch ??= new ConfirmationBatch()).hold(ctx.log, this.sid, events, head, ctx.confirmationBatchMs, ctx.maxEventsPerPoll, this);
    if (wait === 0) return false;
    this.batchTimer ??= setTimeout(batchDue, wait, this);
    return true;
  }

  /** setTimeout's callback (batchDue): the confirmations waited long enough. */
  batchDue(): void {
    this.batchTimer = undefined;
    if (!this.active) return;
    this.batchOver = true;
    this.ctx.log.unwatch(this.sid, this);
    this.pump();
  }

  /** What waited is being pushed: the next confirmations start a batch of their own. */
  private batchDone(): void {
    if (this.batchTimer !== undefined) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
    this.batch = undefined;
    this.batchOver = false;
  }

  /** The log holds events past `sent`, or was closed or removed (LogWatcher). */
  logChanged(): void {
    // Batching, and only more confirmations came: the pump goes on waiting.
    const { batch, ctx } = this;
    if (batch !== undefined && this.batchTimer !== undefined && !this.batchOver && this.active && batch.more(ctx.log, this.sid, this.sent, ctx.maxEventsPerPoll, this)) return;
    // Let the rest of this turn's events join the frame (a conversation's events come in bursts).
    if (this.active) setImmediate(pumpAgain, this);
  }

  /** setImmediate's callback (pumpAgain). */
  pumpAgain(): void {
    this.pump();
  }

  private pumpFailed(err: unknown): void {
    this.ctx.ops.logger.error({ err, sid: this.sid }, 'WebSocket delivery failed');
    this.end(CloseCode.InternalError);
  }

  /**
   * Sends one frame; closes the socket with 4002 when the client has fallen too far behind.
   * Frames sent while the socket is corked (an answer to a command frame, and what joins it
   * in the same turn) leave in one write.
   */
  private send(xml: string): boolean {
    if (!this.active) return false;
    this.socket.send(xml);
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.end(CloseCode.TooSlow);
      return false;
    }
    return true;
  }

  /**
   * Sends the answer to a command frame with the socket corked until the end of the turn's
   * check phase: the events the command itself caused (a sendMessage's messageIdReceived …)
   * are pushed by the pump's setImmediate, which was scheduled before this one, so the answer
   * and those events leave in one writev instead of a syscall each. Ordering is unchanged
   * (the answer is written first); uncorking is the only thing deferred, by less than a turn.
   */
  private sendAnswer(xml: string): boolean {
    const raw = this.rawSocket();
    if (raw && !this.corked && !raw.destroyed) {
      this.corked = true;
      raw.cork();
      setImmediate(uncorkAnswer, this, raw);
    }
    return this.send(xml);
  }

  private corked = false;

  /** setImmediate's callback (uncorkAnswer). */
  uncork(raw: Duplex): void {
    this.corked = false;
    raw.uncork();
  }

  /** The TCP socket under the WebSocket (the `ws` library keeps it as `_socket`). */
  private rawSocket(): Duplex | undefined {
    return (this.socket as unknown as { _socket?: Duplex })._socket;
  }

  // ---- frames from the client ---------------------------------------------------

  /** Every frame takes a token of the socket's budget; past it, frames wait and reading pauses (frame-budget.ts). */
  private onFrame(data: RawData, isBinary: boolean): void {
    if (!this.active) return;
    if (this.waiting === undefined && this.budget.take()) {
      this.ctx.ops.metrics.webSocketFramesWithin.inc();
      this.onMessage(data, isBinary);
      return;
    }
    // Frames of the chunk already read still come (the ws library parses a chunk whole): they wait their turn.
    (this.waiting ??= []).push([data, isBinary]);
    if (!this.socket.isPaused) this.socket.pause();
    this.waitForTokens();
  }

  private waitForTokens(): void {
    if (this.waitTimer || !this.active) return;
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined;
      if (!this.active) return;
      const waiting = this.waiting;
      while (waiting !== undefined && waiting.length > 0 && this.budget.take()) {
        const [data, isBinary] = waiting.shift()!;
        this.ctx.ops.metrics.webSocketFramesWaited.inc();
        this.onMessage(data, isBinary);
      }
      if (waiting !== undefined && waiting.length > 0) this.waitForTokens();
      else {
        this.waiting = undefined;
        if (this.active) this.socket.resume();
      }
    }, Math.max(1, this.budget.msUntilToken()));
  }

  /** A frame within the budget: an ack and an unusable frame are handled at once, a command batch runs in the frames' order. */
  private onMessage(data: RawData, isBinary: boolean): void {
    if (!this.active) return;
    this.alive = true;
    const frame = classifyFrame(data, isBinary);
    if (frame.kind === 'command') {
      void this.onCommand(frame.text);
      return;
    }
    try {
      if (frame.kind === 'ack') {
        this.touch(frame.ua);
        this.onAck(frame.ackId);
        return;
      }
      this.touch();
      this.ctx.ops.metrics.errors.inc({ code: String(frame.error.code), kind: 'document' });
      this.send(renderErrorResponse(frame.error));
    } catch (err) {
      this.frameFailed(err);
    }
  }

  private async onCommand(text: string): Promise<void> {
    const { metrics } = this.ctx.ops;
    try {
      // A command needs a valid ticket, as on the command channel, and counts against its rate limit.
      // Frames' steps run in the frames' order; at once when no earlier frame's step is waiting.
      const followed = this.inOrder(() => this.followTicket());
      if (!(followed instanceof Promise ? await followed : followed)) {
        this.send(renderErrorResponse({ ...cwaError(ErrorCode.SessionNotFound, 'The ticket expired: sign in again.'), reason: 'Not Authenticated' }));
        this.end(CloseCode.NotAuthenticated);
        return;
      }
      this.touch();
      const allowed = this.ctx.ops.rates.ticket.take(this.ticket);
      if (!allowed.ok) {
        metrics.throttled.inc({ limit: 'ticket' });
        this.send(renderErrorResponse(cwaError(ErrorCode.RequestThrottled, `Too many requests with this CWA-Ticket: retry after ${allowed.retryAfterS} s.`)));
        return;
      }
      this.commandsRunning += 1;
      const stop = metrics.timeCommand('websocket');
      try {
        const ran = this.inOrder(() => runBatch(this.ctx, { login: this.login, presented: this.ticket }, text));
        const outcome = ran instanceof Promise ? await ran : ran;
        stop();
        if (outcome.status === 200) countRefusals(metrics, outcome);
        else if (outcome.code !== undefined) metrics.errors.inc({ code: String(outcome.code), kind: 'document' });
        this.sendAnswer(outcome.body);
      } finally {
        this.commandsRunning -= 1;
        if (this.commandsRunning === 0 && this.endAfterCommands !== undefined) this.end(this.endAfterCommands);
      }
    } catch (err) {
      this.frameFailed(err);
    }
  }

  private frameFailed(err: unknown): void {
    if (err instanceof StoreUnavailableError) {
      // As a POST would get a 503: say so; the client sends the frame again later.
      this.send(renderErrorResponse(STORE_UNAVAILABLE));
      return;
    }
    this.ctx.ops.logger.error({ err, sid: this.sid }, 'WebSocket frame failed');
    this.send(renderErrorResponse(cwaError(ErrorCode.InternalFailure, 'internal error')));
  }

  /** `<ack ackId="N"/>`: the client has every event <= N; the log may drop them. */
  private onAck(ackId: number): void {
    const r = this.ctx.log.readNow(this.sid, ackId, 0);
    // An ack older than what is already acknowledged is harmless: ignore it.
    if (r.status !== 'ok') return;
    // The client may have received events from elsewhere (a poll answer in flight): do not push them again.
    if (ackId > this.sent) this.sent = Math.min(ackId, r.head);
  }

  private touch(ua?: boolean): void {
    const session = this.ctx.engine.sessionFor(this.login, this.sid);
    if (!session) return;
    // A touch that fails (the store unreachable) is not the socket's concern; the next one retries.
    try {
      this.ctx.coordinator.touch(session, ua)?.catch(() => undefined);
    } catch {
      /* as above */
    }
  }

  /** Runs the steps of command frames one after another, in the order the frames came; at once when none is waiting. */
  private inOrder<T>(step: () => T | Promise<T>): T | Promise<T> {
    return (this.frames ??= new Serial()).now(step);
  }

  /** Made by the first command frame (most sockets of a long-poll-era client only acknowledge). */
  private frames: Serial | undefined;

  /**
   * Checks the socket's ticket (which records its use, so a socket keeps its client's
   * ticket alive) and offers the client a successor when one is drawn. The socket goes on
   * presenting the ticket it attached with: a client may never take the offer. Once the
   * client presented the offered ticket elsewhere, the old one retires; the socket then
   * follows the offered one. False when neither is valid (expired or revoked).
   */
  private followTicket(): boolean | Promise<boolean> {
    const check = this.ctx.coordinator.checkTicket(this.ticket);
    return check instanceof Promise ? check.then((c) => this.followed(c)) : this.followed(check);
  }

  private followed(check: TicketCheck | undefined): boolean | Promise<boolean> {
    if (check && check.login === this.login) {
      if (check.current !== this.ticket) this.offer(check.current);
      return true;
    }
    if (this.offered === undefined) return false;
    const taken = this.ctx.coordinator.checkTicket(this.offered);
    return taken instanceof Promise ? taken.then((t) => this.took(t)) : this.took(taken);
  }

  /** Whether the client took the offered ticket (presented it elsewhere): the socket then follows it. */
  private took(taken: TicketCheck | undefined): boolean {
    if (!taken || taken.login !== this.login || this.offered === undefined) return false;
    this.ticket = this.offered;
    this.offered = undefined;
    if (taken.current !== this.ticket) this.offer(taken.current);
    return true;
  }

  /** Whether the socket's ticket would still be accepted (the session's end is then not a sign-out). */
  private async ticketStillValid(): Promise<boolean> {
    try {
      return await this.followTicket();
    } catch {
      return true; // store unavailable: say what is known, that the session ended
    }
  }

  private offer(ticket: string): void {
    this.offered = ticket;
    this.send(renderTicketFrame(ticket));
  }

  // ---- ending ------------------------------------------------------------------

  /** Ends once the batches in flight are answered (a terminateSession frame gets its answer before 4004). */
  private endWhenAnswered(code: CloseCodeValue): void {
    if (this.commandsRunning === 0) this.end(code);
    else this.endAfterCommands = code;
  }

  /** Ends the attachment: with a close frame (`code`), or by dropping the TCP connection (heartbeat). */
  private end(reason: CloseCodeValue | 'heartbeat'): void {
    if (!this.active) return;
    if (reason === 'heartbeat') this.socket.terminate();
    else this.socket.close(reason, CLOSE_REASONS[reason] ?? '');
    this.finish(reason);
  }

  private finish(reason: EndReason): void {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.waitTimer);
    clearTimeout(this.batchTimer);
    this.waiting = undefined;
    this.ctx.ops.metrics.webSockets.dec();
    this.ctx.log.unwatch(this.sid, this);
    this.ctx.attachments.detach(this.sid, this);
    this.onEnd(this, reason);
  }
}
