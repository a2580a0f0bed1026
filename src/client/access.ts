// Access control and watchers in the client. Containers are the CWA's ACL buckets: what a
// watcher may see of the user (presence, note, contact card …) depends on the container they
// fall in (an explicit `uri` member first, then `domain`, then their network, then `everyone`;
// Blocked wins at its rank). Watchers are the people subscribed to the user's presence; a new
// one is announced (`onNewWatcher`) and may be acknowledged — which is not an approval: what
// they see is decided by the containers.
//
//   await client.access.addMember(CONTAINERS.personal, { type: 'uri', value: 'sip:bob@example.com' });
//   await client.access.block('sip:spam@example.net');
//   client.watchers.onNewWatcher((w) => client.watchers.acknowledge(w.uri));
import { Listeners, type Unsubscribe } from './emitter.js';
import { RidWaiters, uriKey, type RequestRunner } from './requests.js';
import { escapeXmlAttr, escapeXmlText, type XmlElement } from './xml.js';

/** The containers every user starts with (Office Communicator's access levels). */
export const CONTAINERS = {
  /** Public (external contacts); members: `federated`. */
  public: 100,
  /** Company (colleagues); members: `sameEnterprise`. */
  company: 200,
  /** Team (workgroup): explicit users. */
  team: 300,
  /** Personal (friends and family): explicit users; they see everything. */
  personal: 400,
  /** Blocked: they see the user offline, with name and e-mail only. */
  blocked: 32000,
} as const;

/** Who a container member stands for: one user, a domain, a whole network, or everyone. */
export type MemberType = 'uri' | 'domain' | 'sameEnterprise' | 'federated' | 'publicCloud' | 'everyone';

export interface ContainerMember {
  type: MemberType;
  /** The SIP URI (`uri`) or the domain name (`domain`); empty for the network-wide types. */
  value: string;
}

export interface Container {
  /** 1–32767; see CONTAINERS for the usual ones. */
  id: number;
  members: ContainerMember[];
}

/** A change of one container: members to add and to remove (both in one request). */
export interface ContainerChange {
  add?: Array<ContainerMember | string>;
  remove?: Array<ContainerMember | string>;
}

const MEMBER_TYPES: readonly MemberType[] = ['uri', 'domain', 'sameEnterprise', 'federated', 'publicCloud', 'everyone'];

/** A member from a SIP URI string (`sip:…`), or the member as given. */
function asMember(m: ContainerMember | string): ContainerMember {
  if (typeof m !== 'string') {
    if (!MEMBER_TYPES.includes(m.type)) throw new TypeError(`unknown member type "${String(m.type)}" (one of ${MEMBER_TYPES.join(', ')})`);
    return m;
  }
  return { type: 'uri', value: m };
}

const sameMember = (a: ContainerMember, b: ContainerMember) => a.type === b.type && a.value.toLowerCase() === b.value.toLowerCase();

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > 32767) throw new RangeError(`a container id is an integer from 1 to 32767 (got ${id})`);
}

/** Waits for the next event named `name` that `matches`, armed before the request that causes it. */
function nextEvent(runner: RequestRunner, name: string, matches: (ev: XmlElement) => boolean): { done: Promise<void>; cancel: () => void } {
  let off: Unsubscribe = () => undefined;
  const done = new Promise<void>((resolve) => {
    off = runner.onEvent((ev) => {
      if (ev.name !== name || !matches(ev)) return;
      off();
      resolve();
    });
  });
  return { done, cancel: off };
}

/** The user's access-control containers and their members. Available as `client.access`. */
export class AccessControl {
  private readonly map = new Map<number, Container>();
  private readonly listeners = new Listeners<[Container[]]>();
  private readonly waiters: RidWaiters;
  /** True once the containers have arrived (they come right after sign-in). */
  loaded = false;

  constructor(private readonly runner: RequestRunner) {
    this.waiters = new RidWaiters(runner);
    runner.onEvent((ev) => {
      if (ev.name === 'containers') this.apply(ev);
    });
  }

  /** Every container, by id. */
  all(): Container[] {
    return [...this.map.values()].sort((a, b) => a.id - b.id);
  }

  get(id: number): Container | undefined {
    return this.map.get(id);
  }

  /** The containers that list this user explicitly (a `uri` member). */
  containersOf(uri: string): Container[] {
    const key = uriKey(uri.includes(':') ? uri : `sip:${uri}`);
    return this.all().filter((c) => c.members.some((m) => m.type === 'uri' && uriKey(m.value) === key));
  }

  /** Containers arrived or changed (with the ones that changed). */
  onChanged(fn: (changed: Container[]) => void): Unsubscribe {
    return this.listeners.add(fn);
  }

  /** Asks the gateway for every container again; resolves with them. */
  async refresh(): Promise<Container[]> {
    const next = nextEvent(this.runner, 'containers', () => true);
    try {
      await this.waiters.run((rid) => `<containers rid="${rid}"/>`);
    } catch (err) {
      next.cancel();
      throw err;
    }
    await next.done;
    return this.all();
  }

  /**
   * Adds and removes members of one container in one request (a string is a user's SIP URI);
   * resolves with the container's full membership once the gateway applied it. Rejects with a
   * RequestFailedError for a bad member, a member both added and removed, or too many members.
   */
  async update(id: number, change: ContainerChange): Promise<Container> {
    checkId(id);
    const add = (change.add ?? []).map(asMember);
    const remove = (change.remove ?? []).map(asMember);
    const members = (tag: string, list: ContainerMember[]) =>
      list.map((m) => `<${tag} type="${escapeXmlAttr(m.type)}" value="${escapeXmlAttr(m.value)}"/>`).join('');
    const next = nextEvent(this.runner, 'containers', (ev) => ev.children.some((c) => c.name === 'container' && Number(c.attrs.id) === id));
    try {
      await this.waiters.run(
        (rid) => `<updateContainer rid="${rid}"><container id="${id}">${members('addMember', add)}${members('deleteMember', remove)}</container></updateContainer>`,
      );
    } catch (err) {
      next.cancel();
      throw err;
    }
    await next.done;
    return this.map.get(id) ?? { id, members: [] };
  }

