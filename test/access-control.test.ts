// Access control (contacts-presence-search.md §5): containers, what a watcher in each
// container receives, updateContainer, subscribers and acknowledgeSubscriber.
import { expect } from 'chai';
import type { XNode } from '../src/protocol/xml-tree.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { availability, categoryNames, kids, named, only, presenceUser, run, signedIn, textsOf } from './support/presence.js';

const PUBLISH =
  '<publishSelfPresence rid="1">' +
  '<cwaCategory name="note" instanceMask="0"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal">Gone fishing</body></note></cwaCategory>' +
  '<cwaCategory name="calendarData" instanceMask="0"><calendarData xmlns="http://schemas.microsoft.com/2006/09/sip/calendarData" mailboxID="alice@example.com"/></cwaCategory>' +
  '<cwaCategory name="contactCard" instanceMask="2"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">' +
  '<phone type="mobile"><uri>tel:+14255550111</uri><displayString>mobile-111</displayString></phone>' +
  '<phone type="home"><uri>tel:+14255550122</uri><displayString>home-122</displayString></phone>' +
  '</contactCard></cwaCategory>' +
  '<cwaCategory name="state" instanceMask="536870912"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="userState"><availability>6500</availability></state></cwaCategory>' +
  '</publishSelfPresence>';

/** What bob sees of alice, summarised. */
function seen(user: XNode) {
  const names = [...new Set(categoryNames(user))].sort();
  const phones = textsOf(user, 'displayString');
  return {
    categories: names,
    availability: availability({ name: 'userPresence', ns: '', attrs: {}, children: [user], text: '' }, user.attrs.uri),
    note: textsOf(user, 'body').length > 0,
    title: textsOf(user, 'title').length > 0,
    displayName: textsOf(user, 'displayName').length > 0,
    work: phones.includes('+1 425 555 0101'),
    mobile: phones.includes('mobile-111'),
    home: phones.includes('home-122'),
  };
}

