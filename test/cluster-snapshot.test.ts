// Snapshots of the replicated state: a snapshot loaded into an empty replica is the same
// state, byte for byte; a node started after the stream was trimmed serves the sessions
// and conversations that began before it; a Redis that comes back empty is given the
// state again by the nodes, and sessions go on.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { LegacyClient } from './support/client.js';
import type { XNode } from '../src/protocol/xml-tree.js';
import { startTestCluster } from './support/cluster.js';
import { startTestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import { loadSnapshot, SNAPSHOT_VERSION, writeSnapshot } from '../src/cluster/snapshot.js';
import type { Replica } from '../src/cluster/redis-coordinator.js';
import { replicaOf, sameStateOnEveryNode, stateOf } from './support/state-dump.js';



const conversation = async (url: string) => {
  const [alice, bob] = [await new LegacyClient(url, 'alice').signIn(), await new LegacyClient(url, 'bob').signIn()];
  await alice.command(`<addContact rid="${alice.nextRid()}"><contact uri="sip:bob@example.com" name="Bob" subscribed="true" tag="false"/></addContact>`);
  await alice.command(
    `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`,
  );
  const got = await bob.pollUntil((e) => JSON.stringify(e).includes('imSessionReceived'));
  const confId = got.find((e) => JSON.stringify(e).includes('imSessionReceived'))!.attrs.confId!;
  await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
  return { alice, bob, confId };
};

/** Polls until `pred` matches, polling again with the same cursor on a 503 (a node still switching streams), within 15 s. */
async function pollUntilServed(c: LegacyClient, pred: (e: XNode) => boolean): Promise<XNode[]> {
  const deadline = Date.now() + 15_000;
  const seen: XNode[] = [];
  for (;;) {
    const { reply, events } = await c.poll();
    if (reply.status === 200) {
      seen.push(...events);
      if (events.some(pred)) return seen;
    } else {
      expect(reply.status, reply.body).to.equal(503);
      await new Promise((res) => setTimeout(res, 200));
    }
    if (Date.now() > deadline) throw new Error(`${c.login}: no matching event within 15 s`);
  }
}

/** Sends a message until the cluster serves it (503s meanwhile, nothing else), within 15 s. */
async function sendUntilServed(c: LegacyClient, confId: string, text: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await c.command(`<conference rid="${c.nextRid()}" confId="${confId}"><sendMessage><content>${text}</content></sendMessage></conference>`);
    if (r.status === 200) {
      expect(r.body).to.not.contain('requestFailed');
      return;
    }
    expect(r.status, r.body).to.equal(503);
    if (Date.now() > deadline) throw new Error('the cluster did not serve again within 15 s');
    await new Promise((res) => setTimeout(res, 200));
  }
}

