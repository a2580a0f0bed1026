// The client library's presence, contact-list and directory parts (src/client/presence.ts,
// contacts.ts, search.ts) against a live gateway; every document received is checked
// against schemas/.
import { expect } from 'chai';
import { AVAILABILITY_NUMBERS, availabilityOf, CwaClient, CwaRequestError, type PresenceInfo } from '../src/client/index.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { sleep, until } from './support/sdk.js';
import { expectValidDocument } from './support/schemas.js';


describe('client library: presence, contacts, directory', () => {
  let gw: TestGateway;
  const clients: CwaClient[] = [];

  async function signedIn(login: string, transport: 'websocket' | 'polling' = 'websocket'): Promise<CwaClient> {
    const client = new CwaClient({
      baseUrl: gw.url,
      transport,
      inspect: (direction, _channel, xml) => {
        if (direction === 'received') expectValidDocument(xml);
      },
    });
    clients.push(client);
    await client.signIn(login, `${login}-demo`, { availability: AVAILABILITY_NUMBERS.available });
    return client;
  }

  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw.close();
  });

  it('names availability numbers by their ranges', () => {
    expect([3500, 4500, 6500, 7500, 9500, 12500, 15500, 18500, 0, undefined].map(availabilityOf)).to.deep.equal([
      'available', 'away', 'busy', 'busy', 'doNotDisturb', 'beRightBack', 'away', 'offline', 'offline', 'offline',
    ]);
    for (const [name, n] of Object.entries(AVAILABILITY_NUMBERS)) expect(availabilityOf(n)).to.equal(name);
  });

  it('reads its own presence at sign-in and publishes status and note (selfPresence follows)', async () => {
    const alice = await signedIn('alice');
    await until(() => alice.presence.self !== undefined, 'selfPresence');
    expect(alice.presence.self).to.include({ uri: 'sip:alice@example.com', availability: 'available', displayName: 'Alice Anders' });
    const seen: PresenceInfo[] = [];
    alice.presence.onSelfChanged((p) => seen.push(p));
    await alice.presence.setAvailability('busy');
    await until(() => alice.presence.self?.availability === 'busy', 'busy');
    await alice.presence.setNote('Working <from> home & away');
    await until(() => alice.presence.self?.note === 'Working <from> home & away', 'the note');
    await alice.presence.setNote('');
    await until(() => alice.presence.self?.note === '', 'the note cleared');
    expect(seen.map((p) => p.availability)).to.include('busy');
    expect(alice.presence.self?.availability).to.equal('busy');
  });

  it('subscribes to others and sees their changes live, over WebSocket and over polling', async () => {
    const alice = await signedIn('alice', 'polling');
    const bob = await signedIn('bob', 'websocket');
    const states: string[] = [];
    alice.presence.onSubscriptionState((uri, state) => states.push(`${uri} ${state}`));
    await alice.presence.subscribe(['sip:bob@example.com']);
    await until(() => alice.presence.get('SIP:Bob@example.com')?.availability === 'available', 'bob available');
    expect(states).to.deep.equal(['sip:bob@example.com subscribed']);
    expect(alice.presence.subscriptionOf('sip:bob@example.com')).to.equal('subscribed');
    expect(alice.presence.get('sip:bob@example.com')?.displayName).to.equal('Bob Brennan');
    await bob.presence.setAvailability('doNotDisturb');
    await bob.presence.setNote('in the lab');
    await until(() => alice.presence.get('sip:bob@example.com')?.availability === 'doNotDisturb' && alice.presence.get('sip:bob@example.com')?.note === 'in the lab', 'bob busy with a note');
    await bob.presence.setAvailability('offline'); // Appear offline
    await until(() => alice.presence.get('sip:bob@example.com')?.availability === 'offline', 'bob appears offline');
    await alice.presence.unsubscribe(['sip:bob@example.com']);
    expect(alice.presence.subscriptionOf('sip:bob@example.com')).to.equal(undefined);
    await bob.presence.setAvailability('available');
    await sleep(200);
    expect(alice.presence.get('sip:bob@example.com')?.availability).to.equal('offline');
  });

  it('queries presence once, and refuses a URI without sip: with a CwaRequestError', async () => {
    const alice = await signedIn('alice');
    await signedIn('carol');
    const [carol] = await alice.presence.query(['sip:carol@example.com']);
    expect(carol).to.include({ uri: 'sip:carol@example.com', availability: 'available' });
    const err = await alice.presence.subscribe(['carol@example.com']).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(CwaRequestError);
    expect((err as CwaRequestError).code).to.equal(18001);
  });

  it('keeps the contact list: the full list at sign-in, adds, groups, removals, also from another session', async () => {
    const alice = await signedIn('alice');
    await until(() => alice.contacts.loaded, 'the contact list');
    expect(alice.contacts.all()).to.deep.equal([]);
    const changes: number[] = [];
    alice.contacts.onChanged(() => changes.push(alice.contacts.all().length));
    const friends = await alice.contacts.addGroup('Friends');
    expect(friends.name).to.equal('Friends');
    await alice.contacts.add('sip:bob@example.com', { name: 'Bob Brennan', groups: [friends.id] });
    await until(() => alice.contacts.get('sip:bob@example.com') !== undefined, 'bob in the list');
    expect(alice.contacts.get('sip:bob@example.com')).to.deep.include({ name: 'Bob Brennan', subscribed: true, tag: false, groups: [friends.id] });
    expect(alice.contacts.inGroup(friends.id).map((c) => c.uri)).to.deep.equal(['sip:bob@example.com']);
    // A subscribed contact's presence comes by itself.
    await until(() => alice.presence.get('sip:bob@example.com') !== undefined, "bob's presence");

    // A second session of alice's sees the list, and the changes the first makes.
    const alice2 = await signedIn('alice', 'polling');
    await until(() => alice2.contacts.get('sip:bob@example.com') !== undefined, 'the list in the second session');
    await alice.contacts.add('sip:carol@example.com', { name: 'Carol' });
    await until(() => alice2.contacts.get('sip:carol@example.com')?.name === 'Carol', 'carol in the second session');
    await alice.contacts.remove('sip:bob@example.com');
    await until(() => alice2.contacts.get('sip:bob@example.com') === undefined, 'bob removed in the second session');
    await alice.contacts.renameGroup(friends.id, 'Pals');
    await until(() => alice2.contacts.group(friends.id)?.name === 'Pals', 'the group renamed');
    await alice.contacts.removeGroup(friends.id);
    await until(() => alice.contacts.group(friends.id) === undefined, 'the group gone');
    expect(changes.length).to.be.greaterThan(3);

    const dup = await alice.contacts.addGroup('~').then(() => undefined, (e: unknown) => e);
    expect(dup).to.be.instanceOf(CwaRequestError);
    expect((dup as CwaRequestError).sip?.code).to.equal(485);
  });

  it('searches the directory by name or address, and says why an empty search is refused', async () => {
    const alice = await signedIn('alice');
    const byName = await alice.directory.search('car');
    expect(byName.users.map((u) => u.uri)).to.deep.equal(['sip:carol@example.com']);
    expect(byName.users[0]).to.include({ displayName: 'Carol Chen', title: 'Product Manager' });
    expect(byName.moreAvailable).to.equal(false);
    const byWord = await alice.directory.search({ displayName: 'brennan' });
    expect(byWord.users.map((u) => u.displayName)).to.deep.equal(['Bob Brennan']);
    const none = await alice.directory.search('nobody-here');
    expect(none.users).to.deep.equal([]);
    const err = await alice.directory.search({ firstName: ' ' }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(CwaRequestError);
    expect((err as CwaRequestError).code).to.equal(18001);
  });

  it('caps results and says more are available', async () => {
    await gw.close();
    gw = await startTestGateway({ holdMs: 1000, searchMaxResults: 2 });
    const alice = await signedIn('alice');
    // Alice (by name), bob (by address), carol (by first name): three match, two come.
    const r = await alice.directory.search({ displayName: 'alice', emailAlias: 'bob', firstName: 'carol', match: 'or' });
    expect(r.users).to.have.length(2);
    expect(r.moreAvailable).to.equal(true);
  });
});

