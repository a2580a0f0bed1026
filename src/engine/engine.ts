// The session engine: sign-in, sessions and one-to-one IM. It knows nothing of HTTP,
// WebSocket or XML: it takes typed requests and answers with typed responses, and
// queues typed events through the EventSink. Commands run one at a time (a mutex), so
// every participant of a conversation sees its events in one order.
import type { Clock } from './clock.js';
import { Conversation, type Leg } from './conversation.js';
import { cwaError, ErrorCode, SIP, sipFailure } from './errors.js';
import type { Delivery, Directory, DirectoryUser, EventSink } from './ports.js';
import { Session } from './session.js';
import { TicketService, type TicketCheck } from './tickets.js';
import type {
  ConferenceAction,
  ConferenceEventBody,
  ConfigurationData,
  CwaError,
  CwaEvent,
  CwaRequest,
  ImMessage,
  ResponseItem,
  SessionEndReason,
} from './types.js';

export interface EngineConfig {
  pollWaitMs: number;
  sessionTimeoutS: number;
  ticketTtlS: number;
  inviteTimeoutS: number;
  maxMessageLength: number;
  /** How long the log of a session the gateway ended stays readable, so the client can read why. */
  endedSessionGraceS: number;
  configuration: ConfigurationData;
}

export const DEFAULT_CONFIGURATION: ConfigurationData = {
  enableAppearOffline: true,
  composingRefreshS: 60,
  composingTimeoutS: 120,
  searchDefaultFunction: 'or',
  searchDefaultFields: '0100',
};

const END_ERRORS: Record<SessionEndReason, CwaError> = {
  eventLogOverflow: cwaError(ErrorCode.InternalFailure, 'The session was ended: its unacknowledged events exceeded the event log bound.'),
  timeout: cwaError(ErrorCode.SessionNotFound, 'The session was ended after being idle longer than the session timeout.'),
  terminated: cwaError(ErrorCode.SessionNotFound, 'The session was terminated.'),
  shutdown: cwaError(ErrorCode.InternalFailure, 'The gateway is shutting down.'),
};

/** The batch-scoped context of a command: who sent it and which session it acts in. */
export interface CommandContext {
  login: string;
  /** The session the batch names (`sid`), if any; set by initiateSession for the rest of the batch. */
  session?: Session;
}

