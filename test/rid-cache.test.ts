// The duplicate-batch cache: an answer is replayed only while what it describes exists
// (a re-sign-in after terminateSession gets a new session, not the dead one), the answers
// of ended sessions go with them on every node, and the cache is bounded by bytes.
import { expect } from 'chai';
import { RidCache, type ProducedResponse } from '../src/delivery/rid-cache.js';
import { runBatch } from '../src/transport/command-runner.js';
import { CWA_NS, LegacyClient } from './support/client.js';
import { startTestCluster } from './support/cluster.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis } from './support/redis.js';

const sidOf = (body: string) => Number(/<sid>(\d+)<\/sid>/.exec(body)?.[1]);
const answer = (body: string, sessions: number[] = [], started: number[] = []): ProducedResponse => ({
  response: { status: 200, body },
  sessions,
  started,
  keep: true,
});

describe('duplicate-batch cache: answers live as long as what they describe', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('an identical initiateSession after terminateSession starts a new session (the cached sid is not replayed)', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = new LegacyClient(gw.url, 'alice');
    await alice.logon();
    for (const form of ['<initiateSession rid="1"/>', '<initiateSession rid="1"><localeId>1033</localeId></initiateSession>']) {
      const first = await alice.command(form, 0);
      const sid = sidOf(first.body);
      // A retry while the session lives is the same session (lost answer).
      expect(sidOf((await alice.command(form, 0)).body)).to.equal(sid);
      const ended = await alice.command('<terminateSession rid="2"/>', sid);
      expect(ended.body).to.contain('requestAccepted');
      const again = await alice.command(form, 0);
      const fresh = sidOf(again.body);
      expect(fresh, again.body).to.be.a('number').and.not.equal(sid);
      alice.sid = fresh;
      expect((await alice.poll(0)).reply.status).to.equal(200);
      await alice.command('<terminateSession rid="3"/>', fresh);
    }
  });

  it('a session the gateway ended (timeout): its initiateSession answer goes at once, its other answers with its log', async () => {
    gw = await startTestGateway({ holdMs: 0, sessionTimeoutS: 60 }, { manualClock: true });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const rid = gw.gateway.coordinator.state.ridCache;
    const batch = `<queryPresence rid="q"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`;
    const before = await alice.command(batch);
    gw.clock!.advance(61_000);
    await gw.gateway.tick();
    expect(rid.usage().entries, 'the queryPresence answer stays while the ended log is readable').to.equal(1);
    expect((await alice.command(batch)).body, 'a retry learns what became of its batch').to.equal(before.body);
    gw.clock!.advance(61_000);
    await gw.gateway.tick();
    expect(rid.usage()).to.include({ entries: 0, bytes: 0, sessions: 0 });
  });

  it('memory comes back after sessions end: 1,000 through the gateway (entries, bytes), 10,000 through the cache (heap)', async function () {
    this.timeout(30_000);
    gw = await startTestGateway({ holdMs: 0 });
    const { context } = gw.gateway;
    const rid = gw.gateway.coordinator.state.ridCache;
    const alice = new LegacyClient(gw.url, 'alice');
    await alice.logon();
    const caller = { login: 'alice', presented: alice.ticket! };
    const batch = (sid: number, inner: string) => `<cwaRequests xmlns="${CWA_NS}" sid="${sid}">${inner}</cwaRequests>`;
    const longRid = 'r'.repeat(200);
    for (let i = 0; i < 1000; i++) {
      const sid = sidOf((await runBatch(context, caller, batch(0, `<initiateSession rid="${i}"/>`))).body);
      for (let b = 0; b < 2; b++) {
        await runBatch(context, caller, batch(sid, `<queryPresence rid="${longRid}${b}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`));
      }
      expect(rid.usage().entries).to.equal(3);
      await runBatch(context, caller, batch(sid, `<terminateSession rid="end"/>`));
    }
    expect(rid.usage()).to.include({ scopes: 0, entries: 0, bytes: 0, sessions: 0 });
    expect(gw.gateway.engine.liveSessions()).to.equal(0);

    // The same life cycle, as the gateway's state drives the cache, 10,000 times with
    // 8 answers of 2 KB (and their batches of 0.5 KB) per session: 200 MB if ended sessions stayed.
    const cache = new RidCache(8);
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'the suite runs with --expose-gc (.mocharc.json node-option)').to.be.a('function');
    const heap = () => {
      gc!();
      return process.memoryUsage().heapUsed;
    };
    const body = (sid: number, b: number) => `<cwaResponses>${String(sid * 10 + b).padEnd(2048, '.')}</cwaResponses>`;
    // The batches' own text is kept with their answers (compared when rids repeat): it goes with them.
    const request = (sid: number, b: number) => `<cwaRequests sid="${sid}">${String(b).padEnd(512, '.')}</cwaRequests>`;
    const life = async (from: number, to: number) => {
      for (let sid = from; sid < to; sid++) {
        await cache.run('t:ticket', `init${sid}`, `<initiateSession rid="init${sid}"/>`, async () => answer(`<sid>${sid}</sid>`, [], [sid]));
        for (let b = 0; b < 8; b++) await cache.run(`s:${sid}:alice`, `${longRid}${b}`, request(sid, b), async () => answer(body(sid, b), [sid]));
        cache.sessionEnded(sid);
        cache.sessionRemoved(sid);
      }
    };
    await life(0, 100);
    const base = heap();
    await life(100, 10_100);
    expect(cache.usage()).to.include({ scopes: 0, entries: 0, bytes: 0, sessions: 0 });
    expect(heap() - base, 'heap growth after 10,000 ended sessions').to.be.below(8 * 1024 * 1024);
  });

  it('is bounded by bytes (--rid-cache-max-bytes): the least recently used scopes go first', async () => {
    const cache = new RidCache(8, 100_000, 10_000);
    const body = 'x'.repeat(1000);
    for (let s = 0; s < 30; s++) await cache.run(`s:${s}`, 'k', '', async () => answer(body, [s]));
    const usage = cache.usage();
    expect(usage.bytes).to.be.at.most(10_000);
    expect(usage.entries).to.be.within(5, 9);
    // The newest scopes are kept; the oldest were replayed no more (run again).
    let ran = 0;
    await cache.run('s:29', 'k', '', async () => (ran++, answer(body)));
    await cache.run('s:0', 'k', '', async () => (ran++, answer(body)));
    expect(ran).to.equal(1);
    // One answer larger than the whole bound is not kept at all.
    await cache.run('big', 'k', '', async () => answer('y'.repeat(20_000)));
    expect(cache.usage().bytes).to.be.at.most(10_000);

    gw = await startTestGateway({ holdMs: 0, ridCacheMaxBytes: 65_536, maxAttributeLength: 4096 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const longRid = 'r'.repeat(4000);
    for (let i = 0; i < 40; i++) {
      await alice.command(`<queryPresence rid="${longRid}${i}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);
    }
    expect(gw.gateway.coordinator.state.ridCache.usage().bytes).to.be.at.most(65_536);
  });
});

describe('duplicate-batch cache: found by rids, the body compared when they repeat', () => {
  let ran: string[];
  const produce = (name: string, sessions: number[] = [1]) => async () => (ran.push(name), answer(`<cwaResponses>${name}</cwaResponses>`, sessions));
  beforeEach(() => (ran = []));

  it('same rids and body: the kept answer, byte for byte, nothing runs again; same rids, another body: runs as a new batch', async () => {
    const cache = new RidCache(8);
    const first = await cache.run('s:1', '7', '<cwaRequests>A</cwaRequests>', produce('A'));
    const retry = await cache.run('s:1', '7', '<cwaRequests>A</cwaRequests>', produce('A again'));
    expect(retry).to.deep.equal({ response: first.response, replayed: true });
    const other = await cache.run('s:1', '7', '<cwaRequests>B</cwaRequests>', produce('B'));
    expect(other.replayed).to.equal(false);
    expect(other.response.body).to.equal('<cwaResponses>B</cwaResponses>');
    // Both are kept: a retry of either is answered with its own answer.
    expect((await cache.run('s:1', '7', '<cwaRequests>A</cwaRequests>', produce('A twice'))).response.body).to.equal('<cwaResponses>A</cwaResponses>');
    expect((await cache.run('s:1', '7', '<cwaRequests>B</cwaRequests>', produce('B twice'))).response.body).to.equal('<cwaResponses>B</cwaResponses>');
    // Another scope, or other rids with the same body, are other batches.
    await cache.run('s:2', '7', '<cwaRequests>A</cwaRequests>', produce('A in s:2', [2]));
    await cache.run('s:1', '8', '<cwaRequests>A</cwaRequests>', produce('A with rid 8'));
    expect(ran).to.deep.equal(['A', 'B', 'A in s:2', 'A with rid 8']);
    expect(cache.usage()).to.include({ scopes: 2, entries: 4 });
  });

  it('a batch that reused rids is still answered once the first batch with them is gone, and leaves nothing behind', async () => {
    const cache = new RidCache(2);
    await cache.run('s:1', '7', 'A', produce('A'));
    await cache.run('s:1', '7', 'B', produce('B'));
    // A third batch: the oldest (A) goes (2 kept per scope).
    await cache.run('s:1', '9', 'C', produce('C'));
    expect((await cache.run('s:1', '7', 'B', produce('B twice'))).replayed).to.equal(true);
    // A is no longer kept: its retry runs, and is kept in the rids' own place.
    expect((await cache.run('s:1', '7', 'A', produce('A twice'))).replayed).to.equal(false);
    expect((await cache.run('s:1', '7', 'A', produce('A thrice'))).replayed).to.equal(true);
    expect(ran).to.deep.equal(['A', 'B', 'C', 'A twice']);
    // A snapshot keeps each entry's body; a cache loaded from it answers alike.
    const copy = new RidCache(2);
    copy.importState(JSON.parse(JSON.stringify(cache.exportState())));
    expect(copy.exportState()).to.deep.equal(cache.exportState());
    expect(copy.usage()).to.deep.equal(cache.usage());
    expect((await copy.run('s:1', '7', 'A', produce('A from copy'))).response.body).to.equal('<cwaResponses>A twice</cwaResponses>');
    cache.sessionRemoved(1);
    expect(cache.usage()).to.include({ scopes: 0, entries: 0, bytes: 0, sessions: 0 });
    // Nothing of the reused rids is left: the same rids and body run again.
    await cache.run('s:1', '7', 'B', produce('B after'));
    expect(ran.at(-1)).to.equal('B after');
  });

  it('through the gateway: a batch that reused rids does not make a retry of the first run again', async () => {
    const gw = await startTestGateway({ holdMs: 0 });
    try {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      const head = () => gw.gateway.context.log.position!(alice.sid)!.head;
      const query = `<queryPresence rid="q"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`;
      const send = `<conference rid="q" confId="99"><sendMessage><content>hi</content></sendMessage></conference>`;
      const first = await alice.command(query);
      const queued = head();
      expect(queued, 'the query queued presence events').to.be.above(0);
      const reused = await alice.command(send);
      expect(reused.body, 'the same rid with another body ran').to.contain('requestFailed');
      expect((await alice.command(query)).body).to.equal(first.body);
      expect((await alice.command(send)).body).to.equal(reused.body);
      expect(head(), 'the retried query did not run again').to.equal(queued);
      expect(gw.gateway.coordinator.state.ridCache.usage().entries).to.equal(3); // with the initiateSession answer
    } finally {
      await gw.close();
    }
  });
});

describeRedis('duplicate-batch cache on a cluster', () => {
  it('every node drops an ended session\'s answers (the idle node too): nothing of them is left for a snapshot', async () => {
    const cluster = await startTestCluster(2, { holdMs: 0, snapshotEvery: 0 });
    try {
      const alice = new LegacyClient(cluster.nodes[0]!.url, 'alice');
      await alice.logon();
      for (let i = 0; i < 30; i++) {
        alice.sid = sidOf((await alice.command(`<initiateSession rid="1"/>`, 0)).body);
        for (let b = 0; b < 4; b++) await alice.command(`<queryPresence rid="${'r'.repeat(500)}${b}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);
        await alice.command('<terminateSession rid="9"/>');
      }
      await cluster.nodes[1]!.gateway.coordinator.sync();
      for (const node of cluster.nodes) {
        expect(node.gateway.coordinator.state.ridCache.usage()).to.include({ entries: 0, bytes: 0, sessions: 0 });
        expect(node.gateway.coordinator.state.ridCache.exportState()).to.deep.equal([]);
      }
    } finally {
      await cluster.close();
    }
  });

  it('a batch that reused rids on one node, and the retry of the first on another: each answered with its own answer, once', async () => {
    const cluster = await startTestCluster(2, { holdMs: 0, snapshotEvery: 0 });
    try {
      const [a, b] = cluster.nodes as [TestGateway, TestGateway];
      const alice = await new LegacyClient(a.url, 'alice').signIn();
      const onB = Object.assign(new LegacyClient(b.url, 'alice'), { ticket: alice.ticket, sid: alice.sid });
      const head = (node: TestGateway) => node.gateway.coordinator.state.log.position!(alice.sid)!.head;
      const query = `<queryPresence rid="q"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`;
      const send = `<conference rid="q" confId="99"><sendMessage><content>hi</content></sendMessage></conference>`;
      const first = await alice.command(query);
      const reused = await onB.command(send);
      expect(reused.body).to.contain('requestFailed');
      await a.gateway.coordinator.sync();
      const queued = head(a);
      expect((await onB.command(query)).body, 'the retry on the other node').to.equal(first.body);
      expect((await alice.command(send)).body).to.equal(reused.body);
      for (const node of cluster.nodes) await node.gateway.coordinator.sync();
      expect([head(a), head(b)], 'nothing ran twice').to.deep.equal([queued, queued]);
      // Every node keeps the same entries; the stream carries a digest of each body, not the body.
      const kept = a.gateway.coordinator.state.ridCache.exportState();
      expect(b.gateway.coordinator.state.ridCache.exportState()).to.deep.equal(kept);
      const bodies = kept.flatMap(([, entries]) => entries.map(([, body]) => body));
      expect(bodies).to.have.length(3);
      for (const body of bodies) expect(body).to.match(/^[A-Za-z0-9+/]{27}=$/);
    } finally {
      await cluster.close();
    }
  });
});
