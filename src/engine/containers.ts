// Access control and watchers: containers (ACL buckets) with their members, the container
// a watcher falls in, `updateContainer`, the `containers` event, subscribers and
// `acknowledgeSubscriber`.
import { canonicalUri, domainOf, isSipUri, keyOf, type Networks, SEED } from './identity.js';
import type { EngineCore, EngineModule } from './module.js';
import type { Delivery } from './ports.js';
import { BLOCKED_CONTAINER, Level, levelOfContainer, type LevelValue } from './presence-model.js';
import type { Session } from './session.js';
import type { CwaEvent, ResponseItem } from './types.js';
import type { ContainerMember, ContainerRecord, MemberType, UserDataRequest } from './user-data-types.js';
import type { UserDataStore } from './ports.js';

/** Where a watcher stands with an owner: the container it matched (if any) and the level that gives. */
export interface Standing {
  container?: number;
  level: LevelValue;
}

export interface AccessControlListener {
  /** The owner's containers changed: watchers may now see more or less. */
  containersChanged(ownerUri: string, out: Delivery[]): Promise<void>;
}

export interface AccessControlLimits {
  maxContainerMembers: number;
}

const SCOPE_ORDER: MemberType[] = ['sameEnterprise', 'federated', 'publicCloud'];

const ACCESS_REQUESTS = ['updateContainer', 'containers', 'acknowledgeSubscriber'] as const;
type AccessRequest = Extract<UserDataRequest, { kind: (typeof ACCESS_REQUESTS)[number] }>;

export class AccessControl implements EngineModule<AccessRequest['kind']> {
  readonly name = 'access control';
  readonly requests = ACCESS_REQUESTS;
  listener?: AccessControlListener;

  constructor(
    private readonly core: EngineCore,
    private readonly store: UserDataStore,
    private readonly networks: Networks,
    private readonly limits: AccessControlLimits,
  ) {}

  /** The owner's containers; an owner the store has never seen has the bootstrap ones. */
  async containersOf(ownerUri: string): Promise<ContainerRecord[]> {
    const owner = keyOf(ownerUri);
    if (!(await this.store.hasOwner(owner))) {
      if (!this.core.directory.findByUri(ownerUri)) return structuredClone(SEED.containers);
      await this.store.initOwner(owner, SEED);
    }
    return this.store.containers(owner);
  }

  /**
   * The container `watcherUri` falls in with `ownerUri`. The most specific match wins
   * (explicit URI, then domain, then sameEnterprise/federated/publicCloud, then everyone);
   * among containers matching equally, the highest id (so Blocked beats everything at its rank).
   */
  async standing(ownerUri: string, watcherUri: string): Promise<Standing> {
    if (keyOf(ownerUri) === keyOf(watcherUri)) return { level: Level.self };
    const containers = await this.containersOf(ownerUri);
    const watcher = keyOf(watcherUri);
    const domain = domainOf(watcherUri);
    const network = this.networks.sourceNetwork(watcherUri);
    const ranks: Array<(m: ContainerMember) => boolean> = [
      (m) => m.type === 'uri' && keyOf(canonicalUri(m.value, true)) === watcher,
      (m) => m.type === 'domain' && m.value.toLowerCase() === domain,
      (m) => SCOPE_ORDER.includes(m.type) && m.type === network,
      (m) => m.type === 'everyone',
    ];
    for (const matches of ranks) {
      const hits = containers.filter((c) => c.members.some(matches)).map((c) => c.id);
      if (hits.length > 0) {
        const container = hits.includes(BLOCKED_CONTAINER) ? BLOCKED_CONTAINER : Math.max(...hits);
        return { container, level: levelOfContainer(container) };
      }
    }
    return { level: Level.default };
  }

  async handle(session: Session, req: AccessRequest): Promise<ResponseItem> {
    switch (req.kind) {
      case 'containers': {
        const containers = await this.containersOf(session.user.uri);
        await this.core.deliver([
          { sid: session.sid, event: { kind: 'requestSucceeded', rid: req.rid } },
          { sid: session.sid, event: { kind: 'containers', containers } },
        ]);
        return { type: 'requestAccepted', rid: req.rid };
      }
      case 'updateContainer':
        return this.updateContainer(session, req);
      case 'acknowledgeSubscriber':
        return this.acknowledge(session, req.rid, req.uris);
    }
  }

