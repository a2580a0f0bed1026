// The in-memory store: the same contract as the SQLite one (copies in, copies out, so a
// caller can never change stored data by keeping a reference), without durability.
import { refill } from '../engine/state-io.js';
import type {
  CategoryRecord,
  ContactList,
  ContainerMember,
  ContainerRecord,
  RawCategoryRecord,
  SubscriberRecord,
} from '../engine/user-data-types.js';
import type { CategoryKey, ContactListChange, OwnerSeed, RawCategoryKey, UserDataStore } from './types.js';
import { applyContactListChange, sameMember, sortContainers } from './rules.js';

interface OwnerData {
  list: ContactList;
  nextGroupId: number;
  containers: Map<number, ContainerMember[]>;
  subscribers: Map<string, SubscriberRecord>;
  categories: Map<string, CategoryRecord>;
  raw: Map<string, RawCategoryRecord>;
}

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryUserDataStore implements UserDataStore {
  readonly description = 'memory';
  private readonly owners = new Map<string, OwnerData>();
  /** Owners that initOwner created (others may exist through writes, e.g. a subscriber). */
  private readonly initialised = new Set<string>();
  private closed = false;

  exportState(): { owners: Map<string, OwnerData>; initialised: Set<string> } {
    return { owners: this.owners, initialised: this.initialised };
  }

  importState(state: { owners: Map<string, OwnerData>; initialised: Set<string> }): void {
    refill(this.owners, state.owners);
    refill(this.initialised, state.initialised);
  }

  private static empty(): OwnerData {
    return { list: { deltaNum: 0, groups: [], contacts: [] }, nextGroupId: 1, containers: new Map(), subscribers: new Map(), categories: new Map(), raw: new Map() };
  }

  /** For writes: the owner, created empty if unknown. */
  private data(owner: string): OwnerData {
    if (this.closed) throw new Error('the store is closed');
    let d = this.owners.get(owner);
    if (!d) this.owners.set(owner, (d = MemoryUserDataStore.empty()));
    return d;
  }

  /** For reads: an unknown owner reads as empty and is not created. */
  private peek(owner: string): OwnerData {
    if (this.closed) throw new Error('the store is closed');
    return this.owners.get(owner) ?? MemoryUserDataStore.empty();
  }

  async initOwner(owner: string, seed: OwnerSeed): Promise<boolean> {
    if (this.initialised.has(owner)) return false;
    this.initialised.add(owner);
    const d = this.data(owner);
    d.list.groups = copy(seed.groups);
    d.list.deltaNum = 1;
    d.nextGroupId = Math.max(0, ...seed.groups.map((g) => g.id)) + 1;
    for (const c of seed.containers) d.containers.set(c.id, copy(c.members));
    return true;
  }

  async hasOwner(owner: string): Promise<boolean> {
    return this.initialised.has(owner);
  }

  async contactList(owner: string): Promise<ContactList> {
    return copy(this.peek(owner).list);
  }

  async allocateGroupId(owner: string): Promise<number> {
    const d = this.data(owner);
    return d.nextGroupId++;
  }

  async changeContactList(owner: string, change: ContactListChange): Promise<number> {
    const d = this.data(owner);
    d.list = applyContactListChange(d.list, copy(change));
    for (const g of change.putGroups ?? []) d.nextGroupId = Math.max(d.nextGroupId, g.id + 1);
    return d.list.deltaNum;
  }

  async containers(owner: string): Promise<ContainerRecord[]> {
    return sortContainers([...this.peek(owner).containers].map(([id, members]) => ({ id, members: copy(members) })));
  }

  async updateContainer(owner: string, id: number, add: ContainerMember[], remove: ContainerMember[]): Promise<ContainerRecord> {
    const d = this.data(owner);
    let members = d.containers.get(id) ?? [];
    for (const m of add) if (!members.some((x) => sameMember(x, m))) members.push({ ...m });
    members = members.filter((x) => !remove.some((m) => sameMember(x, m)));
    d.containers.set(id, members);
    return { id, members: copy(members) };
  }

  async subscribers(owner: string): Promise<SubscriberRecord[]> {
    return [...this.peek(owner).subscribers.values()].map(copy);
  }

  async putSubscriber(owner: string, subscriber: SubscriberRecord): Promise<void> {
    this.data(owner).subscribers.set(subscriber.uri.toLowerCase(), copy(subscriber));
  }

  async categories(owner: string): Promise<CategoryRecord[]> {
    return [...this.peek(owner).categories.values()].map(copy);
  }

  async changeCategories(owner: string, put: CategoryRecord[], remove: CategoryKey[]): Promise<void> {
    const d = this.data(owner);
    for (const k of remove) d.categories.delete(`${k.name}\u0000${k.instance}`);
    for (const c of put) d.categories.set(`${c.name}\u0000${c.instance}`, copy(c));
  }

  async rawCategories(owner: string): Promise<RawCategoryRecord[]> {
    return [...this.peek(owner).raw.values()].map(copy);
  }

  async changeRawCategories(owner: string, put: RawCategoryRecord[], remove: RawCategoryKey[]): Promise<void> {
    const d = this.data(owner);
    for (const k of remove) d.raw.delete(`${k.name}\u0000${k.instance}\u0000${k.container}`);
    for (const c of put) d.raw.set(`${c.name}\u0000${c.instance}\u0000${c.container}`, copy(c));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
