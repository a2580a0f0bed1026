// The vocabulary of contacts, presence, access control and search: what the requests
// carry in, what the events carry out, and the records the store keeps.

/**
 * A piece of XML the gateway passes through without understanding it all (category
 * payloads). The same shape as the request parser's tree, so a parsed payload is one.
 */
export interface XmlFragment {
  name: string;
  /** Namespace URI ('' for none). */
  ns: string;
  attrs: Record<string, string>;
  /** Namespace URI of the attributes that have one. */
  attrNs?: Record<string, string>;
  children: XmlFragment[];
  text: string;
}

export type SourceNetwork = 'domain' | 'sameEnterprise' | 'publicCloud' | 'federated';
export type MemberType = 'uri' | 'everyone' | 'domain' | 'sameEnterprise' | 'publicCloud' | 'federated';
export type ExpireType = 'static' | 'user' | 'endpoint' | 'time';

// ---- records (kept by the store) -------------------------------------------------------

export interface GroupRecord {
  id: number;
  name: string;
  externalUri: string;
}

export interface ContactRecord {
  uri: string;
  name: string;
  subscribed: boolean;
  tag: boolean;
  groups: number[];
}

export interface ContactList {
  deltaNum: number;
  groups: GroupRecord[];
  contacts: ContactRecord[];
}

export interface ContainerMember {
  type: MemberType;
  /** '' for the scope types (sameEnterprise, federated, publicCloud, everyone). */
  value: string;
}

export interface ContainerRecord {
  id: number;
  members: ContainerMember[];
}

export interface SubscriberRecord {
  /** The watcher's SIP URI. */
  uri: string;
  displayName?: string;
  sourceNetwork?: SourceNetwork;
  acknowledged: boolean;
}

/** A published well-known category instance (note, contactCard, calendarData, …). */
export interface CategoryRecord {
  name: string;
  instance: number;
  version: number;
  publishTime: string;
  /** The payload element; absent for an empty instance. */
  payload?: XmlFragment;
}

export interface RawCategoryRecord {
  name: string;
  nameSpace: string;
  instance: number;
  container: string;
  version: number;
  publishTime: string;
  endpointId: string;
  expireType: ExpireType;
  expires?: string;
  payload: XmlFragment[];
}

// ---- requests ---------------------------------------------------------------------------

export interface ContactInput {
  uri: string;
  name?: string;
  subscribed?: boolean;
  tag?: boolean;
  /** Absent: the attribute was omitted; []: present and empty. */
  groups?: number[];
}

export interface GroupInput {
  id?: number;
  name?: string;
  externalUri?: string;
}

export interface CategoryInput {
  name: string;
  instanceMask: number;
  expires?: string;
  payload?: XmlFragment;
}

export interface RawCategoryInput {
  name: string;
  nameSpace: string;
  instanceMask: number;
  container: string;
  expireType: ExpireType;
  expires?: string;
  payload: XmlFragment[];
}

export interface SearchInput {
  firstName: string[];
  lastName: string[];
  displayName: string[];
  emailAlias: string[];
  function?: 'and' | 'or';
}

export type UserDataRequest =
  | { kind: 'addContact'; rid: string; contact: ContactInput }
  | { kind: 'updateContact'; rid: string; contact: ContactInput }
  | { kind: 'deleteContact'; rid: string; uri: string }
  | { kind: 'addGroup'; rid: string; group: GroupInput }
  | { kind: 'updateGroup'; rid: string; group: GroupInput }
  | { kind: 'deleteGroup'; rid: string; group: GroupInput }
  | { kind: 'publishSelfPresence'; rid: string; categories: CategoryInput[] }
  | { kind: 'publishRawCategories'; rid: string; categories: RawCategoryInput[] }
  | { kind: 'queryPresence'; rid: string; uris: string[] }
  | { kind: 'subscribePresence'; rid: string; uris: string[] }
  | { kind: 'unsubscribePresence'; rid: string; uris: string[] }
  | { kind: 'updateContainer'; rid: string; id: number; add: ContainerMember[]; remove: ContainerMember[] }
  | { kind: 'containers'; rid: string }
  | { kind: 'acknowledgeSubscriber'; rid: string; uris: string[] }
  | { kind: 'search'; rid: string; query: SearchInput };

// ---- events -----------------------------------------------------------------------------

export type ChangeAction = 'added' | 'updated' | 'deleted';

export interface ContactGroupData {
  fullList?: boolean;
  deltaNum: number;
  groups: Array<{ id: number; name?: string; externalUri?: string; action?: ChangeAction }>;
  contacts: Array<Partial<ContactRecord> & { uri: string; action?: ChangeAction }>;
}

export interface Phone {
  type: string;
  uri: string;
  displayString: string;
}

/** What a cwaCategory carries, as the engine knows it; rendered by protocol/. */
export type CategoryPayload =
  | { type: 'xml'; xml: XmlFragment }
  | {
      type: 'aggregateState';
      availability: number;
      /** Activity elements of the user state that decided the aggregate, else a token. */
      activity: XmlFragment[] | string;
    }
  | {
      type: 'contactCard';
      displayName?: string;
      email?: string;
      company?: string;
      title?: string;
      office?: string;
      phones: Phone[];
    }
  | { type: 'services'; uri: string; availability: number };

export interface CategoryView {
  name: string;
  instance: number;
  version?: number;
  publishTime?: string;
  /** Absent: an empty instance (`<cwaCategory name="calendarData" instance="0"/>`). */
  payload?: CategoryPayload;
}

/** One presentity as one watcher may see it. Shared by every watcher at the same level. */
export interface PresenceUserView {
  uri: string;
  sourceNetwork?: SourceNetwork;
  categories: CategoryView[];
}

export interface RawUserView {
  uri: string;
  sourceNetwork?: SourceNetwork;
  categories: RawCategoryRecord[];
}

export interface SearchUser {
  uri: string;
  displayName?: string;
  title?: string;
  office?: string;
  phone?: string;
  homePhone?: string;
  cellPhone?: string;
  otherPhone?: string;
  company?: string;
  city?: string;
  state?: string;
  country?: string;
  email?: string;
}

export type UserDataEvent =
  | { kind: 'contactGroup'; data: ContactGroupData }
  | { kind: 'selfPresence'; categories: CategoryView[] }
  | { kind: 'userPresence'; users: PresenceUserView[] }
  | { kind: 'presenceSubscriptionState'; users: Array<{ uri: string; state: 'subscribed' | 'retrying' | 'terminated' }> }
  | { kind: 'selfRawCategories'; categories: RawCategoryRecord[] }
  | { kind: 'userRawCategories'; users: RawUserView[] }
  | { kind: 'containers'; containers: ContainerRecord[] }
  | { kind: 'subscribers'; subscribers: SubscriberRecord[] }
  | { kind: 'searchResult'; rid: string; moreAvailable: boolean; users: SearchUser[] };
