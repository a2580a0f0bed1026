/**
 * A typed client for browsers and Node 20: sign-in, conversations, presence, contacts, access
 * control, watchers, directory search, typed errors, retries and resuming. Published as the
 * package `@cwa-gateway/client` and as `cwa-gateway/client` (the same library); the browser
 * bundle is `dist/browser/cwa-gateway-client.js`.
 *
 * @module cwa-gateway/client
 */
export {
  CwaClient,
  type ConnectionLost,
  type CwaClientEvents,
  type CwaClientOptions,
  type Resumed,
  type SessionLost,
  type SignedInAgain,
  type SignInOptions,
} from './client.js';
export { ImSession, SessionManager, type ConferenceRunner, type ImMessage, type ImSessionState, type Participant } from './conversations.js';
export {
  CwaClientError,
  CwaRequestError,
  GatewayUnreachableError,
  NetworkError,
  NotAuthenticatedError,
  NotSignedInError,
  RequestFailedError,
  SignInRejectedError,
  SIP_MEANINGS,
  SipError,
  sipMeaning,
  ThrottledError,
  type SipStatus,
} from './errors.js';
export type { EndReason, TransportName, TransportPreference } from './event-channel.js';
export { DEFAULT_BACKOFF, DEFAULT_RETRY, type BackoffPolicy, type Inspector, type RetryPolicy } from './http.js';
export { webSocketSupport, type WebSocketCtor, type WebSocketLike, type WebSocketSupport } from './websocket.js';
export type { RequestRunner } from './requests.js';
export { parseXml, XmlSyntaxError, type XmlElement } from './xml.js';
export type { Unsubscribe } from './emitter.js';
export { ContactList, DEFAULT_GROUP, type AddContactOptions, type Contact, type ContactGroup } from './contacts.js';
export { AVAILABILITY_NUMBERS, availabilityOf, Presence, type Availability, type PresenceInfo, type SubscriptionState } from './presence.js';
export { Directory, type DirectoryUser, type SearchQuery, type SearchResult } from './search.js';
export {
  AccessControl,
  CONTAINERS,
  Watchers,
  type Container,
  type ContainerChange,
  type ContainerMember,
  type MemberType,
  type Watcher,
} from './access.js';
