// Presence: what each user publishes (user state, machine state from `UA`, note, contact
// card, calendar data, services, raw categories), the aggregate availability that follows,
// and who sees what of it: `selfPresence` to the user's own sessions, `userPresence` to
// watchers (queries, session subscriptions, subscribed contacts), filtered by the container
// each watcher falls in. Also the order of the initial burst of a new session.
import type { UserDataStore } from './ports.js';
import { refill } from './state-io.js';
import type { AccessControl, AccessControlListener, Standing } from './containers.js';
import type { ContactService, ContactsListener } from './contacts.js';
import { digestOf } from './hash.js';
import { canonicalUri, isoTime, isSipUri, keyOf, type Networks, SEED } from './identity.js';
import type { EngineCore, EngineModule } from './module.js';
import type { Delivery } from './ports.js';
import {
  activityToken,
  aggregateAvailability,
  Availability,
  availabilityClass,
  categoryMinLevel,
  directoryCards,
  filterContactCard,
  Level,
  MACHINE_STATE_PREFIX,
  MachineState,
  machineStateFromActivity,
  normalizePayload,
  PERSISTENT_CATEGORIES,
  readState,
} from './presence-model.js';
import type { Endpoint } from './presence-endpoint.js';
import { RawCategories } from './raw-categories.js';
import type { Session } from './session.js';
import type { CwaEvent, ResponseItem } from './types.js';
import type { CategoryRecord, CategoryView, ContactList, PresenceUserView, UserDataRequest, XmlFragment } from './user-data-types.js';

export interface PresenceConfig {
  machineIdleS: number;
  machineAwayS: number;
  enableAppearOffline: boolean;
}

/** What a signed-in user has published that does not outlive their last session. */
interface Presentity {
  userState?: { availability: number; activity: XmlFragment[] };
  /** services and unknown categories, by name + instance (made on the first one). */
  ephemeral?: Map<string, CategoryRecord>;
}

const PRESENCE_REQUESTS = ['publishSelfPresence', 'publishRawCategories', 'queryPresence', 'subscribePresence', 'unsubscribePresence'] as const;
type PresenceRequest = Extract<UserDataRequest, { kind: (typeof PRESENCE_REQUESTS)[number] }>;

const catKey = (name: string, instance: number) => `${name}\u0000${instance}`;

/**
 * What decides whether a watcher must be told again: payloads, not versions or times. Kept
 * per session and per watched user, so it is kept as a digest (28 characters) rather than
 * the payloads' text (hundreds).
 */
function signature(categories: CategoryView[]): string {
  return digestOf('sha1', JSON.stringify(categories.map((c) => [c.name, c.instance, c.payload ?? null])), 'base64');
}

const CATEGORY_ORDER = ['state', 'note', 'calendarData', 'contactCard', 'services'];

export interface PresenceState {
  endpoints: Map<number, Endpoint>;
  presentities: Map<string, Presentity>;
  watchedBy: Map<string, Set<Endpoint>>;
  raw: ReturnType<RawCategories['exportState']>;
}

export class PresenceService implements EngineModule<PresenceRequest['kind']>, ContactsListener, AccessControlListener {
  readonly name = 'presence';
  readonly requests = PRESENCE_REQUESTS;
  private readonly endpoints = new Map<number, Endpoint>();
  private readonly presentities = new Map<string, Presentity>();
  /** user key -> endpoints watching that user. */
  private readonly watchedBy = new Map<string, Set<Endpoint>>();
  /** user key -> level -> view; dropped whenever that user's presence changes. */
  private readonly viewCache = new Map<string, Map<number, Promise<PresenceUserView>>>();
  readonly raw: RawCategories;

  exportState(): PresenceState {
    return { endpoints: this.endpoints, presentities: this.presentities, watchedBy: this.watchedBy, raw: this.raw.exportState() };
  }

