// UCWA instant messaging on the shared engine (ucwa-messaging.md §5–§9): UCWA -> CWA and
// CWA -> UCWA, UCWA <-> UCWA, decline, typing, stop, failures, a three-person conference
// across the doors, and the field clients' habits (message href as send URL, /typing,
// odd operationIds), in JSON and XML.
import { expect } from 'chai';
import { conferenceChild, drainEvents, LegacyClient, messageTexts } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { dataText, describe as describeEvent, link, UcwaClient, type Ev, type Mode } from './support/ucwa-client.js';

async function cwaSignedIn(url: string, login: string): Promise<LegacyClient> {
  const c = new LegacyClient(url, login);
  await c.signIn();
  await drainEvents(c);
  return c;
}

describe('UCWA instant messaging across the doors', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  afterEach(async () => gw.close());

  for (const mode of ['json', 'xml'] as Mode[]) {
    it(`${mode}: UCWA starts an IM with a CWA user: 201 + Location, the §5.1 sequence, messages both ways with data URIs`, async () => {
      const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo', mode).signIn();
      await alice.drain();
      const bob = await cwaSignedIn(gw.url, 'bob');
      const opId = alice.nextOperationId();
      const start = await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:bob@example.com', operationId: opId, subject: 'Build status', importance: 'normal' }, { message: 'data:text/plain,Hi Bob!' });
      expect(start.status, start.text).to.equal(201);
      expect(start.text).to.equal('');
      const location = start.headers.get('location')!;
      expect(location).to.match(/^\/ucwa\/oauth\/v1\/applications\/\d+\/communication\/messagingInvitations\/[0-9a-f]{32}$/);
      const first = await alice.drain();
      const seq = first.map(describeEvent);
      expect(seq.slice(0, 4)).to.deep.equal(['communication:started:messagingInvitation', 'communication:added:conversation', 'conversation:added:localParticipant', 'conversation:updated:messaging']);
      const inv = first[0]!.resource!;
      expect(inv.href).to.equal(location);
      expect(inv.props.operationId).to.equal(opId);
      expect(inv.props.direction).to.equal('Outgoing');
      expect(inv.props.importance).to.equal('Normal');
      expect(first[3]!.resource!.props.state).to.equal('Connecting');
      // Bob (CWA) is invited with the first message, and accepts.
      const invited = await drainEvents(bob);
      const received = invited.map((e) => conferenceChild(e, 'imSessionReceived')).find(Boolean)!;
      expect(received, 'bob is invited').to.not.equal(undefined);
      const confId = invited.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId;
      expect(received.children.find((c) => c.name === 'message')!.children.find((c) => c.name === 'content')!.text).to.equal('Hi Bob!');
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
      const accepted = await alice.drain();
      const names = accepted.map(describeEvent);
      for (const want of ['communication:updated:conversation', 'conversation:added:participant', 'conversation:updated:messaging', 'communication:completed:messagingInvitation(Success)']) expect(names, want).to.include(want);
      const messaging = accepted.filter((e) => e.rel === 'messaging').pop()!.resource!;
      expect(messaging.props.state).to.equal('Connected');
      const completed = accepted.find((e) => e.rel === 'messagingInvitation')!.resource!;
      expect(completed.props.operationId).to.equal(opId);
      expect(completed.embedded.acceptedByParticipant).to.have.length(1);
      // UCWA -> CWA: text/plain with operationId in the query.
      const sendHref = link(messaging, 'sendMessage');
      const sent = await alice.request('POST', `${sendHref}?OperationId=m1`, 'Ship it, 1+1=2', { 'Content-Type': 'text/plain' });
      expect(sent.status).to.equal(201);
      const msgHref = sent.headers.get('location')!;
      expect(msgHref.startsWith(`${sendHref}/`)).to.equal(true);
      const outgoing = (await alice.drain()).find((e) => e.rel === 'message')!;
      expect(outgoing.type).to.equal('completed');
      expect(outgoing.status).to.equal('Success');
      expect(outgoing.resource!.props.direction).to.equal('Outgoing');
      expect(outgoing.resource!.props.operationId).to.equal('m1');
      expect(outgoing.resource!.links.plainMessage, 'no text on the sender\'s own message').to.equal(undefined);
      expect(messageTexts(await drainEvents(bob))).to.deep.equal(['Ship it, 1+1=2']);
      // CWA -> UCWA: a data URI, form-encoded, `+` as %2b and `,` as %2c.
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><format>text/plain</format><content>Done, 3+4 &lt;b&gt;</content></sendMessage></conference>`);
      const incoming = (await alice.drain()).find((e) => e.rel === 'message')!;
      expect(incoming.resource!.props.direction).to.equal('Incoming');
      const plain = link(incoming.resource!, 'plainMessage');
      expect(plain).to.equal('data:text/plain;charset=utf-8,Done%2c+3%2b4+%3cb%3e');
      expect(dataText(plain)).to.equal('Done, 3+4 <b>');
      expect(link(incoming.resource!, 'participant')).to.match(/participants\/bob@example\.com$/);
      const contact = await alice.get(link(incoming.resource!, 'contact'));
      expect(contact.props.name).to.equal('Bob Brennan');
      // The message resource is GETtable; so are messaging, conversation, participant.
      expect((await alice.get(incoming.href)).props.direction).to.equal('Incoming');
      const conv = await alice.get(link(messaging, 'conversation'));
      expect(conv.props.state).to.equal('Connected');
      const participant = await alice.get(link(incoming.resource!, 'participant'));
      expect(participant.props.name).to.equal('Bob Brennan');
      // stopMessaging: 204; alice sees messaging Disconnected and the conversation deleted; bob sees it end.
      const stop = await alice.request('POST', link(messaging, 'stopMessaging'));
      expect(stop.status).to.equal(204);
      const ended = (await alice.drain()).map(describeEvent);
      expect(ended).to.include('conversation:updated:messaging');
      expect(ended).to.include('communication:deleted:conversation');
      const bobEnd = await drainEvents(bob);
      expect(bobEnd.some((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated')).to.equal(true);
      expect((await alice.request('GET', conv.href)).status).to.equal(404);
    });

    it(`${mode}: a CWA user invites a UCWA user: incoming invitation (accept/decline links, from embedded), accept 204, first message, reply`, async () => {
      const bob = await new UcwaClient(gw.url, 'bob', 'bob-demo', mode).signIn();
      await bob.drain();
      const alice = await cwaSignedIn(gw.url, 'alice');
      const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><format>text/plain</format><content>Hello UCWA</content></message><subject>Lunch</subject></initiateImSession></conference>`);
      const confId = r.root.children[0]!.children.find((c) => c.name === 'confId')?.text ?? r.root.children[0]!.attrs.confId;
      const started = await bob.until((e) => e.rel === 'messagingInvitation' && e.type === 'started');
      const inv = started.resource!;
      expect(inv.props.direction).to.equal('Incoming');
      expect(inv.props.subject).to.equal('Lunch');
      expect(dataText(link(inv, 'message'))).to.equal('Hello UCWA');
      const from = inv.embedded.from![0]!;
      expect(from.props.uri).to.equal('sip:alice@example.com');
      expect(from.props.name).to.equal('Alice Anders');
      await bob.drain();
      const all = bob.received;
      expect(all.map(describeEvent)).to.include('communication:added:conversation');
      expect(all.map(describeEvent)).to.include('conversation:added:participant');
      const accept = await bob.request('POST', link(inv, 'accept'), '', { 'Content-Type': 'application/json' });
      expect(accept.status).to.equal(204);
      const after = await bob.drain();
      const names = after.map(describeEvent);
      expect(names).to.include('communication:completed:messagingInvitation(Success)');
      const first = after.find((e) => e.rel === 'message')!;
      expect(dataText(link(first.resource!, 'plainMessage'))).to.equal('Hello UCWA');
      const messaging = after.filter((e) => e.rel === 'messaging').pop()!.resource!;
      expect(messaging.props.state).to.equal('Connected');
      // alice (CWA) is connected and gets bob's reply, sent the bots' way: POST text to the message's own href.
      const aliceEvents = await drainEvents(alice);
      expect(aliceEvents.some((e) => conferenceChild(e, 'imSessionState')?.text === 'connected')).to.equal(true);
      const reply = await bob.request('POST', first.href, 'Sure!', { 'Content-Type': 'text/plain' });
      expect(reply.status).to.equal(201);
      expect(messageTexts(await drainEvents(alice))).to.deep.equal(['Sure!']);
      // Typing both ways: bob POSTs <messaging>/typing; alice's composing reaches bob as typingParticipants.
      expect((await bob.request('POST', link(messaging, 'setIsTyping'))).status).to.equal(204);
      const composing = await drainEvents(alice);
      expect(composing.map((e) => conferenceChild(e, 'composingState')?.text)).to.include('composing');
      await alice.command(`<conference rid="${alice.nextRid()}" confId="${confId}"><notifyComposing>Composing</notifyComposing></conference>`);
      const typing = (await bob.drain()).find((e) => e.in === 'typingParticipants')!;
      expect(typing.type).to.equal('added');
      expect(typing.rel).to.equal('participant');
      const view = await bob.get(link(messaging, 'typingParticipants'));
      expect(view.links.participant).to.have.length(1);
    });
  }

  it('decline: the caller\'s invitation completes with Failure, reason Declined; the callee\'s conversation is deleted', async () => {
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    const bob = await new UcwaClient(gw.url, 'bob', 'bob-demo', 'xml').signIn();
    await alice.drain();
    await bob.drain();
    const start = await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:bob@example.com', operationId: null });
    expect(start.status).to.equal(201);
    const inv = (await bob.until((e) => e.rel === 'messagingInvitation' && e.type === 'started')).resource!;
    expect((await bob.request('POST', link(inv, 'decline'))).status).to.equal(204);
    const bobAfter = (await bob.drain()).map(describeEvent);
    expect(bobAfter).to.include('communication:completed:messagingInvitation(Failure)');
    expect(bobAfter).to.include('communication:deleted:conversation');
    const aliceDone = await alice.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed');
    expect(aliceDone.status).to.equal('Failure');
    expect(aliceDone.reason).to.deep.include({ code: 'RemoteFailure', subcode: 'Declined' });
    // operationId sent as null is echoed as null.
    expect(aliceDone.resource!.props.operationId).to.equal(null);
    // Accepting what is no longer pending: 404 (the invitation is gone).
    expect((await bob.request('POST', link(inv, 'accept'))).status).to.be.oneOf([404, 409]);
  });

  it('failures: unknown user and a user not signed in complete the invitation with Failure and a reason', async () => {
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    await alice.drain();
    await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:nobody@example.com', operationId: 'x1' });
    const unknown = await alice.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed');
    expect(unknown.reason).to.deep.include({ subcode: 'DestinationNotFound' });
    await alice.post(link(alice.communication(), 'startMessaging'), { to: 'carol@example.com', operationId: 'x2' });
    const offline = await alice.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed');
    expect(offline.status).to.equal('Failure');
    expect(offline.reason).to.deep.include({ subcode: 'TemporarilyUnavailable' });
    // An application that did not call makeMeAvailable is not rung.
    const dave = await new UcwaClient(gw.url, 'dave', 'dave-demo').signIn({ available: false });
    await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:dave@example.com', operationId: 'x3' });
    const notAvailable = await alice.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed');
    expect(notAvailable.reason).to.deep.include({ subcode: 'TemporarilyUnavailable' });
    void dave;
    // Missing `to`: 400 ParameterValidationFailure.
    const missing = await alice.post(link(alice.communication(), 'startMessaging'), { subject: 'x' });
    expect(missing.status).to.equal(400);
    expect(JSON.parse(missing.text)).to.deep.include({ code: 'BadRequest', subcode: 'ParameterValidationFailure' });
  });

  it('three people across the doors: UCWA alice and CWA bob, alice adds UCWA carol; everyone gets everyone\'s text', async () => {
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    const carol = await new UcwaClient(gw.url, 'carol', 'carol-demo', 'xml').signIn();
    const bob = await cwaSignedIn(gw.url, 'bob');
    await alice.drain();
    await carol.drain();
    await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:bob@example.com', operationId: 'c1' });
    const invited = await drainEvents(bob);
    const confId = invited.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId;
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
    const connected = await alice.drain();
    const conversation = connected.find((e) => e.rel === 'conversation' && e.type === 'updated')!.resource!;
    const add = await alice.post(link(conversation, 'addParticipant'), { to: 'sip:carol@example.com', operationId: 'add-carol' });
    expect(add.status, add.text).to.equal(201);
    expect(add.headers.get('location')).to.match(/participantInvitations\/[0-9a-f]{32}$/);
    const inv = (await carol.until((e) => e.rel === 'messagingInvitation' && e.type === 'started')).resource!;
    expect((await carol.request('POST', link(inv, 'accept'))).status).to.equal(204);
    await carol.drain();
    const carolEvents = carol.received;
    const carolMessaging = carolEvents.filter((e) => e.rel === 'messaging').pop()!.resource!;
    expect(carolMessaging.props.state).to.equal('Connected');
    const aliceEvents = await alice.drain();
    expect(aliceEvents.map(describeEvent)).to.include('communication:completed:participantInvitation(Success)');
    expect(aliceEvents.some((e) => e.rel === 'participant' && e.type === 'added' && /carol/.test(e.href))).to.equal(true);
    // Everyone's text reaches the two others.
    await carol.request('POST', link(carolMessaging, 'sendMessage'), 'from carol', { 'Content-Type': 'text/plain' });
    const bobEvents = await drainEvents(bob);
    const bobConf = bobEvents.filter((e) => e.name === 'conference');
    expect(messageTexts(bobEvents)).to.include('from carol');
    expect(bobConf.length).to.be.greaterThan(0);
    const aliceGot = (await alice.drain()).filter((e) => e.rel === 'message').map((e) => dataText(link(e.resource!, 'plainMessage')));
    expect(aliceGot).to.deep.equal(['from carol']);
    const bobConfId = bobEvents.find((e) => e.name === 'conference')!.attrs.confId;
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConfId}"><sendMessage><content>from bob</content></sendMessage></conference>`);
    const texts = (c: Ev[]) => c.filter((e) => e.rel === 'message' && e.resource?.props.direction === 'Incoming').map((e) => dataText(link(e.resource!, 'plainMessage')));
    expect(texts(await alice.drain())).to.deep.equal(['from bob']);
    expect(texts(await carol.drain())).to.deep.equal(['from bob']);
  });
});
