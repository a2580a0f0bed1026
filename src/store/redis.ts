// Users' durable data on Redis: the same contract as the memory and SQLite stores.
//
// Per owner (hash tag {o:<owner>} keeps an owner's keys in one Cluster slot):
//   <p>{o:owner}        hash  init, ver, list (ContactList JSON), next (next group id), containers (JSON)
//   <p>{o:owner}:subs   hash  lower-case watcher URI -> SubscriberRecord JSON; :subo zset keeps their order
//   <p>{o:owner}:cat    hash  name \0 instance -> CategoryRecord JSON
//   <p>{o:owner}:raw    hash  name \0 instance \0 container -> RawCategoryRecord JSON
// The contact list and containers change by optimistic concurrency: read with the version,
// compute with the rules every store shares (rules.ts), write with a Lua compare-and-set
// that bumps the version; a concurrent writer's CAS fails and it retries on fresh data.
// That is what SQLite's transactions give, without a connection held per transaction.
// Durable data has no TTL.
import type { Redis } from 'ioredis';
import type {
  CategoryRecord,
  ContactList,
  ContainerMember,
  ContainerRecord,
  RawCategoryRecord,
  SubscriberRecord,
} from '../engine/user-data-types.js';
import { applyContactListChange, sameMember, sortContainers } from './rules.js';
import type { CategoryKey, ContactListChange, OwnerSeed, RawCategoryKey, UserDataStore } from './types.js';
import { guarded } from './unavailable.js';

/** KEYS owner; ARGV expectedVersion ('' = none yet) field value ... -> 1 written, 0 conflict. */
const CAS = `
local v = redis.call('HGET', KEYS[1], 'ver') or ''
if v ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 1
`;

/** KEYS owner -> the group id handed out (the version moves, so a concurrent CAS retries). */
const ALLOCATE_GROUP = `
local n = tonumber(redis.call('HGET', KEYS[1], 'next') or '1')
redis.call('HSET', KEYS[1], 'next', n + 1)
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return n
`;

