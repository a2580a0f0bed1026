// Presence and people as a UCWA application sees them: the engine's presence (the same
// aggregate a CWA watcher sees) read into UCWA's Availability enumeration and the personal
// note, the categories a UCWA client's choices publish, and the resources of `me/presence`,
// `me/note`, `people/{uri}`, `…/presence`, `…/note`, presence subscriptions, search,
// myContacts and myGroups.
import { availabilityBand, MACHINE_STATE_PREFIX, MachineState, NS, USER_STATE_INSTANCE, type AvailabilityBand } from '../../engine/presence-model.js';
import type { CategoryInput, CategoryView, ContactRecord, GroupRecord, XmlFragment } from '../../engine/user-data-types.js';
import type { Link, Resource, Value } from './resource.js';
import { Hrefs, userPart, type UcwaApp, type UcwaSubscription } from './state.js';
import { contactView } from './views.js';

const BAND_NAMES: Readonly<Record<AvailabilityBand, string>> = {
  offline: 'Offline',
  online: 'Online',
  idleOnline: 'IdleOnline',
  busy: 'Busy',
  idleBusy: 'IdleBusy',
  doNotDisturb: 'DoNotDisturb',
  beRightBack: 'BeRightBack',
  away: 'Away',
};

/** UCWA's Availability values, from the engine's aggregate number (the CWA ranges). */
export function availabilityName(n: number): string {
  return BAND_NAMES[availabilityBand(n)];
}

/** What a client may POST as `availability` (any case), as the user state it publishes. */
export const PUBLISHED_AVAILABILITY: Readonly<Record<string, number>> = {
  online: 3500,
  busy: 6500,
  donotdisturb: 9500,
  berightback: 12500,
  away: 15500,
  offwork: 15500,
  offline: 18500,
};

export const AVAILABILITY_NAMES = ['Online', 'Busy', 'DoNotDisturb', 'BeRightBack', 'Away', 'Offwork', 'Offline'];

/** The longest note a client may set (characters). */
export const MAX_NOTE_LENGTH = 1000;

/** What a UCWA client reads of a user's presence. */
export interface PresenceSummary {
  availability: string;
  /** The personal note ('' when none). */
  note: string;
}

const el = (name: string, ns: string, text = '', children: XmlFragment[] = [], attrs: Record<string, string> = {}): XmlFragment => ({ name, ns, attrs, children, text });

function textOf(node: XmlFragment): string {
  return node.text + node.children.map(textOf).join('');
}

/** The availability and personal note in a presence view's categories. */
export function summaryOf(categories: CategoryView[]): PresenceSummary {
  let availability = 'Offline';
  let note = '';
  for (const c of categories) {
    if (c.name === 'state' && c.payload?.type === 'aggregateState') availability = availabilityName(c.payload.availability);
    if (c.name === 'note' && c.payload?.type === 'xml' && note === '') {
      const body = c.payload.xml.children.find((b) => b.name === 'body' && (b.attrs.type ?? 'personal').toLowerCase() === 'personal') ?? c.payload.xml.children.find((b) => b.name === 'body');
      if (body) note = textOf(body);
    }
  }
  return { availability, note };
}

/** The user state a client's `availability` publishes (undefined user state: let the machine decide). */
export function userStateCategory(availability: number): CategoryInput {
  return {
    name: 'state',
    instanceMask: USER_STATE_INSTANCE,
    payload: el('state', NS.state, '', [el('availability', NS.state, String(availability))]),
  };
}

/** The application's machine state: offline until makeMeAvailable, then active. */
export function machineStateCategory(active: boolean): CategoryInput {
  return {
    name: 'state',
    instanceMask: MACHINE_STATE_PREFIX,
    payload: el('state', NS.state, '', [el('availability', NS.state, String(active ? MachineState.active : MachineState.offline))]),
  };
}

/** The personal note (instance 0, as CWA clients publish it); an empty message removes it. */
export function noteCategory(message: string): CategoryInput {
  if (message === '') return { name: 'note', instanceMask: 0 };
  return { name: 'note', instanceMask: 0, payload: el('note', NS.note, '', [el('body', NS.note, message, [], { type: 'personal' })]) };
}

// ---- resources --------------------------------------------------------------------------

export function presenceView(app: UcwaApp, s: PresenceSummary): Resource {
  return { rel: 'presence', href: `${new Hrefs(app.sid).me}/presence`, props: [['availability', s.availability]] };
}

export function noteView(app: UcwaApp, s: PresenceSummary): Resource {
  return { rel: 'note', href: `${new Hrefs(app.sid).me}/note`, props: [['message', s.note], ['type', 'Personal']] };
}

export function contactPresenceView(app: UcwaApp, uri: string, s: PresenceSummary): Resource {
  return { rel: 'contactPresence', href: `${new Hrefs(app.sid).person(uri)}/presence`, props: [['availability', s.availability]] };
}

export function contactNoteView(app: UcwaApp, uri: string, s: PresenceSummary): Resource {
  return { rel: 'contactNote', href: `${new Hrefs(app.sid).person(uri)}/note`, props: [['message', s.note], ['type', 'Personal']] };
}