describe('client library: user activity (reportActivity, UA=true)', () => {
  let gw: TestGateway;
  const clients: CwaClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw?.close();
  });

  for (const transport of ['websocket', 'polling'] as const) {
    it(`keeps the user active while they are, and brings them back from idle at once (${transport})`, async function () {
      this.timeout(20_000);
      // Idle after 1 s without UA=true; polls held 20 s, so a report must not wait for the held poll.
      gw = await startTestGateway({ holdMs: 20_000, machineIdleS: 1 });
      const frames: string[] = [];
      const alice = new CwaClient({
        baseUrl: gw.url,
        transport,
        activityReportMs: 200,
        inspect: (direction, channel, xml) => {
          if (direction === 'received') expectValidDocument(xml);
          else if (channel === 'websocket' && xml.startsWith('<ack')) frames.push(xml);
        },
      });
      const bob = new CwaClient({ baseUrl: gw.url, transport: 'websocket' });
      clients.push(alice, bob);
      await alice.signIn('alice', 'alice-demo', { availability: AVAILABILITY_NUMBERS.available });
      await bob.signIn('bob', 'bob-demo');
      await bob.presence.subscribe(['sip:alice@example.com']);
      const seen: string[] = [];
      bob.presence.onChanged((p) => {
        if (p.uri === 'sip:alice@example.com') seen.push(p.availability);
      });
      await until(() => bob.presence.get('sip:alice@example.com')?.availability === 'available', 'alice available at first');

      // Active for 3 s (three idle periods): reported every 200 ms at most, she never idles.
      const activeUntil = Date.now() + 3000;
      while (Date.now() < activeUntil) {
        alice.reportActivity();
        await sleep(50);
      }
      expect(seen.filter((a) => a !== 'available'), 'alice idled while active').to.deep.equal([]);
      if (transport === 'websocket') {
        // Coalesced: about one report per 200 ms, not one per call (60 calls).
        expect(frames.filter((f) => f.includes('ua="true"')).length).to.be.within(10, 20);
      }

      // Left alone she turns idle (online-idle reads as away) …
      await until(() => bob.presence.get('sip:alice@example.com')?.availability === 'away', 'alice idle', 5000);
      expect(bob.presence.get('sip:alice@example.com')?.availabilityNumber).to.equal(4500);
      // … and the next activity brings her back at once (not after the held poll's 20 s).
      const back = Date.now();
      alice.reportActivity();
      await until(() => bob.presence.get('sip:alice@example.com')?.availability === 'available', 'alice active again', 3000);
      expect(Date.now() - back).to.be.below(3000);
      expect(alice.transport).to.equal(transport);
    });
  }

  it('sends nothing for activity before sign-in or after sign-out', async () => {
    gw = await startTestGateway({ holdMs: 1000 });
    const requests: string[] = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    };
    const alice = new CwaClient({ baseUrl: gw.url, fetch: counting, webSocket: null, activityReportMs: 10 });
    alice.reportActivity(); // not signed in: nothing to tell, no error
    await sleep(100);
    expect(requests).to.deep.equal([]);
    await alice.signIn('alice', 'alice-demo');
    await alice.signOut();
    const after = requests.length;
    alice.reportActivity();
    await sleep(100);
    expect(requests.slice(after)).to.deep.equal([]);
  });
});