  importState(state: PresenceState): void {
    refill(this.endpoints, state.endpoints);
    refill(this.presentities, state.presentities);
    refill(this.watchedBy, state.watchedBy);
    this.raw.importState(state.raw);
    // Views are recomputed on demand.
    this.viewCache.clear();
  }

  constructor(
    private readonly core: EngineCore,
    private readonly store: UserDataStore,
    private readonly contacts: ContactService,
    private readonly acl: AccessControl,
    private readonly networks: Networks,
    private readonly config: PresenceConfig,
  ) {
    this.raw = new RawCategories(core, store, networks);
  }

  // ---- state ------------------------------------------------------------------------------

  private presentity(key: string): Presentity {
    let p = this.presentities.get(key);
    if (!p) this.presentities.set(key, (p = {}));
    return p;
  }

  private liveEndpoints(uri: string): Endpoint[] {
    const user = this.core.directory.findByUri(uri);
    if (!user) return [];
    return this.core.sessionsOf(user.login).flatMap((s) => this.endpoints.get(s.sid) ?? []);
  }

  private machineOf(ep: Endpoint, now: number): number {
    if (ep.explicitMachine !== undefined) return ep.explicitMachine;
    if (!ep.session.options.autoPublishMachineState) return MachineState.active;
    return machineStateFromActivity(now - ep.lastActive, this.config.machineIdleS * 1000, this.config.machineAwayS * 1000);
  }

  availabilityOf(uri: string): number {
    const machines = this.liveEndpoints(uri).map((e) => e.machine);
    return aggregateAvailability(this.presentities.get(keyOf(uri))?.userState?.availability, machines);
  }

  private watch(ep: Endpoint, key: string): void {
    let set = this.watchedBy.get(key);
    if (!set) this.watchedBy.set(key, (set = new Set()));
    set.add(ep);
  }

  private unwatch(ep: Endpoint, key: string): void {
    if (ep.explicit?.has(key) || ep.fromContacts?.has(key)) return;
    ep.lastSent?.delete(key);
    ep.lastRawSent?.delete(key);
    const set = this.watchedBy.get(key);
    set?.delete(ep);
    if (set?.size === 0) this.watchedBy.delete(key);
  }

  // ---- views ------------------------------------------------------------------------------

  /**
   * `uri` as a watcher at `level` may see it (shared by every watcher at that level). The
   * self level is not kept: only the user's own sessions see it, each change builds it
   * once for all of them, and a kept one would sit in memory for every idle session.
   */
  view(uri: string, level: number): Promise<PresenceUserView> {
    if (level === Level.self) return this.buildView(uri, level);
    const key = keyOf(uri);
    let byLevel = this.viewCache.get(key);
    if (!byLevel) this.viewCache.set(key, (byLevel = new Map()));
    let v = byLevel.get(level);
    if (!v) byLevel.set(level, (v = this.buildView(uri, level)));
    return v;
  }

