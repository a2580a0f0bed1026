// Client-chosen confIds next to the gateway's own, and invitations nobody accepts: what a
// client that numbers its conversations itself, ignores the confId it is given, never sends
// acceptImSession and always polls with UA=false (the public Java client) meets.
import { expect } from 'chai';
import type { XNode } from '../src/protocol/xml-tree.js';
import { conferenceChild, drainEvents, LegacyClient, messageTexts } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const invite = (rid: string, confId: number | string, uri: string, text: string) =>
  `<conference confId="${confId}" rid="${rid}"><initiateImSession><uris><uri>${uri}</uri></uris><message><format>text/plain</format><content>${text}</content></message></initiateImSession></conference>`;
const say = (rid: string, confId: number | string, text: string) =>
  `<conference confId="${confId}" rid="${rid}"><sendMessage><format>text/plain</format><content>${text}</content></sendMessage></conference>`;

function invitationConfId(events: XNode[], inviter: string): number {
  const e = events.find((ev) => conferenceChild(ev, 'imSessionReceived')?.children.find((c) => c.name === 'inviter')?.attrs.uri === inviter);
  expect(e, `an invitation from ${inviter}`).to.not.equal(undefined);
  return Number(e!.attrs.confId);
}

describe('confIds a client chooses itself', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0, inviteTimeoutS: 60, mpopAcceptS: 7 }, { manualClock: true });
  });
  afterEach(() => gw.close());

  async function signIn(...logins: string[]): Promise<LegacyClient[]> {
    const clients = await Promise.all(logins.map((l) => new LegacyClient(gw.url, l).signIn()));
    for (const c of clients) await drainEvents(c);
    return clients;
  }

  it('never delivers into an incoming conversation a message the client meant for a conversation it numbered (the Java client sequence)', async () => {
    const [alice, bob, carol, dave] = await signIn('alice', 'bob', 'carol', 'dave');
    // Alice's client counts its own confIds: 1 for dave.
    const first = await alice.command(invite(alice.nextRid(), 1, 'sip:dave@example.com', 'hi dave'));
    expect(first.root.children[0]!.attrs.confId, first.body).to.equal('1');
    // Bob invites alice: the gateway numbers that conversation in alice's session.
    await bob.command(invite(bob.nextRid(), 0, 'sip:alice@example.com', 'hi alice'));
    const incoming = invitationConfId(await drainEvents(alice), 'sip:bob@example.com');
    // Her client drops the invitation from its table on `imSessionState incoming`, so its counter
    // stays at 1 and its next conversation asks for 2; it ignores the confId it is given.
    const rid = alice.nextRid();
    const started = await alice.command(invite(rid, 2, 'sip:carol@example.com', 'hi carol'));
    const carolConf = invitationConfId(await drainEvents(carol), 'sip:alice@example.com');
    await carol.command(`<conference rid="${carol.nextRid()}" confId="${carolConf}"><acceptImSession/></conference>`);
    // Her next line to carol goes out on confId 2, as the client numbered it.
    await alice.command(say(alice.nextRid(), 2, 'for carol only'));

    const bobSaw = await drainEvents(bob);
    expect(messageTexts(bobSaw), 'nothing reaches bob').to.deep.equal([]);
    // Bob's invitation was not accepted by alice's send either.
    expect(bobSaw.some((e) => conferenceChild(e, 'imSessionState')?.text === 'connected')).to.equal(false);
    expect(messageTexts(await drainEvents(dave))).to.deep.equal([]);
    // The incoming conversation never took 2: the gateway numbers it in its own range, the client got 2.
    expect(incoming).to.be.greaterThan(1_000_000);
    expect(started.root.children[0]!.attrs, started.body).to.include({ rid, confId: '2' });
    expect(messageTexts(await drainEvents(carol))).to.deep.equal(['for carol only']);
  });

  it('refuses requests on an incoming invitation whose confId the client asked for another conversation, and never accepts it for the client', async () => {
    const [alice, bob] = await signIn('alice', 'bob', 'carol');
    await bob.command(invite(bob.nextRid(), 0, 'sip:alice@example.com', 'hi alice'));
    const incoming = invitationConfId(await drainEvents(alice), 'sip:bob@example.com');
    // A client that counts from what it last saw asks for the invitation's confId for carol.
    const rid = alice.nextRid();
    const started = await alice.command(invite(rid, incoming, 'sip:carol@example.com', 'hi carol'));
    const granted = started.root.children[0]!.attrs.confId;
    expect(granted, started.body).to.not.equal(String(incoming));

    for (const request of [say(alice.nextRid(), incoming, 'for carol only'), `<conference rid="${alice.nextRid()}" confId="${incoming}"><acceptImSession/></conference>`]) {
      const r = await alice.command(request);
      const refusal = r.root.children[0]!;
      expect(refusal.name, r.body).to.equal('requestFailed');
      expect(refusal.children[0]!.attrs.code).to.equal('18102');
      expect(refusal.children[0]!.attrs.detail).to.contain(`confId ${incoming}`).and.contain(`rid="${rid}"`).and.contain(`confId ${granted}`);
    }
    // Past --mpop-accept-s the invitation still rings: it is not taken at a confId the client gave away.
    gw.clock!.advance(8_000);
    await gw.gateway.tick();
    const bobSaw = await drainEvents(bob);
    expect(messageTexts(bobSaw)).to.deep.equal([]);
    expect(bobSaw.some((e) => conferenceChild(e, 'imSessionState')?.text === 'connected')).to.equal(false);
    // Unanswered, it fails for bob as any unanswered invitation does (408).
    gw.clock!.advance(53_000);
    await gw.gateway.tick();
    const failed = (await drainEvents(bob)).find((e) => e.name === 'requestFailed');
    expect(failed?.children[0]!.children[0]!.attrs.code).to.equal('408');
  });

  it('lets a confId asked for again still reach the conversation when it holds only the people that request named', async () => {
    const [alice, bob] = await signIn('alice', 'bob', 'carol');
    await alice.command(invite(alice.nextRid(), 1, 'sip:bob@example.com', 'hi bob'));
    const bobConf = invitationConfId(await drainEvents(bob), 'sip:alice@example.com');
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
    await drainEvents(alice);
    // Asked again for bob (a client that forgot it had confId 1): 1 still reaches bob alone.
    await alice.command(invite(alice.nextRid(), 1, 'sip:bob@example.com', 'again'));
    const ok = await alice.command(say(alice.nextRid(), 1, 'still you'));
    expect(ok.root.children[0]!.name, ok.body).to.equal('requestAccepted');
    expect(messageTexts(await drainEvents(bob))).to.deep.equal(['still you']);
    // Asked for carol: from then on 1 may mean carol's conversation, so it is refused.
    await alice.command(invite(alice.nextRid(), 1, 'sip:carol@example.com', 'hi carol'));
    const refused = await alice.command(say(alice.nextRid(), 1, 'for carol only'));
    expect(refused.root.children[0]!.name, refused.body).to.equal('requestFailed');
    expect(messageTexts(await drainEvents(bob))).to.deep.equal([]);
  });
});

