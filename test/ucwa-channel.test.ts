// The UCWA event channel's edges (ucwa-messaging.md §4.1, §4.5) and addMessaging (§7.5):
// an application whose event log overflows reads what the log kept, then a clear 410;
// P-GET `priority` (a higher value replaces same-or-lower, a lower one is itself replaced);
// sticky `timeout`/`medium`/`low`; addMessaging restarts messaging in a conversation whose
// messaging ended.
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

const incomingTexts = (events: Ev[]) =>
  events.filter((e) => e.rel === 'message' && e.resource?.props.direction === 'Incoming').map((e) => dataText(link(e.resource!, 'plainMessage')));

describe('UCWA event channel: overflow, priority, sticky parameters; addMessaging', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  /** CWA alice invites UCWA bob, who accepts and reads everything. */
  async function connected(mode: Mode = 'json') {
    const bob = await new UcwaClient(gw!.url, 'bob', 'bob-demo', mode).signIn();
    await bob.drain();
    const alice = await cwaSignedIn(gw!.url, 'alice');
    const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
    expect(r.status).to.equal(200);
    const inv = (await bob.until((e) => e.rel === 'messagingInvitation' && e.type === 'started')).resource!;
    expect((await bob.request('POST', link(inv, 'accept'))).status).to.equal(204);
    await bob.drain();
    const confId = (await drainEvents(alice)).find((e) => e.name === 'conference')!.attrs.confId!;
    return { alice, bob, confId };
  }

  it('an application whose event log overflows gets every event the log kept, then 410 Gone (Removed) naming the overflow; the sender is told which message was not delivered', async () => {
    gw = await startTestGateway({ holdMs: 0, logMaxEvents: 12, logHighWaterPct: 100 });
    const { alice, bob, confId } = await connected();
    const sent: string[] = [];
    const aliceSaw = [];
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="${confId}"><sendMessage><content>m${i}</content></sendMessage></conference>`);
      expect(r.status).to.equal(200);
      if (r.body.includes('requestFailed')) refused += 1; // the conversation already ended: refused at once
      sent.push(`m${i}`);
      aliceSaw.push(...(await drainEvents(alice))); // alice reads as she goes; bob does not
    }
    const confirmed = aliceSaw.filter((e) => conferenceChild(e, 'messageIdReceived')).length;
    const failed = aliceSaw.filter((e) => conferenceChild(e, 'messageSendFailed')).length;
    expect(failed, 'the message that overflowed, and those after it, failed').to.be.greaterThan(0);
    expect(confirmed + failed + refused, 'every message confirmed, failed or refused: none silently lost').to.equal(sent.length);
    // bob reads what his log kept, in order, then the end.
    const got: string[] = [];
    let end: { status: number; text: string } | undefined;
    for (let i = 0; i < 20 && !end; i++) {
      const { reply, events } = await bob.poll();
      if (reply.status !== 200) end = reply;
      else got.push(...incomingTexts(events));
    }
    expect(got, JSON.stringify(end)).to.deep.equal(sent.slice(0, confirmed));
    expect(end?.status).to.equal(410);
    const body = JSON.parse(end!.text) as { code: string; subcode: string; message: string };
    expect(body.code).to.equal('Gone');
    expect(body.subcode).to.equal('Removed');
    expect(body.message).to.match(/event channel was not read/);
    // The application is gone for every other request too.
    expect((await bob.request('GET', bob.app!.href)).status).to.be.oneOf([404, 410]);
  });

  it('priority: a P-GET of the same or a higher priority replaces the parked one (409 PGetReplaced); a lower one is refused at once and the parked one stays', async () => {
    gw = await startTestGateway({ holdMs: 3000 });
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    await alice.drain();
    const href = alice.events;
    const high = alice.request('GET', `${href}&priority=5`);
    await new Promise((r) => setTimeout(r, 200));
    const low = await alice.request('GET', `${href}&priority=1`);
    expect(low.status).to.equal(409);
    expect((JSON.parse(low.text) as { subcode: string }).subcode).to.equal('PGetReplaced');
    const same = alice.request('GET', `${href}&priority=5`);
    await new Promise((r) => setTimeout(r, 200));
    expect((await high).status, 'replaced by one of the same priority').to.equal(409);
    const bad = await alice.request('GET', `${href}&priority=high`);
    expect(bad.status).to.equal(400);
    // The one still parked gets the next event.
    await alice.post(link(alice.app!.embedded.me![0]!, 'reportMyActivity'));
    const note = await alice.post(`${alice.app!.href}/me/note`, { message: 'parked', type: 'personal' });
    expect(note.status, note.text).to.be.oneOf([200, 204]);
    const answered = await same;
    expect(answered.status).to.equal(200);
    expect(answered.text).to.contain('note');
  });

  it('sticky parameters: timeout is remembered until sent again; medium and low are validated (5-1800 s) and remembered', async () => {
    gw = await startTestGateway({ holdMs: 5000 });
    const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
    await alice.drain(); // its P-GETs sent timeout=1: now sticky
    const t0 = Date.now();
    const idle = await alice.poll();
    expect(idle.reply.status).to.equal(200);
    expect(Date.now() - t0, 'held about the sticky second, not --hold-ms').to.be.below(3000).and.at.least(800);
    const bad = await alice.request('GET', `${alice.events}&medium=soon`);
    expect(bad.status).to.equal(400);
    expect((await alice.poll('&timeout=2&medium=1&low=99999')).reply.status).to.equal(200);
    const app = [...gw.gateway.coordinator.state.ucwa.apps.values()][0]!;
    expect(app.channel.sticky).to.deep.equal({ timeout: 2, medium: 5, low: 1800 });
    const t1 = Date.now();
    expect((await alice.poll()).reply.status).to.equal(200);
    expect(Date.now() - t1).to.be.at.least(1800).and.below(4500);
  });

  for (const mode of ['json', 'xml'] as Mode[]) {
    it(`${mode}: addMessaging: after messaging ends the messaging resource offers addMessaging; it starts messaging again in the same conversation (201 + Location, the §5.1 flow)`, async () => {
      gw = await startTestGateway({ holdMs: 0 });
      const { alice, bob, confId } = await connected(mode);
      // alice hangs up: bob's messaging is Disconnected, with addMessaging.
      await alice.command(`<conference rid="${alice.nextRid()}" confId="${confId}"><terminateImSession/></conference>`);
      const ended = await bob.drain();
      const disconnected = ended.filter((e) => e.rel === 'messaging').pop()!.resource!;
      expect(disconnected.props.state).to.equal('Disconnected');
      const add = link(disconnected, 'addMessaging');
      expect(add).to.match(/\/communication\/conversations\/[0-9a-f]+\/messaging\/addMessaging$/);
      const convHref = link(disconnected, 'conversation');
      expect(ended.map(describeEvent)).to.include('communication:deleted:conversation');
      await drainEvents(alice);
      const again = await bob.post(add, { operationId: 'again-1' }, { message: 'data:text/plain,back again' });
      expect(again.status, again.text).to.equal(201);
      expect(again.headers.get('location')).to.match(/messagingInvitations\/[0-9a-f]{32}$/);
      // alice is invited with the first message and accepts.
      const invited = await alice.pollUntil((e) => Boolean(conferenceChild(e, 'imSessionReceived')));
      const newConf = invited.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
      await alice.command(`<conference rid="${alice.nextRid()}" confId="${newConf}"><acceptImSession/></conference>`);
      const back = await bob.drain();
      const inv = back.find((e) => e.rel === 'messagingInvitation' && e.type === 'completed')!;
      expect(inv.status).to.equal('Success');
      expect(inv.resource!.props.operationId).to.equal('again-1');
      expect(back.find((e) => e.rel === 'conversation')!.href, 'the same conversation').to.equal(convHref);
      const messaging = back.filter((e) => e.rel === 'messaging').pop()!.resource!;
      expect(messaging.props.state).to.equal('Connected');
      expect((await bob.request('POST', link(messaging, 'sendMessage'), 'and more', { 'Content-Type': 'text/plain' })).status).to.equal(201);
      expect(messageTexts(await drainEvents(alice))).to.deep.equal(['and more']);
      // While messaging is connected, addMessaging is refused; an unknown conversation is 404.
      const busy = await bob.post(add, {});
      expect(busy.status).to.equal(409);
      expect((await bob.post(add.replace(/conversations\/[0-9a-f]+/, 'conversations/ffff'), {})).status).to.equal(404);
    });
  }
});
