// Raw (custom) categories: published into one container with an expiry type, seen by the
// owner in `selfRawCategories` and by watchers in `userRawCategories` when the watcher
// falls in that container and asked for the category name in categoryEventFilter.
// `static` ones are kept in the store; `user`, `endpoint` and `time` ones live in memory
// until the user signs out, the publishing session ends, or `expires` passes.
import type { UserDataStore } from './ports.js';
import { refill } from './state-io.js';
import type { Standing } from './containers.js';
import { digestOf } from './hash.js';
import { isoTime, keyOf, type Networks } from './identity.js';
import type { EngineCore } from './module.js';
import type { Delivery } from './ports.js';
import type { Endpoint } from './presence-endpoint.js';
import { Level } from './presence-model.js';
import type { Outcome } from './outcomes.js';
import type { RawCategoryInput, RawCategoryRecord } from './user-data-types.js';

interface Held {
  record: RawCategoryRecord;
  sid: number;
  until?: number;
}

const rawKey = (r: { name: string; instance: number; container: string }) => `${r.name}\u0000${r.instance}\u0000${r.container}`;

export class RawCategories {
  /** user key -> raw key -> non-static raw category. */
  private readonly held = new Map<string, Map<string, Held>>();

  exportState(): Map<string, Map<string, Held>> {
    return this.held;
  }

  importState(held: Map<string, Map<string, Held>>): void {
    refill(this.held, held);
  }

  constructor(
    private readonly core: EngineCore,
    private readonly store: UserDataStore,
    private readonly networks: Networks,
  ) {}

  /** Every raw category of the user, stored and held. */
  async of(uri: string): Promise<RawCategoryRecord[]> {
    const key = keyOf(uri);
    const stored = await this.store.rawCategories(key);
    const held = [...(this.held.get(key)?.values() ?? [])].map((h) => h.record);
    return [...stored, ...held].sort((a, b) => (rawKey(a) < rawKey(b) ? -1 : 1));
  }

  /** Publishes; undefined on success, else why not. */
  async publish(ep: Endpoint, inputs: RawCategoryInput[]): Promise<Outcome | undefined> {
    const now = this.core.clock.now();
    const owner = keyOf(ep.session.user.uri);
    for (const r of inputs) {
      if (r.expireType === 'time' && (r.expires === undefined || Number.isNaN(Date.parse(r.expires)))) {
        return { refused: 'invalidInput', detail: `rawCategory ${r.name}: expireType "time" needs an expires dateTime` };
      }
    }
    const current = new Map((await this.of(ep.session.user.uri)).map((r) => [rawKey(r), r]));
    let held = this.held.get(owner);
    if (!held) this.held.set(owner, (held = new Map()));
    const put: RawCategoryRecord[] = [];
    const unstore: RawCategoryRecord[] = [];
    for (const r of inputs) {
      const k = rawKey({ name: r.name, instance: r.instanceMask, container: r.container });
      const record: RawCategoryRecord = {
        name: r.name,
        nameSpace: r.nameSpace,
        instance: r.instanceMask,
        container: r.container,
        version: (current.get(k)?.version ?? 0) + 1,
        publishTime: isoTime(now),
        endpointId: String(ep.session.sid),
        expireType: r.expireType,
        expires: r.expires,
        payload: r.payload,
      };
      if (r.expireType === 'static') {
        held.delete(k);
        put.push(record);
      } else {
        if (current.has(k) && !held.has(k)) unstore.push(record);
        held.set(k, { record, sid: ep.session.sid, until: r.expireType === 'time' ? Date.parse(r.expires!) : undefined });
      }
    }
    if (put.length > 0 || unstore.length > 0) await this.store.changeRawCategories(owner, put, unstore);
    return undefined;
  }

  /** The session `sid` ended: its `endpoint` categories go, and `user` ones too when it was the last. */
  endpointGone(uri: string, sid: number, last: boolean): boolean {
    const held = this.held.get(keyOf(uri));
    if (!held) return false;
    let changed = false;
    for (const [k, h] of held) {
      if ((h.record.expireType === 'endpoint' && h.sid === sid) || last) {
        held.delete(k);
        changed = true;
      }
    }
    if (held.size === 0) this.held.delete(keyOf(uri));
    return changed;
  }

  /** Drops `time` categories whose expiry passed; returns the owners affected. */
  expire(now: number): string[] {
    const owners: string[] = [];
    for (const [owner, held] of this.held) {
      let changed = false;
      for (const [k, h] of held) {
        if (h.until !== undefined && now >= h.until) {
          held.delete(k);
          changed = true;
        }
      }
      if (changed) owners.push(this.core.directory.findByUri(owner)?.uri ?? owner);
    }
    return owners;
  }

  async tellSelf(uri: string, endpoints: Endpoint[], out: Delivery[]): Promise<void> {
    if (endpoints.length === 0) return;
    const event = { kind: 'selfRawCategories', categories: await this.of(uri) } as const;
    for (const ep of endpoints) out.push({ sid: ep.session.sid, event });
  }

  /**
   * Tells `ep` the raw categories of `targetUri` it may see and asked for, when they changed
   * since last told (or, with `initial`, when there are any).
   */
  async pushTo(ep: Endpoint, targetUri: string, standing: Standing, out: Delivery[], initial = false, remember = true): Promise<void> {
    const filter = ep.rawFilter;
    if (!filter || filter.size === 0) return;
    const visible = (await this.of(targetUri)).filter(
      (r) => filter.has(r.name) && (standing.level === Level.self || (standing.container !== undefined && r.container === String(standing.container))),
    );
    const key = keyOf(targetUri);
    const sig = digestOf('sha1', JSON.stringify(visible.map((r) => [rawKey(r), r.version])), 'base64');
    const before = ep.lastRawSent?.get(key);
    if (remember) (ep.lastRawSent ??= new Map()).set(key, sig);
    if (initial ? visible.length === 0 : before === sig || (before === undefined && visible.length === 0)) return;
    const shown = this.core.directory.findByUri(targetUri)?.uri ?? targetUri;
    out.push({
      sid: ep.session.sid,
      event: { kind: 'userRawCategories', users: [{ uri: shown, sourceNetwork: this.networks.sourceNetwork(shown), categories: visible }] },
    });
  }
}
