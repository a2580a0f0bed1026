// Three gateway processes on one Redis behind a round-robin balancer. Three people hold a
// conference; every request each of them sends (commands and polls) goes to the next
// node. Mid-way one node is killed with SIGKILL, with polls held and commands in flight on
// it; later a new node takes its place. Clients do what a legacy client does when a request
// fails: send it again (the same batch with the same rids; the same AckId). Every participant must still see every
// message of the others exactly once, in each sender's order, and all in one order.
import { expect } from 'chai';
import { LegacyClient, type Reply } from './support/client.js';
import { Balancer } from './support/balancer.js';
import { startNodeProcess, type NodeProcess } from './support/node-process.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import type { XNode } from '../src/protocol/xml-tree.js';

/** A client that re-sends a request whose connection dropped or that met a node with Redis unreachable. */
class PersistentClient extends LegacyClient {
  retries = 0;
  override async http(method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await super.http(method, path, body, headers);
        if (r.status !== 503 && r.status !== 502) return r;
      } catch (err) {
        if (!(err instanceof TypeError)) throw err; // fetch: the connection failed or dropped
      }
      if (attempt > 50) throw new Error(`${method} ${path} kept failing`);
      this.retries++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const flat = (n: XNode): string => n.text + n.children.map(flat).join('');

describeRedis('cluster: a node killed mid-conversation', () => {
  let nodes: NodeProcess[] = [];
  let balancer: Balancer | undefined;
  afterEach(async () => {
    await balancer?.close();
    for (const n of nodes) await n.kill();
    nodes = [];
  });

  it('three nodes, participants hopping on every request, one killed and a new one started: every message exactly once, in one order', async function () {
    this.timeout(60_000);
    const prefix = uniquePrefix('kill');
    const args = ['--store', REDIS_TEST_URL, '--redis-prefix', prefix, '--hold-ms', '1000', '--rate-address', '0', '--rate-ticket', '0', '--rate-logon-address', '0', '--log-level', 'warn'];
    nodes = await Promise.all([0, 1, 2].map(() => startNodeProcess(args)));
    balancer = new Balancer(nodes.map((n) => n.url));
    const url = await balancer.start();

    const people = ['alice', 'bob', 'carol'] as const;
    const clients = Object.fromEntries(await Promise.all(people.map(async (p) => [p, await new PersistentClient(url, p).signIn()] as const))) as Record<
      (typeof people)[number],
      PersistentClient
    >;
    const confIds: Record<string, string> = {};
    // What each person received, in order, from the message text ("<sender>:<n>").
    const received: Record<string, string[]> = { alice: [], bob: [], carol: [] };
    let stop = false;
    const pollers = people.map(async (p) => {
      const c = clients[p];
      while (!stop) {
        const { reply, events } = await c.poll(c.ackId);
        expect(reply.status, reply.body).to.equal(200);
        for (const e of events) {
          if (e.name !== 'conference') continue;
          const s = JSON.stringify(e);
          if (s.includes('imSessionReceived') && !confIds[p]) confIds[p] = e.attrs.confId!;
          if (s.includes('messageReceived')) {
            const m = /\b(alice|bob|carol):(\d+)\b/.exec(flat(e));
            if (m) received[p]!.push(`${m[1]}:${m[2]}`);
          }
        }
      }
    });

    const start = await clients.alice.command(
      `<conference rid="${clients.alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris><message><content>hello</content></message></initiateImSession></conference>`,
    );
    expect(start.status, start.body).to.equal(200);
    expect(start.body).to.not.contain('requestFailed');
    confIds.alice = /confId="(\d+)"/.exec(start.body)?.[1] ?? '1';
    for (const p of ['bob', 'carol'] as const) {
      const deadline = Date.now() + 5000;
      while (!confIds[p]) {
        if (Date.now() > deadline) throw new Error(`${p} was not invited`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = await clients[p].command(`<conference rid="${clients[p].nextRid()}" confId="${confIds[p]}"><acceptImSession/></conference>`);
      expect(r.status, r.body).to.equal(200);
    }

    const ROUNDS = 30;
    const KILL_AT = 12;
    const REJOIN_AT = 21;
    let servedBeforeRejoin = 0;
    const sender = async (p: (typeof people)[number]) => {
      const c = clients[p];
      for (let i = 0; i < ROUNDS; i++) {
        if (p === 'alice' && i === KILL_AT) {
          // Node 1 dies now, with polls held and commands in flight on it; the balancer notices.
          await nodes[1]!.kill('SIGKILL');
          balancer!.remove(1);
        }
        if (p === 'alice' && i === REJOIN_AT) {
          // A new node 1 starts mid-conversation, catches up with the stream and takes requests again.
          nodes[1] = await startNodeProcess(args);
          balancer!.restore(1, nodes[1].url);
          servedBeforeRejoin = balancer!.served[1]!;
        }
        const r = await c.command(`<conference rid="${c.nextRid()}" confId="${confIds[p]}"><sendMessage><content>${p}:${i}</content></sendMessage></conference>`);
        expect(r.status, r.body).to.equal(200);
        expect(r.body, r.body).to.not.contain('requestFailed');
      }
    };
    await Promise.all(people.map(sender));

    // Everything sent reaches the other two.
    const deadline = Date.now() + 15_000;
    while (people.some((p) => received[p]!.length < 2 * ROUNDS) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(pollers);

    for (const p of people) {
      const got = received[p]!;
      expect(new Set(got).size, `${p} got a message twice: ${got.join(' ')}`).to.equal(got.length);
      for (const from of people.filter((q) => q !== p)) {
        const mine = got.filter((m) => m.startsWith(`${from}:`));
        expect(mine, `${p}'s messages from ${from}`).to.deep.equal([...Array(ROUNDS).keys()].map((i) => `${from}:${i}`));
      }
    }
    // One order: any two people see the messages they both receive in the same order.
    for (const [a, b] of [['alice', 'bob'], ['bob', 'carol'], ['alice', 'carol']] as const) {
      const both = (m: string) => received[a]!.includes(m) && received[b]!.includes(m);
      expect(received[a]!.filter(both), `${a} and ${b} disagree on the order`).to.deep.equal(received[b]!.filter(both));
    }
    if (process.env.DEBUG_CLUSTER) console.log({ retries: Object.values(clients).map((c) => c.retries), served: balancer.served, received: Object.values(received).map((r) => r.length) });
    // The kill was felt (requests were re-sent), and the surviving nodes served the rest.
    expect(Object.values(clients).reduce((n, c) => n + c.retries, 0) + balancer.served[1]!).to.be.greaterThan(0);
    expect(balancer.served[0]).to.be.greaterThan(30);
    expect(balancer.served[2]).to.be.greaterThan(30);
    expect(balancer.served[1]! - servedBeforeRejoin, 'the new node 1 served requests').to.be.greaterThan(5);
  });
});