describeRedis('cluster snapshots', () => {
  it('a snapshot loaded into an empty replica holds the same state, shared references and classes included (sessions, conversations, presence, user data, logs, rid cache)', async () => {
    const gw = await startTestGateway({ store: REDIS_TEST_URL, redisPrefix: uniquePrefix('snap'), holdMs: 0 }, { store: 'redis' });
    try {
      const { alice, bob, confId } = await conversation(gw.url);
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><content>kept</content></sendMessage></conference>`);
      await alice.command(`<subscribePresence rid="${alice.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></subscribePresence>`);
      const from = replicaOf(gw.gateway);
      const meta = { v: SNAPSHOT_VERSION, epoch: 'e', seq: 42, clock: from.clock.now(), lastTickAt: 0 };
      const bytes = writeSnapshot(from, meta);
      const empty = (gw.gateway.cluster as unknown as { opts: { makeReplica: () => Replica } }).opts.makeReplica();
      expect(stateOf(empty)).to.not.equal(stateOf(from));
      expect(loadSnapshot(bytes, empty)).to.deep.equal(meta);
      for (const part of ['engine', 'store', 'logs', 'rid'] as const) expect(stateOf(empty, part), part).to.equal(stateOf(from, part));
      expect(stateOf(from)).to.contain('"kind":"Conversation"').and.to.contain('"kind":"Session"');
      // The classes came back: a loaded session still allocates conference ids, a conversation still numbers messages.
      const session = empty.state.engine.sessionFor('alice', alice.sid)!;
      expect(session.allocateConfId()).to.be.greaterThan(0);
      expect([...session.legs.values()][0]!.conversation.nextMessageId()).to.match(/-mcu$/);
    } finally {
      await gw.close();
    }
  });

  it('a node started after the stream was trimmed loads the snapshot and serves the sessions that began before it', async () => {
    const cluster = await startTestCluster(2, { holdMs: 0, snapshotEvery: 100 });
    let late: Awaited<ReturnType<typeof startTestGateway>> | undefined;
    try {
      const { alice, bob, confId } = await conversation(cluster.url);
      for (let i = 0; i < 70; i++) {
        const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="1"><sendMessage><content>m${i}</content></sendMessage></conference>`);
        expect(r.body).to.not.contain('requestFailed');
        await bob.poll(bob.ackId);
      }
      const redis = new Redis(REDIS_TEST_URL);
      try {
        const prefix = cluster.nodes[0]!.config.redisPrefix;
        const first = (await redis.xrange(`${prefix}cmd`, '-', '+', 'COUNT', 1))[0]![0];
        const snapmeta = (await redis.get(`${prefix}snapmeta`))!;
        expect(Number(first.split('-')[1]), 'the stream was trimmed').to.be.greaterThan(100);
        expect(Number(snapmeta.split(':')[1])).to.be.at.least(100);
      } finally {
        redis.disconnect();
      }
      late = await startTestGateway(cluster.nodes[0]!.config, { store: 'redis' });
      const onLate = new LegacyClient(late.url, 'bob');
      Object.assign(onLate, { ticket: bob.ticket, sid: bob.sid, ackId: bob.ackId });
      await alice.command(`<conference rid="${alice.nextRid()}" confId="1"><sendMessage><content>after</content></sendMessage></conference>`);
      const got = await onLate.pollUntil((e) => JSON.stringify(e).includes('after'));
      expect(JSON.stringify(got)).to.contain('after');
      expect(JSON.stringify(got)).to.not.contain('m69'); // acknowledged before: not again
      const r = await onLate.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><content>from the late node</content></sendMessage></conference>`);
      expect(r.body).to.not.contain('requestFailed');
      expect(JSON.stringify(await alice.pollUntil((e) => JSON.stringify(e).includes('from the late node')))).to.contain('from the late node');
    } finally {
      await late?.close();
      await cluster.close();
    }
  });

  it('a stream that went back (a failover to a replica that missed entries) is started again from a node\'s state; nothing the nodes applied is lost', async () => {
    const cluster = await startTestCluster(2, { holdMs: 0 });
    const redis = new Redis(REDIS_TEST_URL);
    try {
      const { alice, bob, confId } = await conversation(cluster.url);
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><content>before</content></sendMessage></conference>`);
      expect(JSON.stringify(await alice.pollUntil((e) => JSON.stringify(e).includes('before')))).to.contain('before');
      // Redis now holds an older copy, as a replica that missed the last three commands would:
      // the stream without them (its top id back too) and the counter back with it.
      const prefix = cluster.nodes[0]!.config.redisPrefix;
      const entries = await redis.xrange(`${prefix}cmd`, '-', '+');
      const kept = entries.slice(0, -3);
      const older = redis.multi().del(`${prefix}cmd`);
      for (const [id, fields] of kept) older.xadd(`${prefix}cmd`, id, ...fields);
      await older.set(`${prefix}seq`, kept.at(-1)![0].split('-')[1]!).exec();
      const epoch = await redis.get(`${prefix}epoch`);
      // Service goes on (503s while the nodes notice), and what they had applied is still there.
      await sendUntilServed(bob, confId, 'after');
      const got = await pollUntilServed(alice, (e) => JSON.stringify(e).includes('after'));
      expect(JSON.stringify(got)).to.contain('after');
      expect(await redis.get(`${prefix}epoch`), 'a new stream').to.not.equal(epoch);
      await sameStateOnEveryNode(cluster.nodes);
    } finally {
      redis.disconnect();
      await cluster.close();
    }
  });

  describe('Redis coming back empty', function () {
    const PORT = 6391;
    const up = () => execFileSync('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
    const down = () => spawnSync('redis-cli', ['-p', String(PORT), 'shutdown', 'nosave']);
    before(() => {
      down();
      up();
    });
    after(() => {
      down();
    });

    it('the nodes give it the state again: sessions and conversations go on', async function () {
      this.timeout(30_000);
      const cluster = await startTestCluster(2, { store: `redis://127.0.0.1:${PORT}/0`, holdMs: 2000 });
      try {
        const { alice, bob, confId } = await conversation(cluster.url);
        while ((await bob.poll(bob.ackId)).events.length > 0);
        const clusterId = cluster.nodes[0]!.gateway.cluster!.clusterId;
        expect(clusterId).to.be.a('string');
        down();
        await new Promise((r) => setTimeout(r, 300));
        up();
        await sendUntilServed(bob, confId, 'still here');
        const got = await alice.pollUntil((e) => JSON.stringify(e).includes('still here'));
        expect(JSON.stringify(got)).to.contain('still here');
        // The cluster kept its id (the reseeding node wrote back the one it knew), so its nodes
        // still hear each other's attach notices: a poll on node 1 releases one held on node 0.
        const redis = new Redis(`redis://127.0.0.1:${PORT}/0`);
        try {
          expect(await redis.get(`${cluster.nodes[0]!.config.redisPrefix}cluster-id`)).to.equal(clusterId);
        } finally {
          redis.disconnect();
        }
        for (const n of cluster.nodes) expect(n.gateway.cluster!.clusterId).to.equal(clusterId);
        const on = (i: number) => Object.assign(new LegacyClient(cluster.nodes[i]!.url, 'bob'), { ticket: bob.ticket, sid: bob.sid, ackId: bob.ackId });
        while ((await bob.poll(bob.ackId)).events.length > 0);
        const started = Date.now();
        const held = on(0).poll(bob.ackId);
        await new Promise((r) => setTimeout(r, 100));
        const other = on(1).poll(bob.ackId);
        await held;
        expect(Date.now() - started, 'released by the poll on node 1').to.be.below(1500);
        await other;
      } finally {
        await cluster.close();
      }
    });
  });
});
