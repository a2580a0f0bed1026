// IM conversations: the `conference` requests and events. A conversation starts
// one-to-one (one invitee) or as a focus conference (several), escalates from one to
// the other when a participant invites more people, and is managed by its presenters
// (promote, eject, lock). Invitations ring at every endpoint of the invitee (MPOP).
import { Conversation, type Invitation, type Leg } from './conversation.js';
import { refill } from './state-io.js';
import type { EngineCore, EngineModule, RequestOf } from './module.js';
import type { FailureReason, Outcome } from './outcomes.js';
import type { Delivery } from './ports.js';
import type { Session } from './session.js';
import type { ConferenceAction, ConferenceEventBody, ImMessage, ResponseItem } from './types.js';

const SIP_URI = /^sip:[^@\s;]+@[^@\s;]+$/i;

const failed = (rid: string, error: Outcome): ResponseItem => ({ type: 'requestFailed', rid, error });

/** What a request needs to know from the (asynchronous) stores before it runs. */
interface Prepared {
  /** Invitees (lower-cased URIs) who block the sender: their invitations fail as 480. */
  blocked: Set<string>;
  /** Sessions whose unacknowledged events passed the high-water mark: messages to them are refused. */
  backlogged: Set<number>;
}

export interface ImState {
  conversations: Set<Conversation>;
  byFocus: Map<string, Conversation>;
  nextConversation: number;
}

export class ImService implements EngineModule<'conference'> {
  readonly name = 'im';
  readonly requests = ['conference'] as const;
  private readonly conversations = new Set<Conversation>();
  private readonly byFocus = new Map<string, Conversation>();
  private nextConversation = 1;
  /** Conversations whose escalation was asked for in the batch running (completed after it, see afterBatch). */
  private readonly escalating = new Set<Conversation>();

  constructor(private readonly core: EngineCore) {}

  exportState(): ImState {
    return { conversations: this.conversations, byFocus: this.byFocus, nextConversation: this.nextConversation };
  }

  importState(state: ImState): void {
    refill(this.conversations, state.conversations);
    refill(this.byFocus, state.byFocus);
    this.nextConversation = state.nextConversation;
  }

  private get now(): number {
    return this.core.clock.now();
  }

  handle(session: Session, req: RequestOf<'conference'>): ResponseItem | Promise<ResponseItem> {
    const { confId, action } = req;
    const invited = action.type === 'initiateImSession' || action.type === 'inviteParticipants' ? action.uris : [];
    // Asked of the stores only when there is something to ask (a message has no invitee):
    // a message is carried out at once.
    const backlogged = this.backloggedRecipients(session, confId, action);
    if (invited.length === 0 && !(backlogged instanceof Promise)) return this.carryOut(session, req, { blocked: new Set(), backlogged });
    return this.prepareThenCarryOut(session, req, invited, backlogged);
  }

  private async prepareThenCarryOut(session: Session, req: RequestOf<'conference'>, invited: string[], backlogged: Set<number> | Promise<Set<number>>): Promise<ResponseItem> {
    const prepared: Prepared = {
      blocked: invited.length > 0 ? await this.blockersOf(session.user.uri, invited) : new Set(),
      backlogged: await backlogged,
    };
    return this.carryOut(session, req, prepared);
  }

  private carryOut(session: Session, req: RequestOf<'conference'>, prepared: Prepared): ResponseItem | Promise<ResponseItem> {
    const rid = req.rid ?? '';
    const { confId, action } = req;
    const out: Delivery[] = [];
    // A confId asked for while another conversation holds it is never granted; the client
    // may go on using it for the new conversation all the same (the Java client ignores the
    // confId it is given), so it no longer safely names the old one.
    const held = action.type === 'initiateImSession' && confId > 0 ? session.legs.get(confId) : undefined;
    const answer = this.dispatch(session, rid, confId, action, out, prepared);
    if (held && action.type === 'initiateImSession') {
      const asked = action.confUri !== undefined ? [action.confUri] : action.uris;
      held.disowned = { rid, granted: answer.type === 'initiateImSessionAccepted' ? answer.confId : undefined, uris: asked.map((u) => u.toLowerCase()) };
    }
    const delivered = this.core.deliver(out);
    return delivered ? delivered.then(() => answer) : answer;
  }

