// Presence in the client: the user's own state and note (selfPresence, publishSelfPresence),
// and other people's presence (userPresence), from contacts with `subscribed="true"`, session
// subscriptions (subscribePresence) and one-off queries (queryPresence).
//
//   client.presence.onChanged((p) => console.log(p.uri, p.availability, p.note));
//   await client.presence.subscribe(['sip:bob@example.com']);
//   await client.presence.setAvailability('busy');
//   await client.presence.setNote('Working from home today');
import { Listeners, type Unsubscribe } from './emitter.js';
import { RidWaiters, uriKey, type RequestRunner } from './requests.js';
import { childOf, escapeXmlText, type XmlElement } from './xml.js';

/** The named states a person can be in (and choose, but for `offline`, which they choose as "Appear offline"). */
export type Availability = 'available' | 'busy' | 'doNotDisturb' | 'beRightBack' | 'away' | 'offline';

/** The number published for each state (the representative value of its range). */
export const AVAILABILITY_NUMBERS: Readonly<Record<Availability, number>> = {
  available: 3500,
  busy: 6500,
  doNotDisturb: 9500,
  beRightBack: 12500,
  away: 15500,
  offline: 18500,
};

/**
 * The named state of an availability number. Idle states take the state people see for them:
 * online-idle (4500–5999) reads as away, busy-idle (7500–8999) as busy; 0, absent and
 * anything from 18000 up as offline.
 */
export function availabilityOf(n: number | undefined): Availability {
  if (n === undefined || !Number.isFinite(n) || n < 3000 || n >= 18000) return 'offline';
  if (n < 4500) return 'available';
  if (n < 6000) return 'away';
  if (n < 9000) return 'busy';
  if (n < 12000) return 'doNotDisturb';
  if (n < 15000) return 'beRightBack';
  return 'away';
}

/** What the signed-in user may see of one person (or of themselves). */
export interface PresenceInfo {
  uri: string;
  availability: Availability;
  /** The availability number as published (undefined when the state category was missing). */
  availabilityNumber?: number;
  /** The activity token of the aggregate state (`in-a-meeting`, `Offline` …), when there is one. */
  activity?: string;
  /** The personal (or out-of-office) note; empty when there is none. */
  note: string;
  /** From the contact card, when the watcher may see it. */
  displayName?: string;
  email?: string;
  title?: string;
}

export type SubscriptionState = 'subscribed' | 'retrying' | 'terminated';

const NS_STATE = 'http://schemas.microsoft.com/2006/09/sip/state';
const NS_NOTE = 'http://schemas.microsoft.com/2006/09/sip/note';
const NS_XSI = 'http://www.w3.org/2001/XMLSchema-instance';
/** The instance of the user state (SIP-level instance id 0x20000000). */
const USER_STATE_INSTANCE = 536870912;

/** Reads the cwaCategory children of a selfPresence or a userPresence `user`. */
export function presenceOf(uri: string, categories: XmlElement[]): PresenceInfo {
  const info: PresenceInfo = { uri, availability: 'offline', note: '' };
  for (const c of categories) {
    if (c.name !== 'cwaCategory') continue;
    const payload = c.children[0];
    switch (c.attrs.name) {
      case 'state': {
        const n = childOf(payload, 'availability')?.text.trim();
        if (n !== undefined && n !== '' && info.availabilityNumber === undefined) {
          info.availabilityNumber = Number(n);
          info.availability = availabilityOf(info.availabilityNumber);
        }
        const token = childOf(payload, 'activity')?.attrs.token;
        if (token) info.activity = token;
        break;
      }
      case 'note': {
        const bodies = payload?.children.filter((b) => b.name === 'body') ?? [];
        const body = bodies.find((b) => b.attrs.type === 'personal' && b.text.trim() !== '') ?? bodies.find((b) => b.text.trim() !== '');
        if (body) info.note = body.text.trim();
        break;
      }
      case 'contactCard': {
        const identity = childOf(payload, 'identity');
        const name = childOf(childOf(identity, 'name'), 'displayName')?.text.trim();
        if (name) info.displayName = name;
        const email = childOf(identity, 'email')?.text.trim();
        if (email) info.email = email;
        const title = childOf(payload, 'title')?.text.trim();
        if (title) info.title = title;
        break;
      }
    }
  }
  return info;
}

/** The signed-in user's presence and what they see of others'. Available as `client.presence`. */
export class Presence {
  /** The user's own presence, from the latest selfPresence (undefined before the first). */
  self: PresenceInfo | undefined;
  private readonly people = new Map<string, PresenceInfo>();
  private readonly subscriptions = new Map<string, SubscriptionState>();
  private readonly waiters: RidWaiters;
  /** queryPresence requests whose requestSucceeded came: the next userPresence answers them. */
  private readonly queries = new Map<string, boolean>();
  private readonly selfListeners = new Listeners<[PresenceInfo]>();
  private readonly changeListeners = new Listeners<[PresenceInfo]>();
  private readonly subscriptionListeners = new Listeners<[string, SubscriptionState]>();

  constructor(private readonly runner: RequestRunner & { readonly uri: string }) {
    this.waiters = new RidWaiters(runner);
    runner.onEvent((ev) => this.handle(ev));
  }

