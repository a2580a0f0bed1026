// What the engine needs from the layers below it: a place to queue events, a user
// directory and a store for what users own. All are interfaces so other implementations
// drop in (store/ holds the stores).
import type { UserRecord } from '../users/directory.js';
import type { CwaEvent } from './types.js';
import type {
  CategoryRecord,
  ContactList,
  ContactRecord,
  ContainerMember,
  ContainerRecord,
  GroupRecord,
  RawCategoryRecord,
  SubscriberRecord,
} from './user-data-types.js';

export interface Delivery {
  sid: number;
  event: CwaEvent;
  /**
   * A confirmation (messageIdReceived) of events queued for these sessions in the same
   * delivery: when one of their logs overflows on them, `instead` is queued in its place.
   */
  unlessOverflowed?: { sids: number[]; instead: CwaEvent };
}

/** A session's unacknowledged events. */
export interface Backlog {
  events: number;
  bytes: number;
}

export interface EventSink {
  openSession(sid: number): Promise<void>;
  /**
   * Queues events, keeping their order per session (each session's share of one call
   * is appended atomically). Gives the sids whose logs overflowed and were closed: at once
   * when the logs are in memory (the gateway's: no promise per delivery), else a promise.
   */
  deliver(items: Delivery[]): readonly number[] | Promise<readonly number[]>;
  /** The session's unacknowledged events (undefined for an unknown log, or a sink that cannot tell); at once when it can. */
  backlog?(sid: number): Backlog | undefined | Promise<Backlog | undefined>;
  /** Ends a session's log with a terminal event; it stays readable until removed. */
  closeSession(sid: number, terminal: CwaEvent): Promise<void>;
  removeSession(sid: number): Promise<void>;
}

/** A user of the directory (the user store's record; it carries no credentials). */
export type DirectoryUser = UserRecord;

export interface Directory {
  findByUri(uri: string): DirectoryUser | undefined;
  findByLogonName(name: string): DirectoryUser | undefined;
  /** Every user (directory search, enterprise domains). */
  all(): DirectoryUser[];
  authenticate(user: string, password: string): Promise<DirectoryUser | null>;
}

// ---- the user data store --------------------------------------------------------------
//
// What users own and what must survive a restart: contact lists, groups, containers
// (ACL) and their members, subscribers and their acknowledgements, persistent presence
// categories and static raw categories. Sessions, machine state and subscriptions are not
// here: they live and die with the process (or, later, in Redis with a TTL).
//
// Every method is async so a networked implementation (Redis) fills the same interface.
// Each write is atomic: it is applied whole or not at all. Owners are keyed by their SIP
// URI in lower case; the engine normalises before calling.

/** The defaults a new owner starts with (the `~` group, the bootstrap containers). */
export interface OwnerSeed {
  groups: GroupRecord[];
  containers: ContainerRecord[];
}

/** One atomic change of a contact list; the owner's deltaNum grows by one. */
export interface ContactListChange {
  putGroups?: GroupRecord[];
  deleteGroups?: number[];
  putContacts?: ContactRecord[];
  /** By URI, compared without case. */
  deleteContacts?: string[];
}

export interface CategoryKey {
  name: string;
  instance: number;
}

export interface RawCategoryKey {
  name: string;
  instance: number;
  container: string;
}

export interface UserDataStore {
  /** Short description for logs: `memory`, `sqlite:/path/file`. */
  readonly description: string;

  /** Creates the owner with `seed` if it does not exist yet; true when it was created. */
  initOwner(owner: string, seed: OwnerSeed): Promise<boolean>;
  hasOwner(owner: string): Promise<boolean>;

  // ---- contacts and groups ----
  contactList(owner: string): Promise<ContactList>;
  /** A group id never handed out before for this owner. */
  allocateGroupId(owner: string): Promise<number>;
  /** Applies the change and returns the new deltaNum. */
  changeContactList(owner: string, change: ContactListChange): Promise<number>;

  // ---- containers ----
  containers(owner: string): Promise<ContainerRecord[]>;
  /** Adds then removes members (duplicates ignored); returns the container as it now is. */
  updateContainer(owner: string, id: number, add: ContainerMember[], remove: ContainerMember[]): Promise<ContainerRecord>;

  // ---- subscribers (watchers of the owner) ----
  subscribers(owner: string): Promise<SubscriberRecord[]>;
  putSubscriber(owner: string, subscriber: SubscriberRecord): Promise<void>;

  // ---- persistent presence categories ----
  categories(owner: string): Promise<CategoryRecord[]>;
  changeCategories(owner: string, put: CategoryRecord[], remove: CategoryKey[]): Promise<void>;

  // ---- static raw categories ----
  rawCategories(owner: string): Promise<RawCategoryRecord[]>;
  changeRawCategories(owner: string, put: RawCategoryRecord[], remove: RawCategoryKey[]): Promise<void>;

  close(): Promise<void>;
}
