// UCWA presence and people on the engine's presence: me/presence and me/note, people/{uri}
// with its presence and note, presence subscriptions with contactPresence events, search,
// myContacts and myGroups, in JSON and XML, across the doors (a UCWA user's availability is
// the aggregate a CWA watcher sees, and the other way round).
import { expect } from 'chai';
import { drainEvents, LegacyClient } from './support/client.js';
import { UserDirectory } from '../src/users/directory.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { availability, kids, run } from './support/presence.js';
import { expectValidUcwaJson } from './support/ucwa-schemas.js';
import { describe as describeEvent, link, UcwaClient, type Ev, type Mode } from './support/ucwa-client.js';
import type { XNode } from '../src/protocol/xml-tree.js';

const USER_STATE = (n: number) =>
  `<cwaCategory name="state" instanceMask="536870912"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="userState" manual="true"><availability>${n}</availability></state></cwaCategory>`;
const NOTE = (text: string) =>
  `<cwaCategory name="note" instanceMask="0" expires="-1"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal">${text}</body></note></cwaCategory>`;

async function cwaSignedIn(url: string, login: string): Promise<LegacyClient> {
  const c = new LegacyClient(url, login);
  await c.signIn();
  await drainEvents(c);
  return c;
}

/** The last availability of `uri` a CWA watcher was told in these events. */
function lastAvailability(events: XNode[], uri: string): number | undefined {
  let last: number | undefined;
  for (const e of events.filter((x) => x.name === 'userPresence')) {
    const a = availability(e, uri);
    if (a !== undefined) last = a;
  }
  return last;
}

function noteText(events: XNode[], uri: string): string | undefined {
  let last: string | undefined;
  for (const e of events.filter((x) => x.name === 'userPresence')) {
    const user = kids(e, 'user').find((u) => u.attrs.uri === uri);
    const note = user && kids(user, 'cwaCategory').find((c) => c.attrs.name === 'note');
    const body = note?.children[0]?.children.find((c) => c.name === 'body');
    if (body) last = body.text;
  }
  return last;
}

const people = (c: UcwaClient) => c.app!.embedded.people![0]!;
const me = (c: UcwaClient) => c.app!.embedded.me![0]!;