  /** The other members of the conversation a message would go to whose logs are too full to take it. */
  private backloggedRecipients(session: Session, confId: number, action: ConferenceAction): Set<number> | Promise<Set<number>> {
    const backlogged = new Set<number>();
    let conv: Conversation | undefined;
    if (action.type === 'sendMessage') conv = session.legs.get(confId)?.conversation;
    else if (action.type === 'initiateImSession' && action.message) {
      // Only a rejoin carries a message to connected members; a new conversation's first message rides in the invitation.
      const focus = action.confUri ?? (action.uris.length === 1 ? action.uris[0] : undefined);
      conv = focus === undefined ? undefined : this.byFocus.get(focus.toLowerCase());
    }
    if (!conv) return backlogged;
    const { legs } = conv;
    for (let i = 0; i < legs.length; i++) {
      const { sid } = legs[i]!.session;
      if (legs[i]!.session === session || backlogged.has(sid)) continue;
      const behind = this.core.backlogged(sid);
      // A store that answers later: the rest of the legs asked in turn, as they were.
      if (behind instanceof Promise) return this.backloggedFrom(session, legs, i, backlogged, behind);
      if (behind) backlogged.add(sid);
    }
    return backlogged;
  }

  private async backloggedFrom(session: Session, legs: Leg[], from: number, backlogged: Set<number>, first: Promise<boolean>): Promise<Set<number>> {
    if (await first) backlogged.add(legs[from]!.session.sid);
    for (const leg of legs.slice(from + 1)) {
      if (leg.session !== session && !backlogged.has(leg.session.sid) && (await this.core.backlogged(leg.session.sid))) backlogged.add(leg.session.sid);
    }
    return backlogged;
  }

  /**
   * The invitees (lower-cased URIs) who have put the inviter in their Blocked container:
   * their invitations fail as if they were signed out (480), so the block is not revealed.
   */
  private async blockersOf(inviterUri: string, uris: string[]): Promise<Set<string>> {
    const blocked = new Set<string>();
    for (const uri of uris) if (SIP_URI.test(uri) && (await this.core.blocks(uri, inviterUri))) blocked.add(uri.toLowerCase());
    return blocked;
  }

  private dispatch(session: Session, rid: string, confId: number, action: ConferenceAction, out: Delivery[], prepared: Prepared): ResponseItem {
    const { blocked } = prepared;
    switch (action.type) {
      case 'initiateImSession':
        return this.initiate(session, rid, confId, action, out, prepared);
      case 'voip':
        return failed(rid, { refused: 'voiceNotSupported', name: action.name });
      case 'unsupported':
        return failed(rid, { refused: 'notSupported', name: action.name });
    }
    const leg = session.legs.get(confId);
    if (!leg) return failed(rid, { refused: 'noSuchConversation', confId });
    if (leg.disowned && !this.meantBy(leg)) return failed(rid, { refused: 'confIdReassigned', confId, rid: leg.disowned.rid, granted: leg.disowned.granted });
    const conv = leg.conversation;
    const accepted: ResponseItem = { type: 'requestAccepted', rid };
    switch (action.type) {
      case 'acceptImSession':
        if (leg.state === 'incoming') this.accept(leg, out);
        return accepted;
      case 'terminateImSession':
        this.leave(leg, out, 'declined', false);
        return accepted;
      case 'sendMessage': {
        const invalid = this.checkMessage(action.message);
        if (invalid) return failed(rid, invalid);
        // A client may answer an invitation by just sending (observed real-client behaviour).
        if (leg.state === 'incoming') this.accept(leg, out);
        this.send(leg, rid, action.message, out, prepared.backlogged);
        return accepted;
      }
      case 'notifyComposing':
        if (leg.state === 'connected') this.composing(leg, action.state, out);
        return accepted;
      case 'sendInfo': {
        if (leg.state !== 'connected') return failed(rid, { refused: 'notConnected' });
        if (action.content.length > this.core.config.maxMessageLength) return failed(rid, { refused: 'messageTooLong', max: this.core.config.maxMessageLength });
        conv.lastActivity = this.now;
        const body: ConferenceEventBody = { type: 'infoReceived', sender: session.user.uri, contentType: action.contentType, content: action.content };
        for (const other of conv.connected()) if (other !== leg) out.push(conf(other, body));
        return accepted;
      }
      case 'inviteParticipants':
        return this.inviteParticipants(leg, rid, action.uris, out, blocked);
      case 'promoteParticipant':
      case 'ejectParticipant':
      case 'lock': {
        const refusal = this.checkLeader(leg, rid);
        if (refusal) return refusal;
        conv.lastActivity = this.now;
        if (action.type === 'lock') {
          if (conv.locked !== action.locked) {
            conv.locked = action.locked;
            for (const l of conv.connected()) out.push(conf(l, { type: 'locked', locked: action.locked }));
          }
          return accepted;
        }
        const targets = conv.connected().filter((l) => sameUri(l.session.user.uri, action.uri));
        if (targets.length === 0) return failed(rid, { refused: 'notAParticipant', uri: action.uri });
        if (action.type === 'promoteParticipant') {
          for (const t of targets) this.promote(t, out);
          return accepted;
        }
        if (targets.some((t) => t.session === session)) return failed(rid, { refused: 'cannotEjectSelf' });
        for (const t of targets) {
          conv.removeLeg(t);
          out.push(conf(t, { type: 'participantRemoved', uri: t.session.user.uri }), conf(t, { type: 'imSessionState', state: 'terminated' }));
        }
        for (const l of conv.connected()) out.push(conf(l, { type: 'participantRemoved', uri: targets[0]!.session.user.uri }));
        return accepted;
      }
    }
  }