describe('invitations nobody accepts (no acceptImSession, UA=false)', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0, mpopAcceptS: 7 }, { manualClock: true });
  });
  afterEach(() => gw.close());

  it('hands the invitation to the endpoint heard from last after --mpop-accept-s, so the inviter can go on sending', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await drainEvents(alice);
    await drainEvents(bob);
    const start = await alice.command(invite(alice.nextRid(), 1, 'sip:bob@example.com', 'hello'));
    expect(start.root.children[0]!.attrs.confId).to.equal('1');
    const bobConf = invitationConfId(await drainEvents(bob), 'sip:alice@example.com');
    gw.clock!.advance(6_000);
    await gw.gateway.tick();
    // Before --mpop-accept-s, a send is refused (18102): nobody has taken the invitation.
    await alice.command(say(alice.nextRid(), 1, 'too early'));
    const early = (await drainEvents(alice)).map((e) => conferenceChild(e, 'messageSendFailed')).find(Boolean);
    expect(early?.children[0]!.attrs.code).to.equal('18102');
    // Bob's client keeps polling with UA=false and never accepts.
    await drainEvents(bob);
    gw.clock!.advance(1_500);
    await gw.gateway.tick();

    const rid = alice.nextRid();
    await alice.command(say(rid, 1, 'are you there?'));
    const aliceSaw = await drainEvents(alice);
    expect(aliceSaw.some((e) => conferenceChild(e, 'imSessionState')?.text === 'connected')).to.equal(true);
    expect(aliceSaw.map((e) => conferenceChild(e, 'messageIdReceived')).find(Boolean)?.attrs.rid).to.equal(rid);
    expect(aliceSaw.some((e) => conferenceChild(e, 'messageSendFailed'))).to.equal(false);
    const bobSaw = await drainEvents(bob);
    expect(bobSaw.every((e) => Number(e.attrs.confId) === bobConf)).to.equal(true);
    expect(messageTexts(bobSaw)).to.deep.equal(['are you there?']);
  });
});
