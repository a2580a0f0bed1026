// Presence (contacts-presence-search.md §3, §4): publishing, aggregation, queries,
// subscriptions, machine state from UA, raw categories. Reference examples are sent as
// written there.
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { availability, BURST, categoryNames, kids, named, only, presenceUser, run, signedIn, textsOf } from './support/presence.js';

const NS = 'xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa"';
const NOTE = (text: string) =>
  `<cwaCategory name="note" instanceMask="0" expires="-1"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal">${text}</body></note></cwaCategory>`;
const USER_STATE = (n: number) =>
  `<cwaCategory name="state" instanceMask="536870912"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="userState" manual="true"><availability>${n}</availability></state></cwaCategory>`;
const MACHINE_STATE = (n: number) =>
  `<cwaCategory name="state" instanceMask="805306368"><state xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="machineState" manual="false"><availability>${n}</availability></state></cwaCategory>`;
const CALENDAR = (mailbox: string) =>
  `<cwaCategory name="calendarData" instanceMask="0"><calendarData xmlns="http://schemas.microsoft.com/2006/09/sip/calendarData" mailboxID="${mailbox}">` +
  `<freeBusy xmlns="http://schemas.microsoft.com/exchange/services/2006/types" startTime="2008-05-01T00:00:00Z" granularity="15" encodingVersion="1">AAAAAA==</freeBusy></calendarData></cwaCategory>`;
const CARD = (mobile: string) =>
  `<cwaCategory name="contactCard" instanceMask="3"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">` +
  `<company>Contoso, LTD.</company><title>Lead Program Manager</title><office>Redmond</office>` +
  `<phone type="mobile"><uri>${mobile}</uri><displayString>${mobile}</displayString></phone></contactCard></cwaCategory>`;