  addMember(id: number, member: ContainerMember | string): Promise<Container> {
    return this.update(id, { add: [member] });
  }

  removeMember(id: number, member: ContainerMember | string): Promise<Container> {
    return this.update(id, { remove: [member] });
  }

  /** Puts a user in Blocked (32000): they see the user offline, with name and e-mail only. */
  block(uri: string): Promise<Container> {
    return this.addMember(CONTAINERS.blocked, uri);
  }

  unblock(uri: string): Promise<Container> {
    return this.removeMember(CONTAINERS.blocked, uri);
  }

  /** Whether the user is listed in Blocked. */
  isBlocked(uri: string): boolean {
    return this.containersOf(uri).some((c) => c.id === CONTAINERS.blocked);
  }

  private apply(ev: XmlElement): void {
    const changed: Container[] = [];
    for (const c of ev.children) {
      if (c.name !== 'container') continue;
      const id = Number(c.attrs.id);
      if (!Number.isInteger(id)) continue;
      const members = c.children
        .filter((m) => m.name === 'member' && MEMBER_TYPES.includes(m.attrs.type as MemberType))
        .map((m) => ({ type: m.attrs.type as MemberType, value: m.attrs.value ?? '' }));
      const container = { id, members };
      this.map.set(id, container);
      changed.push(container);
    }
    this.loaded = true;
    this.listeners.emit(changed);
  }

  /** Whether `member` is in container `id` (as the client last heard). */
  has(id: number, member: ContainerMember | string): boolean {
    const m = asMember(member);
    return this.map.get(id)?.members.some((x) => sameMember(x, m)) ?? false;
  }
}

/** Someone subscribed to the user's presence. */
export interface Watcher {
  uri: string;
  displayName?: string;
  /** The watcher's network as the gateway sees it. */
  sourceNetwork?: 'domain' | 'sameEnterprise' | 'publicCloud' | 'federated';
  /** Acknowledged (by this or another session of the user). */
  acknowledged: boolean;
}

/** The people watching the user's presence. Available as `client.watchers`. */
export class Watchers {
  private readonly map = new Map<string, Watcher>();
  private readonly changeListeners = new Listeners<[]>();
  private readonly newListeners = new Listeners<[Watcher, { atSignIn: boolean }]>();
  private readonly waiters: RidWaiters;
  /** True once the list has arrived (it comes right after sign-in). */
  loaded = false;

  constructor(private readonly runner: RequestRunner) {
    this.waiters = new RidWaiters(runner);
    runner.onEvent((ev) => {
      if (ev.name === 'subscribers') this.apply(ev);
    });
  }

  /** Everyone known to watch the user. */
  all(): Watcher[] {
    return [...this.map.values()];
  }

  /** Watchers not acknowledged yet. */
  pending(): Watcher[] {
    return this.all().filter((w) => !w.acknowledged);
  }

  get(uri: string): Watcher | undefined {
    return this.map.get(key(uri));
  }

  /** The list changed (it arrived, a watcher came, one was acknowledged). */
  onChanged(fn: () => void): Unsubscribe {
    return this.changeListeners.add(fn);
  }

  /**
   * Someone the client did not know watches the user: at once when they subscribe, or in the
   * list that comes at sign-in (`atSignIn`) for those who did while the user was away.
   */
  onNewWatcher(fn: (watcher: Watcher, detail: { atSignIn: boolean }) => void): Unsubscribe {
    return this.newListeners.add(fn);
  }

  /**
   * Acknowledges watchers (they stay in whatever container they fall in; use client.access to
   * change what they see). Resolves once the gateway recorded it; rejects with a RequestFailedError
   * (SIP 404) when none of them watches the user.
   */
  async acknowledge(uris: string | string[]): Promise<void> {
    const list = Array.isArray(uris) ? uris : [uris];
    if (list.length === 0) return;
    const wanted = new Set(list.map(key));
    const next = nextEvent(this.runner, 'subscribers', (ev) => ev.children.some((s) => wanted.has(key(s.attrs.uri ?? ''))));
    try {
      await this.waiters.run((rid) => `<acknowledgeSubscriber rid="${rid}">${list.map((u) => `<uri>${escapeXmlText(u)}</uri>`).join('')}</acknowledgeSubscriber>`);
    } catch (err) {
      next.cancel();
      throw err;
    }
    await next.done;
  }

  private apply(ev: XmlElement): void {
    const atSignIn = !this.loaded;
    const fresh: Watcher[] = [];
    for (const s of ev.children) {
      if (s.name !== 'subscriber' || !s.attrs.uri) continue;
      const w: Watcher = { uri: s.attrs.uri, acknowledged: (s.attrs.acknowledged ?? '').toLowerCase() === 'true' };
      if (s.attrs.displayName) w.displayName = s.attrs.displayName;
      if (s.attrs.sourceNetwork) w.sourceNetwork = s.attrs.sourceNetwork as Watcher['sourceNetwork'];
      if (!this.map.has(key(w.uri))) fresh.push(w);
      this.map.set(key(w.uri), w);
    }
    this.loaded = true;
    this.changeListeners.emit();
    for (const w of fresh) this.newListeners.emit(w, { atSignIn });
  }
}

/** A watcher's URI as a key (the gateway may leave out `sip:`). */
function key(uri: string): string {
  return uriKey(uri.replace(/^sip:/i, ''));
}
