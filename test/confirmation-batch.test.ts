// --confirmation-batch-ms: delivery confirmations (messageIdReceived) alone wait the window
// for more before a held data-channel poll answers them or a WebSocket pushes them; anything
// else goes at once, and nothing is lost, reordered or renumbered on the way.
import { expect } from 'chai';
import type { XNode } from '../src/protocol/xml-node.js';
import { conferenceChild, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { connectedPair } from './support/pair.js';
import { WsTestClient } from './support/ws-client.js';

type Ev = XNode;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kinds = (events: Ev[]) => events.map((e) => (e.name === 'conference' ? e.children[0]!.name : e.name));
const eids = (events: Ev[]) => events.map((e) => Number(e.attrs.eid));
const confirmed = (events: Ev[]) => events.flatMap((e) => (conferenceChild(e, 'messageIdReceived') ? [conferenceChild(e, 'messageIdReceived')!.attrs.rid!] : []));

/** Alice and Bob in a connected conversation, and a way to send a message (resolves its rid). */
async function pair(gw: TestGateway) {
  const { alice, bob, aliceConf, bobConf } = await connectedPair(gw);
  const say = (who: LegacyClient, conf: string, text: string, rid = who.nextRid()) =>
    who.command(`<conference rid="${rid}" confId="${conf}"><sendMessage><content>${text}</content></sendMessage></conference>`).then((reply) => {
      expect(reply.status, reply.body).to.equal(200);
      return rid;
    });
  return { alice, bob, aliceConf, bobConf, say };
}

describe('--confirmation-batch-ms: confirmations batched on a held poll and a WebSocket', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('holds a poll that only confirmations woke for the window, then answers them all in order', async () => {
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 400 });
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
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 5_000 });
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
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 300 });
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

  it('answers at once with --confirmation-batch-ms 0', async () => {
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 0 });
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
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 1_500 });
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
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 5_000 });
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

  it('batches confirmations on a WebSocket too: pushed a window later in one frame, or at once with the next message', async () => {
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 400 });
    const { alice, bob, aliceConf, bobConf, say } = await pair(gw);
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket! });
    try {
      await ws.untilFrames(1);
      const frames = ws.frames.length;
      const command = (text: string) => {
        const rid = alice.nextRid();
        return ws.command(alice.sid, `<conference rid="${rid}" confId="${aliceConf}"><sendMessage><content>${text}</content></sendMessage></conference>`).then(() => rid);
      };
      const started = Date.now();
      const r1 = await command('one');
      const r2 = await command('two');
      await ws.until(() => confirmed(ws.events).includes(r2), 'the confirmations', 3000);
      // One frame of events after the two answers, a window after the first confirmation.
      expect(Date.now() - started).to.be.within(350, 3000);
      expect(ws.frames.slice(frames).filter((f) => f.startsWith('<cwaEvents'))).to.have.length(1);
      expect(confirmed(ws.events)).to.deep.equal([r1, r2]);
      // Bob's answer does not wait: it goes at once, with the confirmation queued before it.
      const r3 = await command('three');
      const before = Date.now();
      await say(bob, bobConf, 'answer');
      await ws.until(() => kinds(ws.events).includes('messageReceived'), 'the message', 3000);
      expect(Date.now() - before).to.be.lessThan(300);
      expect(kinds(ws.events).slice(-2)).to.deep.equal(['messageIdReceived', 'messageReceived']);
      expect(confirmed(ws.events)).to.deep.equal([r1, r2, r3]);
      const ids = ws.events.map((e) => Number(e.attrs.eid));
      expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
    } finally {
      ws.socket.terminate();
    }
  });

  it('pushes confirmations on a WebSocket at once with --confirmation-batch-ms 0 (in the write of the command\'s answer)', async () => {
    gw = await startTestGateway({ holdMs: 10_000, confirmationBatchMs: 0 });
    const { alice, aliceConf } = await pair(gw);
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket! });
    try {
      const rid = alice.nextRid();
      const started = Date.now();
      await ws.command(alice.sid, `<conference rid="${rid}" confId="${aliceConf}"><sendMessage><content>pushed</content></sendMessage></conference>`);
      await ws.until(() => confirmed(ws.events).includes(rid), 'the confirmation', 2000);
      expect(Date.now() - started).to.be.lessThan(300);
    } finally {
      ws.socket.terminate();
    }
  });
});
