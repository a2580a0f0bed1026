// IM conversations: `conference` requests and events. One-to-one conversations
// (invite, accept, decline, messages, composing, leave) for now.
import { Conversation, type Leg } from './conversation.js';
import { cwaError, ErrorCode, SIP, sipFailure } from './errors.js';
import type { EngineCore, EngineModule } from './module.js';
import type { Delivery } from './ports.js';
import type { Session } from './session.js';
import type { ConferenceAction, ConferenceEventBody, CwaError, ImMessage, ResponseItem } from './types.js';

export class ImService implements EngineModule {
  private readonly conversations = new Set<Conversation>();
  private nextConversation = 1;

  constructor(private readonly core: EngineCore) {}

  async handle(session: Session, rid: string, confId: number, action: ConferenceAction): Promise<ResponseItem> {
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
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }

  private checkMessage(m: ImMessage | undefined): CwaError | undefined {
    if (!m || m.content.length === 0) return cwaError(ErrorCode.InvalidRequest, 'The message content is empty.');
    if (m.content.length > this.core.config.maxMessageLength) {
      return cwaError(ErrorCode.InvalidRequest, `The message is longer than ${this.core.config.maxMessageLength} characters.`);
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
    if (session.legs.size >= this.core.config.maxConferencesPerSession) {
      return { type: 'requestFailed', rid, error: cwaError(ErrorCode.InvalidOperation, `This session already holds ${this.core.config.maxConferencesPerSession} conversations, the most the gateway allows: end one first.`) };
    }

    const confId = session.allocateConfId(requestedConfId);
    const now = this.core.clock.now();
    const conv = new Conversation(this.nextConversation++, session, rid, inviteeUri, action.subject, now + this.core.config.inviteTimeoutS * 1000);
    const mine = conv.addLeg(session, confId, 'connecting');
    this.conversations.add(conv);
    const out: Delivery[] = [
      conf(mine, { type: 'initiateImSessionAccepted', rid, confId }),
      conf(mine, { type: 'escalationMode', mode: 'invitingPeer' }),
    ];

    const invitee = this.core.directory.findByUri(inviteeUri);
    const endpoints = invitee ? this.core.sessionsOf(invitee.login).filter((s) => s !== session) : [];
    if (!invitee || endpoints.length === 0) {
      this.failInvitation(conv, out, invitee ? SIP.temporarilyUnavailable : SIP.notFound);
      await this.core.deliver(out);
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
    await this.core.deliver(out);
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
  leave(leg: Leg, out: Delivery[], declineSip: { code: number; reason: string }, silent = false): void {
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

  onSessionEnd(session: Session, out: Delivery[]): void {
    for (const leg of [...session.legs.values()]) this.leave(leg, out, SIP.temporarilyUnavailable, true);
  }

  tick(now: number, out: Delivery[]): void {
    for (const conv of [...this.conversations]) {
      if (conv.inviteDeadline !== undefined && now >= conv.inviteDeadline) this.failInvitation(conv, out, SIP.requestTimeout);
    }
  }
}

function conf(leg: Leg, body: ConferenceEventBody): Delivery {
  return { sid: leg.session.sid, event: { kind: 'conference', confId: leg.confId, body } };
}

export function notSupported(name: string): CwaError {
  return cwaError(ErrorCode.InvalidOperation, `${name} is not supported by this gateway yet.`);
}
