// The CWA door's reading of the engine's outcomes: each reason of the catalogue
// (engine/outcomes.ts) as the 18xxx error, and for the failures the SIP response, the
// gateway has always answered with (see docs/compatibility.md for the codes).
import type { FailureReason, Outcome, PhrasedError, PlainRefusal, Reason, SessionEndReason } from '../engine/outcomes.js';
import { cwaError, ErrorCode, type CwaError, type ErrorCodeValue, sipFailure } from './cwa-errors.js';

const PLAIN: Record<PlainRefusal, CwaError> = {
  noSession: cwaError(ErrorCode.SessionNotFound, 'No active session: send initiateSession first, and the sid it returned.'),
  userGone: cwaError(ErrorCode.SessionNotFound, 'The signed-in user no longer exists.'),
  notConnected: cwaError(ErrorCode.InvalidOperation, 'The conversation is not connected.'),
  notConnectedYet: cwaError(ErrorCode.InvalidOperation, 'The conversation is not connected yet.'),
  escalating: cwaError(ErrorCode.InvalidOperation, 'The conversation is being escalated to a conference: send again once it is.'),
  alreadyJoined: cwaError(ErrorCode.InvalidOperation, 'This session already takes part in that conference.'),
  conferenceLocked: cwaError(ErrorCode.InvalidOperation, 'The conference is locked: no new participants can be invited.'),
  notAConference: cwaError(ErrorCode.InvalidOperation, 'Roles, eject and lock apply to multi-party conferences, not to a one-to-one conversation.'),
  notPresenter: cwaError(ErrorCode.InvalidOperation, 'Only a presenter (leader) of the conference may do this.'),
  cannotEjectSelf: cwaError(ErrorCode.InvalidOperation, 'A presenter cannot eject itself: use terminateImSession to leave.'),
  noInvitee: cwaError(ErrorCode.InvalidRequest, 'Name at least one other participant in uris.'),
  emptyMessage: cwaError(ErrorCode.InvalidRequest, 'The message content is empty.'),
  noPresenceEndpoint: cwaError(ErrorCode.InvalidOperation, 'The session has no presence endpoint.'),
  appearOfflineDisabled: cwaError(ErrorCode.InvalidOperation, 'Appear Offline is disabled on this gateway.'),
};

/** The SIP response of each failure (wrapped in 18201, the documented shape of an OCS failure). */
export const FAILURE_SIP: Record<FailureReason, { code: number; reason: string }> = {
  unknownUser: { code: 404, reason: 'Not Found' },
  conferenceGone: { code: 404, reason: 'Not Found' },
  conferenceLockedOut: { code: 403, reason: 'Forbidden' },
  notSignedIn: { code: 480, reason: 'Temporarily Unavailable' },
  busy: { code: 486, reason: 'Busy Here' },
  declined: { code: 603, reason: 'Decline' },
  noAnswer: { code: 408, reason: 'Request Timeout' },
  notDelivered: { code: 480, reason: 'Temporarily Unavailable' },
  duplicateGroup: { code: 485, reason: 'Duplicate group name' },
  groupNotFound: { code: 404, reason: 'Group not found' },
  contactNotFound: { code: 404, reason: 'Contact not found' },
  groupProtected: { code: 403, reason: 'Forbidden' },
  tooManyContacts: { code: 413, reason: 'Request Entity Too Large' },
  tooManyMembers: { code: 413, reason: 'Request Entity Too Large' },
  subscriberNotFound: { code: 404, reason: 'Subscriber not found' },
};
const FAILED = Object.fromEntries(
  Object.entries(FAILURE_SIP).map(([reason, sip]) => [reason, sipFailure(sip.code, sip.reason)]),
) as Record<FailureReason, CwaError>;

const ENDED: Record<SessionEndReason, CwaError> = {
  eventLogOverflow: cwaError(ErrorCode.InternalFailure, 'The session was ended: its unacknowledged events exceeded the event log bound.'),
  timeout: cwaError(ErrorCode.SessionNotFound, 'The session was ended after being idle longer than the session timeout.'),
  terminated: cwaError(ErrorCode.SessionNotFound, 'The session was terminated.'),
  shutdown: cwaError(ErrorCode.InternalFailure, 'The gateway is shutting down.'),
};