  // ---- starting and joining -------------------------------------------------------

  private initiate(
    session: Session,
    rid: string,
    requestedConfId: number,
    action: Extract<ConferenceAction, { type: 'initiateImSession' }>,
    out: Delivery[],
    prepared: Prepared,
  ): ResponseItem {
    const { config } = this.core;
    const { blocked } = prepared;
    if (session.legs.size >= config.maxConferencesPerSession) {
      return failed(rid, { refused: 'tooManyConversations', max: config.maxConferencesPerSession });
    }
    const focusUri = action.confUri ?? (action.uris.length === 1 && this.byFocus.has(action.uris[0]!.toLowerCase()) ? action.uris[0] : undefined);
    // A CWA initiateImSession carries its first message; UCWA's startMessaging may come without one.
    if (action.message !== undefined || (focusUri === undefined && session.dialect !== 'ucwa')) {
      const invalid = this.checkMessage(action.message);
      if (invalid) return failed(rid, invalid);
    }
    if (focusUri !== undefined) return this.rejoin(session, rid, requestedConfId, focusUri, action.message, out, prepared.backlogged);

    const notSip = action.uris.find((u) => !SIP_URI.test(u));
    if (notSip !== undefined) return failed(rid, notSipUri(notSip));
    const uris = dedupe(action.uris.filter((u) => !sameUri(u, session.user.uri)));
    if (uris.length === 0) return failed(rid, { refused: 'noInvitee' });
    if (uris.length + 1 > config.maxParticipantsPerConference) return failed(rid, { refused: 'tooManyParticipants', max: config.maxParticipantsPerConference });

    const confId = session.allocateConfId(requestedConfId);
    const focus = uris.length > 1;
    const conv = new Conversation(this.nextConversation++, action.subject, focus ? 'escalated' : 'invitingPeer', this.now, this.core.random.uuid());
    this.conversations.add(conv);
    const mine = conv.addLeg(session, confId, focus ? 'connected' : 'connecting', focus ? 'presenter' : 'attendee');
    out.push(conf(mine, { type: 'initiateImSessionAccepted', rid, confId }));
    if (!focus) {
      out.push(conf(mine, { type: 'escalationMode', mode: 'invitingPeer' }));
      const failure = this.invite(conv, mine, uris[0]!, rid, action.message, out, blocked);
      if (failure) this.failPeerStart(conv, mine, uris[0]!, rid, failure, out);
      else out.push(conf(mine, { type: 'imSessionState', state: 'connecting' }));
      return { type: 'initiateImSessionAccepted', rid, confId };
    }
    this.registerFocus(conv, session.user.uri);
    out.push(
      conf(mine, { type: 'role', role: 'presenter' }),
      conf(mine, { type: 'confUri', uri: conv.focusUri! }),
      conf(mine, { type: 'escalationMode', mode: 'escalated' }),
      conf(mine, { type: 'imSessionState', state: 'connected' }),
    );
    for (const uri of uris) this.inviteOrReport(conv, mine, uri, rid, action.message, out, blocked);
    return { type: 'initiateImSessionAccepted', rid, confId };
  }

