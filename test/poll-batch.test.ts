// --poll-batch-ms: a held data-channel poll that only delivery confirmations
// (messageIdReceived) woke waits the window for more before it answers; anything else
// answers it at once, and nothing is lost, reordered or renumbered on the way.
import { expect } from 'chai';
import type { XNode } from '../src/protocol/xml-node.js';
import { conferenceChild, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { WsTestClient } from './support/ws-client.js';

type Ev = XNode;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kinds = (events: Ev[]) => events.map((e) => (e.name === 'conference' ? e.children[0]!.name : e.name));
const eids = (events: Ev[]) => events.map((e) => Number(e.attrs.eid));
const confirmed = (events: Ev[]) => events.flatMap((e) => (conferenceChild(e, 'messageIdReceived') ? [conferenceChild(e, 'messageIdReceived')!.attrs.rid!] : []));

/** Alice and Bob connected in a conversation, both caught up on their data channels. */
async function pair(gw: TestGateway) {
  const alice = await new LegacyClient(gw.url, 'alice').signIn();
  const bob = await new LegacyClient(gw.url, 'bob').signIn();
  await alice.poll();
  await bob.poll();
  const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
  const aliceConf = r.root.children[0]!.attrs.confId!;
  const inv = await bob.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
  const bobConf = inv.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
  await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
  await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  const say = (who: LegacyClient, conf: string, text: string, rid = who.nextRid()) =>
    who.command(`<conference rid="${rid}" confId="${conf}"><sendMessage><content>${text}</content></sendMessage></conference>`).then((reply) => {
      expect(reply.status, reply.body).to.equal(200);
      return rid;
    });
  return { alice, bob, aliceConf, bobConf, say };
}

describe('--poll-batch-ms: confirmations batched on a held poll', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('holds a poll that only confirmations woke for the window, then answers them all in order', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 400 });
    const { alice, aliceConf, say } = await pair(gw);
    const started = Date.now();
    const held = alice.poll();
    await sleep(100);
    const r1 = await say(alice, aliceConf, 'one');
    await sleep(50);
    const r2 = await say(alice, aliceConf, 'two');
    const { events } = await held;
    const took = Date.now() - started;
    expect(confirmed(events)).to.deep.equal([r1, r2]);
    const ids = eids(events);
    expect(ids).to.deep.equal(ids.map((_, i) => ids[0]! + i));
    // Woken about 100 ms in, the answer came one window (400 ms) later: well after the
    // confirmation, well before the hold's end.
    expect(took).to.be.within(430, 3000);
  });

  it('answers at once when anything else comes while it batches, with the confirmations first', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 5_000 });
    const { alice, bob, aliceConf, bobConf, say } = await pair(gw);
    const held = alice.poll();
    await sleep(100);
    const rid = await say(alice, aliceConf, 'ping');
    await sleep(100);
    const started = Date.now();
    await say(bob, bobConf, 'pong');
    const { events } = await held;
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(kinds(events)).to.deep.equal(['messageIdReceived', 'messageReceived']);
    expect(confirmed(events)).to.deep.equal([rid]);
  });

  it('makes a poll that arrives with only confirmations queued wait the window, but not one that finds a message among them', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 300 });
    const { alice, bob, aliceConf, bobConf, say } = await pair(gw);
    const rid = await say(alice, aliceConf, 'queued before the poll');
    let started = Date.now();
    let { events } = await alice.poll();
    expect(confirmed(events)).to.deep.equal([rid]);
    expect(Date.now() - started).to.be.within(250, 3000);
    const rid2 = await say(alice, aliceConf, 'again');
    await say(bob, bobConf, 'answer');
    started = Date.now();
    ({ events } = await alice.poll());
    expect(Date.now() - started).to.be.lessThan(250);
    expect(kinds(events)).to.deep.equal(['messageIdReceived', 'messageReceived']);
    expect(confirmed(events)).to.deep.equal([rid2]);
  });

  it('answers at once with --poll-batch-ms 0', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 0 });
    const { alice, aliceConf, say } = await pair(gw);
    const held = alice.poll();
    await sleep(100);
    const started = Date.now();
    const rid = await say(alice, aliceConf, 'now');
    const { events } = await held;
    expect(Date.now() - started).to.be.lessThan(250);
    expect(confirmed(events)).to.deep.equal([rid]);
  });

  it('answers a batching poll at once when a newer poll of the session releases it, and the newer one gets the confirmations', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 1_500 });
    const { alice, aliceConf, say } = await pair(gw);
    const cursor = alice.ackId;
    const older = alice.poll();
    await sleep(100);
    const rid = await say(alice, aliceConf, 'released');
    await sleep(100);
    const started = Date.now();
    const newer = alice.poll(cursor);
    const o = await older;
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(o.reply.status).to.equal(200);
    expect(o.events).to.have.length(0);
    expect(o.reply.root.attrs.ackId).to.equal(String(cursor));
    // The newer poll finds only the confirmation: it batches in its turn, and delivers it.
    const n = await newer;
    expect(confirmed(n.events)).to.deep.equal([rid]);
  });

  it('answers a batching poll when the gateway shuts down', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 5_000 });
    const { alice, aliceConf, say } = await pair(gw);
    const held = alice.poll();
    await sleep(100);
    const rid = await say(alice, aliceConf, 'bye');
    await sleep(100);
    const started = Date.now();
    const stopping = gw.gateway.stop();
    const { reply, events } = await held;
    expect(Date.now() - started).to.be.lessThan(3000);
    expect(reply.status).to.equal(200);
    expect(confirmed(events)).to.deep.equal([rid]);
    expect((await stopping).ok).to.equal(true);
  });

  it('does not delay confirmations on a WebSocket: they leave with the command\'s answer', async () => {
    gw = await startTestGateway({ holdMs: 10_000, pollBatchMs: 5_000 });
    const { alice, aliceConf } = await pair(gw);
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket! });
    try {
      const rid = alice.nextRid();
      const started = Date.now();
      await ws.command(alice.sid, `<conference rid="${rid}" confId="${aliceConf}"><sendMessage><content>pushed</content></sendMessage></conference>`);
      await ws.until(() => confirmed(ws.events).includes(rid), 'the confirmation', 2000);
      expect(Date.now() - started).to.be.lessThan(1000);
    } finally {
      ws.socket.terminate();
    }
  });
});