  private async buildView(uri: string, level: number): Promise<PresenceUserView> {
    const user = this.core.directory.findByUri(uri);
    const shownUri = user?.uri ?? canonicalUri(uri);
    const sourceNetwork = this.networks.sourceNetwork(shownUri);
    const offline: CategoryView = { name: 'state', instance: 0, payload: { type: 'aggregateState', availability: Availability.offline, activity: activityToken(Availability.offline) } };
    if (!user || level === Level.blocked) return { uri: shownUri, sourceNetwork, categories: [offline] };

    const key = keyOf(uri);
    const p = this.presentities.get(key);
    const availability = this.availabilityOf(uri);
    const categories: CategoryView[] = [];
    if (level >= Level.public) {
      const us = p?.userState;
      const fromUser = us && us.activity.length > 0 && availabilityClass(us.availability) === availabilityClass(availability);
      categories.push({ name: 'state', instance: 0, payload: { type: 'aggregateState', availability, activity: fromUser ? us.activity : activityToken(availability) } });
    }
    const published = [...(await this.store.categories(key)), ...(p?.ephemeral?.values() ?? [])];
    const cards = new Map<number, CategoryView>();
    for (const c of directoryCards(user, level)) cards.set(c.instance, { name: 'contactCard', ...c });
    for (const c of published) {
      if (c.name === 'contactCard') {
        const card = c.payload && filterContactCard(c.payload, level);
        if (c.payload && !card) cards.delete(c.instance);
        else cards.set(c.instance, { name: c.name, instance: c.instance, version: c.version, publishTime: c.publishTime, payload: card && { type: 'xml', xml: card } });
        continue;
      }
      if (level < categoryMinLevel(c.name)) continue;
      categories.push({ name: c.name, instance: c.instance, version: c.version, publishTime: c.publishTime, payload: c.payload && { type: 'xml', xml: c.payload } });
    }
    categories.push(...[...cards.values()].sort((a, b) => a.instance - b.instance));
    const live = this.liveEndpoints(uri).length > 0;
    if (live && level >= Level.company && !published.some((c) => c.name === 'services')) {
      categories.push({ name: 'services', instance: 0, payload: { type: 'services', uri: user.uri, availability } });
    }
    const rank = (n: string) => (CATEGORY_ORDER.includes(n) ? CATEGORY_ORDER.indexOf(n) : CATEGORY_ORDER.length);
    categories.sort((a, b) => rank(a.name) - rank(b.name));
    return { uri: shownUri, sourceNetwork, categories };
  }

  /** `targetUri` as `watcherUri` sees it (the user's own view when they are the same user). */
  async seenBy(targetUri: string, watcherUri: string): Promise<PresenceUserView> {
    if (keyOf(targetUri) === keyOf(watcherUri)) return this.view(targetUri, Level.self);
    return (await this.standingView(targetUri, watcherUri)).view;
  }

  private async standingView(targetUri: string, watcherUri: string): Promise<{ standing: Standing; view: PresenceUserView }> {
    const standing = await this.acl.standing(targetUri, watcherUri);
    return { standing, view: await this.view(targetUri, standing.level) };
  }

  /**
   * The user's presence changed: their sessions get `selfPresence` (if what they see changed,
   * or always with `forceSelf`), watchers get `userPresence` / `userRawCategories` where
   * their view changed.
   */
  async changed(uri: string, out: Delivery[], forceSelf = false): Promise<void> {
    const key = keyOf(uri);
    this.viewCache.delete(key);
    const mine = this.liveEndpoints(uri);
    if (mine.length > 0) {
      const self = await this.view(uri, Level.self);
      const sig = signature(self.categories);
      const event: CwaEvent = { kind: 'selfPresence', categories: self.categories };
      for (const ep of mine) {
        if (!forceSelf && ep.lastSelf === sig) continue;
        ep.lastSelf = sig;
        out.push({ sid: ep.session.sid, event });
      }
    }
    await this.pushToWatchers(uri, out);
  }

  private async pushToWatchers(uri: string, out: Delivery[]): Promise<void> {
    const key = keyOf(uri);
    const watchers = [...(this.watchedBy.get(key) ?? [])].filter((ep) => !ep.session.ended);
    const events = new Map<PresenceUserView, CwaEvent>();
    for (const ep of watchers) {
      const { standing, view } = await this.standingView(uri, ep.session.user.uri);
      const sig = signature(view.categories);
      if (ep.lastSent?.get(key) !== sig) {
        (ep.lastSent ??= new Map()).set(key, sig);
        let event = events.get(view);
        if (!event) events.set(view, (event = { kind: 'userPresence', users: [view] }));
        out.push({ sid: ep.session.sid, event });
      }
      await this.raw.pushTo(ep, uri, standing, out);
    }
  }

