// XML of the contacts, presence, access-control and search events. A view shared by many
// watchers (one PresenceUserView object) is rendered once.
import type { EventRecord } from '../delivery/event-log.js';
import type {
  CategoryPayload,
  CategoryView,
  PresenceUserView,
  RawCategoryRecord,
  RawUserView,
  UserDataEvent,
} from '../engine/user-data-types.js';
import { NS } from '../engine/presence-model.js';
import { serializeFragment } from './fragment.js';
import { indentElements, layoutContent, lineBreak, type XmlLayout } from './layout.js';
import { attrs, element, textElement } from './xml.js';

function renderPayload(p: CategoryPayload): string {
  switch (p.type) {
    case 'xml':
      return serializeFragment(p.xml);
    case 'aggregateState': {
      const activity =
        typeof p.activity === 'string' ? element('activity', { token: p.activity }) : p.activity.map((a) => serializeFragment(a, NS.state)).join('');
      return (
        `<state xmlns="${NS.state}" xmlns:xsi="${NS.xsi}" xsi:type="aggregateState">` +
        textElement('availability', String(p.availability)) +
        activity +
        '</state>'
      );
    }
    case 'contactCard': {
      const identity =
        p.displayName !== undefined
          ? element('identity', {}, element('name', {}, textElement('displayName', p.displayName)) + (p.email ? textElement('email', p.email) : ''))
          : '';
      return (
        `<contactCard xmlns="${NS.contactCard}">` +
        identity +
        (p.company ? textElement('company', p.company) : '') +
        (p.title ? textElement('title', p.title) : '') +
        (p.office ? textElement('office', p.office) : '') +
        p.phones.map((ph) => element('phone', { type: ph.type }, textElement('uri', ph.uri) + textElement('displayString', ph.displayString))).join('') +
        '</contactCard>'
      );
    }
    case 'services':
      return (
        `<services xmlns="${NS.services}">` +
        element('service', { uri: p.uri }, element('capabilities', {}, element('text', { render: true, capture: true, deviceAvailability: p.availability }))) +
        '</services>'
      );
  }
}

function renderCategory(c: CategoryView): string {
  return element(
    'cwaCategory',
    { name: c.name, instance: c.instance, version: c.version, publishTime: c.publishTime },
    c.payload ? renderPayload(c.payload) : '',
  );
}

const categoriesCache = new WeakMap<CategoryView[], string>();
function renderCategories(list: CategoryView[]): string {
  let xml = categoriesCache.get(list);
  if (xml === undefined) categoriesCache.set(list, (xml = list.map(renderCategory).join('')));
  return xml;
}

const userCache = new WeakMap<PresenceUserView, string>();
function renderPresenceUser(u: PresenceUserView): string {
  let xml = userCache.get(u);
  if (xml === undefined) {
    xml = element('user', { uri: u.uri, sourceNetwork: u.sourceNetwork }, renderCategories(u.categories));
    userCache.set(u, xml);
  }
  return xml;
}

/**
 * A user of a userPresence in the original layout (two levels below cwaEvents), laid out
 * once per view: a view goes to every watcher, often in events of their own.
 */
const laidOutUserCache = new WeakMap<PresenceUserView, string>();
function laidOutPresenceUser(u: PresenceUserView): string {
  let xml = laidOutUserCache.get(u);
  if (xml === undefined) laidOutUserCache.set(u, (xml = indentElements(renderPresenceUser(u), 2)));
  return xml;
}

function renderRaw(r: RawCategoryRecord): string {
  return element(
    'rawCategory',
    {
      name: r.name,
      nameSpace: r.nameSpace,
      instanceMask: r.instance,
      version: r.version,
      container: r.container,
      publishTime: r.publishTime,
      endpointId: r.endpointId,
      expireType: r.expireType,
      expires: r.expires,
    },
    r.payload.map((p) => serializeFragment(p)).join(''),
  );
}

function renderRawUser(u: RawUserView): string {
  return element('user', { uri: u.uri, sourceNetwork: u.sourceNetwork }, u.categories.map(renderRaw).join(''));
}

function body(ev: UserDataEvent): { attributes: string; inner: string } {
  switch (ev.kind) {
    case 'contactGroup': {
      const d = ev.data;
      const inner =
        d.groups.map((g) => element('group', { id: g.id, name: g.name, externalUri: g.externalUri, action: g.action })).join('') +
        d.contacts
          .map((c) =>
            element('contact', {
              uri: c.uri,
              name: c.name,
              subscribed: c.subscribed,
              tag: c.tag,
              groups: c.groups?.join(' '),
              action: c.action,
            }),
          )
          .join('');
      return { attributes: attrs({ fullList: d.fullList, deltaNum: d.deltaNum }), inner };
    }
    case 'selfPresence':
      return { attributes: '', inner: renderCategories(ev.categories) };
    case 'userPresence':
      return { attributes: '', inner: ev.users.map(renderPresenceUser).join('') };
    case 'presenceSubscriptionState':
      return { attributes: '', inner: ev.users.map((u) => element('user', { uri: u.uri, state: u.state })).join('') };
    case 'selfRawCategories':
      return { attributes: '', inner: ev.categories.map(renderRaw).join('') };
    case 'userRawCategories':
      return { attributes: '', inner: ev.users.map(renderRawUser).join('') };
    case 'containers':
      return {
        attributes: '',
        inner: ev.containers.map((c) => element('container', { id: c.id }, c.members.map((m) => element('member', { type: m.type, value: m.value })).join(''))).join(''),
      };
    case 'subscribers':
      return {
        attributes: '',
        inner: ev.subscribers
          .map((s) => element('subscriber', { uri: s.uri, displayName: s.displayName, sourceNetwork: s.sourceNetwork, acknowledged: s.acknowledged }))
          .join(''),
      };
    case 'searchResult':
      return {
        attributes: attrs({ rid: ev.rid, returned: ev.users.length, moreAvailable: ev.moreAvailable }),
        inner: ev.users.map((u) => element('user', { ...u })).join(''),
      };
  }
}

/** The content of a userPresence, laid out: the users' part is shared by every event that holds them. */
function laidOutUserPresence(ev: Extract<UserDataEvent, { kind: 'userPresence' }>): string {
  let inner = '';
  for (const u of ev.users) inner += laidOutPresenceUser(u);
  return inner === '' ? '' : inner + lineBreak(1);
}

const recordCaches: Record<XmlLayout, WeakMap<UserDataEvent, EventRecord>> = { original: new WeakMap(), compact: new WeakMap() };

/** The head/tail record of a user-data event; the same event object is rendered once per layout. */
export function userDataRecord(ev: UserDataEvent, layout: XmlLayout = 'compact'): EventRecord {
  const cache = recordCaches[layout];
  let r = cache.get(ev);
  if (!r) {
    let attributes: string;
    let inner: string;
    if (layout === 'original' && ev.kind === 'userPresence') {
      attributes = '';
      inner = laidOutUserPresence(ev);
    } else {
      const rendered = body(ev);
      attributes = rendered.attributes;
      inner = layoutContent(layout, rendered.inner, 1);
    }
    r = { head: `<${ev.kind} eid="`, tail: inner === '' ? `"${attributes}/>` : `"${attributes}>${inner}</${ev.kind}>` };
    cache.set(ev, r);
  }
  return r;
}