  private async updateContainer(session: Session, req: Extract<UserDataRequest, { kind: 'updateContainer' }>): Promise<ResponseItem> {
    const rid = req.rid;
    const normalise = (m: ContainerMember): ContainerMember | string => {
      if (m.type === 'uri') {
        const uri = canonicalUri(m.value, true);
        return isSipUri(uri) ? { type: 'uri', value: uri } : `member value "${m.value}" is not a SIP URI (sip:user@domain)`;
      }
      if (m.type === 'domain') {
        const d = m.value.trim().replace(/^@/, '').toLowerCase();
        return /^[a-z0-9.-]+$/.test(d) && d.includes('.') ? { type: 'domain', value: d } : `member value "${m.value}" is not a domain name`;
      }
      return { type: m.type, value: '' };
    };
    const add: ContainerMember[] = [];
    const remove: ContainerMember[] = [];
    for (const [list, target] of [[req.add, add], [req.remove, remove]] as const) {
      for (const m of list) {
        const n = normalise(m);
        if (typeof n === 'string') return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: n } };
        target.push(n);
      }
    }
    if (add.some((a) => remove.some((r) => a.type === r.type && a.value.toLowerCase() === r.value.toLowerCase()))) {
      return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: 'The same member is both added and deleted.' } };
    }
    const owner = session.user.uri;
    const current = (await this.containersOf(owner)).find((c) => c.id === req.id);
    const have = current?.members ?? [];
    const after = have.length + add.filter((a) => !have.some((h) => h.type === a.type && h.value.toLowerCase() === a.value.toLowerCase())).length;
    if (after > this.limits.maxContainerMembers) {
      await this.core.deliver([{ sid: session.sid, event: { kind: 'requestFailed', rid, error: { failed: 'tooManyMembers' } } }]);
      return { type: 'requestAccepted', rid };
    }
    const updated = await this.store.updateContainer(keyOf(owner), req.id, add, remove);
    const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
    const event: CwaEvent = { kind: 'containers', containers: [updated] };
    for (const s of this.core.sessionsOf(session.user.login)) out.push({ sid: s.sid, event });
    await this.listener?.containersChanged(owner, out);
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }

  // ---- subscribers ----

  /** Records that `watcher` subscribes to `ownerUri`; a new subscriber is told to the owner's sessions. */
  async noteSubscriber(ownerUri: string, watcher: { uri: string; displayName: string }, out: Delivery[]): Promise<void> {
    const ownerUser = this.core.directory.findByUri(ownerUri);
    if (!ownerUser || keyOf(ownerUri) === keyOf(watcher.uri)) return;
    const owner = keyOf(ownerUri);
    const known = await this.store.subscribers(owner);
    if (known.some((s) => keyOf(s.uri) === keyOf(watcher.uri))) return;
    const record = { uri: canonicalUri(watcher.uri), displayName: watcher.displayName, sourceNetwork: this.networks.sourceNetwork(watcher.uri), acknowledged: false };
    await this.store.putSubscriber(owner, record);
    const event: CwaEvent = { kind: 'subscribers', subscribers: [record] };
    for (const s of this.core.sessionsOf(ownerUser.login)) out.push({ sid: s.sid, event });
  }

  async subscribersOf(ownerUri: string) {
    return this.store.subscribers(keyOf(ownerUri));
  }

  private async acknowledge(session: Session, rid: string, uris: string[]): Promise<ResponseItem> {
    const owner = keyOf(session.user.uri);
    const known = await this.store.subscribers(owner);
    const wanted = new Set(uris.map((u) => keyOf(canonicalUri(u, true))));
    const hits = known.filter((s) => wanted.has(keyOf(s.uri)));
    if (hits.length === 0) {
      await this.core.deliver([{ sid: session.sid, event: { kind: 'requestFailed', rid, error: { failed: 'subscriberNotFound' } } }]);
      return { type: 'requestAccepted', rid };
    }
    for (const s of hits) {
      s.acknowledged = true;
      await this.store.putSubscriber(owner, s);
    }
    const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
    const event: CwaEvent = { kind: 'subscribers', subscribers: hits };
    for (const s of this.core.sessionsOf(session.user.login)) out.push({ sid: s.sid, event });
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }
}