describe('access control', () => {
  let gw: TestGateway;
  let alice: LegacyClient;
  let bob: LegacyClient;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0 });
    alice = new LegacyClient(gw.url, 'alice');
    bob = new LegacyClient(gw.url, 'bob');
    await signedIn(alice);
    await signedIn(bob);
    await run(alice, PUBLISH);
  });
  afterEach(() => gw.close());

  async function bobSees(): Promise<ReturnType<typeof seen>> {
    const events = await run(bob, `<queryPresence rid="${bob.nextRid()}"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>`);
    return seen(presenceUser(events, 'sip:alice@example.com')!);
  }

  async function put(container: number, member = '<addMember type="uri" value="sip:bob@example.com"/>') {
    return run(alice, `<updateContainer rid="${alice.nextRid()}"><container id="${container}">${member}</container></updateContainer>`);
  }

  it('sends every container with its members after initiateSession (the bootstrap ones, empty ones too)', async () => {
    const c = new LegacyClient(gw.url, 'carol');
    const containers = only(await signedIn(c), 'containers');
    expect(kids(containers, 'container').map((x) => [x.attrs.id, kids(x, 'member').map((m) => `${m.attrs.type}:${m.attrs.value}`)])).to.deep.equal([
      ['100', ['federated:']],
      ['200', ['sameEnterprise:']],
      ['300', []],
      ['400', []],
      ['32000', []],
    ]);
  });

  it('matrix: what a watcher in each container receives', async () => {
    const company = { categories: ['calendarData', 'contactCard', 'note', 'services', 'state'], availability: 6500, note: true, title: true, displayName: true, work: true, mobile: false, home: false };
    const matrix: Array<[string, () => Promise<unknown>, ReturnType<typeof seen>]> = [
      ['200 Company (sameEnterprise, by default)', async () => undefined, company],
      ['100 Public', () => put(100), { categories: ['contactCard', 'state'], availability: 6500, note: false, title: false, displayName: true, work: true, mobile: false, home: false }],
      ['200 Company (explicit)', () => put(200), company],
      ['300 Team', () => put(300), { ...company, mobile: true }],
      ['400 Personal', () => put(400), { ...company, mobile: true, home: true }],
      ['32000 Blocked', () => put(32000), { categories: ['state'], availability: 18500, note: false, title: false, displayName: false, work: false, mobile: false, home: false }],
    ];
    for (const [label, setup, expected] of matrix) {
      // Only one explicit container at a time: clear the previous ones.
      for (const id of [100, 200, 300, 400, 32000]) {
        await run(alice, `<updateContainer rid="${alice.nextRid()}"><container id="${id}"><deleteMember type="uri" value="sip:bob@example.com"/></container></updateContainer>`);
      }
      await setup();
      expect(await bobSees(), label).to.deep.equal(expected);
    }
  });

  it('matrix: no container at all (Default) shows the identity card only; domain and everyone members place watchers', async () => {
    await put(200, '<deleteMember type="sameEnterprise" value=""/>');
    expect(await bobSees()).to.deep.include({ categories: ['contactCard'], displayName: true, work: false, availability: undefined });
    await put(300, '<addMember type="everyone" value=""/>');
    expect(await bobSees()).to.deep.include({ mobile: true, home: false });
    await put(400, '<addMember type="domain" value="example.com"/>'); // a domain beats everyone
    expect(await bobSees()).to.deep.include({ home: true });
    await put(100); // an explicit URI beats a domain
    expect(await bobSees()).to.deep.include({ categories: ['contactCard', 'state'], note: false });
  });

  it('§5.4 updateContainer: requestSucceeded, then containers with the full membership of that container, to every session', async () => {
    const second = new LegacyClient(gw.url, 'alice');
    await signedIn(second);
    await put(400, '<addMember type="uri" value="sip:jessicaa@contoso.com"/><addMember type="uri" value="sip:bob@example.com"/>');
    const events = await run(alice, '<updateContainer rid="2"><container id="400"><deleteMember type="uri" value="sip:jessicaa@contoso.com"/></container></updateContainer>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'containers']);
    const c = kids(events[1]!, 'container');
    expect(c.map((x) => x.attrs.id)).to.deep.equal(['400']);
    expect(kids(c[0]!, 'member').map((m) => m.attrs)).to.deep.equal([{ type: 'uri', value: 'sip:bob@example.com' }]);
    const other = (await second.poll()).events;
    expect(named(other, 'containers')).to.have.length(2);
  });

  it('§5.4 block a user and allow a whole domain at Company level', async () => {
    let events = await run(alice, '<updateContainer rid="3"><container id="32000"><addMember type="uri" value="sip:spam@fabrikam.com"/></container></updateContainer>');
    expect(kids(kids(only(events, 'containers'), 'container')[0]!, 'member')[0]!.attrs).to.deep.equal({ type: 'uri', value: 'sip:spam@fabrikam.com' });
    events = await run(alice, '<updateContainer rid="4"><container id="200"><addMember type="domain" value="litwareinc.com"/></container></updateContainer>');
    expect(kids(kids(only(events, 'containers'), 'container')[0]!, 'member').map((m) => m.attrs)).to.deep.equal([
      { type: 'sameEnterprise', value: '' },
      { type: 'domain', value: 'litwareinc.com' },
    ]);
    // A federated user of that domain now sees Company-level presence (note included).
    const q = await run(bob, '<queryPresence rid="5"><uris><uri>sip:someone@litwareinc.com</uri></uris></queryPresence>');
    expect(presenceUser(q, 'sip:someone@litwareinc.com')!.attrs.sourceNetwork).to.equal('federated');
  });

  it('blocking a subscribed watcher shows it offline at once; unblocking shows the real state again', async () => {
    await run(bob, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
    await put(32000);
    let got = (await bob.poll()).events;
    expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(18500);
    expect(categoryNames(presenceUser(got, 'sip:alice@example.com')!)).to.deep.equal(['state']);
    await put(32000, '<deleteMember type="uri" value="sip:bob@example.com"/>');
    got = (await bob.poll()).events;
    expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(6500);
  });

  it('refuses a member that is not a URI or domain, the same member added and deleted, and too many members', async () => {
    for (const bad of [
      '<addMember type="uri" value="not a uri"/>',
      '<addMember type="domain" value=""/>',
      '<addMember type="uri" value="sip:x@y.com"/><deleteMember type="uri" value="sip:x@y.com"/>',
    ]) {
      const reply = await alice.command(`<updateContainer rid="7"><container id="300">${bad}</container></updateContainer>`);
      expect(reply.root.children[0]!.name, bad).to.equal('requestFailed');
      expect(reply.root.children[0]!.children[0]!.attrs.code).to.equal('18001');
    }
    await gw.close();
    gw = await startTestGateway({ holdMs: 0, maxContainerMembers: 2 });
    alice = new LegacyClient(gw.url, 'alice');
    await signedIn(alice);
    const events = await run(alice, '<updateContainer rid="8"><container id="300"><addMember type="uri" value="sip:a@x.com"/><addMember type="uri" value="sip:b@x.com"/><addMember type="uri" value="sip:c@x.com"/></container></updateContainer>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs).to.include({ code: '413' });
  });

  it('answers the containers request with every container', async () => {
    const events = await run(alice, '<containers rid="9"/>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'containers']);
    expect(kids(events[1]!, 'container')).to.have.length(5);
  });

  describe('subscribers', () => {
    it('§5.6 tells the owner about a new watcher at once, and acknowledges it (§5.8)', async () => {
      await run(bob, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      const { events } = await alice.poll();
      const s = kids(only(events, 'subscribers'), 'subscriber');
      expect(s.map((x) => x.attrs)).to.deep.equal([{ uri: 'sip:bob@example.com', displayName: 'Bob Brennan', sourceNetwork: 'sameEnterprise', acknowledged: 'false' }]);
      const acked = await run(alice, '<acknowledgeSubscriber rid="12"><uri>sip:bob@example.com</uri></acknowledgeSubscriber>');
      expect(acked.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'subscribers']);
      expect(kids(acked[1]!, 'subscriber')[0]!.attrs.acknowledged).to.equal('true');
      // Subscribing again does not make the watcher new again; the next session lists it, acknowledged.
      await run(bob, '<subscribePresence rid="2"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      expect(named((await alice.poll()).events, 'subscribers')).to.have.length(0);
      const later = new LegacyClient(gw.url, 'alice');
      const burst = await signedIn(later);
      expect(kids(only(burst, 'subscribers'), 'subscriber').map((x) => x.attrs.acknowledged)).to.deep.equal(['true']);
    });

    it('§5.6 a watcher who subscribes while the owner is offline is listed at the owner\'s next sign-in', async () => {
      await alice.terminate();
      await run(bob, '<addContact rid="1"><contact uri="sip:alice@example.com" name="Alice" subscribed="true" tag="false"/></addContact>');
      const burst = await signedIn(alice);
      expect(kids(only(burst, 'subscribers'), 'subscriber').map((x) => [x.attrs.uri, x.attrs.acknowledged])).to.deep.equal([['sip:bob@example.com', 'false']]);
    });

    it('§5.8 accepts acknowledgeSubscriber as uri, uris or subscriber children, with or without sip:', async () => {
      for (const login of ['bob', 'carol', 'dave']) {
        const w = login === 'bob' ? bob : new LegacyClient(gw.url, login);
        if (login !== 'bob') await signedIn(w);
        await run(w, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      }
      const events = await run(
        alice,
        '<acknowledgeSubscriber rid="1"><uri>bob@example.com</uri><uris><uri>sip:carol@example.com</uri></uris><subscriber uri="sip:dave@example.com"/></acknowledgeSubscriber>',
      );
      const last = named(events, 'subscribers').pop()!;
      expect(kids(last, 'subscriber').map((x) => [x.attrs.uri, x.attrs.acknowledged])).to.deep.equal([
        ['sip:bob@example.com', 'true'],
        ['sip:carol@example.com', 'true'],
        ['sip:dave@example.com', 'true'],
      ]);
      const unknown = await run(alice, '<acknowledgeSubscriber rid="2"><uri>sip:nobody@example.com</uri></acknowledgeSubscriber>');
      expect(only(unknown, 'requestFailed').children[0]!.children[0]!.attrs.code).to.equal('404');
    });
  });
});