  /** Starts watching `uris` for `ep`: the current views, one userPresence for all. */
  private async startWatching(ep: Endpoint, uris: string[], out: Delivery[]): Promise<PresenceUserView[]> {
    const views: PresenceUserView[] = [];
    for (const uri of uris) {
      const { standing, view } = await this.standingView(uri, ep.session.user.uri);
      (ep.lastSent ??= new Map()).set(keyOf(uri), signature(view.categories));
      views.push(view);
      await this.raw.pushTo(ep, uri, standing, out, true);
    }
    return views;
  }

  // ---- session hooks ----------------------------------------------------------------------

  async onSessionStart(session: Session, out: Delivery[]): Promise<void> {
    const now = this.core.clock.now();
    const uri = session.user.uri;
    // A UCWA application is not reachable before makeMeAvailable: it shows as an offline
    // machine until it publishes otherwise (the user's other endpoints decide meanwhile).
    const unreachable = session.ringable === false;
    const ep: Endpoint = {
      session,
      lastActive: now,
      machine: unreachable ? MachineState.offline : MachineState.active,
      ...(unreachable ? { explicitMachine: MachineState.offline } : {}),
    };
    if (session.options.rawCategories?.length) ep.rawFilter = new Set(session.options.rawCategories);
    this.endpoints.set(session.sid, ep);
    await this.store.initOwner(keyOf(uri), SEED);
    const p = this.presentity(keyOf(uri));
    const asked = session.availability;
    if (asked !== undefined && (this.config.enableAppearOffline || asked < 18000)) p.userState = { availability: asked, activity: [] };
    this.viewCache.delete(keyOf(uri));

    // The initial burst: selfPresence, contactGroup, subscribers, selfRawCategories, containers, then the contacts' presence.
    const self = await this.view(uri, Level.self);
    ep.lastSelf = signature(self.categories);
    const sid = session.sid;
    out.push({ sid, event: { kind: 'selfPresence', categories: self.categories } });
    out.push({ sid, event: { kind: 'contactGroup', data: await this.contacts.snapshot(session) } });
    out.push({ sid, event: { kind: 'subscribers', subscribers: await this.acl.subscribersOf(uri) } });
    out.push({ sid, event: { kind: 'selfRawCategories', categories: await this.raw.of(uri) } });
    out.push({ sid, event: { kind: 'containers', containers: await this.acl.containersOf(uri) } });
    if (session.options.autoSubscribePresenceForContacts) {
      const list = await this.contacts.listOf(uri);
      const targets = list.contacts.filter((c) => c.subscribed).map((c) => c.uri);
      for (const t of targets) {
        (ep.fromContacts ??= new Set()).add(keyOf(t));
        this.watch(ep, keyOf(t));
      }
      const rawOut: Delivery[] = [];
      const views = await this.startWatching(ep, targets, rawOut);
      if (views.length > 0) out.push({ sid, event: { kind: 'userPresence', users: views } });
      out.push(...rawOut);
    }
    await this.changed(uri, out);
  }

  async onSessionEnd(session: Session, out: Delivery[]): Promise<void> {
    const ep = this.endpoints.get(session.sid);
    if (!ep) return;
    this.endpoints.delete(session.sid);
    for (const key of [...(ep.explicit ?? []), ...(ep.fromContacts ?? [])]) {
      ep.explicit?.delete(key);
      ep.fromContacts?.delete(key);
      this.unwatch(ep, key);
    }
    const uri = session.user.uri;
    const key = keyOf(uri);
    const last = this.liveEndpoints(uri).length === 0;
    if (last) this.presentities.delete(key);
    const rawChanged = this.raw.endpointGone(uri, session.sid, last);
    if (rawChanged) await this.raw.tellSelf(uri, this.liveEndpoints(uri), out);
    await this.changed(uri, out);
  }

