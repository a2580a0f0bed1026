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
    // 8 answers of 2 KB per session: 160 MB if ended sessions stayed.
    const cache = new RidCache(8);
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'the suite runs with --expose-gc (.mocharc.json node-option)').to.be.a('function');
    const heap = () => {
      gc!();
      return process.memoryUsage().heapUsed;
    };
    const body = (sid: number, b: number) => `<cwaResponses>${String(sid * 10 + b).padEnd(2048, '.')}</cwaResponses>`;
    const life = async (from: number, to: number) => {
      for (let sid = from; sid < to; sid++) {
        await cache.run('t:ticket', `init${sid}`, async () => answer(`<sid>${sid}</sid>`, [], [sid]));
        for (let b = 0; b < 8; b++) await cache.run(`s:${sid}:alice`, `${longRid}${b}`, async () => answer(body(sid, b), [sid]));
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
    for (let s = 0; s < 30; s++) await cache.run(`s:${s}`, 'k', async () => answer(body, [s]));
    const usage = cache.usage();
    expect(usage.bytes).to.be.at.most(10_000);
    expect(usage.entries).to.be.within(5, 9);
    // The newest scopes are kept; the oldest were replayed no more (run again).
    let ran = 0;
    await cache.run('s:29', 'k', async () => (ran++, answer(body)));
    await cache.run('s:0', 'k', async () => (ran++, answer(body)));
    expect(ran).to.equal(1);
    // One answer larger than the whole bound is not kept at all.
    await cache.run('big', 'k', async () => answer('y'.repeat(20_000)));
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
});
