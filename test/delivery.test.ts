// The delivery contract over the data channel: eids from 1, AckId acknowledges and
// asks, lost responses are repaired by re-polling, held polls wake on events, the log
// is bounded with an explicit terminal error, and duplicate batches run once.
import { expect } from 'chai';
import { conferenceChild, describe as d, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { connectedPair } from './support/pair.js';

async function pair(gw: TestGateway) {
  const { alice, bob, aliceConf, bobConf } = await connectedPair(gw);
  const send = (text: string, rid = alice.nextRid()) =>
    alice.command(`<conference rid="${rid}" confId="${aliceConf}"><sendMessage><content>${text}</content></sendMessage></conference>`);
  return { alice, bob, aliceConf, bobConf, send };
}

const contents = (events: { children: { name: string; children: { name: string; children: { name: string; text: string }[] }[] }[] }[]) =>
  events.flatMap((e) => {
    const mr = e.children[0];
    return mr && mr.name === 'messageReceived' ? [mr.children[0]!.children.find((c) => c.name === 'content')!.text] : [];
  });

describe('delivery contract on the data channel', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('numbers each session\'s events from 1 and answers ackId = last eid of the batch', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const { reply, events } = await alice.poll(0);
    expect(events.map((e) => e.attrs.eid)).to.deep.equal(['1', '2', '3', '4', '5', '6']);
    expect(events.map(d)).to.deep.equal(['configuration', 'selfPresence', 'contactGroup', 'subscribers', 'selfRawCategories', 'containers']);
    expect(reply.root.attrs).to.include({ sid: String(alice.sid), ackId: '6', pollWaitTime: String(gw.config.pollWaitMs) });
    expect(Number(reply.root.attrs.sessionTimeout)).to.be.within(gw.config.sessionTimeoutS - 1, gw.config.sessionTimeoutS);
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    expect((await bob.poll(0)).events.map((e) => e.attrs.eid)).to.deep.equal(['1', '2', '3', '4', '5', '6']);
  });

  it('repairs a lost response: re-polling with the old AckId returns the same events, a higher one drops them', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const { alice, bob, send } = await pair(gw);
    const before = bob.ackId;
    await send('one');
    await send('two');
    const first = await bob.poll(before);
    const again = await bob.poll(before); // the first answer "was lost"
    expect(again.reply.body).to.equal(first.reply.body);
    expect(contents(again.events)).to.deep.equal(['one', 'two']);
    await send('three');
    const next = await bob.poll(Number(first.reply.root.attrs.ackId));
    expect(contents(next.events)).to.deep.equal(['three']);
    // Acknowledged events are gone: going back is an explicit error, not a silent gap.
    const stale = await bob.poll(before);
    expect(stale.reply.status).to.equal(409);
    expect(stale.reply.root.children[0]!.attrs.code).to.equal('18102');
    expect(alice.sid).to.not.equal(bob.sid);
  });

  it('holds an empty poll and answers it as soon as an event is queued', async () => {
    gw = await startTestGateway({ holdMs: 5000 });
    const { bob, send } = await pair(gw);
    const started = Date.now();
    const held = bob.poll();
    await new Promise((r) => setTimeout(r, 150));
    await send('wake up');
    const { events } = await held;
    expect(contents(events)).to.deep.equal(['wake up']);
    expect(Date.now() - started).to.be.lessThan(2000);
  });

  it('answers a held poll with an empty batch at the head when --hold-ms passes', async () => {
    gw = await startTestGateway({ holdMs: 300 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    const started = Date.now();
    const { reply, events } = await alice.poll();
    expect(events).to.have.length(0);
    expect(reply.root.attrs.ackId).to.equal('6'); // the initial burst is six events
    expect(Date.now() - started).to.be.within(250, 2000);
  });

  it('answers a cursor ahead of the head at once, with the head as ackId', async () => {
    gw = await startTestGateway({ holdMs: 10_000 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const started = Date.now();
    const { reply } = await alice.poll(500);
    expect(reply.status).to.equal(200);
    expect(reply.root.attrs.ackId).to.equal('6');
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('releases an older held poll when a newer poll of the same session arrives', async () => {
    gw = await startTestGateway({ holdMs: 10_000 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    const started = Date.now();
    const older = alice.poll();
    await new Promise((r) => setTimeout(r, 100));
    const newer = alice.poll(alice.ackId);
    const o = await older;
    expect(o.reply.status).to.equal(200);
    expect(o.events).to.have.length(0);
    expect(Date.now() - started).to.be.lessThan(2000);
    await alice.command(`<terminateSession rid="${alice.nextRid()}"/>`);
    expect((await newer).reply.status).to.equal(404);
  });

  it('ends a session whose unacknowledged events exceed the bound, with an explicit terminal event', async () => {
    // Without IM flow control (--log-high-water-pct 100), messages alone fill bob's log.
    gw = await startTestGateway({ holdMs: 0, logMaxEvents: 20, logHighWaterPct: 100 });
    const { alice, bob, send } = await pair(gw);
    const aliceEvents = [];
    for (let i = 0; i < 25; i++) {
      await send(`m${i}`);
      aliceEvents.push(...(await alice.poll()).events); // alice keeps up; only bob falls behind
    }
    // Everything queued before the overflow is still delivered, then the terminal event.
    const { events } = await bob.poll();
    const last = events[events.length - 1]!;
    expect(last.name).to.equal('sessionTerminated');
    expect(last.attrs.reason).to.equal('eventLogOverflow');
    expect(last.children[0]!.attrs.code).to.equal('18400');
    const got = contents(events);
    expect(got).to.deep.equal(got.map((_, i) => `m${i}`));
    // The peer sees bob leave; bob's session is gone once he has read the end.
    expect(aliceEvents.map(d)).to.include('conference/participantRemoved=sip:bob@example.com');
    expect((await bob.poll()).reply.status).to.equal(404);
    const cmd = await bob.command(`<conference rid="${bob.nextRid()}" confId="1"><sendMessage><content>x</content></sendMessage></conference>`);
    expect(cmd.root.children[0]!.children[0]!.attrs.code).to.equal('18100');
  });

  it('answers a repeated batch (same sid, rids and body) from the cache without running it again', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const { bob, send } = await pair(gw);
    const first = await send('only once', '77');
    const retry = await send('only once', '77');
    expect(retry.body).to.equal(first.body);
    const { events } = await bob.poll();
    expect(contents(events)).to.deep.equal(['only once']);
    // Same rid, different body: a new request, executed.
    await send('different', '77');
    expect(contents((await bob.poll()).events)).to.deep.equal(['different']);
  });

  it('answers a retried initiateSession (lost response) with the same session', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = new LegacyClient(gw.url, 'alice');
    await alice.logon();
    const body = '<initiateSession rid="1"/>';
    const a = await alice.command(body, 0);
    const b = await alice.command(body, 0);
    expect(b.body).to.equal(a.body);
    expect(gw.gateway.engine.liveSessions()).to.equal(1);
  });
});