  async tick(now: number, out: Delivery[]): Promise<void> {
    const changed = new Set<string>();
    for (const ep of this.endpoints.values()) {
      if (ep.session.ended) continue;
      const m = this.machineOf(ep, now);
      if (m !== ep.machine) {
        ep.machine = m;
        changed.add(ep.session.user.uri);
      }
    }
    for (const uri of this.raw.expire(now)) {
      await this.raw.tellSelf(uri, this.liveEndpoints(uri), out);
      changed.add(uri);
    }
    for (const uri of changed) await this.changed(uri, out);
  }

  /** `UA=true` on the data channel; true when the machine state changes (the caller then runs `refresh`). */
  noteActivity(session: Session): boolean {
    const ep = this.endpoints.get(session.sid);
    if (!ep || !session.options.autoPublishMachineState) return false;
    ep.lastActive = this.core.clock.now();
    ep.explicitMachine = undefined;
    return this.machineOf(ep, ep.lastActive) !== ep.machine;
  }

  /** Recomputes the machine states of the user's sessions and tells whoever needs to know. */
  async refresh(session: Session): Promise<void> {
    const now = this.core.clock.now();
    for (const ep of this.liveEndpoints(session.user.uri)) ep.machine = this.machineOf(ep, now);
    const out: Delivery[] = [];
    await this.changed(session.user.uri, out);
    await this.core.deliver(out);
  }

  // ---- listeners -------------------------------------------------------------------------

  async contactsChanged(session: Session, list: ContactList, before: ContactList, out: Delivery[]): Promise<void> {
    const was = new Set(before.contacts.filter((c) => c.subscribed).map((c) => keyOf(c.uri)));
    const subscribed = list.contacts.filter((c) => c.subscribed);
    for (const c of subscribed) if (!was.has(keyOf(c.uri))) await this.acl.noteSubscriber(c.uri, session.user, out);
    const now = new Map(subscribed.map((c) => [keyOf(c.uri), c.uri]));
    for (const ep of this.liveEndpoints(session.user.uri)) {
      if (!ep.session.options.autoSubscribePresenceForContacts) continue;
      const added = [...now].filter(([k]) => !ep.fromContacts?.has(k));
      for (const k of [...(ep.fromContacts ?? [])]) {
        if (now.has(k)) continue;
        ep.fromContacts!.delete(k);
        this.unwatch(ep, k);
      }
      for (const [k] of added) {
        (ep.fromContacts ??= new Set()).add(k);
        this.watch(ep, k);
      }
      const rawOut: Delivery[] = [];
      const views = await this.startWatching(ep, added.map(([, uri]) => uri), rawOut);
      if (views.length > 0) out.push({ sid: ep.session.sid, event: { kind: 'userPresence', users: views } });
      out.push(...rawOut);
    }
  }

  async containersChanged(ownerUri: string, out: Delivery[]): Promise<void> {
    await this.pushToWatchers(ownerUri, out);
  }

  // ---- requests ---------------------------------------------------------------------------

