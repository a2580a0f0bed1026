// One-to-one IM end to end, over HTTP, as a legacy client does it.
import { expect } from 'chai';
import { conferenceChild, describe as d, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

describe('one-to-one IM over the command and data channels', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 1500 });
  });
  afterEach(() => gw.close());

  async function connectedPair() {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await alice.poll();
    await bob.poll();
    const start = await alice.command(
      `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris>` +
        `<message><format>X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=000000; CS=0; PF=22</format><content>hi bob</content></message>` +
        `<subject>lunch</subject></initiateImSession></conference>`,
    );
    const accepted = start.root.children[0]!;
    expect(accepted.name).to.equal('initiateImSessionAccepted');
    const aliceConf = Number(accepted.attrs.confId);
    const invite = await bob.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
    const received = invite.find((e) => conferenceChild(e, 'imSessionReceived'))!;
    const bobConf = Number(received.attrs.confId);
    return { alice, bob, aliceConf, bobConf, received };
  }

  it('signs in, invites, accepts, exchanges messages both ways, types, and hangs up', async () => {
    const { alice, bob, aliceConf, bobConf, received } = await connectedPair();

    // The invitation carries inviter, role, mode, subject and the first message (format passed through).
    const inv = received.children[0]!;
    const inviter = inv.children.find((c) => c.name === 'inviter')!;
    expect(inviter.attrs).to.include({ uri: 'sip:alice@example.com', name: 'Alice Anders', sourceNetwork: 'sameEnterprise' });
    expect(inv.children.find((c) => c.name === 'role')!.text).to.equal('attendee');
    expect(inv.children.find((c) => c.name === 'escalationMode')!.text).to.equal('invitingPeer');
    expect(inv.children.find((c) => c.name === 'subject')!.text).to.equal('lunch');
    const msg = inv.children.find((c) => c.name === 'message')!;
    expect(msg.children.find((c) => c.name === 'format')!.text).to.equal('X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=000000; CS=0; PF=22');
    expect(msg.children.find((c) => c.name === 'content')!.text).to.equal('hi bob');

    const acc = await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
    expect(acc.root.children[0]!.name).to.equal('requestAccepted');
    const bobSide = await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
    expect(bobSide.map(d)).to.include.members(['conference/escalationMode=peer', 'conference/participant', 'conference/imSessionState=connected']);

    const aliceSide = await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
    expect(aliceSide.map(d)).to.deep.equal([
      'conference/initiateImSessionAccepted',
      'conference/escalationMode=invitingPeer',
      'conference/imSessionState=connecting',
      'conference/escalationMode=peer',
      'conference/participant',
      'conference/imSessionState=connected',
    ]);
    expect(aliceSide.every((e) => Number(e.attrs.confId) === aliceConf)).to.equal(true);

    // bob -> alice, with markup-sensitive characters.
    const rid = bob.nextRid();
    await bob.command(`<conference rid="${rid}" confId="${bobConf}"><sendMessage><format>text/plain</format><content>5 &lt; 6 &amp; "ok"</content></sendMessage></conference>`);
    const got = await alice.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
    const mr = conferenceChild(got.find((e) => conferenceChild(e, 'messageReceived'))!, 'messageReceived')!;
    expect(mr.attrs.sender).to.equal('sip:bob@example.com');
    expect(mr.children[0]!.children.find((c) => c.name === 'content')!.text).to.equal('5 < 6 & "ok"');
    expect(mr.children[0]!.children.find((c) => c.name === 'format')!.text).to.equal('text/plain');
    const ack = await bob.pollUntil((e) => !!conferenceChild(e, 'messageIdReceived'));
    expect(conferenceChild(ack.find((e) => conferenceChild(e, 'messageIdReceived'))!, 'messageIdReceived')!.attrs.rid).to.equal(rid);

    // alice -> bob, and composing.
    await alice.command(`<conference rid="${alice.nextRid()}" confId="${aliceConf}"><notifyComposing>Composing</notifyComposing></conference>`);
    await alice.command(`<conference rid="${alice.nextRid()}" confId="${aliceConf}"><sendMessage><content>on my way</content></sendMessage></conference>`);
    const bobGot = await bob.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
    const composing = bobGot.map((e) => conferenceChild(e, 'composingState')).find(Boolean)!;
    expect(composing.text).to.equal('composing');
    expect(composing.attrs.uri).to.equal('sip:alice@example.com');

    // alice hangs up: bob sees her leave and the session end; alice sees her own end only.
    await alice.command(`<conference rid="${alice.nextRid()}" confId="${aliceConf}"><terminateImSession/></conference>`);
    const end = await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');
    expect(end.map(d)).to.include('conference/participantRemoved=sip:alice@example.com');
    expect(conferenceChild(end.find((e) => conferenceChild(e, 'participantRemoved'))!, 'participantRemoved')!.text).to.equal('sip:alice@example.com');
    const aliceEnd = await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');
    expect(aliceEnd.some((e) => conferenceChild(e, 'participantRemoved'))).to.equal(false);

    // Messages to an ended conversation are refused with a clear failure.
    const late = await alice.command(`<conference rid="${alice.nextRid()}" confId="${aliceConf}"><sendMessage><content>hello?</content></sendMessage></conference>`);
    const failed = late.root.children[0]!;
    expect(failed.name).to.equal('requestFailed');
    expect(failed.children[0]!.attrs.code).to.equal('18102');

    // Sign out; the ticket stays valid for a new session.
    const out = await alice.terminate();
    expect(out.root.children[0]!.name).to.equal('requestAccepted');
    const gone = await alice.poll();
    expect(gone.reply.status).to.equal(404);
    await alice.signIn();
    expect(alice.sid).to.be.greaterThan(0);
  });

  it('accepts the seed example with a client-chosen confId and the initateImSession spelling', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const r = await alice.command(
      `<conference confId="1" rid="2"><initateImSession><uris><uri>sip:bob@example.com</uri></uris><message><Format>text/plain</Format><content>hello</content></message></initateImSession></conference>`,
    );
    expect(r.root.children[0]!.attrs).to.include({ rid: '2', confId: '1' });
    const inv = await bob.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
    const msg = conferenceChild(inv.find((e) => conferenceChild(e, 'imSessionReceived'))!, 'imSessionReceived')!.children.find((c) => c.name === 'message')!;
    expect(msg.children.find((c) => c.name === 'format')!.text).to.equal('text/plain');
  });

  it('lets the invitee answer by just sending (no acceptImSession), as real clients do', async () => {
    const { alice, bob, bobConf } = await connectedPair();
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><sendMessage><content>yes?</content></sendMessage></conference>`);
    const got = await alice.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
    expect(got.map(d)).to.include('conference/imSessionState=connected');
  });

  it('refuses a message while the invitation is still ringing, with messageSendFailed', async () => {
    const { alice, aliceConf } = await connectedPair();
    const rid = alice.nextRid();
    const r = await alice.command(`<conference rid="${rid}" confId="${aliceConf}"><sendMessage><content>anyone?</content></sendMessage></conference>`);
    expect(r.root.children[0]!.name).to.equal('requestAccepted');
    const evs = await alice.pollUntil((e) => !!conferenceChild(e, 'messageSendFailed'));
    expect(conferenceChild(evs.find((e) => conferenceChild(e, 'messageSendFailed'))!, 'messageSendFailed')!.attrs.rid).to.equal(rid);
  });

  for (const [who, code, reason] of [
    ['sip:nobody@example.com', '404', 'an unknown user'],
    ['sip:carol@example.com', '480', 'a user who is not signed in'],
  ] as const) {
    it(`answers an invitation to ${reason} with the documented failure sequence (SIP ${code})`, async () => {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      await alice.poll();
      const rid = alice.nextRid();
      const r = await alice.command(`<conference rid="${rid}" confId="0"><initiateImSession><uris><uri>${who}</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
      const confId = r.root.children[0]!.attrs.confId;
      const { events } = await alice.poll();
      expect(events.map(d)).to.deep.equal([
        'conference/initiateImSessionAccepted',
        'conference/escalationMode=invitingPeer',
        'conference/escalationMode=none',
        'conference/inviteFailed',
        'requestFailed',
        'conference/imSessionState=terminated',
      ]);
      expect(conferenceChild(events[3]!, 'inviteFailed')!.attrs.uri).to.equal(who);
      expect(events.filter((e) => e.name === 'conference').every((e) => e.attrs.confId === confId)).to.equal(true);
      const failed = events[4]!;
      expect(failed.attrs.rid).to.equal(rid);
      const error = failed.children[0]!;
      expect(error.attrs.code).to.equal('18201');
      expect(error.children[0]!.name).to.equal('sipResponse');
      expect(error.children[0]!.attrs.code).to.equal(code);
    });
  }

  it('does not ring a user who has blocked the inviter: the invitation fails as if they were signed out (480)', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const carol = await new LegacyClient(gw.url, 'carol').signIn();
    for (const c of [alice, bob, carol]) await c.poll();
    const blocked = await bob.command(`<updateContainer rid="${bob.nextRid()}"><container id="32000"><addMember type="uri" value="sip:alice@example.com"/></container></updateContainer>`);
    expect(blocked.root.children[0]!.name, blocked.body).to.equal('requestAccepted');
    await bob.poll();

    const rid = alice.nextRid();
    await alice.command(`<conference rid="${rid}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
    const failed = (await alice.pollUntil((e) => e.name === 'requestFailed')).find((e) => e.name === 'requestFailed')!;
    expect(failed.attrs.rid).to.equal(rid);
    expect(failed.children[0]!.children[0]!.attrs.code).to.equal('480');

    // In a conference too: bob is not rung, carol is.
    const rid2 = alice.nextRid();
    await alice.command(`<conference rid="${rid2}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris><message><content>all</content></message></initiateImSession></conference>`);
    const evs = await alice.pollUntil((e) => e.name === 'requestFailed' && e.attrs.rid === rid2);
    expect(conferenceChild(evs.find((e) => conferenceChild(e, 'inviteFailed'))!, 'inviteFailed')!.attrs.uri).to.equal('sip:bob@example.com');
    expect((await bob.poll()).events.some((e) => conferenceChild(e, 'imSessionReceived'))).to.equal(false);
    expect((await carol.poll()).events.some((e) => conferenceChild(e, 'imSessionReceived'))).to.equal(true);

    // Someone bob has not blocked still reaches him.
    await carol.command(`<conference rid="${carol.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hey</content></message></initiateImSession></conference>`);
    expect((await bob.poll()).events.some((e) => conferenceChild(e, 'imSessionReceived'))).to.equal(true);
  });

  it('tells the inviter when the invitee declines (terminateImSession before accepting)', async () => {
    const { alice, bob, bobConf } = await connectedPair();
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><terminateImSession/></conference>`);
    const evs = await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');
    const failed = evs.find((e) => e.name === 'requestFailed')!;
    expect(failed.children[0]!.children[0]!.attrs.code).to.equal('603');
  });

  it('numbers confIds per session: a free client choice is adopted, one in use is numbered above 1000000', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await new LegacyClient(gw.url, 'bob').signIn();
    const start = async (requested: number) => {
      const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="${requested}"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>x</content></message></initiateImSession></conference>`);
      return r.root.children[0]!.attrs.confId!;
    };
    const ids: string[] = [];
    for (const requested of [0, 0, 7, 7, 3, 0]) ids.push(await start(requested));
    // 0: the next low id; 7: the client's choice; 7 again (in use): a gateway-range id instead;
    // 3 (free, below the highest): adopted; 0: the next id above every low id used.
    expect(ids).to.deep.equal(['1', '2', '7', '1000001', '3', '8']);
    // An id whose conversation is over may be asked for again (a client counter that goes down):
    // it names the new conversation only. The gateway's own choices never repeat.
    await alice.command(`<conference rid="${alice.nextRid()}" confId="3"><terminateImSession/></conference>`);
    expect(await start(3)).to.equal('3');
    expect(await start(3)).to.equal('1000002');
  });

  it('refuses bad invitations clearly: not a SIP URI, empty first message, only oneself', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const cases = [
      '<uris><uri>bob@example.com</uri></uris><message><content>x</content></message>',
      '<uris><uri>sip:bob@example.com</uri></uris><message><content></content></message>',
      '<uris><uri>sip:alice@example.com</uri></uris><message><content>x</content></message>',
    ];
    for (const c of cases) {
      const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession>${c}</initiateImSession></conference>`);
      expect(r.root.children[0]!.name, r.body).to.equal('requestFailed');
    }
  });
});