  /** Joins a focus conference by its URI (a participant coming back after its session ended). */
  private rejoin(
    session: Session,
    rid: string,
    requestedConfId: number,
    focusUri: string,
    message: ImMessage | undefined,
    out: Delivery[],
    backlogged: Set<number>,
  ): ResponseItem {
    const conv = this.byFocus.get(focusUri.toLowerCase());
    const confId = session.allocateConfId(requestedConfId);
    const refuse = (reason: FailureReason): ResponseItem => {
      // The documented failure sequence, on a leg that never joins.
      const ghost: Leg = { session, confId, conversation: conv!, state: 'connecting', role: 'attendee' };
      out.push(
        conf(ghost, { type: 'initiateImSessionAccepted', rid, confId }),
        conf(ghost, { type: 'escalationMode', mode: 'none' }),
        conf(ghost, { type: 'inviteFailed', uri: focusUri }),
        { sid: session.sid, event: { kind: 'requestFailed', rid, error: { failed: reason } } },
        conf(ghost, { type: 'imSessionState', state: 'terminated' }),
      );
      return { type: 'initiateImSessionAccepted', rid, confId };
    };
    if (!conv || conv.ended) return refuse('conferenceGone');
    if (conv.legOf(session)) return failed(rid, { refused: 'alreadyJoined' });
    if (conv.locked) return refuse('conferenceLockedOut');
    if (conv.headcount() + 1 > this.core.config.maxParticipantsPerConference) {
      return failed(rid, { refused: 'tooManyParticipants', max: this.core.config.maxParticipantsPerConference });
    }
    conv.lastActivity = this.now;
    const leg = conv.addLeg(session, confId, 'connected');
    out.push(conf(leg, { type: 'initiateImSessionAccepted', rid, confId }));
    this.announceJoin(leg, out);
    if (message) this.send(leg, rid, message, out, backlogged);
    return { type: 'initiateImSessionAccepted', rid, confId };
  }

  private registerFocus(conv: Conversation, organizer: string): void {
    this.byFocus.set(conv.makeFocusUri(organizer, this.core.random).toLowerCase(), conv);
  }

  // ---- invitations -------------------------------------------------------------

  /** Rings every endpoint of `uri`; returns the failure when nobody can be rung, undefined when ringing (or already in). */
  private invite(
    conv: Conversation,
    inviter: Leg,
    uri: string,
    rid: string,
    message: ImMessage | undefined,
    out: Delivery[],
    blocked: Set<string>,
  ): FailureReason | undefined {
    if (conv.involves(uri)) return undefined;
    const user = this.core.directory.findByUri(uri);
    if (!user) return 'unknownUser';
    if (blocked.has(uri.toLowerCase())) return 'notSignedIn';
    const sessions = this.core.sessionsOf(user.login).filter((s) => s !== inviter.session && !conv.legOf(s) && s.ringable !== false);
    if (sessions.length === 0) return 'notSignedIn';
    const free = sessions.filter((s) => s.legs.size < this.core.config.maxConferencesPerSession);
    if (free.length === 0) return 'busy';
    const now = this.now;
    const invitation: Invitation = {
      uri,
      rid,
      inviter,
      endpoints: [],
      deadline: now + this.core.config.inviteTimeoutS * 1000,
      autoAcceptAt: now + this.core.config.mpopAcceptS * 1000,
    };
    conv.invitations.set(uri.toLowerCase(), invitation);
    const body: ConferenceEventBody = {
      type: 'imSessionReceived',
      inviter: { uri: inviter.session.user.uri, name: inviter.session.user.displayName, sourceNetwork: 'sameEnterprise' },
      role: 'attendee',
      escalationMode: conv.isFocus ? 'escalated' : 'invitingPeer',
      subject: conv.subject,
      // Focus invitations carry the first message without its format (reference §3.2).
      message: message && conv.isFocus ? { content: message.content } : message,
      conversationId: conv.conversationId,
    };
    for (const s of free) {
      const leg = conv.addLeg(s, s.gatewayConfId(), 'incoming');
      leg.invitation = invitation;
      invitation.endpoints.push(leg);
      out.push(conf(leg, body), conf(leg, { type: 'imSessionState', state: 'incoming' }));
    }
    return undefined;
  }