/** KEYS subs order; ARGV key json: insert or replace, first insertion fixes the position. */
const PUT_SUBSCRIBER = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], (tonumber(last[2]) or 0) + 1, ARGV[1])
end
return 1
`;

const SCRIPTS = { cwaStoreCas: [1, CAS], cwaStoreAllocateGroup: [1, ALLOCATE_GROUP], cwaStorePutSubscriber: [2, PUT_SUBSCRIBER] } as const;
type Scripted = Record<string, (...args: Array<string | number>) => Promise<unknown>>;

/** How many times a write retries after losing a compare-and-set to a concurrent writer. */
const MAX_ATTEMPTS = 50;

const EMPTY_LIST: ContactList = { deltaNum: 0, groups: [], contacts: [] };

interface OwnerState {
  ver: string;
  init: boolean;
  list: ContactList;
  next: number;
  containers: Record<string, ContainerMember[]>;
}

const catKey = (k: { name: string; instance: number }) => `${k.name}\u0000${k.instance}`;
const rawKey = (k: RawCategoryKey) => `${k.name}\u0000${k.instance}\u0000${k.container}`;

export class RedisUserDataStore implements UserDataStore {
  readonly description: string;
  /** The last write queued per owner in this process. */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'cwa:',
    description = 'redis',
  ) {
    this.description = description;
    for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
  }

  private key(owner: string, suffix = ''): string {
    return `${this.prefix}{o:${owner}}${suffix}`;
  }

  private script(name: keyof typeof SCRIPTS, ...args: Array<string | number>): Promise<unknown> {
    return guarded((this.redis as unknown as Scripted)[name]!(...args));
  }

  private async state(owner: string): Promise<OwnerState> {
    const [ver, init, list, next, containers] = await guarded(this.redis.hmget(this.key(owner), 'ver', 'init', 'list', 'next', 'containers'));
    return {
      ver: ver ?? '',
      init: init === '1',
      list: list ? (JSON.parse(list) as ContactList) : structuredClone(EMPTY_LIST),
      next: next ? Number(next) : 1,
      containers: containers ? (JSON.parse(containers) as Record<string, ContainerMember[]>) : {},
    };
  }

  /**
   * Read-compute-write under the owner's version. `compute` returns the fields to write and
   * a result, or undefined to write nothing.
   */
  private transact<T>(owner: string, compute: (s: OwnerState) => { fields?: Record<string, string>; result: T }): Promise<T> {
    // Writers of one owner in this process take turns, so only other processes can make a
    // compare-and-set fail; then it backs off a random while and tries again on fresh data.
    const run = (this.turns.get(owner) ?? Promise.resolve()).then(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const s = await this.state(owner);
        const { fields, result } = compute(s);
        if (!fields) return result;
        const args = Object.entries(fields).flat();
        if (Number(await this.script('cwaStoreCas', this.key(owner), s.ver, ...args)) === 1) return result;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50)));
      }
      throw new Error(`store: too many concurrent writers for ${owner}`);
    });
    const turn = run.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(owner, turn);
    void turn.then(() => {
      if (this.turns.get(owner) === turn) this.turns.delete(owner);
    });
    return run;
  }

  async initOwner(owner: string, seed: OwnerSeed): Promise<boolean> {
    return this.transact(owner, (s) => {
      if (s.init) return { result: false };
      const containers = { ...s.containers };
      for (const c of seed.containers) containers[c.id] = structuredClone(c.members);
      const list: ContactList = { deltaNum: 1, groups: structuredClone(seed.groups), contacts: s.list.contacts };
      const next = Math.max(0, ...seed.groups.map((g) => g.id)) + 1;
      return { fields: { init: '1', list: JSON.stringify(list), next: String(next), containers: JSON.stringify(containers) }, result: true };
    });
  }

  async hasOwner(owner: string): Promise<boolean> {
    return (await guarded(this.redis.hget(this.key(owner), 'init'))) === '1';
  }

  async contactList(owner: string): Promise<ContactList> {
    return (await this.state(owner)).list;
  }

  async allocateGroupId(owner: string): Promise<number> {
    return Number(await this.script('cwaStoreAllocateGroup', this.key(owner)));
  }

  async changeContactList(owner: string, change: ContactListChange): Promise<number> {
    return this.transact(owner, (s) => {
      const list = applyContactListChange(s.list, structuredClone(change));
      const next = Math.max(s.next, ...(change.putGroups ?? []).map((g) => g.id + 1));
      return { fields: { list: JSON.stringify(list), next: String(next) }, result: list.deltaNum };
    });
  }

  async containers(owner: string): Promise<ContainerRecord[]> {
    const { containers } = await this.state(owner);
    return sortContainers(Object.entries(containers).map(([id, members]) => ({ id: Number(id), members })));
  }

  async updateContainer(owner: string, id: number, add: ContainerMember[], remove: ContainerMember[]): Promise<ContainerRecord> {
    return this.transact(owner, (s) => {
      let members = [...(s.containers[id] ?? [])];
      for (const m of add) if (!members.some((x) => sameMember(x, m))) members.push({ ...m });
      members = members.filter((x) => !remove.some((m) => sameMember(x, m)));
      const containers = { ...s.containers, [id]: members };
      return { fields: { containers: JSON.stringify(containers) }, result: { id, members: structuredClone(members) } };
    });
  }

  async subscribers(owner: string): Promise<SubscriberRecord[]> {
    const order = await guarded(this.redis.zrange(this.key(owner, ':subo'), '0', '-1'));
    if (order.length === 0) return [];
    const values = await guarded(this.redis.hmget(this.key(owner, ':subs'), ...order));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as SubscriberRecord);
  }

  async putSubscriber(owner: string, subscriber: SubscriberRecord): Promise<void> {
    await this.script('cwaStorePutSubscriber', this.key(owner, ':subs'), this.key(owner, ':subo'), subscriber.uri.toLowerCase(), JSON.stringify(subscriber));
  }

  async categories(owner: string): Promise<CategoryRecord[]> {
    const all = await guarded(this.redis.hvals(this.key(owner, ':cat')));
    return all.map((v) => JSON.parse(v) as CategoryRecord).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.instance - b.instance));
  }

  async changeCategories(owner: string, put: CategoryRecord[], remove: CategoryKey[]): Promise<void> {
    await this.changeHash(this.key(owner, ':cat'), remove.map(catKey), put.map((c) => [catKey(c), JSON.stringify(c)]));
  }

  async rawCategories(owner: string): Promise<RawCategoryRecord[]> {
    const all = await guarded(this.redis.hvals(this.key(owner, ':raw')));
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return all
      .map((v) => JSON.parse(v) as RawCategoryRecord)
      .sort((a, b) => cmp(a.name, b.name) || a.instance - b.instance || cmp(a.container, b.container));
  }

  async changeRawCategories(owner: string, put: RawCategoryRecord[], remove: RawCategoryKey[]): Promise<void> {
    await this.changeHash(this.key(owner, ':raw'), remove.map(rawKey), put.map((r) => [rawKey(r), JSON.stringify(r)]));
  }

  /** Deletes then puts, in one MULTI/EXEC: readers see all of the change or none. */
  private async changeHash(key: string, remove: string[], put: Array<[string, string]>): Promise<void> {
    if (remove.length === 0 && put.length === 0) return;
    const tx = this.redis.multi();
    if (remove.length > 0) tx.hdel(key, ...remove);
    if (put.length > 0) tx.hset(key, ...put.flat());
    const results = await guarded(tx.exec());
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async close(): Promise<void> {
    // The connection belongs to whoever made it (the gateway closes it after the event log).
  }
}
