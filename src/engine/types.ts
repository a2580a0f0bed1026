// The domain's vocabulary: typed requests, events and answers. The engine works
// with these only; protocol/ turns them into and out of XML.
import type { Outcome, PhrasedError, SessionEndReason } from './outcomes.js';
import type { UserDataEvent, UserDataRequest } from './user-data-types.js';
export type { Outcome, PhrasedError, SessionEndReason } from './outcomes.js';

export interface ImMessage {
  format?: string;
  content: string;
}

export type ConferenceAction =
  | { type: 'initiateImSession'; uris: string[]; confUri?: string; message?: ImMessage; subject?: string }
  | { type: 'acceptImSession' }
  | { type: 'terminateImSession' }
  | { type: 'sendMessage'; message: ImMessage }
  | { type: 'notifyComposing'; state: 'composing' | 'idle' }
  | { type: 'inviteParticipants'; uris: string[] }
  | { type: 'ejectParticipant'; uri: string }
  | { type: 'promoteParticipant'; uri: string }
  | { type: 'lock'; locked: boolean }
  | { type: 'sendInfo'; contentType: string; content: string }
  /** voIPRedirect, voIPTerminate, voIPReplyWithIM: validated, then refused (this gateway carries no voice). */
  | { type: 'voip'; name: string }
  /** A request the reference names that this gateway does not carry out (yet). */
  | { type: 'unsupported'; name: string };

export interface SessionOptions {
  autoPublishMachineState: boolean;
  autoSubscribePresenceForContacts: boolean;
  /** categoryEventFilter/@rawCategories: raw category names this session wants from others. */
  rawCategories?: string[];
}

export type CwaRequest =
  | {
      kind: 'initiateSession';
      rid: string;
      localeId?: number;
      securityMode?: 'public' | 'private';
      userStateAvailability?: number;
      options: SessionOptions;
      signInData?: string;
      /** The door opening the session (default 'cwa'). */
      dialect?: 'cwa' | 'ucwa';
    }
  | { kind: 'terminateSession'; rid: string }
  | { kind: 'conference'; rid?: string; confId: number; action: ConferenceAction }
  | UserDataRequest
  /** A top-level request the reference names that this gateway does not carry out (yet). */
  | { kind: 'unsupported'; rid?: string; name: string };

export interface LogonRequest {
  user?: string;
  password?: string;
  uri?: string;
}

export type ImSessionState = 'connected' | 'incoming' | 'connecting' | 'terminated';
export type EscalationMode = 'invitingPeer' | 'peer' | 'escalating' | 'escalated' | 'none';
export type Role = 'attendee' | 'presenter';

export type ConferenceEventBody =
  | { type: 'initiateImSessionAccepted'; rid: string; confId: number }
  | {
      type: 'imSessionReceived';
      inviter: { uri: string; name?: string; sourceNetwork: string };
      role: Role;
      escalationMode: EscalationMode;
      subject?: string;
      message?: ImMessage;
      /** The conversation's id (UCC session property 10000), the same through escalation. */
      conversationId: string;
    }
  | { type: 'imSessionState'; state: ImSessionState }
  | { type: 'messageReceived'; sender: string; message: ImMessage }
  | { type: 'messageIdReceived'; rid: string; messageId: string }
  | { type: 'messageSendFailed'; rid?: string; messageId: string; error?: Outcome }
  | { type: 'composingState'; uri: string; state: 'composing' | 'idle' }
  | { type: 'escalationMode'; mode: EscalationMode }
  | { type: 'role'; role: Role }
  | { type: 'participant'; uri: string; name?: string; role?: Role }
  | { type: 'participantRemoved'; uri: string }
  | { type: 'inviteFailed'; uri: string }
  | { type: 'locked'; locked: boolean }
  | { type: 'confUri'; uri: string }
  /** Gateway extension: a sendInfo from another participant. */
  | { type: 'infoReceived'; sender: string; contentType: string; content: string };

export interface ConfigurationData {
  enableAppearOffline: boolean;
  composingRefreshS: number;
  composingTimeoutS: number;
  userNotice?: string;
  /** Default search settings told to the client (`and`/`or`, and the fields as the reference's digit string). */
  searchDefaultFunction: 'and' | 'or';
  searchDefaultFields: string;
}

export type CwaEvent =
  | { kind: 'conference'; confId: number; body: ConferenceEventBody }
  | { kind: 'configuration'; data: ConfigurationData }
  | UserDataEvent
  | { kind: 'requestSucceeded'; rid: string }
  /** A request accepted earlier failed (a door may hand an error it phrased itself through here). */
  | { kind: 'requestFailed'; rid: string; error: Outcome | PhrasedError }
  /** The last event of a session the gateway ended; the reason is the outcome the door renders. */
  | { kind: 'sessionTerminated'; reason: SessionEndReason };


/** A synchronous answer to one request of a batch. */
export type ResponseItem =
  | { type: 'requestAccepted'; rid: string; session?: { sid: number; uri: string; pollWaitTime: number } }
  | { type: 'initiateImSessionAccepted'; rid: string; confId: number }
  | { type: 'requestFailed'; rid: string; error: Outcome }
  /** A request its door could not decode (refused before the engine saw it). */
  | { type: 'requestInvalid'; rid: string; error: Outcome }
  | { type: 'logonSucceeded'; uri: string; signInData: string };