  /** The latest presence seen for `uri` (case does not matter). */
  get(uri: string): PresenceInfo | undefined {
    return this.people.get(uriKey(uri));
  }

  /** Everyone whose presence has been seen. */
  all(): PresenceInfo[] {
    return [...this.people.values()];
  }

  /** The state of this session's subscription to `uri`, when it has one. */
  subscriptionOf(uri: string): SubscriptionState | undefined {
    return this.subscriptions.get(uriKey(uri));
  }

  /** The user's own presence changed (also at sign-in). */
  onSelfChanged(fn: (self: PresenceInfo) => void): Unsubscribe {
    return this.selfListeners.add(fn);
  }

  /** Someone's presence arrived or changed (a full snapshot of what this user may see of them). */
  onChanged(fn: (presence: PresenceInfo) => void): Unsubscribe {
    return this.changeListeners.add(fn);
  }

  onSubscriptionState(fn: (uri: string, state: SubscriptionState) => void): Unsubscribe {
    return this.subscriptionListeners.add(fn);
  }

  /** Publishes the user state (`offline` is Appear offline); resolves once the gateway applied it. */
  async setAvailability(availability: Availability | number): Promise<void> {
    const n = typeof availability === 'number' ? availability : AVAILABILITY_NUMBERS[availability];
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`not an availability: ${availability}`);
    await this.publish(
      `<cwaCategory name="state" instanceMask="${USER_STATE_INSTANCE}"><state xmlns="${NS_STATE}" xmlns:xsi="${NS_XSI}" xsi:type="userState" manual="true">` +
        `<availability>${n}</availability></state></cwaCategory>`,
    );
  }

  /** Publishes the personal note (an empty string clears it). */
  async setNote(text: string): Promise<void> {
    await this.publish(
      `<cwaCategory name="note" instanceMask="0" expires="-1"><note xmlns="${NS_NOTE}"><body type="personal">${escapeXmlText(text)}</body></note></cwaCategory>`,
    );
  }

  /** Subscribes for this session (userPresence follows now and on every change); resolves once subscribed. */
  async subscribe(uris: readonly string[]): Promise<void> {
    if (uris.length === 0) return;
    await this.waiters.run((rid) => `<subscribePresence rid="${rid}">${urisXml(uris)}</subscribePresence>`);
  }

  async unsubscribe(uris: readonly string[]): Promise<void> {
    if (uris.length === 0) return;
    await this.waiters.run((rid) => `<unSubscribePresence rid="${rid}">${urisXml(uris)}</unSubscribePresence>`);
    for (const u of uris) this.subscriptions.delete(uriKey(u));
  }

  /** One snapshot of these people's presence, without a subscription. */
  async query(uris: readonly string[]): Promise<PresenceInfo[]> {
    if (uris.length === 0) return [];
    const answer = await this.waiters.run((rid) => {
      this.queries.set(rid, false);
      return `<queryPresence rid="${rid}">${urisXml(uris)}</queryPresence>`;
    }, false);
    return answer.children.filter((u) => u.name === 'user').map((u) => this.get(u.attrs.uri ?? '') ?? presenceOf(u.attrs.uri ?? '', u.children));
  }

  private async publish(categories: string): Promise<void> {
    await this.waiters.run((rid) => `<publishSelfPresence rid="${rid}">${categories}</publishSelfPresence>`);
  }

  private handle(ev: XmlElement): void {
    switch (ev.name) {
      case 'requestSucceeded': {
        const rid = ev.attrs.rid ?? '';
        if (this.queries.has(rid)) this.queries.set(rid, true);
        return;
      }
      case 'requestFailed':
        this.queries.delete(ev.attrs.rid ?? '');
        return;
      case 'selfPresence': {
        const self = presenceOf(this.runner.uri, ev.children);
        this.self = self;
        this.selfListeners.emit(self);
        return;
      }
      case 'userPresence': {
        for (const u of ev.children) {
          if (u.name !== 'user' || !u.attrs.uri) continue;
          const info = presenceOf(u.attrs.uri, u.children);
          const before = this.people.get(uriKey(info.uri));
          // The contact card may be withheld from one snapshot to the next; keep the name known.
          if (info.displayName === undefined && before?.displayName !== undefined) info.displayName = before.displayName;
          this.people.set(uriKey(info.uri), info);
          this.changeListeners.emit(info);
        }
        // The answer of the oldest query whose requestSucceeded came.
        for (const [rid, succeeded] of this.queries) {
          if (!succeeded) continue;
          this.queries.delete(rid);
          this.waiters.resolve(rid, ev);
          break;
        }
        return;
      }
      case 'presenceSubscriptionState':
        for (const u of ev.children) {
          const state = u.attrs.state as SubscriptionState | undefined;
          if (u.name !== 'user' || !u.attrs.uri || !state) continue;
          if (state === 'terminated') this.subscriptions.delete(uriKey(u.attrs.uri));
          else this.subscriptions.set(uriKey(u.attrs.uri), state);
          this.subscriptionListeners.emit(u.attrs.uri, state);
        }
        return;
    }
  }
}

function urisXml(uris: readonly string[]): string {
  return `<uris>${uris.map((u) => `<uri>${escapeXmlText(u)}</uri>`).join('')}</uris>`;
}