/** The `error` element (code, reason, detail, SIP response) the CWA door answers an outcome with. */
export function cwaErrorOf(o: Outcome | PhrasedError): CwaError {
  if ('code' in o) return o as CwaError; // phrased by this door already
  if ('failed' in o) return FAILED[o.failed];
  if ('ended' in o) return ENDED[o.ended];
  switch (o.refused) {
    case 'tooManySessions':
      return cwaError(ErrorCode.InvalidOperation, `This user already has ${o.max} sessions, the most the gateway allows: end one with terminateSession first.`);
    case 'tooManyConversations':
      return cwaError(ErrorCode.InvalidOperation, `This session already takes part in ${o.max} conversations, the most allowed.`);
    case 'tooManyParticipants':
      return cwaError(ErrorCode.InvalidOperation, `A conversation may have at most ${o.max} participants (joined or invited).`);
    case 'messageTooLong':
      return cwaError(ErrorCode.InvalidRequest, `The message is longer than ${o.max} characters.`);
    case 'noSuchConversation':
      return cwaError(ErrorCode.InvalidOperation, `There is no conversation with confId ${o.confId} in this session.`);
    case 'confIdReassigned': {
      const given = o.granted === undefined ? 'which failed' : `which was given confId ${o.granted}`;
      return cwaError(
        ErrorCode.InvalidOperation,
        `confId ${o.confId} no longer names its conversation in requests: initiateImSession rid="${o.rid}" asked for it for another conversation (${given}). ` +
          'Use the confId the gateway returns in initiateImSessionAccepted.',
      );
    }
    case 'notAParticipant':
      return cwaError(ErrorCode.InvalidOperation, `${o.uri} is not a participant of this conference.`);
    case 'recipientsBehind':
      return cwaError(
        ErrorCode.RequestThrottled,
        `The message was not sent: ${o.uris.join(', ')} has not yet read what was sent before. Send it again in a moment.`,
      );
    case 'voiceNotSupported':
      return cwaError(ErrorCode.InvalidOperation, `${o.name}: voice calls are not supported by this gateway (instant messaging only).`);
    case 'notSupported':
      return cwaError(ErrorCode.InvalidOperation, `${o.name} is not supported by this gateway yet.`);
    case 'unknownRequest':
      return cwaError(ErrorCode.InvalidRequest, `unknown request element ${o.name}`);
    case 'invalidInput':
      return cwaError(ErrorCode.InvalidRequest, o.detail);
    default:
      return PLAIN[o.refused];
  }
}

/** The 18xxx code of each reason (what cwa_errors_total counts an outcome as). */
export const CWA_CODE: Record<Reason, ErrorCodeValue> = {
  ...(Object.fromEntries(Object.entries(PLAIN).map(([r, e]) => [r, e.code])) as Record<PlainRefusal, ErrorCodeValue>),
  tooManySessions: ErrorCode.InvalidOperation,
  tooManyConversations: ErrorCode.InvalidOperation,
  tooManyParticipants: ErrorCode.InvalidOperation,
  messageTooLong: ErrorCode.InvalidRequest,
  noSuchConversation: ErrorCode.InvalidOperation,
  confIdReassigned: ErrorCode.InvalidOperation,
  notAParticipant: ErrorCode.InvalidOperation,
  recipientsBehind: ErrorCode.RequestThrottled,
  voiceNotSupported: ErrorCode.InvalidOperation,
  notSupported: ErrorCode.InvalidOperation,
  unknownRequest: ErrorCode.InvalidRequest,
  invalidInput: ErrorCode.InvalidRequest,
  ...(Object.fromEntries(Object.keys(FAILURE_SIP).map((r) => [r, ErrorCode.OcsFailure])) as Record<FailureReason, ErrorCodeValue>),
  ...(Object.fromEntries(Object.entries(ENDED).map(([r, e]) => [r, e.code])) as Record<SessionEndReason, ErrorCodeValue>),
};
