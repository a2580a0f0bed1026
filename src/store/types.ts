// What users own and what must survive a restart: contact lists, groups, containers
// (ACL) and their members, subscribers and their acknowledgements, persistent presence
// categories and static raw categories. Sessions, machine state and subscriptions are not
// here: they live and die with the process (or, later, in Redis with a TTL).
//
// Every method is async so a networked implementation (Redis) fills the same interface.
// Each write is atomic: it is applied whole or not at all. Owners are keyed by their SIP
// URI in lower case; the engine normalises before calling.
import type {
  CategoryRecord,
  ContactList,
  ContactRecord,
  ContainerMember,
  ContainerRecord,
  GroupRecord,
  RawCategoryRecord,
  SubscriberRecord,
} from '../engine/user-data-types.js';

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
