// The UCWA door's reading of the engine's outcomes (engine/outcomes.ts): for each reason
// the HTTP status of a synchronous answer and the `code`/`subcode` of the error body (or
// of an event's `reason`), per the UCWA 1.0 error table (HTTP status <-> code) and its
// subcode enumeration. A failure that happens after the request was accepted (an
// invitation declined, nobody answered) reaches a UCWA client as an operation `completed`
// with `status: Failure` and this `reason`; the status is then what the same refusal
// would have been answered with synchronously.
import type { FailureReason, Outcome, PhrasedError, Reason } from '../engine/outcomes.js';
import { reasonOf } from '../engine/outcomes.js';
import { cwaErrorOf } from './cwa-outcomes.js';

/** The codes of UCWA's ErrorCode enumeration the gateway uses. */
export type UcwaCode =
  | 'BadRequest'
  | 'Conflict'
  | 'EntityTooLarge'
  | 'Forbidden'
  | 'Gone'
  | 'NotFound'
  | 'RemoteFailure'
  | 'ServiceFailure'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'TooManyRequests';

export interface UcwaError {
  status: number;
  code: UcwaCode;
  /** A subcode of the reference's ErrorSubcode list (or of its generic error names); absent when none fits. */
  subcode?: string;
}

const e = (status: number, code: UcwaCode, subcode?: string): UcwaError => (subcode === undefined ? { status, code } : { status, code, subcode });

export const UCWA_OUTCOMES: Readonly<Record<Reason, UcwaError>> = {
  // refused
  noSession: e(404, 'NotFound', 'ApplicationNotFound'),
  userGone: e(410, 'Gone', 'ApplicationNotFound'),
  notConnected: e(409, 'Conflict', 'InvalidResourceState'),
  notConnectedYet: e(409, 'Conflict', 'InvalidResourceState'),
  escalating: e(409, 'Conflict', 'AnotherOperationPending'),
  alreadyJoined: e(409, 'Conflict', 'AlreadyExists'),
  conferenceLocked: e(403, 'Forbidden', 'InviteesOnly'),
  notAConference: e(409, 'Conflict', 'OperationNotSupported'),
  notPresenter: e(403, 'Forbidden', 'NotAllowed'),
  cannotEjectSelf: e(409, 'Conflict', 'NotAllowed'),
  noInvitee: e(400, 'BadRequest', 'ParameterValidationFailure'),
  emptyMessage: e(400, 'BadRequest', 'ParameterValidationFailure'),
  noPresenceEndpoint: e(409, 'Conflict', 'MakeMeAvailableRequired'),
  appearOfflineDisabled: e(403, 'Forbidden', 'NotAllowed'),
  tooManySessions: e(410, 'Gone', 'TooManyApplications'),
  tooManyConversations: e(409, 'Conflict', 'TooManyConversations'),
  tooManyParticipants: e(409, 'Conflict', 'TooManyParticipants'),
  messageTooLong: e(413, 'EntityTooLarge', 'LimitExceeded'),
  noSuchConversation: e(404, 'NotFound', 'ConversationNotFound'),
  confIdReassigned: e(404, 'NotFound', 'ConversationNotFound'),
  notAParticipant: e(404, 'NotFound', 'ResourceNotFound'),
  recipientsBehind: e(429, 'TooManyRequests', 'LimitExceeded'),
  voiceNotSupported: e(400, 'BadRequest', 'ModalityNotSupported'),
  notSupported: e(400, 'BadRequest', 'OperationNotSupported'),
  unknownRequest: e(400, 'BadRequest', 'DeserializationFailure'),
  invalidInput: e(400, 'BadRequest', 'ParameterValidationFailure'),
  // failed: invitation outcomes arrive asynchronously, as RemoteFailure with the subcode
  // the reference lists for them (the status is that of the same refusal answered at once)
  unknownUser: e(404, 'RemoteFailure', 'DestinationNotFound'),
  conferenceGone: e(404, 'RemoteFailure', 'ConversationNotFound'),
  conferenceLockedOut: e(403, 'RemoteFailure', 'InviteesOnly'),
  notSignedIn: e(404, 'RemoteFailure', 'TemporarilyUnavailable'),
  busy: e(409, 'RemoteFailure', 'Busy'),
  declined: e(403, 'RemoteFailure', 'Declined'),
  noAnswer: e(504, 'RemoteFailure', 'Timeout'),
  notDelivered: e(500, 'RemoteFailure', 'Unreachable'),
  duplicateGroup: e(409, 'Conflict', 'AlreadyExists'),
  groupNotFound: e(404, 'NotFound', 'ResourceNotFound'),
  contactNotFound: e(404, 'NotFound', 'ResourceNotFound'),
  groupProtected: e(403, 'Forbidden', 'NotAllowed'),
  tooManyContacts: e(409, 'Conflict', 'LimitExceeded'),
  tooManyMembers: e(409, 'Conflict', 'LimitExceeded'),
  subscriberNotFound: e(404, 'NotFound', 'ResourceNotFound'),
  // ended
  eventLogOverflow: e(410, 'Gone', 'Removed'),
  timeout: e(410, 'Gone', 'InactiveApplicationExpired'),
  terminated: e(404, 'NotFound', 'ApplicationNotFound'),
  shutdown: e(503, 'ServiceUnavailable'),
};

