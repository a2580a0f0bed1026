// A gateway started with --store redis://…: the conversation fixtures replayed on it, a
// held poll woken by another session's message, durable data across a restart, and
// Redis going away and coming back (503 meanwhile, then service again without a restart).
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { LegacyClient } from './support/client.js';
import { WsTestClient } from './support/ws-client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import { fixtureFiles, loadFixtureFile, replayFixture, usesManualClock } from './support/transcript.js';
import { createLogger } from '../src/ops/logger.js';


const onRedis = (extra: Record<string, unknown> = {}) => ({ store: REDIS_TEST_URL, redisPrefix: uniquePrefix('gw'), ...extra });

describeRedis('gateway on Redis (--store redis://…)', () => {
  describe('fixtures replayed on a Redis-backed gateway', () => {
    for (const { file, name } of fixtureFiles()) {
      it(name, async () => {
        const fixture = loadFixtureFile(file, name);
        const manual = usesManualClock(fixture);
        const gw = await startTestGateway(onRedis({ holdMs: 0, ...fixture.gateway }), { manualClock: manual, store: 'redis' });
        try {
          await replayFixture(fixture, gw.url, manual ? async (ms) => {
            gw.clock!.advance(ms);
            await gw.gateway.tick();
          } : undefined);
        } finally {
          await gw.close();
        }
      });
    }
  });

  it('answers a held poll as soon as the other side sends a message', async () => {
    const gw = await startTestGateway(onRedis({ holdMs: 1500 }), { store: 'redis' });
    try {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      const bob = await new LegacyClient(gw.url, 'bob').signIn();
      await alice.pollUntil(() => true);
      await bob.pollUntil(() => true);
      while ((await bob.poll(bob.ackId)).events.length > 0); // drain the initial burst (held polls end at once while events remain)
      const held = bob.poll();
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await alice.command(
        `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`,
      );
      const { events } = await held;
      expect(Date.now() - started).to.be.below(1000);
      expect(events.length).to.be.greaterThan(0);
    } finally {
      await gw.close();
    }
  });

  it('keeps contacts on Redis across a gateway restart on the same database and prefix', async () => {
    const config = onRedis();
    let gw = await startTestGateway(config, { store: 'redis' });
    try {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      const r = await alice.command(`<addContact rid="${alice.nextRid()}"><contact uri="sip:bob@example.com" name="Bob" subscribed="true" tag="false"/></addContact>`);
      expect(r.status, r.body).to.equal(200);
      await gw.close();
      gw = await startTestGateway(config, { store: 'redis' });
      const again = await new LegacyClient(gw.url, 'alice').signIn();
      const events = await again.pollUntil((e) => e.name === 'contactGroup');
      const list = events.find((e) => e.name === 'contactGroup')!;
      expect(JSON.stringify(list)).to.contain('sip:bob@example.com');
    } finally {
      await gw.close();
    }
  });

  describe('Redis unreachable, then back', function () {
    this.timeout(30_000);
    const PORT = 6390;
    const haveServer = spawnSync('redis-server', ['--version']).status === 0;
    const redisUp = () => execFileSync('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
    const redisDown = () => spawnSync('redis-cli', ['-p', String(PORT), 'shutdown', 'nosave']);
    let gw: TestGateway | undefined;
    before(function () {
      if (!haveServer) throw new Error('redis-server is not on PATH: this test starts and stops its own Redis on port 6390');
      redisDown();
      redisUp();
    });
    after(async () => {
      await gw?.close();
      redisDown();
    });

    it('fails fast with 503 and an error body while Redis is down, and serves again by itself; the outage is logged once, then its end with its length', async () => {
      const lines: { level: string; msg: string; outageMs?: number }[] = [];
      const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
      gw = await startTestGateway({ store: `redis://127.0.0.1:${PORT}/0`, holdMs: 2000 }, { store: 'redis', logger });
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      await alice.pollUntil(() => true);
      const before = lines.length;
      redisDown();
      // Long enough for the node to retry reading the stream several times (every 200 ms).
      await new Promise((r) => setTimeout(r, 1500));
      for (const attempt of [
        () => alice.command(`<addContact rid="${alice.nextRid()}"><contact uri="sip:bob@example.com" name="Bob" subscribed="true" tag="false"/></addContact>`),
        () => alice.poll().then((p) => p.reply),
        // Issuing a ticket is a change of the shared state too.
        () => new LegacyClient(gw!.url, 'bob').logon(),
      ]) {
        const started = Date.now();
        const r = await attempt();
        expect(Date.now() - started, 'fails fast').to.be.below(500);
        expect(r.status, r.body).to.equal(503);
        const error = r.root.name === 'error' ? r.root : r.root.children.find((c: { name: string }) => c.name === 'error');
        expect(error?.attrs.code, r.body).to.equal('18400');
      }
      // A WebSocket attach is refused the same way.
      const started = Date.now();
      const refused = await WsTestClient.refusal(gw.url, { sid: alice.sid, ticket: alice.ticket });
      expect(Date.now() - started, 'fails fast').to.be.below(500);
      expect(refused.status, refused.body).to.equal(503);
      expect(refused.body).to.match(/code="18400"/);
      redisUp();
      // The gateway reconnects without help (this Redis came back empty: the node gives it its state again).
      const deadline = Date.now() + 10_000;
      for (;;) {
        const bob = new LegacyClient(gw.url, 'bob');
        const logon = await bob.logon();
        // Until the node is back every answer is 503 (a ticket-less command after a failed
        // logon would be 401 once it is back: it is not sent).
        const session = logon.status === 200 ? await bob.command(`<initiateSession rid="1"/>`, 0) : logon;
        if (session.status === 200) break;
        expect(session.status, session.body).to.equal(503);
        if (Date.now() > deadline) throw new Error('the gateway did not recover within 10 s of Redis coming back');
        await new Promise((r) => setTimeout(r, 100));
      }
      // One line when the outage starts, one when it ends (with its length): not one per retry.
      // (Requests answered 503 meanwhile have their own lines; this Redis came back empty, so the
      // node also says it gave it its state again.)
      const outage = lines.slice(before).filter((l) => l.msg !== 'request');
      const messages = outage.map((l) => l.msg);
      const loud = outage.filter((l) => l.level === 'error' || l.level === 'warn').filter((l) => !/starts again from this node/.test(l.msg));
      expect(loud.map((l) => l.msg), messages.join('\n')).to.deep.equal(['Redis unreachable: requests answer 503 until it is back']);
      const ended = outage.filter((l) => l.msg === 'Redis reachable again');
      expect(ended, messages.join('\n')).to.have.length(1);
      expect(ended[0]!.outageMs).to.be.at.least(1500);
      expect(outage.length, messages.join('\n')).to.be.at.most(5);
    });
  });
});
