// The one catalogue of what the engine answers when it does not do what was asked.
// The engine reports these typed outcomes and nothing more: each door maps them to its
// wire (the CWA door to 18xxx codes and SIP responses, protocol/cwa-outcomes.ts; the
// UCWA door to HTTP statuses and code/subcode, protocol/ucwa-outcomes.ts).
//
// `refused`: the engine would not carry the request out (answered at once, or in the
// message's own failure event). `failed`: it was tried and did not happen (the invitee
// never answered, the group was not there …), told on the data channel. `ended`: why a
// session ended.

/** Refusals that carry nothing but their reason. */
export const PLAIN_REFUSALS = [
  /** The batch names no live session of this user (send initiateSession first). */
  'noSession',
  /** The signed-in user is no longer in the directory. */
  'userGone',
  /** The conversation is not connected (yet, or any more). */
  'notConnected',
  /** A message sent before the conversation connected. */
  'notConnectedYet',
  /** A message sent while a one-to-one conversation becomes a conference. */
  'escalating',
  /** This session already takes part in that conference. */
  'alreadyJoined',
  /** The conference is locked: nobody new can be invited. */
  'conferenceLocked',
  /** Roles, eject and lock on a one-to-one conversation. */
  'notAConference',
  /** Only a presenter may do this. */
  'notPresenter',
  /** A presenter tried to eject itself. */
  'cannotEjectSelf',
  /** An IM start naming nobody but its sender. */
  'noInvitee',
  /** A message without content. */
  'emptyMessage',
  /** The session has no presence endpoint. */
  'noPresenceEndpoint',
  /** Appear Offline is disabled on this gateway. */
  'appearOfflineDisabled',
] as const;
export type PlainRefusal = (typeof PLAIN_REFUSALS)[number];

/** Refusals that carry what the door needs to explain them. */
export type DetailedRefusal =
  | { refused: 'tooManySessions'; max: number }
  | { refused: 'tooManyConversations'; max: number }
  | { refused: 'tooManyParticipants'; max: number }
  | { refused: 'messageTooLong'; max: number }
  | { refused: 'noSuchConversation'; confId: number }
  /** The confId was asked for again by initiateImSession `rid` for another conversation (given `granted`, or failed). */
  | { refused: 'confIdReassigned'; confId: number; rid: string; granted?: number }
  | { refused: 'notAParticipant'; uri: string }
  /** The members whose logs are too full to take a message (they have not read what was sent before). */
  | { refused: 'recipientsBehind'; uris: string[] }
  /** A voice request (voIPRedirect …): this gateway carries instant messaging only. */
  | { refused: 'voiceNotSupported'; name: string }
  /** A request the reference names that this gateway does not carry out. */
  | { refused: 'notSupported'; name: string }
  /** A request element nobody knows. */
  | { refused: 'unknownRequest'; name: string }
  /** Input the engine or a decoder found wrong (not a SIP URI, a required field missing …), described in `detail`. */
  | { refused: 'invalidInput'; detail: string };

export const DETAILED_REFUSALS = [
  'tooManySessions',
  'tooManyConversations',
  'tooManyParticipants',
  'messageTooLong',
  'noSuchConversation',
  'confIdReassigned',
  'notAParticipant',
  'recipientsBehind',
  'voiceNotSupported',
  'notSupported',
  'unknownRequest',
  'invalidInput',
] as const satisfies readonly DetailedRefusal['refused'][];

export const FAILURES = [
  /** No such user in the directory. */
  'unknownUser',
  /** The conference to rejoin no longer exists. */
  'conferenceGone',
  /** The conference to rejoin is locked. */
  'conferenceLockedOut',
  /** The invitee has no session that can take it (signed out, or it blocks the inviter, which is not revealed). */
  'notSignedIn',
  /** Every session of the invitee already takes part in as many conversations as allowed. */
  'busy',
  /** The invitee declined. */
  'declined',
  /** Nobody answered before the invitation timed out. */
  'noAnswer',
  /** A confirmed message could not be queued for a recipient (its log overflowed on it). */
  'notDelivered',
  /** A contact group of that name exists. */
  'duplicateGroup',
  'groupNotFound',
  'contactNotFound',
  /** The group may not be changed (the default group, or one from outside). */
  'groupProtected',
  /** The contact list is at its bound. */
  'tooManyContacts',
  /** An access-control container is at its bound. */
  'tooManyMembers',
  'subscriberNotFound',
] as const;
export type FailureReason = (typeof FAILURES)[number];

/** Why a session ended (also its sessionTerminated event's reason). */
export const SESSION_ENDS = ['eventLogOverflow', 'timeout', 'terminated', 'shutdown'] as const;
export type SessionEndReason = (typeof SESSION_ENDS)[number];

export type Refusal = { refused: PlainRefusal } | DetailedRefusal;
export type Outcome = Refusal | { failed: FailureReason } | { ended: SessionEndReason };

/** Every reason of the catalogue, once: what `reasonOf` returns, and the label of cwa_refusals_total. */
export const REASONS = [...PLAIN_REFUSALS, ...DETAILED_REFUSALS, ...FAILURES, ...SESSION_ENDS] as const;
export type Reason = (typeof REASONS)[number];

/** An outcome's reason (its catalogue name). */
export function reasonOf(o: Outcome): Reason {
  return 'refused' in o ? o.refused : 'failed' in o ? o.failed : o.ended;
}

/**
 * An error a door already phrased for its own wire and hands through the engine's types
 * unchanged (the engine never makes one and never looks inside; the door renders it).
 */
export interface PhrasedError {
  readonly code: number;
  readonly reason: string;
  readonly detail: string;
}

export const refused = (reason: PlainRefusal): Outcome => ({ refused: reason });
export const failed = (reason: FailureReason): Outcome => ({ failed: reason });

// Every detailed refusal is listed in DETAILED_REFUSALS (a compile-time check).
type Unlisted = Exclude<DetailedRefusal['refused'], (typeof DETAILED_REFUSALS)[number]>;
const everyDetailedRefusalListed: [Unlisted] extends [never] ? true : never = true;
void everyDetailedRefusalListed;
