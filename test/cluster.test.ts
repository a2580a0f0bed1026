// Gateway nodes sharing one Redis (--store redis://…), in this process, behind a
// round-robin balancer: every request of every client goes to the next node. The
// conversation fixtures pass there exactly as on one gateway; two nodes acting on one
// conference at the same moment lose nothing; tickets and idle sessions expire on every
// node alike. (cluster-failure.test.ts kills node processes.)
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { WsTestClient } from './support/ws-client.js';
import { startTestCluster, type TestCluster } from './support/cluster.js';
import { startTestGateway } from './support/gateway.js';
import { sameStateOnEveryNode } from './support/state-dump.js';
import { Redis } from 'ioredis';
import { describeRedis, REDIS_TEST_URL } from './support/redis.js';
import { ticketHash } from '../src/engine/tickets.js';
import { fixtureFiles, loadFixtureFile, replayFixture, usesManualClock } from './support/transcript.js';
import type { XNode } from '../src/protocol/xml-tree.js';


const textOf = (n: XNode | undefined): string => (n ? n.text + n.children.map(textOf).join('') : '');

describeRedis('cluster: three nodes on one Redis behind a round-robin balancer', () => {
  describe('the conversation fixtures, every request on the next node', () => {
    for (const { file, name } of fixtureFiles()) {
      it(name, async () => {
        const fixture = loadFixtureFile(file, name);
        const manual = usesManualClock(fixture);
        const cluster = await startTestCluster(3, { holdMs: 0, ...fixture.gateway }, { manualClock: manual });
        try {
          await replayFixture(fixture, cluster.url, manual ? async (ms) => {
            cluster.clock!.advance(ms);
            await cluster.nodes[0]!.gateway.tick();
          } : undefined);
          // Every node took requests.
          expect(Math.min(...cluster.balancer.served)).to.be.greaterThan(0);
          // And every node, having applied the same commands, holds the same state.
          await sameStateOnEveryNode(cluster.nodes);
        } finally {
          await cluster.close();
        }
      });
    }
  });

  describe('state shared by the nodes', () => {
    let cluster: TestCluster;
    beforeEach(async () => {
      cluster = await startTestCluster(3, { holdMs: 300 });
    });
    afterEach(async () => {
      await cluster.close();
    });

    /** Signs a user in through the balancer and drains its initial events. */
    async function signedIn(login: string): Promise<LegacyClient> {
      const c = await new LegacyClient(cluster.url, login).signIn();
      while ((await c.poll(c.ackId)).events.length > 0);
      return c;
    }

    it('serves a session begun on one node from the others, and its ticket on all', async () => {
      const alice = await new LegacyClient(cluster.nodes[0]!.url, 'alice').signIn();
      for (const node of cluster.nodes) {
        const c = new LegacyClient(node.url, 'alice');
        c.ticket = alice.ticket;
        c.sid = alice.sid;
        const { reply } = await c.poll(0);
        expect(reply.status, reply.body).to.equal(200);
      }
    });

    it('Redis never holds a usable ticket: the command stream carries its hash only', async () => {
      const alice = await new LegacyClient(cluster.url, 'alice').signIn();
      const redis = new Redis(REDIS_TEST_URL);
      try {
        const prefix = cluster.nodes[0]!.config.redisPrefix;
        const stream = (await redis.xrange(`${prefix}cmd`, '-', '+')).map(([, fields]) => fields.join(' ')).join('\n');
        expect(stream).to.contain('"t":"logon"');
        expect(stream).to.not.contain(alice.ticket!);
        expect(stream).to.contain(ticketHash(alice.ticket!));
      } finally {
        redis.disconnect();
      }
    });

    it('refuses a node whose options would make it apply the same commands differently', async () => {
      const config = { ...cluster.nodes[0]!.config, maxParticipantsPerConference: 5 };
      let refused: Error | undefined;
      try {
        const odd = await startTestGateway(config, { store: 'redis' });
        await odd.close();
      } catch (err) {
        refused = err as Error;
      }
      expect(refused?.message).to.match(/differ from those of the nodes already/);
      // The same options join.
      const twin = await startTestGateway(cluster.nodes[0]!.config, { store: 'redis' });
      await twin.close();
    });

    it('a batch re-sent to another node (its answer was lost) gets the first answer, and runs once', async () => {
      const [alice, bob] = [await signedIn('alice'), await signedIn('bob')];
      const batch = `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>once</content></message></initiateImSession></conference>`;
      const onA = new LegacyClient(cluster.nodes[0]!.url, 'alice');
      const onB = new LegacyClient(cluster.nodes[1]!.url, 'alice');
      for (const c of [onA, onB]) Object.assign(c, { ticket: alice.ticket, sid: alice.sid });
      const first = await onA.command(batch);
      const again = await onB.command(batch);
      expect(first.status, first.body).to.equal(200);
      expect(again.body).to.equal(first.body);
      const events = await bob.pollUntil((e) => JSON.stringify(e).includes('once'));
      await new Promise((r) => setTimeout(r, 100));
      const more = (await bob.poll(bob.ackId)).events;
      const invitations = [...events, ...more].filter((e) => JSON.stringify(e).includes('imSessionReceived'));
      expect(invitations).to.have.length(1);
    });

    it('two nodes changing one conference at the same moment lose no update, and every member sees one order', async () => {
      const [alice, bob, carol] = [await signedIn('alice'), await signedIn('bob'), await signedIn('carol')];
      const r = await alice.command(
        `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris><message><content>start</content></message></initiateImSession></conference>`,
      );
      expect(r.status, r.body).to.equal(200);
      const confOf = async (c: LegacyClient): Promise<string> => {
        const events = await c.pollUntil((e) => e.name === 'conference' && JSON.stringify(e).includes('imSessionReceived'));
        const ev = events.find((e) => e.name === 'conference' && JSON.stringify(e).includes('imSessionReceived'))!;
        return ev.attrs.confId!;
      };
      const bobConf = await confOf(bob);
      const carolConf = await confOf(carol);
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
      await carol.command(`<conference rid="${carol.nextRid()}" confId="${carolConf}"><acceptImSession/></conference>`);
      // Bob's and Carol's messages go to different nodes at the same moment, 20 rounds.
      const bobOn = new LegacyClient(cluster.nodes[1]!.url, 'bob');
      const carolOn = new LegacyClient(cluster.nodes[2]!.url, 'carol');
      Object.assign(bobOn, { ticket: bob.ticket, sid: bob.sid });
      Object.assign(carolOn, { ticket: carol.ticket, sid: carol.sid });
      const send = (c: LegacyClient, conf: string, text: string) =>
        c.command(`<conference rid="${c.nextRid()}" confId="${conf}"><sendMessage><content>${text}</content></sendMessage></conference>`);
      for (let i = 0; i < 20; i++) {
        const [a, b] = await Promise.all([send(bobOn, bobConf, `b${i}`), send(carolOn, carolConf, `c${i}`)]);
        expect(a.status, a.body).to.equal(200);
        expect(b.status, b.body).to.equal(200);
      }
      // Alice sees all 40, and the order she sees is the order Bob and Carol see the other's.
      const received = async (c: LegacyClient): Promise<string[]> => {
        const out: string[] = [];
        for (let polls = 0; polls < 50; polls++) {
          const { events } = await c.poll(c.ackId);
          for (const e of events) {
            const s = JSON.stringify(e);
            if (!s.includes('messageReceived')) continue;
            const m = /"text":"([bc]\d+)"/.exec(s) ?? /([bc]\d+)/.exec(textOf(e));
            if (m) out.push(m[1]!);
          }
          if (events.length === 0) break;
        }
        return out;
      };
      const atAlice = await received(alice);
      expect(atAlice).to.have.length(40);
      expect(new Set(atAlice).size).to.equal(40);
      const atBob = await received(bob);
      const atCarol = await received(carol);
      expect(atBob).to.deep.equal(atAlice.filter((m) => m.startsWith('c')));
      expect(atCarol).to.deep.equal(atAlice.filter((m) => m.startsWith('b')));
      for (const who of ['b', 'c']) {
        expect(atAlice.filter((m) => m.startsWith(who))).to.deep.equal([...Array(20).keys()].map((i) => `${who}${i}`));
      }
      await sameStateOnEveryNode(cluster.nodes);
    });
  });

  describe('listeners', () => {
    it('one listener per session across nodes: a poll on one node releases a poll held on another, and closes a WebSocket there (4001)', async () => {
      const cluster = await startTestCluster(3, { holdMs: 1500 });
      try {
        const alice = await new LegacyClient(cluster.url, 'alice').signIn();
        while ((await alice.poll(alice.ackId)).events.length > 0);
        const on = (i: number) => Object.assign(new LegacyClient(cluster.nodes[i]!.url, 'alice'), { ticket: alice.ticket, sid: alice.sid, ackId: alice.ackId });
        // A poll held on node 0 (the hold is 1.5 s in this cluster).
        const held = on(0).poll(alice.ackId);
        await new Promise((r) => setTimeout(r, 50));
        const started = Date.now();
        const other = on(1).poll(alice.ackId);
        const first = await held;
        expect(first.reply.status).to.equal(200);
        expect(first.events).to.have.length(0);
        expect(Date.now() - started, 'released before its hold ended').to.be.below(1000);
        await other;
        // A WebSocket on node 2, then a poll on node 0: the socket closes with 4001.
        const ws = await WsTestClient.attach(cluster.nodes[2]!.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket });
        await new Promise((r) => setTimeout(r, 50));
        await on(0).poll(alice.ackId);
        const closed = await Promise.race([ws.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
        expect(closed?.code).to.equal(4001);
      } finally {
        await cluster.close();
      }
    });
  });

  describe('wake-ups', () => {
    it('a poll held on one node, and a WebSocket attached there, get at once what another node queues', async () => {
      const cluster = await startTestCluster(2, { holdMs: 5000 });
      try {
        const onNode = async (i: number, login: string) => {
          const c = await new LegacyClient(cluster.nodes[i]!.url, login).signIn();
          await c.poll(c.ackId); // the initial events, queued already: answered at once
          return c;
        };
        const alice = await onNode(0, 'alice');
        const bob = await onNode(1, 'bob');
        const held = bob.poll(bob.ackId);
        await new Promise((r) => setTimeout(r, 100));
        const started = Date.now();
        await alice.command(
          `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>across</content></message></initiateImSession></conference>`,
        );
        const { events } = await held;
        expect(Date.now() - started, 'long before the 5 s hold ends').to.be.below(1000);
        expect(JSON.stringify(events)).to.contain('imSessionReceived');
        // The same over a WebSocket: Bob's socket on node 1 gets what Alice's command on node 0 queued.
        const invitation = events.find((e) => JSON.stringify(e).includes('imSessionReceived'))!;
        const accepted = await bob.command(`<conference rid="${bob.nextRid()}" confId="${invitation.attrs.confId}"><acceptImSession/></conference>`);
        expect(accepted.body).to.not.contain('requestFailed');
        const ws = await WsTestClient.attach(cluster.nodes[1]!.url, { sid: bob.sid, ackId: bob.ackId, ticket: bob.ticket });
        try {
          const sent = await alice.command(`<conference rid="${alice.nextRid()}" confId="1"><sendMessage><content>pushed across</content></sendMessage></conference>`);
          expect(sent.body).to.not.contain('requestFailed');
          const deadline = Date.now() + 2000;
          while (!JSON.stringify(ws.events).includes('pushed across') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
          expect(JSON.stringify(ws.events), ws.frames.join('\n')).to.contain('pushed across');
        } finally {
          ws.socket.close();
        }
      } finally {
        await cluster.close();
      }
    });
  });

  describe('expiry on every node', () => {
    it('a ticket expires, and an idle session times out, on every node (the timers run in the shared state)', async () => {
      const cluster = await startTestCluster(3, { holdMs: 0, ticketTtlS: 100, sessionTimeoutS: 60 }, { manualClock: true });
      try {
        const alice = await new LegacyClient(cluster.url, 'alice').signIn();
        const bob = await new LegacyClient(cluster.url, 'bob').signIn();
        cluster.clock!.advance(30_000);
        // Bob stays active (on every node in turn); Alice does not.
        for (let i = 0; i < 3; i++) expect((await bob.poll(bob.ackId)).reply.status).to.equal(200);
        cluster.clock!.advance(31_000);
        await cluster.nodes[1]!.gateway.tick();
        for (const node of cluster.nodes) {
          // Alice's session timed out everywhere: every node answers its log's terminal event.
          const c = new LegacyClient(node.url, 'alice');
          Object.assign(c, { ticket: alice.ticket, sid: alice.sid });
          const { reply, events } = await c.poll(alice.ackId);
          expect(reply.status, reply.body).to.equal(200);
          expect(events.map((e) => e.name), reply.body).to.include('sessionTerminated');
          expect(reply.body).to.contain('timeout');
        }
        // Bob's session, used 31 s ago, is alive on every node.
        for (const node of cluster.nodes) {
          const c = new LegacyClient(node.url, 'bob');
          Object.assign(c, { ticket: bob.ticket, sid: bob.sid });
          const { reply, events } = await c.poll(bob.ackId);
          expect(reply.status, reply.body).to.equal(200);
          expect(events.map((e) => e.name)).to.not.include('sessionTerminated');
        }
        cluster.clock!.advance(60_000);
        await cluster.nodes[2]!.gateway.tick();
        // 121 s after logon, past its 100 s lifetime, the ticket of Bob's logon works on every node:
        // it was used (lifetimes slide), and the successor offered at 61 s was never taken.
        for (const node of cluster.nodes) {
          const c = new LegacyClient(node.url, 'bob');
          c.ticket = bob.ticket;
          expect((await c.command('<queryPresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>', bob.sid)).status).to.equal(200);
        }
        cluster.clock!.advance(101_000);
        await cluster.nodes[0]!.gateway.tick();
        for (const node of cluster.nodes) {
          // Unused for more than 100 s, Alice's ticket (last used at 61 s) and Bob's (at 121 s) are refused by every node.
          const c = new LegacyClient(node.url, 'alice');
          c.ticket = alice.ticket;
          const r = await c.command('<initiateSession rid="1"/>', 0);
          expect(r.status, r.body).to.equal(401);
          const b = new LegacyClient(node.url, 'bob');
          b.ticket = bob.ticket;
          expect((await b.command('<initiateSession rid="1"/>', 0)).status).to.equal(401);
        }
      } finally {
        await cluster.close();
      }
    });
  });
});