  /** In a conference: invite, and on an immediate failure tell the inviter (inviteFailed + requestFailed). */
  private inviteOrReport(
    conv: Conversation,
    inviter: Leg,
    uri: string,
    rid: string,
    message: ImMessage | undefined,
    out: Delivery[],
    blocked: Set<string>,
  ): void {
    const failure = this.invite(conv, inviter, uri, rid, message, out, blocked);
    if (failure) this.reportInviteFailure(inviter, uri, rid, failure, out);
  }

  private reportInviteFailure(inviter: Leg, uri: string, rid: string, reason: FailureReason, out: Delivery[]): void {
    if (inviter.state === 'terminated') return;
    out.push(conf(inviter, { type: 'inviteFailed', uri }), {
      sid: inviter.session.sid,
      event: { kind: 'requestFailed', rid, error: { failed: reason } },
    });
  }

  /** The documented failure of a one-to-one start: the conversation ends for the inviter. */
  private failPeerStart(conv: Conversation, mine: Leg, uri: string, rid: string, reason: FailureReason, out: Delivery[]): void {
    out.push(conf(mine, { type: 'escalationMode', mode: 'none' }));
    this.reportInviteFailure(mine, uri, rid, reason, out);
    out.push(conf(mine, { type: 'imSessionState', state: 'terminated' }));
    conv.removeLeg(mine);
    this.end(conv, out);
  }

  /** An invitation ends unanswered, declined or with its endpoints gone. */
  private failInvitation(conv: Conversation, invitation: Invitation, reason: FailureReason, out: Delivery[]): void {
    conv.invitations.delete(invitation.uri.toLowerCase());
    for (const leg of invitation.endpoints) {
      if (leg.state !== 'incoming') continue;
      conv.removeLeg(leg);
      out.push(conf(leg, { type: 'imSessionState', state: 'terminated' }));
    }
    if (conv.mode === 'invitingPeer') this.failPeerStart(conv, invitation.inviter, invitation.uri, invitation.rid, reason, out);
    else this.reportInviteFailure(invitation.inviter, invitation.uri, invitation.rid, reason, out);
  }

  /** One endpoint of the invitee takes the invitation; its other endpoints are told it is gone. */
  private accept(leg: Leg, out: Delivery[]): void {
    const conv = leg.conversation;
    const invitation = leg.invitation!;
    conv.invitations.delete(invitation.uri.toLowerCase());
    for (const other of invitation.endpoints) {
      if (other === leg || other.state !== 'incoming') continue;
      conv.removeLeg(other);
      out.push(conf(other, { type: 'imSessionState', state: 'terminated' }));
    }
    leg.invitation = undefined;
    leg.state = 'connected';
    conv.lastActivity = this.now;
    if (conv.mode !== 'invitingPeer') {
      this.announceJoin(leg, out);
      return;
    }
    // One-to-one: both sides are connected peers now.
    conv.mode = 'peer';
    const inviter = invitation.inviter;
    inviter.state = 'connected';
    const peerOf = (l: Leg) => ({ type: 'participant' as const, uri: l.session.user.uri, name: l.session.user.displayName, role: l.role });
    out.push(
      conf(inviter, { type: 'escalationMode', mode: 'peer' }),
      conf(inviter, peerOf(leg)),
      conf(inviter, { type: 'imSessionState', state: 'connected' }),
      conf(leg, { type: 'escalationMode', mode: 'peer' }),
      conf(leg, peerOf(inviter)),
      conf(leg, { type: 'imSessionState', state: 'connected' }),
    );
  }