export class Engine {
  readonly tickets: TicketService;
  private readonly sessions = new Map<number, Session>();
  private readonly byLogin = new Map<string, Set<Session>>();
  private readonly endedLogs = new Map<number, number>(); // sid -> when to remove its log
  private readonly conversations = new Set<Conversation>();
  private nextSid = 1;
  private nextConversation = 1;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly directory: Directory,
    private readonly sink: EventSink,
    private readonly clock: Clock,
    readonly config: EngineConfig,
  ) {
    this.tickets = new TicketService(clock, config.ticketTtlS * 1000);
  }

  /** Runs `fn` after every command queued before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- sign-in --------------------------------------------------------------

  async logon(user: string | undefined, password: string | undefined): Promise<{ ticket: string; user: DirectoryUser } | undefined> {
    if (!user || password === undefined) return undefined;
    const found = await this.directory.authenticate(user, password);
    if (!found) return undefined;
    return { ticket: this.tickets.issue(found.login), user: found };
  }

  checkTicket(ticket: string | undefined): TicketCheck | undefined {
    return this.tickets.check(ticket);
  }

  userOf(login: string): DirectoryUser | undefined {
    return this.directory.findByLogonName(login);
  }

  // ---- sessions ---------------------------------------------------------------

  /** The live session `sid` if it belongs to `login`; undefined otherwise (unknown and foreign look alike). */
  sessionFor(login: string, sid: number): Session | undefined {
    const s = this.sessions.get(sid);
    return s && !s.ended && s.user.login === login ? s : undefined;
  }

  /** The only live session of `login`, for batches that omit `sid`. */
  soleSessionOf(login: string): Session | undefined {
    const set = this.byLogin.get(login);
    return set && set.size === 1 ? [...set][0] : undefined;
  }

  /** A session whose log is still readable after the gateway ended it. */
  isEndedLogReadable(sid: number): boolean {
    return this.endedLogs.has(sid);
  }

  ownsEndedLog(login: string, sid: number): boolean {
    const s = this.sessions.get(sid);
    return !!s && s.ended && s.user.login === login && this.endedLogs.has(sid);
  }

  touch(session: Session, userActive?: boolean): void {
    session.lastActivity = this.clock.now();
    if (userActive !== undefined) session.userActive = userActive;
  }

  secondsLeft(session: Session): number {
    const left = session.lastActivity + this.config.sessionTimeoutS * 1000 - this.clock.now();
    return Math.max(0, Math.ceil(left / 1000));
  }

  liveSessions(): number {
    return this.byLogin.size === 0 ? 0 : [...this.byLogin.values()].reduce((n, s) => n + s.size, 0);
  }

  // ---- commands ---------------------------------------------------------------

  /** Executes one decoded request of a batch. Must run inside `exclusive`. */
  async execute(ctx: CommandContext, req: CwaRequest): Promise<ResponseItem> {
    if (req.kind === 'initiateSession') return this.initiateSession(ctx, req);
    const session = ctx.session;
    const rid = req.rid ?? '';
    if (!session || session.ended) {
      return { type: 'requestFailed', rid, error: cwaError(ErrorCode.SessionNotFound, 'No active session: send initiateSession first, and the sid it returned.') };
    }
    this.touch(session);
    switch (req.kind) {
      case 'terminateSession':
        await this.endSession(session, 'terminated');
        return { type: 'requestAccepted', rid };
      case 'conference':
        return this.conference(session, rid, req.confId, req.action);
      case 'unsupported':
        return { type: 'requestFailed', rid, error: notSupported(req.name) };
    }
  }

  private async initiateSession(ctx: CommandContext, req: Extract<CwaRequest, { kind: 'initiateSession' }>): Promise<ResponseItem> {
    const user = this.directory.findByLogonName(ctx.login);
    if (!user) return { type: 'requestFailed', rid: req.rid, error: cwaError(ErrorCode.SessionNotFound, 'The signed-in user no longer exists.') };
    const sid = this.nextSid++;
    const availability = req.userStateAvailability ?? 3500;
    const session = new Session(sid, user, req.options, availability, this.clock.now());
    this.sessions.set(sid, session);
    let set = this.byLogin.get(user.login);
    if (!set) this.byLogin.set(user.login, (set = new Set()));
    set.add(session);
    ctx.session = session;
    await this.sink.openSession(sid);
    await this.deliver([
      { sid, event: { kind: 'configuration', data: this.config.configuration } },
      {
        sid,
        event: {
          kind: 'selfPresence',
          data: {
            availability,
            publishTime: new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
            displayName: user.displayName,
            email: user.email,
            title: user.title,
            office: user.office,
            company: user.company,
            phone: user.phone,
          },
        },
      },
    ]);
    return { type: 'requestAccepted', rid: req.rid, session: { sid, uri: user.uri, pollWaitTime: this.config.pollWaitMs } };
  }

  private async conference(session: Session, rid: string, confId: number, action: ConferenceAction): Promise<ResponseItem> {
    if (action.type === 'initiateImSession') return this.initiateIm(session, rid, confId, action);
    if (action.type === 'unsupported') return { type: 'requestFailed', rid, error: notSupported(action.name) };
    const leg = session.legs.get(confId);
    if (!leg) {
      return { type: 'requestFailed', rid, error: cwaError(ErrorCode.InvalidOperation, `There is no conversation with confId ${confId} in this session.`) };
    }
    const out: Delivery[] = [];
    switch (action.type) {
      case 'acceptImSession':
        if (leg.state === 'incoming') this.accept(leg, out);
        break;
      case 'sendMessage': {
        const invalid = this.checkMessage(action.message);
        if (invalid) return { type: 'requestFailed', rid, error: invalid };
        // A client may answer an invitation by just sending (observed real-client behaviour).
        if (leg.state === 'incoming') this.accept(leg, out);
        const conv = leg.conversation;
        const messageId = conv.nextMessageId();
        if (leg.state !== 'connected') {
          out.push(conf(leg, {
            type: 'messageSendFailed',
            rid,
            messageId,
            error: cwaError(ErrorCode.InvalidOperation, 'The conversation is not connected yet.'),
          }));
          break;
        }
        const body: ConferenceEventBody = { type: 'messageReceived', sender: session.user.uri, message: action.message };
        for (const other of conv.connected()) if (other !== leg) out.push(conf(other, body));
        out.push(conf(leg, { type: 'messageIdReceived', rid, messageId }));
        break;
      }
      case 'notifyComposing': {
        if (leg.state !== 'connected') break;
        const body: ConferenceEventBody = { type: 'composingState', uri: session.user.uri, state: action.state };
        for (const other of leg.conversation.connected()) if (other !== leg) out.push(conf(other, body));
        break;
      }
      case 'terminateImSession':
        this.leave(leg, out, SIP.decline);
        break;
    }
    await this.deliver(out);
    return { type: 'requestAccepted', rid };
  }

  private checkMessage(m: ImMessage | undefined): CwaError | undefined {
    if (!m || m.content.length === 0) return cwaError(ErrorCode.InvalidRequest, 'The message content is empty.');
    if (m.content.length > this.config.maxMessageLength) {
      return cwaError(ErrorCode.InvalidRequest, `The message is longer than ${this.config.maxMessageLength} characters.`);
    }
    return undefined;
  }

  private async initiateIm(
    session: Session,
    rid: string,
    requestedConfId: number,
    action: Extract<ConferenceAction, { type: 'initiateImSession' }>,
  ): Promise<ResponseItem> {
    if (action.confUri !== undefined || action.uris.length !== 1) {
      return {
        type: 'requestFailed',
        rid,
        error: cwaError(ErrorCode.InvalidOperation, 'This gateway supports one-to-one conversations only: name exactly one uri.'),
      };
    }
    const inviteeUri = action.uris[0]!;
    if (!/^sip:[^@\s]+@[^@\s]+$/i.test(inviteeUri)) {
      return { type: 'requestFailed', rid, error: cwaError(ErrorCode.InvalidRequest, `"${inviteeUri}" is not a SIP URI (sip:user@domain).`) };
    }
    const invalid = this.checkMessage(action.message);
    if (invalid) return { type: 'requestFailed', rid, error: invalid };

    const confId = session.allocateConfId(requestedConfId);
    const now = this.clock.now();
    const conv = new Conversation(this.nextConversation++, session, rid, inviteeUri, action.subject, now + this.config.inviteTimeoutS * 1000);
    const mine = conv.addLeg(session, confId, 'connecting');
    this.conversations.add(conv);
    const out: Delivery[] = [
      conf(mine, { type: 'initiateImSessionAccepted', rid, confId }),
      conf(mine, { type: 'escalationMode', mode: 'invitingPeer' }),
    ];

    const invitee = this.directory.findByUri(inviteeUri);
    const endpoints = invitee ? [...(this.byLogin.get(invitee.login) ?? [])].filter((s) => s !== session && !s.ended) : [];
    if (!invitee || endpoints.length === 0) {
      this.failInvitation(conv, out, invitee ? SIP.temporarilyUnavailable : SIP.notFound);
      await this.deliver(out);
      return { type: 'initiateImSessionAccepted', rid, confId };
    }
    out.push(conf(mine, { type: 'imSessionState', state: 'connecting' }));
    const invitation: ConferenceEventBody = {
      type: 'imSessionReceived',
      inviter: { uri: session.user.uri, name: session.user.displayName, sourceNetwork: 'sameEnterprise' },
      role: 'attendee',
      escalationMode: 'invitingPeer',
      subject: action.subject,
      message: action.message,
    };
    const incoming: ConferenceEventBody = { type: 'imSessionState', state: 'incoming' };
    for (const endpoint of endpoints) {
      const leg = conv.addLeg(endpoint, endpoint.allocateConfId(), 'incoming');
      out.push(conf(leg, invitation), conf(leg, incoming));
    }
    await this.deliver(out);
    return { type: 'initiateImSessionAccepted', rid, confId };
  }

  /** The invitee's endpoint `leg` takes the invitation; its other endpoints are told it is gone. */
  private accept(leg: Leg, out: Delivery[]): void {
    const conv = leg.conversation;
    conv.inviteDeadline = undefined;
    for (const other of conv.pendingInvitees()) {
      if (other === leg) continue;
      conv.removeLeg(other);
      out.push(conf(other, { type: 'imSessionState', state: 'terminated' }));
    }
    const inviterLeg = conv.inviter.legOf(conv);
    leg.state = 'connected';
    if (inviterLeg) {
      inviterLeg.state = 'connected';
      out.push(
        conf(inviterLeg, { type: 'escalationMode', mode: 'peer' }),
        conf(inviterLeg, { type: 'participant', uri: leg.session.user.uri, name: leg.session.user.displayName, role: leg.role }),
        conf(inviterLeg, { type: 'imSessionState', state: 'connected' }),
      );
      out.push(
        conf(leg, { type: 'escalationMode', mode: 'peer' }),
        conf(leg, { type: 'participant', uri: conv.inviter.user.uri, name: conv.inviter.user.displayName, role: inviterLeg.role }),
      );
    }
    out.push(conf(leg, { type: 'imSessionState', state: 'connected' }));
  }

  /** The documented failure sequence of an invitation, told to the inviter; invitees still ringing are dropped. */
  private failInvitation(conv: Conversation, out: Delivery[], sip: { code: number; reason: string }): void {
    for (const pending of conv.pendingInvitees()) {
      conv.removeLeg(pending);
      out.push(conf(pending, { type: 'imSessionState', state: 'terminated' }));
    }
    const mine = conv.inviter.legOf(conv);
    if (mine) {
      out.push(
        conf(mine, { type: 'escalationMode', mode: 'none' }),
        conf(mine, { type: 'inviteFailed', uri: conv.inviteeUri }),
        { sid: mine.session.sid, event: { kind: 'requestFailed', rid: conv.inviteRid, error: sipFailure(sip.code, sip.reason) } },
        conf(mine, { type: 'imSessionState', state: 'terminated' }),
      );
      conv.removeLeg(mine);
    }
    this.endConversation(conv);
  }

  /** `leg` leaves its conversation (terminateImSession, or its session ends). */
  private leave(leg: Leg, out: Delivery[], declineSip: { code: number; reason: string }, silent = false): void {
    const conv = leg.conversation;
    const wasInvitee = leg.state === 'incoming';
    const wasInviter = conv.inviter === leg.session;
    const wasConnected = leg.state === 'connected';
    conv.removeLeg(leg);
    if (!silent) out.push(conf(leg, { type: 'imSessionState', state: 'terminated' }));
    if (wasInvitee) {
      // Declined: the inviter is told once no endpoint of the invitee is left ringing.
      if (conv.pendingInvitees().length === 0 && conv.connected().length === 0) this.failInvitation(conv, out, declineSip);
      return;
    }
    if (wasInviter && !wasConnected) {
      // Cancelled before anyone answered.
      for (const pending of conv.pendingInvitees()) {
        conv.removeLeg(pending);
        out.push(conf(pending, { type: 'imSessionState', state: 'terminated' }));
      }
      this.endConversation(conv);
      return;
    }
    // A one-to-one conversation ends when one side leaves.
    for (const other of [...conv.legs]) {
      conv.removeLeg(other);
      out.push(conf(other, { type: 'participantRemoved', uri: leg.session.user.uri }), conf(other, { type: 'imSessionState', state: 'terminated' }));
    }
    this.endConversation(conv);
  }

  private endConversation(conv: Conversation): void {
    conv.ended = true;
    this.conversations.delete(conv);
  }

  /** Ends a session: its conversations end (peers are told), and its log is removed or closed. */
  async endSession(session: Session, reason: SessionEndReason): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    const out: Delivery[] = [];
    for (const leg of [...session.legs.values()]) this.leave(leg, out, SIP.temporarilyUnavailable, true);
    this.byLogin.get(session.user.login)?.delete(session);
    if (this.byLogin.get(session.user.login)?.size === 0) this.byLogin.delete(session.user.login);
    await this.deliver(out.filter((d) => d.sid !== session.sid));
    if (reason === 'terminated') {
      this.sessions.delete(session.sid);
      await this.sink.removeSession(session.sid);
    } else {
      // Keep the log readable a little while so the client learns why, from the log itself.
      await this.sink.closeSession(session.sid, { kind: 'sessionTerminated', reason, error: END_ERRORS[reason] });
      this.endedLogs.set(session.sid, this.clock.now() + this.config.endedSessionGraceS * 1000);
    }
  }

  /** Queues events; sessions whose log overflowed are ended. */
  private async deliver(out: Delivery[]): Promise<void> {
    if (out.length === 0) return;
    const overflowed = await this.sink.deliver(out);
    for (const sid of overflowed) {
      const s = this.sessions.get(sid);
      if (s && !s.ended) await this.endSession(s, 'eventLogOverflow');
    }
  }

  // ---- timers -------------------------------------------------------------------

  /** Expires idle sessions, unanswered invitations, old tickets and ended logs. Call about once a second. */
  async tick(): Promise<void> {
    await this.exclusive(async () => {
      const now = this.clock.now();
      const idleMs = this.config.sessionTimeoutS * 1000;
      for (const s of [...this.sessions.values()]) {
        if (!s.ended && now - s.lastActivity >= idleMs) await this.endSession(s, 'timeout');
      }
      for (const conv of [...this.conversations]) {
        if (conv.inviteDeadline !== undefined && now >= conv.inviteDeadline) {
          const out: Delivery[] = [];
          this.failInvitation(conv, out, SIP.requestTimeout);
          await this.deliver(out);
        }
      }
      for (const [sid, until] of [...this.endedLogs]) {
        if (now >= until) {
          this.endedLogs.delete(sid);
          this.sessions.delete(sid);
          await this.sink.removeSession(sid);
        }
      }
      this.tickets.sweep();
    });
  }

  /** Ends every session (graceful shutdown). */
  async shutdown(): Promise<void> {
    await this.exclusive(async () => {
      for (const s of [...this.sessions.values()]) await this.endSession(s, 'shutdown');
    });
  }
}

function conf(leg: Leg, body: ConferenceEventBody): Delivery {
  return { sid: leg.session.sid, event: { kind: 'conference', confId: leg.confId, body } };
}

function notSupported(name: string): CwaError {
  return cwaError(ErrorCode.InvalidOperation, `${name} is not supported by this gateway yet.`);
}

export type { CwaEvent };