describe('presence', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  async function users(...logins: string[]): Promise<LegacyClient[]> {
    const out: LegacyClient[] = [];
    for (const login of logins) {
      const c = new LegacyClient(gw.url, login);
      await signedIn(c);
      out.push(c);
    }
    return out;
  }

  describe('publishing and aggregation', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0 });
    });

    it('§3.2 publishes a personal note (the ee354240 example): requestSucceeded, then selfPresence holding it', async () => {
      const [alice] = await users('alice');
      const reply = await alice!.command(`<publishSelfPresence rid="2">${NOTE('Working from home today')}</publishSelfPresence>`);
      expect(reply.root.children[0]!.name).to.equal('requestAccepted');
      const { events } = await alice!.poll();
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'selfPresence']);
      const note = kids(events[1]!, 'cwaCategory').find((c) => c.attrs.name === 'note')!;
      expect(note.attrs).to.include({ instance: '0', version: '1' });
      expect(note.attrs.publishTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(note.children[0]!.ns).to.equal('http://schemas.microsoft.com/2006/09/sip/note');
      expect(textsOf(note, 'body')).to.deep.equal(['Working from home today']);
    });

    it('§3.2 accepts the machine-state example without a payload namespace: machine inactive makes Online idle (4500)', async () => {
      const [alice, bob] = await users('alice', 'bob');
      const events = await run(alice!, `<publishSelfPresence rid="6">${MACHINE_STATE(5000)}</publishSelfPresence>`);
      const self = only(events, 'selfPresence');
      expect(availability(self)).to.equal(4500);
      const state = kids(self, 'cwaCategory').find((c) => c.attrs.name === 'state')!.children[0]!;
      expect(state.ns).to.equal('http://schemas.microsoft.com/2006/09/sip/state');
      expect(state.attrs.type).to.equal('aggregateState');
      const q = await run(bob!, '<queryPresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>');
      expect(availability(only(q, 'userPresence'), 'sip:alice@example.com')).to.equal(4500);
    });

    it('aggregates user state × machine state into the documented availability numbers', async () => {
      const [alice, bob] = await users('alice', 'bob');
      const cases: Array<[number, number, number, string]> = [
        // user state, machine state, aggregate, activity token
        [3500, 3500, 3500, 'Available'],
        [3500, 5000, 4500, 'Inactive'],
        [3500, 15500, 15500, 'Away'],
        [6500, 3500, 6500, 'Busy'],
        [6500, 5000, 7500, 'IdleBusy'],
        [9500, 3500, 9500, 'DoNotDisturb'],
        [12500, 5000, 12500, 'BeRightBack'],
        [15500, 3500, 15500, 'Away'],
        [18500, 3500, 18500, 'Offline'],
      ];
      for (const [user, machine, expected, token] of cases) {
        await run(alice!, `<publishSelfPresence rid="${alice!.nextRid()}">${USER_STATE(user)}${MACHINE_STATE(machine)}</publishSelfPresence>`);
        const q = await run(bob!, `<queryPresence rid="${bob!.nextRid()}"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>`);
        const u = presenceUser(q, 'sip:alice@example.com')!;
        expect(availability(only(q, 'userPresence'), 'sip:alice@example.com'), `${user} × ${machine}`).to.equal(expected);
        expect(textsOf(u, 'availability')).to.have.length(1);
        const activity = kids(u, 'cwaCategory')[0]!.children[0]!.children.find((c) => c.name === 'activity')!;
        expect(activity.attrs.token).to.equal(token);
      }
      await alice!.terminate();
      const q = await run(bob!, '<queryPresence rid="99"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>');
      expect(availability(only(q, 'userPresence'), 'sip:alice@example.com')).to.equal(18500);
    });

    it('§3.3 selfPresence at sign-in: aggregate state, contactCard instance 0 (identity) and 1 (work phone), services', async () => {
      const alice = new LegacyClient(gw.url, 'alice');
      const self = only(await signedIn(alice), 'selfPresence');
      expect(kids(self, 'cwaCategory').map((c) => [c.attrs.name, c.attrs.instance])).to.deep.equal([
        ['state', '0'], ['contactCard', '0'], ['contactCard', '1'], ['services', '0'],
      ]);
      const [card0, card1] = kids(self, 'cwaCategory').filter((c) => c.attrs.name === 'contactCard');
      expect(textsOf(card0!, 'displayName')).to.deep.equal(['Alice Anders']);
      const phone = card1!.children[0]!.children.find((c) => c.name === 'phone')!;
      expect(phone.attrs.type).to.equal('work');
      expect(textsOf(phone, 'uri')).to.deep.equal(['tel:+14255550101']);
    });

    it('starts from userStateAvailability of initiateSession', async () => {
      const alice = new LegacyClient(gw.url, 'alice');
      const burst = await signedIn(alice, `<initiateSession rid="1"><userStateAvailability>12500</userStateAvailability></initiateSession>`);
      expect(availability(only(burst, 'selfPresence'))).to.equal(12500);
    });

    it('sends selfPresence to every session of the user when their presence changes', async () => {
      const [a1, a2] = await users('alice', 'alice');
      await run(a1!, `<publishSelfPresence rid="3">${USER_STATE(6500)}</publishSelfPresence>`);
      const { events } = await a2!.poll();
      expect(events.map((e) => e.name)).to.deep.equal(['selfPresence']);
      expect(availability(events[0]!)).to.equal(6500);
    });

    it('publishes all categories of a request or none: a state without availability fails synchronously', async () => {
      const [alice] = await users('alice');
      const reply = await alice!.command(
        `<publishSelfPresence rid="4">${NOTE('never seen')}<cwaCategory name="state" instanceMask="536870912"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state"/></cwaCategory></publishSelfPresence>`,
      );
      expect(reply.root.children[0]!.name).to.equal('requestFailed');
      const events = await run(alice!, `<queryPresence rid="5"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>`);
      expect(textsOf(only(events, 'userPresence'), 'body')).to.deep.equal([]);
    });

    it('refuses Appear Offline when --enable-appear-offline false, and says so in configuration', async () => {
      await gw.close();
      gw = await startTestGateway({ holdMs: 0, enableAppearOffline: 'false', userNotice: 'Test Notice', composingRefreshS: 3, composingTimeoutS: 60 });
      const alice = new LegacyClient(gw.url, 'alice');
      const burst = await signedIn(alice);
      const config = only(burst, 'configuration');
      expect(config.children.find((c) => c.name === 'enableAppearOffline')!.text).to.equal('false');
      expect(config.children.find((c) => c.name === 'userNotice')!.text).to.equal('Test Notice');
      expect(config.children.find((c) => c.name === 'imComposingTimers')!.attrs).to.deep.equal({ refreshInterval: '3', timeout: '60' });
      const reply = await alice.command(`<publishSelfPresence rid="2">${USER_STATE(18500)}</publishSelfPresence>`);
      expect(reply.root.children[0]!.children[0]!.attrs.code).to.equal('18102');
    });
  });

  describe('queries and subscriptions', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0 });
    });

    it('§3.6 queryPresence for two users: one userPresence, each user with state, note, calendarData, contactCard and services', async () => {
      const [bob, carol, alice] = await users('bob', 'carol', 'alice');
      await run(bob!, `<publishSelfPresence rid="1">${NOTE('In a training all day')}${CALENDAR('bob@example.com')}${CARD('tel:+14255550199')}</publishSelfPresence>`);
      await run(carol!, `<publishSelfPresence rid="1">${NOTE('Lunch')}${CALENDAR('carol@example.com')}${USER_STATE(6500)}</publishSelfPresence>`);
      const reply = await alice!.command(
        `<queryPresence rid="4"><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris></queryPresence>`,
      );
      expect(reply.root.children[0]!.name).to.equal('requestAccepted');
      const { events } = await alice!.poll();
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'userPresence']);
      const [b, c] = kids(events[1]!, 'user');
      expect(b!.attrs).to.deep.equal({ uri: 'sip:bob@example.com', sourceNetwork: 'sameEnterprise' });
      expect(c!.attrs.uri).to.equal('sip:carol@example.com');
      for (const u of [b!, c!]) {
        expect(new Set(categoryNames(u))).to.deep.equal(new Set(['state', 'note', 'calendarData', 'contactCard', 'services']));
        const state = kids(u, 'cwaCategory')[0]!;
        expect(state.attrs).to.include({ name: 'state', instance: '0' });
        expect(state.children[0]!.attrs.type).to.equal('aggregateState');
      }
      expect(availability(events[1]!, 'sip:bob@example.com')).to.equal(3500);
      expect(availability(events[1]!, 'sip:carol@example.com')).to.equal(6500);
      expect(textsOf(b!, 'body')).to.deep.equal(['In a training all day']);
      expect(textsOf(c!, 'body')).to.deep.equal(['Lunch']);
      const cal = kids(b!, 'cwaCategory').find((x) => x.attrs.name === 'calendarData')!.children[0]!;
      expect(cal.attrs.mailboxID).to.equal('bob@example.com');
      expect(cal.children[0]!.ns).to.equal('http://schemas.microsoft.com/exchange/services/2006/types');
      // A company-level watcher sees company and title, not the mobile phone (Team level and up).
      expect(textsOf(b!, 'title')).to.include('Lead Program Manager');
      expect(textsOf(b!, 'displayString')).to.not.include('tel:+14255550199');
      expect(textsOf(b!, 'displayName')).to.deep.equal(['Bob Brennan']);
    });

    it('§3.7 subscribePresence: presenceSubscriptionState subscribed and userPresence now, then on every change, offline at sign-out', async () => {
      const [alice, bob] = await users('alice', 'bob');
      const events = await run(alice!, '<subscribePresence rid="19"><uris><uri>sip:bob@example.com</uri></uris></subscribePresence>');
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'presenceSubscriptionState', 'userPresence']);
      expect(kids(events[1]!, 'user')[0]!.attrs).to.deep.equal({ uri: 'sip:bob@example.com', state: 'subscribed' });
      expect(availability(events[2]!, 'sip:bob@example.com')).to.equal(3500);

      await run(bob!, `<publishSelfPresence rid="2">${USER_STATE(9500)}</publishSelfPresence>`);
      let got = (await alice!.poll()).events;
      expect(got.map((e) => e.name)).to.deep.equal(['userPresence']);
      expect(availability(got[0]!, 'sip:bob@example.com')).to.equal(9500);

      await run(bob!, `<publishSelfPresence rid="3">${NOTE('back at 3')}</publishSelfPresence>`);
      got = (await alice!.poll()).events;
      expect(textsOf(only(got, 'userPresence'), 'body')).to.deep.equal(['back at 3']);

      await bob!.terminate();
      got = (await alice!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:bob@example.com')).to.equal(18500);
      // The note outlives the session; services (what the endpoint can do) does not.
      expect(categoryNames(presenceUser(got, 'sip:bob@example.com')!)).to.not.include('services');
      expect(textsOf(only(got, 'userPresence'), 'body')).to.deep.equal(['back at 3']);

      await signedIn(bob!);
      got = (await alice!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:bob@example.com')).to.equal(3500);
    });

    it('§3.7 unSubscribePresence (and the unsubscribePresence spelling) stops the updates; only requestSucceeded comes', async () => {
      const [alice, bob, carol] = await users('alice', 'bob', 'carol');
      await run(alice!, '<subscribePresence rid="1"><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris></subscribePresence>');
      let events = await run(alice!, '<unSubscribePresence rid="2"><uris><uri>sip:bob@example.com</uri></uris></unSubscribePresence>');
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded']);
      events = await run(alice!, '<unsubscribePresence rid="3"><uris><uri>sip:carol@example.com</uri></uris></unsubscribePresence>');
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded']);
      await run(bob!, `<publishSelfPresence rid="4">${USER_STATE(6500)}</publishSelfPresence>`);
      await run(carol!, `<publishSelfPresence rid="4">${USER_STATE(6500)}</publishSelfPresence>`);
      expect((await alice!.poll()).events).to.have.length(0);
    });

    it('refuses a uri without sip: in queryPresence, subscribePresence and unSubscribePresence', async () => {
      const [alice] = await users('alice');
      for (const req of ['queryPresence', 'subscribePresence', 'unSubscribePresence']) {
        const reply = await alice!.command(`<${req} rid="1"><uris><uri>bob@example.com</uri></uris></${req}>`);
        expect(reply.root.children[0]!.name, req).to.equal('requestFailed');
        expect(reply.root.children[0]!.children[0]!.attrs.code).to.equal('18001');
      }
    });

    it('subscribes a session to its subscribed contacts (autoSubscribePresenceForContacts), at sign-in after the burst', async () => {
      const [alice] = await users('alice');
      await run(alice!, '<addContact rid="1"><contact uri="sip:bob@example.com" name="Bob" subscribed="true" tag="false"/></addContact>');
      await run(alice!, '<addContact rid="2"><contact uri="sip:carol@example.com" name="Carol" subscribed="false" tag="false"/></addContact>');
      await alice!.terminate();
      const again = new LegacyClient(gw.url, 'alice');
      const burst = await signedIn(again);
      expect(burst.map((e) => e.name)).to.deep.equal([...BURST, 'userPresence']);
      expect(kids(burst[6]!, 'user').map((u) => u.attrs.uri)).to.deep.equal(['sip:bob@example.com']);
      expect(availability(burst[6]!, 'sip:bob@example.com')).to.equal(18500);
      const [bob] = await users('bob');
      const { events } = await again.poll();
      expect(availability(only(events, 'userPresence'), 'sip:bob@example.com')).to.equal(3500);
      // A session that opted out gets none of it.
      const quiet = new LegacyClient(gw.url, 'alice');
      const qb = await signedIn(quiet, '<initiateSession rid="1"><options autoSubscribePresenceForContacts="false"/></initiateSession>');
      expect(qb.map((e) => e.name)).to.deep.equal(BURST);
      await run(bob!, `<publishSelfPresence rid="9">${USER_STATE(6500)}</publishSelfPresence>`);
      expect(named((await quiet.poll()).events, 'userPresence')).to.have.length(0);
    });
  });

  describe('machine state from UA and session ends', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0, sessionTimeoutS: 3600, machineIdleS: 300, machineAwayS: 1200 }, { manualClock: true });
    });

    it('turns a session idle after --machine-idle-s without UA=true, away after --machine-away-s, active again on UA=true', async () => {
      const [alice, bob] = await users('alice', 'bob');
      await run(bob!, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      gw.clock!.advance(301_000);
      await alice!.poll(); // UA=false: the session is alive, the user is not active
      await gw.gateway.tick();
      let got = (await bob!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(4500);
      expect(availability(only((await alice!.poll()).events, 'selfPresence'))).to.equal(4500);
      gw.clock!.advance(900_000);
      await gw.gateway.tick();
      got = (await bob!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(15500);
      await alice!.poll(alice!.ackId, 'true');
      await gw.gateway.engine.exclusive(async () => undefined); // let the UA update run
      got = (await bob!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(3500);
    });

    it('keeps a session that does not publish machine state active', async () => {
      const alice = new LegacyClient(gw.url, 'alice');
      await signedIn(alice, '<initiateSession rid="1"><options autoPublishMachineState="false"/></initiateSession>');
      const [bob] = await users('bob');
      await run(bob!, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      gw.clock!.advance(1_300_000);
      await gw.gateway.tick();
      expect(named((await bob!.poll()).events, 'userPresence')).to.have.length(0);
    });

    it('makes a user whose session times out offline to watchers', async () => {
      const [alice, bob] = await users('alice', 'bob');
      await run(bob!, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      gw.clock!.advance(3_599_000);
      await bob!.poll();
      gw.clock!.advance(2_000);
      await gw.gateway.tick();
      const got = (await bob!.poll()).events;
      expect(availability(only(got, 'userPresence'), 'sip:alice@example.com')).to.equal(18500);
      expect(alice!.sid).to.not.equal(bob!.sid);
    });
  });

  describe('raw categories', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0 });
    });

    const PUBLISH = `<publishRawCategories rid="31"><rawCategory name="CurrentProject" nameSpace="http://example.org/2008/project"
      instanceMask="0" version="1" container="300" expireType="static" publishTime="2008-03-01T10:00:00Z" endpointId="0">
      <project xmlns="http://example.org/2008/project">Falcon</project></rawCategory></publishRawCategories>`;

    it('§3.10 publishRawCategories: selfRawCategories to the publisher; userRawCategories to a watcher in that container who filtered for it', async () => {
      const [alice] = await users('alice');
      const bob = new LegacyClient(gw.url, 'bob');
      await signedIn(bob, '<initiateSession rid="1"><categoryEventFilter rawCategories="CurrentProject GPSPosition"/></initiateSession>');
      const carol = new LegacyClient(gw.url, 'carol');
      await signedIn(carol, '<initiateSession rid="1"><categoryEventFilter rawCategories="CurrentProject"/></initiateSession>');
      await run(alice!, '<updateContainer rid="2"><container id="300"><addMember type="uri" value="sip:bob@example.com"/></container></updateContainer>');
      await run(bob!, '<subscribePresence rid="2"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
      await run(carol, '<subscribePresence rid="2"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');

      const events = (await run(alice!, PUBLISH)).filter((e) => e.name !== 'subscribers'); // bob and carol subscribed
      expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'selfRawCategories']);
      const raw = kids(events[1]!, 'rawCategory')[0]!;
      expect(raw.attrs).to.include({ name: 'CurrentProject', nameSpace: 'http://example.org/2008/project', instanceMask: '0', version: '1', container: '300', expireType: 'static' });
      expect(raw.attrs.endpointId).to.equal(String(alice!.sid));
      expect(raw.children[0]!.text).to.equal('Falcon');

      const bobGot = (await bob.poll()).events;
      const u = kids(only(bobGot, 'userRawCategories'), 'user')[0]!;
      expect(u.attrs.uri).to.equal('sip:alice@example.com');
      expect(kids(u, 'rawCategory')[0]!.children[0]!.text).to.equal('Falcon');
      // carol is a colleague (Company, 200), not in Team (300): nothing for her.
      expect(named((await carol.poll()).events, 'userRawCategories')).to.have.length(0);

      // Static raw categories come back in the next session's burst.
      await alice!.terminate();
      const burst = await signedIn(alice!);
      expect(kids(only(burst, 'selfRawCategories'), 'rawCategory').map((r) => r.attrs.name)).to.deep.equal(['CurrentProject']);
    });

    it('drops an endpoint raw category when its session ends', async () => {
      const [a1, a2] = await users('alice', 'alice');
      await run(a1!, PUBLISH.replace('expireType="static"', 'expireType="endpoint"'));
      await a2!.poll();
      await a1!.terminate();
      const { events } = await a2!.poll();
      expect(kids(only(events, 'selfRawCategories'), 'rawCategory')).to.have.length(0);
    });
  });

  it('answers a presence request with no session with 18100', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = new LegacyClient(gw.url, 'alice');
    await alice.logon();
    const reply = await alice.http('POST', '/cwa/MainCommandHandler.ashx', `<cwaRequests ${NS} sid="77"><queryPresence rid="1"><uris><uri>sip:bob@example.com</uri></uris></queryPresence></cwaRequests>`);
    expect(reply.root.children[0]!.children[0]!.attrs.code).to.equal('18100');
  });
});
