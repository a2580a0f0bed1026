// One IM conversation — one-to-one, escalating, or a focus (multi-party) conference —
// and each session's leg in it. A conversation is shared by all its legs; each leg
// sees it under its own session's confId.
import type { RandomSource } from './random.js';
import type { Leg, Session } from './session.js';
import type { EscalationMode, ImSessionState, Role } from './types.js';

export type { Leg };

// A session's legs (Session.legs, by confId) are this file's: the fields of the Leg that
// session.ts declares empty.
declare module './session.js' {
  interface Leg {
    session: Session;
    confId: number;
    conversation: Conversation;
    state: ImSessionState;
    role: Role;
    /** Set while this leg is an endpoint ringing for an invitation. */
    invitation?: Invitation;
    /**
     * Set when the client asked for this leg's confId in an initiateImSession for another
     * conversation: from then on the client may mean that one by this confId, so requests on
     * it are refused unless they can only reach the people that initiateImSession named.
     */
    disowned?: DisownedConfId;
  }
}

export interface DisownedConfId {
  /** rid of the initiateImSession that asked for the confId. */
  rid: string;
  /** The confId the gateway granted instead (none when the request failed). */
  granted?: number;
  /** Lower-cased: the URIs it invited, or the focus URI it rejoined. */
  uris: string[];
}

/** An invitation to one user; it rings at every endpoint (session) of that user. */
export interface Invitation {
  uri: string;
  /** rid of the request that invited: its failure is reported under this rid. */
  rid: string;
  /** The leg that invited, told when the invitation fails. */
  inviter: Leg;
  endpoints: Leg[];
  /** When the invitation fails unanswered. */
  deadline: number;
  /** From when the invitee's most active endpoint takes it automatically (MPOP). */
  autoAcceptAt: number;
}

export class Conversation {
  /** Names the class in a cluster snapshot, which keeps data only (cluster/snapshot.ts). */
  readonly snapshotClass = 'Conversation';
  readonly legs: Leg[] = [];
  readonly invitations = new Map<string, Invitation>();
  /** Participants currently typing, with the time of their last `composing`. */
  readonly composing = new Map<Leg, number>();
  /** The conversation's id (UCC session property 10000): the same through escalation. */
  readonly conversationId: string;
  mode: EscalationMode;
  focusUri?: string;
  locked = false;
  ended = false;
  lastActivity: number;
  /** An escalation requested in the current command batch: completed when the batch ends. */
  pendingEscalation?: { requester: Leg; rid: string; uris: string[]; blocked: Set<string> };
  private messageSeq = 0;

  constructor(
    readonly id: number,
    readonly subject: string | undefined,
    mode: EscalationMode,
    now: number,
    conversationId: string,
  ) {
    this.conversationId = conversationId;
    this.mode = mode;
    this.lastActivity = now;
  }

  get isFocus(): boolean {
    return this.mode === 'escalated';
  }

  /** `<n>` in a one-to-one conversation, `<n>-mcu` in a conference, as the reference shows. */
  nextMessageId(): string {
    this.messageSeq += 1;
    return this.isFocus ? `${this.messageSeq}-mcu` : String(this.messageSeq);
  }

  addLeg(session: Session, confId: number, state: ImSessionState, role: Role = 'attendee'): Leg {
    const leg: Leg = { session, confId, conversation: this, state, role };
    this.legs.push(leg);
    session.legs.set(confId, leg);
    return leg;
  }

  removeLeg(leg: Leg): void {
    const i = this.legs.indexOf(leg);
    if (i >= 0) this.legs.splice(i, 1);
    if (leg.session.legs.get(leg.confId) === leg) leg.session.legs.delete(leg.confId);
    this.composing.delete(leg);
    leg.state = 'terminated';
  }

  connected(): Leg[] {
    return this.legs.filter((l) => l.state === 'connected');
  }

  /** Connected participants plus users invited and still ringing (the participant limit counts both). */
  headcount(): number {
    return this.connected().length + this.invitations.size;
  }

  /** True when a user (by SIP URI) is connected or being invited. */
  involves(uri: string): boolean {
    const u = uri.toLowerCase();
    return this.invitations.has(u) || this.connected().some((l) => l.session.user.uri.toLowerCase() === u);
  }

  /** The leg `session` holds in this conversation, if any. */
  legOf(session: Session): Leg | undefined {
    for (const leg of session.legs.values()) if (leg.conversation === this) return leg;
    return undefined;
  }

  makeFocusUri(organizer: string, random: RandomSource): string {
    const id = random.bytes(5).toString('hex').toUpperCase();
    this.focusUri = `${organizer};gruu;opaque=app:conf:focus:id:${id}`;
    return this.focusUri;
  }
}
