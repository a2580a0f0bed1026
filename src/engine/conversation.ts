// One IM conversation and each session's leg in it. A conversation is shared by all
// its legs; each leg sees it under its own session's confId.
import type { Session } from './session.js';
import type { ImSessionState, Role } from './types.js';

export interface Leg {
  session: Session;
  confId: number;
  conversation: Conversation;
  state: ImSessionState;
  role: Role;
}

export class Conversation {
  readonly legs: Leg[] = [];
  private messageSeq = 0;
  ended = false;

  constructor(
    readonly id: number,
    /** The leg that sent the invitation. */
    readonly inviter: Session,
    /** rid of the initiateImSession, for the failure signals of the invitation. */
    readonly inviteRid: string,
    readonly inviteeUri: string,
    readonly subject: string | undefined,
    /** When an unanswered invitation fails. */
    public inviteDeadline: number | undefined,
  ) {}

  nextMessageId(): string {
    this.messageSeq += 1;
    return String(this.messageSeq);
  }

  addLeg(session: Session, confId: number, state: ImSessionState): Leg {
    const leg: Leg = { session, confId, conversation: this, state, role: 'attendee' };
    this.legs.push(leg);
    session.legs.set(confId, leg);
    return leg;
  }

  removeLeg(leg: Leg): void {
    const i = this.legs.indexOf(leg);
    if (i >= 0) this.legs.splice(i, 1);
    if (leg.session.legs.get(leg.confId) === leg) leg.session.legs.delete(leg.confId);
    leg.state = 'terminated';
  }

  connected(): Leg[] {
    return this.legs.filter((l) => l.state === 'connected');
  }

  pendingInvitees(): Leg[] {
    return this.legs.filter((l) => l.state === 'incoming');
  }
}