/** The UCWA status and code/subcode of an outcome. */
export function ucwaErrorOf(o: Outcome): UcwaError {
  return UCWA_OUTCOMES[reasonOf(o)];
}

/** What a UCWA client reads in `message` for a failure (the rest of the catalogue reads as the engine explains it). */
const FAILURE_MESSAGES: Partial<Record<FailureReason, string>> = {
  unknownUser: 'The person could not be found.',
  notSignedIn: 'The person is not signed in or not available.',
  busy: 'The person is busy.',
  declined: 'The person declined the invitation.',
  noAnswer: 'The person did not answer.',
  conferenceGone: 'The conversation no longer exists.',
  conferenceLockedOut: 'The conversation is locked: only its invitees may join.',
  notDelivered: 'The message could not be delivered.',
};

/** The human-readable `message` of an outcome for a UCWA client. */
export function ucwaMessageOf(o: Outcome): string {
  if ('failed' in o) return FAILURE_MESSAGES[o.failed] ?? cwaErrorOf(o).detail;
  if ('refused' in o && o.refused === 'tooManySessions') return `This user already has ${o.max} applications, the most the gateway allows: delete one first.`;
  if ('ended' in o && o.ended === 'timeout') return 'The application expired: create a new one.';
  if ('ended' in o && o.ended === 'terminated') return 'The application does not exist: create one (POST applications).';
  if ('ended' in o && o.ended === 'eventLogOverflow') return 'The application ended: its event channel was not read and more events were waiting than the gateway keeps. Every event it kept was delivered before this answer; create a new application.';
  if ('refused' in o && o.refused === 'noSession') return 'The application does not exist: create one (POST applications).';
  // The engine's explanations (shared with the CWA door) name no CWA request for the other reasons.
  return cwaErrorOf(o).detail;
}

/** The body of a UCWA error: `{code, subcode, message}`. */
export interface UcwaErrorBody {
  code: string;
  subcode: string;
  message: string;
}

/** A synchronous refusal: the HTTP status and the error body. */
export function ucwaRefusalOf(o: Outcome): { status: number; error: UcwaErrorBody } {
  const u = ucwaErrorOf(o);
  return { status: u.status, error: { code: u.code, subcode: u.subcode ?? 'None', message: ucwaMessageOf(o) } };
}

/**
 * The `reason` of an operation that completed with `status: Failure` (an event): a failure
 * keeps its code (`RemoteFailure`); a refusal that arrives after the request was accepted
 * (a message the engine could not send) reads as `LocalFailure` with the refusal's subcode.
 */
export function ucwaReasonOf(o: Outcome | PhrasedError | undefined): UcwaErrorBody {
  if (o === undefined) return { code: 'LocalFailure', subcode: 'None', message: 'The operation failed.' };
  if ('code' in o) return { code: 'LocalFailure', subcode: 'None', message: o.detail };
  const u = ucwaErrorOf(o);
  return { code: 'failed' in o ? u.code : 'LocalFailure', subcode: u.subcode ?? 'None', message: ucwaMessageOf(o) };
}