/** A person: the contact resource with the links to its presence and note. */
export function personView(app: UcwaApp, user: { uri: string; displayName?: string; email?: string; title?: string }): Resource {
  const r = contactView(app, user);
  const self = new Hrefs(app.sid).person(user.uri);
  return { ...r, links: [...(r.links ?? []), ['contactNote', { href: `${self}/note` }]] };
}

export function subscriptionHref(app: UcwaApp, id: string): string {
  return `${new Hrefs(app.sid).people}/presenceSubscriptions/${id}`;
}

export function subscriptionView(app: UcwaApp, sub: UcwaSubscription): Resource {
  const self = subscriptionHref(app, sub.id);
  return {
    rel: 'presenceSubscription',
    href: self,
    props: [
      ['id', sub.id],
      ['duration', sub.duration],
      ['expires', { date: sub.expires }] as [string, Value],
    ],
    links: [
      ['addToPresenceSubscription', { href: `${self}/addToPresenceSubscription` }],
      ['memberships', { href: `${self}/memberships` }],
    ],
  };
}

export function subscriptionsView(app: UcwaApp): Resource {
  const subs = [...app.presence.subscriptions.values()];
  return {
    rel: 'presenceSubscriptions',
    href: `${new Hrefs(app.sid).people}/presenceSubscriptions`,
    ...(subs.length > 0 ? { embedded: [['presenceSubscription', subs.map((s) => subscriptionView(app, s))]] as [string, Resource[]][] } : {}),
  };
}

export function membershipsView(app: UcwaApp, sub: UcwaSubscription): Resource {
  const self = `${subscriptionHref(app, sub.id)}/memberships`;
  const h = new Hrefs(app.sid);
  const members: Resource[] = sub.uris.map((uri) => ({
    rel: 'presenceSubscriptionMembership',
    href: `${self}/${userPart(uri)}`,
    props: [['uri', uri]],
    links: [
      ['contact', { href: h.person(uri) }],
      ['presenceSubscription', { href: subscriptionHref(app, sub.id) }],
    ],
  }));
  return { rel: 'presenceSubscriptionMemberships', href: self, ...(members.length > 0 ? { embedded: [['presenceSubscriptionMembership', members]] as [string, Resource[]][] } : {}) };
}

type Person = { uri: string; displayName?: string; email?: string; title?: string };

export function searchView(app: UcwaApp, query: string, limit: number, people: Person[], more: boolean): Resource {
  const q = new URLSearchParams({ query, limit: String(limit) }).toString();
  return {
    rel: 'search',
    href: `${new Hrefs(app.sid).people}/search?${q}`,
    props: [['moreResultsAvailable', more]],
    ...(people.length > 0 ? { embedded: [['contact', people.map((p) => personView(app, p))]] as [string, Resource[]][] } : {}),
  };
}

/** A contact of the user's list: the directory's name when the user is in it, else the list's. */
export function listedPerson(c: ContactRecord, directory: (uri: string) => Person | undefined): Person {
  return directory(c.uri) ?? { uri: c.uri, displayName: c.name || userPart(c.uri) };
}

export function myContactsView(app: UcwaApp, people: Person[]): Resource {
  return {
    rel: 'myContacts',
    href: `${new Hrefs(app.sid).people}/contacts`,
    ...(people.length > 0 ? { embedded: [['contact', people.map((p) => personView(app, p))]] as [string, Resource[]][] } : {}),
  };
}

export function groupHref(app: UcwaApp, id: number): string {
  return `${new Hrefs(app.sid).people}/groups/${id}`;
}

export function groupView(app: UcwaApp, g: GroupRecord, isDefault: boolean): Resource {
  const self = groupHref(app, g.id);
  return {
    rel: isDefault ? 'defaultGroup' : 'group',
    href: self,
    props: [['id', String(g.id)], ['name', g.name]],
    links: [['groupContacts', { href: `${self}/contacts` }]],
  };
}

export function myGroupsView(app: UcwaApp, groups: GroupRecord[], defaultId: number | undefined): Resource {
  const def = groups.filter((g) => g.id === defaultId).map((g) => groupView(app, g, true));
  const rest = groups.filter((g) => g.id !== defaultId).map((g) => groupView(app, g, false));
  const embedded: [string, Resource | Resource[]][] = [];
  if (def[0]) embedded.push(['defaultGroup', def[0]]);
  if (rest.length > 0) embedded.push(['group', rest]);
  return { rel: 'myGroups', href: `${new Hrefs(app.sid).people}/groups`, ...(embedded.length > 0 ? { embedded } : {}) };
}

export function groupContactsView(app: UcwaApp, g: GroupRecord, people: Person[]): Resource {
  const links: [string, Link | Link[]][] = [['group', { href: groupHref(app, g.id) }]];
  return {
    rel: 'groupContacts',
    href: `${groupHref(app, g.id)}/contacts`,
    links,
    ...(people.length > 0 ? { embedded: [['contact', people.map((p) => personView(app, p))]] as [string, Resource[]][] } : {}),
  };
}