  /** A new member of a focus conference learns the conference; the others learn the member. */
  private announceJoin(leg: Leg, out: Delivery[]): void {
    const conv = leg.conversation;
    out.push(
      conf(leg, { type: 'escalationMode', mode: 'escalated' }),
      conf(leg, { type: 'confUri', uri: conv.focusUri! }),
      conf(leg, { type: 'role', role: leg.role }),
    );
    if (conv.locked) out.push(conf(leg, { type: 'locked', locked: true }));
    const me = participant(leg);
    for (const other of conv.connected()) {
      if (other === leg) continue;
      out.push(conf(leg, participant(other)), conf(other, me));
    }
    out.push(conf(leg, { type: 'imSessionState', state: 'connected' }));
  }

  private inviteParticipants(leg: Leg, rid: string, uris: string[], out: Delivery[], blocked: Set<string>): ResponseItem {
    const conv = leg.conversation;
    const { maxParticipantsPerConference: max } = this.core.config;
    if (leg.state !== 'connected') return failed(rid, { refused: 'notConnected' });
    const notSip = uris.find((u) => !SIP_URI.test(u));
    if (notSip !== undefined) return failed(rid, notSipUri(notSip));
    if (conv.locked) return failed(rid, { refused: 'conferenceLocked' });
    const fresh = dedupe(uris).filter((u) => !conv.involves(u) && !sameUri(u, leg.session.user.uri));
    const pending = conv.pendingEscalation?.uris.length ?? 0;
    if (conv.headcount() + pending + fresh.length > max) return failed(rid, { refused: 'tooManyParticipants', max });
    conv.lastActivity = this.now;
    if (conv.mode === 'escalating') {
      conv.pendingEscalation!.uris.push(...fresh);
      for (const b of blocked) conv.pendingEscalation!.blocked.add(b);
      return { type: 'requestAccepted', rid };
    }
    if (conv.mode === 'peer') {
      // Escalation: no message passes until the focus is ready, at the end of this batch.
      conv.mode = 'escalating';
      conv.pendingEscalation = { requester: leg, rid, uris: fresh, blocked: new Set(blocked) };
      this.escalating.add(conv);
      for (const l of conv.connected()) out.push(conf(l, { type: 'escalationMode', mode: 'escalating' }));
      return { type: 'requestAccepted', rid };
    }
    // A conference: the inviter becomes a presenter if it was not one (reference §2.7).
    if (leg.role !== 'presenter') this.promote(leg, out);
    for (const uri of fresh) this.inviteOrReport(conv, leg, uri, rid, undefined, out, blocked);
    return { type: 'requestAccepted', rid };
  }

  /** Completes the escalations requested in the batch that just ended. */
  afterBatch(out: Delivery[]): void {
    if (this.escalating.size === 0) return;
    // In the conversations' order (as they were started), those still going.
    const escalating = [...this.conversations].filter((c) => this.escalating.has(c));
    this.escalating.clear();
    for (const conv of escalating) {
      const pending = conv.pendingEscalation;
      if (!pending) continue;
      conv.pendingEscalation = undefined;
      conv.mode = 'escalated';
      this.registerFocus(conv, pending.requester.session.user.uri);
      const members = conv.connected();
      if (pending.requester.state === 'connected') this.promote(pending.requester, out);
      for (const l of members) {
        out.push(conf(l, { type: 'confUri', uri: conv.focusUri! }), conf(l, { type: 'escalationMode', mode: 'escalated' }));
      }
      for (const uri of pending.uris) this.inviteOrReport(conv, pending.requester, uri, pending.rid, undefined, out, pending.blocked);
    }
  }

  /**
   * Whether a request on a disowned confId can only reach whom the client meant: the leg is
   * in the conversation (not an invitation, which a send would accept), and everyone else in
   * it was named by the initiateImSession that asked for the confId (or it is the focus
   * that request rejoined).
   */
  private meantBy(leg: Leg): boolean {
    const { uris } = leg.disowned!;
    const conv = leg.conversation;
    if (leg.state === 'incoming') return false;
    if (conv.focusUri !== undefined && uris.includes(conv.focusUri.toLowerCase())) return true;
    const me = leg.session.user.uri.toLowerCase();
    const others = new Set<string>(conv.invitations.keys());
    for (const l of conv.legs) if (l !== leg && l.state !== 'terminated') others.add(l.session.user.uri.toLowerCase());
    others.delete(me);
    return others.size > 0 && [...others].every((u) => uris.includes(u));
  }