describe('UCWA presence and people', () => {
  it('the JSON schema holds presence, note, subscription and search documents to their shapes', () => {
    const doc = (o: object) => JSON.stringify({ _links: { self: { href: '/x' } }, ...o });
    expectValidUcwaJson(doc({ rel: 'presence', availability: 'Busy' }));
    for (const bad of [{ rel: 'presence', availability: 'Sleeping' }, { rel: 'contactPresence' }, { rel: 'note', message: 'x' }, { rel: 'presenceSubscription', id: '1', duration: 45 }, { rel: 'search' }, { rel: 'contact', uri: 'bob' }]) {
      expect(() => expectValidUcwaJson(doc(bad)), JSON.stringify(bad)).to.throw();
    }
  });

  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  afterEach(async () => gw.close());

  for (const mode of ['json', 'xml'] as Mode[]) {
    it(`${mode}: makeMeAvailable makes a UCWA user Online for CWA watchers; POST me/presence and me/note reach them; me events`, async () => {
      const bob = await cwaSignedIn(gw.url, 'bob');
      const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo', mode).signIn({ available: false });
      await alice.drain();
      await run(bob, `<subscribePresence rid="${bob.nextRid()}"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>`);
      // Before makeMeAvailable an application is not an endpoint anyone can reach: alice is offline.
      const q = await run(bob, `<queryPresence rid="${bob.nextRid()}"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>`);
      expect(lastAvailability(q, 'sip:alice@example.com')).to.equal(18500);
      expect((await alice.post(`${me(alice).href}/presence`, { availability: 'Busy' })).status).to.equal(409);
      const mma = await alice.post(link(me(alice), 'makeMeAvailable'), { supportedModalities: ['Messaging'] });
      expect(mma.status).to.equal(204);
      expect(lastAvailability(await drainEvents(bob), 'sip:alice@example.com')).to.equal(3500);
      const meEvents = (await alice.drain()).map(describeEvent);
      for (const want of ['me:updated:me', 'me:added:presence', 'me:added:note', 'me:updated:presence']) expect(meEvents, want).to.include(want);
      alice.app = await alice.get(alice.app!.href);
      const presence = await alice.get(link(me(alice), 'presence'));
      expect(presence.rel).to.equal('presence');
      expect(presence.props.availability).to.equal('Online');
      // A UCWA user sets BeRightBack: the CWA watcher sees 12500, alice's own channel says presence updated.
      const brb = await alice.post(link(me(alice), 'presence'), { availability: 'BeRightBack' });
      expect(brb.status, brb.text).to.equal(204);
      expect(lastAvailability(await drainEvents(bob), 'sip:alice@example.com')).to.equal(12500);
      expect((await alice.get(link(me(alice), 'presence'))).props.availability).to.equal('BeRightBack');
      const updated = await alice.drain();
      expect(updated.map(describeEvent)).to.include('me:updated:presence');
      expect(updated.find((e) => e.rel === 'presence')!.href).to.equal(link(me(alice), 'presence'));
      for (const [name, number] of [['Busy', 6500], ['DoNotDisturb', 9500], ['Away', 15500], ['Online', 3500]] as const) {
        expect((await alice.post(link(me(alice), 'presence'), { availability: name })).status).to.equal(204);
        expect(lastAvailability(await drainEvents(bob), 'sip:alice@example.com'), name).to.equal(number);
        expect((await alice.get(link(me(alice), 'presence'))).props.availability).to.equal(name);
      }
      // The note: a CWA watcher reads it as the personal note.
      const note = await alice.post(link(me(alice), 'note'), { message: 'Working from the lab, 1+1' });
      expect(note.status, note.text).to.equal(204);
      expect(noteText(await drainEvents(bob), 'sip:alice@example.com')).to.equal('Working from the lab, 1+1');
      const noteRes = await alice.get(link(me(alice), 'note'));
      expect(noteRes.props.message).to.equal('Working from the lab, 1+1');
      expect(noteRes.props.type).to.equal('Personal');
      expect((await alice.drain()).map(describeEvent)).to.include('me:updated:note');
      // Clearing it.
      expect((await alice.post(link(me(alice), 'note'), { message: '' })).status).to.equal(204);
      // (XML leaves an empty property out.)
      expect((await alice.get(link(me(alice), 'note'))).props.message ?? '').to.equal('');
      // Bad input: an unknown availability, a missing one.
      const bad = await alice.post(link(me(alice), 'presence'), { availability: 'Sleeping' });
      expect(bad.status).to.equal(400);
      expect((await alice.post(link(me(alice), 'presence'), {})).status).to.equal(400);
      expect((await alice.post(link(me(alice), 'note'), { message: 'x'.repeat(1001) })).status).to.equal(400);
    });

    it(`${mode}: a CWA user's Busy reaches a UCWA subscriber as contactPresence updated; GET people/{uri}/presence and note; DELETE ends it`, async () => {
      const bob = await cwaSignedIn(gw.url, 'bob');
      const carol = await new UcwaClient(gw.url, 'carol', 'carol-demo', mode).signIn();
      await carol.drain();
      const subs = link(people(carol), 'presenceSubscriptions');
      const created = await carol.post(subs, { duration: '15', uris: ['sip:bob@example.com', 'alice@example.com'] });
      expect(created.status, created.text).to.equal(201);
      const sub = carol.parse(created);
      expect(sub.rel).to.equal('presenceSubscription');
      expect(created.headers.get('location')).to.equal(sub.href);
      expect(String(sub.props.duration)).to.equal('15');
      const initial = await carol.drain();
      const bobHref = `${people(carol).href}/bob@example.com`;
      const first = initial.find((e) => e.rel === 'contactPresence' && e.href === `${bobHref}/presence`)!;
      expect(first, initial.map(describeEvent).join(', ')).to.not.equal(undefined);
      expect(first.sender).to.equal('people');
      expect(first.inHref).to.equal(bobHref);
      expect((await carol.get(`${bobHref}/presence`)).props.availability).to.equal('Online');
      expect((await carol.get(`${people(carol).href}/alice@example.com/presence`)).props.availability).to.equal('Offline');
      // bob (CWA) publishes Busy and a note.
      await run(bob, `<publishSelfPresence rid="${bob.nextRid()}">${USER_STATE(6500)}${NOTE('In a review')}</publishSelfPresence>`);
      const changed = await carol.drain();
      expect(changed.map((e) => `${describeEvent(e)} ${e.href.split('/').slice(-2).join('/')}`)).to.include.members([
        'people:updated:contactPresence bob@example.com/presence',
        'people:updated:contactNote bob@example.com/note',
      ]);
      const presence = await carol.get(`${bobHref}/presence`);
      expect(presence.rel).to.equal('contactPresence');
      expect(presence.props.availability).to.equal('Busy');
      expect((await carol.get(`${bobHref}/note`)).props.message).to.equal('In a review');
      // The contact resource links them.
      const contact = await carol.get(bobHref);
      expect(contact.props.name).to.equal('Bob Brennan');
      expect(contact.props.uri).to.equal('sip:bob@example.com');
      expect(link(contact, 'contactPresence')).to.equal(`${bobHref}/presence`);
      expect(link(contact, 'contactNote')).to.equal(`${bobHref}/note`);
      expect((await carol.request('GET', `${people(carol).href}/nobody@example.com`)).status).to.equal(404);
      // The subscription and its memberships; adding someone.
      expect((await carol.get(sub.href)).props.id).to.equal(sub.props.id);
      const members = await carol.get(link(sub, 'memberships'));
      expect(members.embedded.presenceSubscriptionMembership!.map((m) => m.props.uri)).to.deep.equal(['sip:bob@example.com', 'sip:alice@example.com']);
      const list = await carol.get(subs);
      expect(list.embedded.presenceSubscription!.map((s) => s.href)).to.deep.equal([sub.href]);
      // Nothing for a change of someone not subscribed; a CWA user's change while subscribed again after DELETE: nothing.
      const del = await carol.request('DELETE', sub.href);
      expect(del.status).to.equal(204);
      expect((await carol.request('GET', sub.href)).status).to.equal(404);
      await run(bob, `<publishSelfPresence rid="${bob.nextRid()}">${USER_STATE(9500)}</publishSelfPresence>`);
      expect((await carol.drain()).filter((e) => e.sender === 'people')).to.deep.equal([]);
      // GET still answers (presence is readable without a subscription).
      expect((await carol.get(`${bobHref}/presence`)).props.availability).to.equal('DoNotDisturb');
      expect((await carol.request('DELETE', sub.href)).status).to.equal(404);
    });
  }

  it('UCWA to UCWA and CWA watchers alike: one aggregate; addToPresenceSubscription; bad subscription input', async () => {
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    const carol = await new UcwaClient(gw.url, 'carol', 'carol-demo', 'xml').signIn();
    await alice.drain();
    await carol.drain();
    const subs = link(people(carol), 'presenceSubscriptions');
    const created = await carol.post(subs, { uris: ['sip:bob@example.com'] });
    expect(created.status).to.equal(201);
    const sub = carol.parse(created);
    expect(String(sub.props.duration), 'no duration: the longest').to.equal('30');
    const added = await carol.post(link(sub, 'addToPresenceSubscription'), { contactUris: ['sip:alice@example.com'] });
    expect(added.status, added.text).to.equal(200);
    expect(carol.parse(added).embedded.presenceSubscriptionMembership!.map((m) => m.props.uri)).to.deep.equal(['sip:bob@example.com', 'sip:alice@example.com']);
    await carol.drain();
    expect((await alice.post(link(me(alice), 'presence'), { availability: 'DoNotDisturb' })).status).to.equal(204);
    const ev = (await carol.drain()).find((e: Ev) => e.rel === 'contactPresence')!;
    expect(ev.href).to.match(/\/people\/alice@example\.com\/presence$/);
    expect((await carol.get(ev.href)).props.availability).to.equal('DoNotDisturb');
    // A CWA session of alice as well: the user state is the user's, whichever door set it.
    const aliceCwa = await cwaSignedIn(gw.url, 'alice');
    await run(aliceCwa, `<publishSelfPresence rid="${aliceCwa.nextRid()}">${USER_STATE(12500)}</publishSelfPresence>`);
    expect((await alice.get(link(me(alice), 'presence'))).props.availability).to.equal('BeRightBack');
    expect((await alice.drain()).map(describeEvent)).to.include('me:updated:presence');
    expect((await carol.drain()).some((e) => e.rel === 'contactPresence')).to.equal(true);
    // Bad input.
    for (const body of [{}, { uris: ["not a uri"] }, { uris: ["sip:bob@example.com"], duration: "soon" }] as Record<string, string | string[]>[]) {
      const r = await carol.post(subs, body);
      expect(r.status, JSON.stringify(body)).to.equal(400);
    }
    expect((await carol.post(`${subs}/999/addToPresenceSubscription`, { contactUris: ['sip:bob@example.com'] })).status).to.equal(404);
  });

  it('a presence subscription ends after its duration (10 to 30 minutes)', async () => {
    const timed = await startTestGateway({ holdMs: 0, sessionTimeoutS: 86400, ticketTtlS: 86400 }, { manualClock: true });
    try {
      const bob = await cwaSignedIn(timed.url, 'bob');
      const carol = await new UcwaClient(timed.url, 'carol', 'carol-demo').signIn();
      const created = await carol.post(link(people(carol), 'presenceSubscriptions'), { duration: '5', uris: ['sip:bob@example.com'] });
      const sub = carol.parse(created);
      expect(String(sub.props.duration), 'raised to the least').to.equal('10');
      await carol.drain();
      timed.clock!.advance(9 * 60_000);
      await timed.gateway.tick();
      expect((await carol.request('GET', sub.href)).status).to.equal(200);
      // Meanwhile bob's idle machine made him IdleOnline/Away: told while subscribed.
      expect((await carol.drain()).some((e) => e.rel === 'contactPresence')).to.equal(true);
      timed.clock!.advance(61_000);
      await timed.gateway.tick();
      expect((await carol.request('GET', sub.href)).status).to.equal(404);
      await carol.drain();
      await run(bob, `<publishSelfPresence rid="${bob.nextRid()}">${USER_STATE(6500)}</publishSelfPresence>`);
      expect((await carol.drain()).filter((e) => e.rel === 'contactPresence')).to.deep.equal([]);
    } finally {
      await timed.close();
    }
  });

  it('people/search: names and addresses, name order, limit and moreResultsAvailable, at most --search-max-results', async () => {
    const users = UserDirectory.fromRecords([
      { login: 'alice', password: 'alice-demo', uri: 'sip:alice@example.com', displayName: 'Alice Anders', email: 'alice@example.com' },
      { login: 'jsmith', password: 'x-demo', uri: 'sip:jsmith@example.com', displayName: 'John Smith', email: 'john.smith@example.com' },
      { login: 'jdoe', password: 'x-demo', uri: 'sip:jdoe@example.com', displayName: 'John Doe', email: 'jdoe@example.com' },
      { login: 'asmith', password: 'x-demo', uri: 'sip:asmith@example.com', displayName: 'Anna Smith', email: 'asmith@example.com' },
    ]);
    const dir = await startTestGateway({ holdMs: 0, searchMaxResults: 2 }, { users });
    try {
      const alice = await new UcwaClient(dir.url, 'alice', 'alice-demo', 'xml').signIn();
      const search = link(people(alice), 'search');
      const johns = await alice.get(`${search}?query=john`);
      expect(johns.embedded.contact!.map((c) => c.props.name)).to.deep.equal(['John Doe', 'John Smith']);
      expect(johns.props.moreResultsAvailable).to.equal('false');
      const one = await alice.get(`${search}?query=john&limit=1`);
      expect(one.embedded.contact!.map((c) => c.props.name)).to.deep.equal(['John Doe']);
      expect(one.props.moreResultsAvailable).to.equal('true');
      // Three Smiths and Annas match "smith" or "a…": never more than --search-max-results.
      const smiths = await alice.get(`${search}?query=smith&limit=50`);
      expect(smiths.embedded.contact!.map((c) => c.props.name)).to.deep.equal(['Anna Smith', 'John Smith']);
      const byMail = await alice.get(`${search}?query=${encodeURIComponent('john.smith@example.com')}`);
      expect(byMail.embedded.contact!.map((c) => c.props.uri)).to.deep.equal(['sip:jsmith@example.com']);
    } finally {
      await dir.close();
    }
  });

  for (const mode of ['json', 'xml'] as Mode[]) {
    it(`${mode}: people/search through the directory search (limit, moreResultsAvailable), myContacts and myGroups from the contact list`, async () => {
      const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo', mode).signIn();
      const search = link(people(alice), 'search');
      const found = await alice.get(`${search}?query=bob`);
      expect(found.rel).to.equal('search');
      const hits = found.embedded.contact!;
      expect(hits.map((h) => h.props.uri)).to.deep.equal(['sip:bob@example.com']);
      expect(hits[0]!.props.name).to.equal('Bob Brennan');
      expect(link(hits[0]!, 'contactPresence')).to.match(/\/people\/bob@example\.com\/presence$/);
      expect(String(found.props.moreResultsAvailable)).to.equal('false');
      const byMail = await alice.get(`${search}?query=${encodeURIComponent('carol@')}`);
      expect(byMail.embedded.contact!.map((h) => h.props.uri)).to.deep.equal(['sip:carol@example.com']);
      const none = await alice.get(`${search}?query=zzzz`);
      expect(none.embedded.contact ?? []).to.deep.equal([]);
      expect((await alice.request('GET', search)).status).to.equal(400);
      expect((await alice.request('GET', `${search}?query=bob&limit=many`)).status).to.equal(400);
      // The contact list is the engine's: alice adds bob from a CWA session, the UCWA door lists him.
      const cwa = await cwaSignedIn(gw.url, 'alice');
      await run(cwa, `<addContact rid="${cwa.nextRid()}"><contact uri="sip:bob@example.com" name="Bobby" subscribed="true" tag="false" groups="1"/></addContact>`);
      await run(cwa, `<addGroup rid="${cwa.nextRid()}"><group name="Team"/></addGroup>`);
      const contacts = await alice.get(link(people(alice), 'myContacts'));
      expect(contacts.rel).to.equal('myContacts');
      expect(contacts.embedded.contact!.map((c) => [c.props.uri, c.props.name])).to.deep.equal([['sip:bob@example.com', 'Bob Brennan']]);
      const groups = await alice.get(link(people(alice), 'myGroups'));
      const def = groups.embedded.defaultGroup![0]!;
      expect(groups.embedded.group!.map((g) => g.props.name)).to.deep.equal(['Team']);
      const members = await alice.get(link(def, 'groupContacts'));
      expect(members.embedded.contact!.map((c) => c.props.uri)).to.deep.equal(['sip:bob@example.com']);
      const team = await alice.get(link(groups.embedded.group![0]!, 'groupContacts'));
      expect(team.embedded.contact ?? []).to.deep.equal([]);
      expect((await alice.request('GET', `${link(people(alice), 'myGroups')}/999`)).status).to.equal(404);
    });
  }
});