  async handle(session: Session, req: PresenceRequest): Promise<ResponseItem> {
    const rid = req.rid;
    const ep = this.endpoints.get(session.sid);
    if (!ep) return { type: 'requestFailed', rid, error: { refused: 'noPresenceEndpoint' } };
    if (req.kind === 'publishSelfPresence') return this.publish(ep, req);
    if (req.kind === 'publishRawCategories') {
      const error = await this.raw.publish(ep, req.categories);
      if (error) return { type: 'requestFailed', rid, error };
      const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
      await this.raw.tellSelf(session.user.uri, this.liveEndpoints(session.user.uri), out);
      await this.pushToWatchers(session.user.uri, out);
      await this.core.deliver(out);
      return { type: 'requestAccepted', rid };
    }
    const bad = req.uris.find((u) => !isSipUri(u.trim()));
    if (bad !== undefined) return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: `"${bad}" is not a SIP URI (sip:user@domain)` } };
    const uris = [...new Map(req.uris.map((u) => [keyOf(u), canonicalUri(u)])).values()];
    const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
    switch (req.kind) {
      case 'queryPresence': {
        const views: PresenceUserView[] = [];
        const rawOut: Delivery[] = [];
        for (const uri of uris) {
          const { standing, view } = await this.standingView(uri, session.user.uri);
          views.push(view);
          await this.raw.pushTo(ep, uri, standing, rawOut, true, false);
        }
        out.push({ sid: session.sid, event: { kind: 'userPresence', users: views } }, ...rawOut);
        break;
      }
      case 'subscribePresence': {
        for (const uri of uris) {
          (ep.explicit ??= new Set()).add(keyOf(uri));
          this.watch(ep, keyOf(uri));
          await this.acl.noteSubscriber(uri, session.user, out);
        }
        const shown = uris.map((u) => this.core.directory.findByUri(u)?.uri ?? u);
        out.push({ sid: session.sid, event: { kind: 'presenceSubscriptionState', users: shown.map((uri) => ({ uri, state: 'subscribed' as const })) } });
        const rawOut: Delivery[] = [];
        const views = await this.startWatching(ep, uris, rawOut);
        out.push({ sid: session.sid, event: { kind: 'userPresence', users: views } }, ...rawOut);
        break;
      }
      case 'unsubscribePresence':
        for (const uri of uris) {
          ep.explicit?.delete(keyOf(uri));
          this.unwatch(ep, keyOf(uri));
        }
        break;
    }
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }

  private async publish(ep: Endpoint, req: Extract<PresenceRequest, { kind: 'publishSelfPresence' }>): Promise<ResponseItem> {
    const { rid } = req;
    const session = ep.session;
    // All or nothing: check every category before applying any.
    const plans: Array<() => void> = [];
    const owner = keyOf(session.user.uri);
    const stored = new Map((await this.store.categories(owner)).map((c) => [catKey(c.name, c.instance), c]));
    const p = this.presentity(owner);
    const publishTime = isoTime(this.core.clock.now());
    const put: CategoryRecord[] = [];
    const remove: Array<{ name: string; instance: number }> = [];
    for (const c of req.categories) {
      const payload = c.payload && normalizePayload(c.name, c.payload);
      if (c.name === 'state') {
        const machine = (c.instanceMask & 0xf0000000) >>> 0 === MACHINE_STATE_PREFIX;
        if (!payload) {
          plans.push(machine ? () => (ep.explicitMachine = undefined) : () => (p.userState = undefined));
          continue;
        }
        const st = readState(payload, c.instanceMask);
        if (st.kind === 'other') continue; // phone/calendar states: accepted, not aggregated
        if (st.availability === undefined) {
          return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: 'A published state needs an <availability> number.' } };
        }
        const availability = st.availability;
        if (st.kind === 'userState' && availability >= 18000 && !this.config.enableAppearOffline) {
          return { type: 'requestFailed', rid, error: { refused: 'appearOfflineDisabled' } };
        }
        plans.push(st.kind === 'machineState' ? () => (ep.explicitMachine = availability) : () => (p.userState = { availability, activity: st.activity }));
        continue;
      }
      const k = catKey(c.name, c.instanceMask);
      if (PERSISTENT_CATEGORIES.has(c.name)) {
        if (!payload) remove.push({ name: c.name, instance: c.instanceMask });
        else put.push({ name: c.name, instance: c.instanceMask, version: (stored.get(k)?.version ?? 0) + 1, publishTime, payload });
      } else {
        const version = (p.ephemeral?.get(k)?.version ?? 0) + 1;
        plans.push(payload ? () => (p.ephemeral ??= new Map()).set(k, { name: c.name, instance: c.instanceMask, version, publishTime, payload }) : () => p.ephemeral?.delete(k));
      }
    }
    if (put.length > 0 || remove.length > 0) await this.store.changeCategories(owner, put, remove);
    for (const apply of plans) apply();
    ep.machine = this.machineOf(ep, this.core.clock.now());
    const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
    await this.changed(session.user.uri, out, true);
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }
}