  // ---- roles --------------------------------------------------------------------------

  private checkLeader(leg: Leg, rid: string): ResponseItem | undefined {
    if (leg.state !== 'connected') return failed(rid, { refused: 'notConnected' });
    if (!leg.conversation.isFocus) return failed(rid, { refused: 'notAConference' });
    if (leg.role !== 'presenter') return failed(rid, { refused: 'notPresenter' });
    return undefined;
  }

  private promote(leg: Leg, out: Delivery[]): void {
    if (leg.role === 'presenter') return;
    leg.role = 'presenter';
    out.push(conf(leg, { type: 'role', role: 'presenter' }));
    const update = participant(leg);
    for (const other of leg.conversation.connected()) if (other !== leg) out.push(conf(other, update));
  }

  // ---- messages -----------------------------------------------------------------------

  private checkMessage(m: ImMessage | undefined): Outcome | undefined {
    if (!m || m.content.length === 0) return { refused: 'emptyMessage' };
    if (m.content.length > this.core.config.maxMessageLength) return { refused: 'messageTooLong', max: this.core.config.maxMessageLength };
    return undefined;
  }

  /**
   * Queues a message for every other member, or for none: a member whose log is past the
   * high-water mark (`backlogged`) has the whole message refused to its sender (18101), so
   * a reader that falls behind slows its partners down instead of losing its session.
   */
  private send(leg: Leg, rid: string, message: ImMessage, out: Delivery[], backlogged: Set<number>): void {
    const conv = leg.conversation;
    const messageId = conv.nextMessageId();
    const notReady: Outcome | undefined = leg.state !== 'connected' ? { refused: 'notConnectedYet' } : conv.mode === 'escalating' ? { refused: 'escalating' } : undefined;
    if (notReady) {
      out.push(conf(leg, { type: 'messageSendFailed', rid, messageId, error: notReady }));
      return;
    }
    const recipients = conv.connected().filter((other) => other !== leg);
    const behind = recipients.filter((other) => backlogged.has(other.session.sid));
    if (behind.length > 0) {
      const uris = dedupe(behind.map((l) => l.session.user.uri));
      out.push(conf(leg, { type: 'messageSendFailed', rid, messageId, error: { refused: 'recipientsBehind', uris } }));
      return;
    }
    conv.lastActivity = this.now;
    conv.composing.delete(leg);
    const body: ConferenceEventBody = { type: 'messageReceived', sender: leg.session.user.uri, message };
    for (const other of recipients) out.push(conf(other, body));
    // Confirmed only once queued for every recipient: a log that overflows on it turns the confirmation into a failure.
    const undelivered: ConferenceEventBody = { type: 'messageSendFailed', rid, messageId, error: { failed: 'notDelivered' } };
    out.push({
      ...conf(leg, { type: 'messageIdReceived', rid, messageId }),
      unlessOverflowed: { sids: recipients.map((l) => l.session.sid), instead: conf(leg, undelivered).event },
    });
  }

  private composing(leg: Leg, state: 'composing' | 'idle', out: Delivery[]): void {
    const conv = leg.conversation;
    conv.lastActivity = this.now;
    if (state === 'composing') conv.composing.set(leg, this.now);
    else if (!conv.composing.delete(leg)) return; // idle when not typing: nothing to tell
    const body: ConferenceEventBody = { type: 'composingState', uri: leg.session.user.uri, state };
    for (const other of conv.connected()) if (other !== leg) out.push(conf(other, body));
  }

  // ---- leaving and ending ---------------------------------------------------------------

  /** `leg` leaves (terminateImSession, or its session ends: `silent`, nothing is told to it). */
  private leave(leg: Leg, out: Delivery[], declined: FailureReason, silent: boolean): void {
    const conv = leg.conversation;
    const state = leg.state;
    conv.removeLeg(leg);
    if (!silent) out.push(conf(leg, { type: 'imSessionState', state: 'terminated' }));
    if (state === 'incoming') {
      // Declined at this endpoint: the inviter is told once no endpoint is left ringing.
      const invitation = leg.invitation!;
      leg.invitation = undefined;
      if (invitation.endpoints.every((e) => e.state !== 'incoming')) this.failInvitation(conv, invitation, declined, out);
      return;
    }
    if (conv.mode === 'invitingPeer' || conv.mode === 'peer') {
      // A one-to-one conversation ends when either side leaves (or the inviter cancels).
      for (const other of [...conv.legs]) {
        conv.removeLeg(other);
        if (state === 'connected') out.push(conf(other, { type: 'participantRemoved', uri: leg.session.user.uri }));
        out.push(conf(other, { type: 'imSessionState', state: 'terminated' }));
      }
      this.end(conv, out);
      return;
    }
    for (const other of conv.connected()) out.push(conf(other, { type: 'participantRemoved', uri: leg.session.user.uri }));
    if (conv.connected().length === 0) this.end(conv, out);
  }

  /** Ends a conversation: every leg still in it is told, pending invitations are withdrawn. */
  private end(conv: Conversation, out: Delivery[]): void {
    for (const leg of [...conv.legs]) {
      conv.removeLeg(leg);
      out.push(conf(leg, { type: 'imSessionState', state: 'terminated' }));
    }
    conv.invitations.clear();
    conv.ended = true;
    this.conversations.delete(conv);
    if (conv.focusUri) this.byFocus.delete(conv.focusUri.toLowerCase());
  }

  onSessionEnd(session: Session, out: Delivery[]): void {
    for (const leg of [...session.legs.values()]) this.leave(leg, out, 'notSignedIn', true);
  }

  tick(now: number, out: Delivery[]): void {
    const { composingRefreshS, composingTimeoutS } = this.core.config.configuration;
    for (const conv of [...this.conversations]) {
      for (const invitation of [...conv.invitations.values()]) {
        if (now >= invitation.deadline) {
          this.failInvitation(conv, invitation, 'noAnswer', out);
          continue;
        }
        if (now >= invitation.autoAcceptAt) {
          // MPOP: the invitee's most active endpoint takes it, so the inviter can go on sending
          // even when no client ever sends acceptImSession (reference §2.2). A leg whose confId
          // the client gave to another conversation is never taken for it.
          // A UCWA application answers explicitly (accept/decline), as Lync endpoints do.
          const pick = mostActive(invitation.endpoints.filter((l) => l.state === 'incoming' && !l.disowned && l.session.dialect !== 'ucwa'));
          if (pick) this.accept(pick, out);
        }
      }
      if (conv.ended) continue;
      // A typist who stopped refreshing `composing` is idle for the others.
      for (const [leg, since] of [...conv.composing]) {
        if (now - since >= composingRefreshS * 1000) this.composing(leg, 'idle', out);
      }
      // An IM conversation with no activity for the configured timeout ends.
      if (now - conv.lastActivity >= composingTimeoutS * 1000) this.end(conv, out);
    }
  }
}

/**
 * The endpoint reporting user activity (UA=true) most recently; when none does, the one
 * heard from last (a poll, a command). Ties go to the endpoint rung first.
 */
function mostActive(legs: Leg[]): Leg | undefined {
  const rank = (l: Leg): [number, number] => (l.session.userActive ? [1, l.session.userActiveAt] : [0, l.session.lastActivity]);
  let best: Leg | undefined;
  for (const l of legs) {
    if (!best) best = l;
    else {
      const [a, b] = [rank(l), rank(best)];
      if (a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])) best = l;
    }
  }
  return best;
}

function conf(leg: Leg, body: ConferenceEventBody): Delivery {
  return { sid: leg.session.sid, event: { kind: 'conference', confId: leg.confId, body } };
}

function participant(leg: Leg): ConferenceEventBody {
  return { type: 'participant', uri: leg.session.user.uri, name: leg.session.user.displayName, role: leg.role };
}

function sameUri(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function dedupe(uris: string[]): string[] {
  const seen = new Set<string>();
  return uris.filter((u) => !seen.has(u.toLowerCase()) && seen.add(u.toLowerCase()));
}

function notSipUri(value: string): Outcome {
  return { refused: 'invalidInput', detail: `"${value}" is not a SIP URI (sip:user@domain).` };
}
