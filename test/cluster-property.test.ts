// Property (fast-check): three people in a conference on a three-node cluster, each of
// their requests sent to a node chosen at random — messages, polls, polls whose answer is
// lost (the client polls again with its old cursor), and batches re-sent to another node
// as if their answer had been lost. Invariant: every person gets every other's messages
// exactly once, in the order each was sent, all three in one order; and every node ends
// with the same state.
import { expect } from 'chai';
import fc from 'fast-check';
import { LegacyClient, type Reply } from './support/client.js';
import { startTestCluster, type TestCluster } from './support/cluster.js';
import { describeRedis } from './support/redis.js';
import { sameStateOnEveryNode } from './support/state-dump.js';
import type { XNode } from '../src/protocol/xml-tree.js';

const RUNS = Number(process.env.CWA_PROPERTY_RUNS ?? 20);
const PEOPLE = ['alice', 'bob', 'carol'] as const;
type Who = (typeof PEOPLE)[number];

type Op =
  | { kind: 'send'; who: number; node: number }
  | { kind: 'resend'; who: number; node: number }
  | { kind: 'poll'; who: number; node: number; lost: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), who: fc.nat(2), node: fc.nat(2) }),
  fc.record({ kind: fc.constant('resend' as const), who: fc.nat(2), node: fc.nat(2) }),
  fc.record({ kind: fc.constant('poll' as const), who: fc.nat(2), node: fc.nat(2), lost: fc.boolean() }),
);

const flat = (n: XNode): string => n.text + n.children.map(flat).join('');

/** One person: a session, its cursor, and the client as it would be on each node. */
class Person {
  confId = '';
  sent = 0;
  lastBatch: string | undefined;
  lastAnswer: string | undefined;
  readonly got: string[] = [];

  constructor(
    readonly name: Who,
    readonly main: LegacyClient,
    private readonly cluster: TestCluster,
  ) {}

  on(node: number): LegacyClient {
    const c = new LegacyClient(this.cluster.nodes[node]!.url, this.name);
    return Object.assign(c, { ticket: this.main.ticket, sid: this.main.sid, ackId: this.main.ackId });
  }

  /** Follows the newest ticket a node handed out. */
  keep(c: LegacyClient): void {
    if (c.ticket) this.main.ticket = c.ticket;
  }

  take(events: XNode[], reply: Reply): void {
    for (const e of events) {
      if (e.name !== 'conference') continue;
      const s = JSON.stringify(e);
      if (s.includes('imSessionReceived') && !this.confId) this.confId = e.attrs.confId!;
      if (s.includes('messageReceived')) {
        const m = /\b(alice|bob|carol):(\d+)\b/.exec(flat(e));
        if (m) this.got.push(`${m[1]}:${m[2]}`);
      }
    }
    this.main.ackId = Number(reply.root.attrs.ackId);
  }
}

describeRedis('cluster: requests on random nodes (property, fast-check)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster(3, { holdMs: 0 });
  });
  after(async () => {
    await cluster.close();
  });

  it(`every message once, in order, one order for all; every node the same state (${RUNS} runs)`, async function () {
    this.timeout(30_000 + RUNS * 3000);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), fc.array(fc.nat(2), { minLength: 3, maxLength: 3 }), async (ops, signInNodes) => {
        run += 1;
        const people: Person[] = [];
        for (const [i, name] of PEOPLE.entries()) {
          const c = await new LegacyClient(cluster.nodes[signInNodes[i]!]!.url, name).signIn();
          people.push(new Person(name, c, cluster));
        }
        const poll = async (p: Person, node: number, lost = false) => {
          const c = p.on(node);
          const { reply, events } = await c.poll(p.main.ackId);
          expect(reply.status, reply.body).to.equal(200);
          p.keep(c);
          if (!lost) p.take(events, reply);
        };
        try {
          const [alice, bob, carol] = people as [Person, Person, Person];
          const start = await alice.on(0).command(
            `<conference rid="r${run}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri><uri>sip:carol@example.com</uri></uris><message><content>hello</content></message></initiateImSession></conference>`,
          );
          expect(start.body).to.not.contain('requestFailed');
          alice.confId = /confId="(\d+)"/.exec(start.body)?.[1] ?? '1';
          for (const p of [bob, carol]) {
            for (let i = 0; i < 10 && !p.confId; i++) await poll(p, i % 3);
            expect(p.confId, `${p.name} was invited`).to.not.equal('');
            const r = await p.on(1).command(`<conference rid="${p.main.nextRid()}" confId="${p.confId}"><acceptImSession/></conference>`);
            expect(r.body).to.not.contain('requestFailed');
          }
          for (const op of ops) {
            const p = people[op.who]!;
            if (op.kind === 'send') {
              p.lastBatch = `<conference rid="${p.main.nextRid()}" confId="${p.confId}"><sendMessage><content>${p.name}:${p.sent++}</content></sendMessage></conference>`;
              const c = p.on(op.node);
              const r = await c.command(p.lastBatch);
              expect(r.body).to.not.contain('requestFailed');
              p.lastAnswer = r.body;
              p.keep(c);
            } else if (op.kind === 'resend') {
              if (!p.lastBatch) continue;
              // The answer was lost: the same batch again, elsewhere. It must not run twice.
              const c = p.on(op.node);
              const r = await c.command(p.lastBatch);
              expect(r.body, 'the first answer, from the shared duplicate cache').to.equal(p.lastAnswer);
              p.keep(c);
            } else {
              await poll(p, op.node, op.lost);
            }
          }
          // Everyone catches up, on whatever node.
          for (const [i, p] of people.entries()) {
            for (let k = 0; k < 5; k++) await poll(p, (i + k) % 3);
          }
          for (const p of people) {
            expect(new Set(p.got).size, `${p.name} got a message twice: ${p.got.join(' ')}`).to.equal(p.got.length);
            for (const from of people.filter((q) => q !== p)) {
              expect(p.got.filter((m) => m.startsWith(`${from.name}:`)), `${p.name}'s messages from ${from.name}`).to.deep.equal(
                [...Array(from.sent).keys()].map((i) => `${from.name}:${i}`),
              );
            }
          }
          for (const [a, b] of [[alice, bob], [bob, carol], [alice, carol]] as const) {
            const both = (m: string) => a.got.includes(m) && b.got.includes(m);
            expect(a.got.filter(both), `${a.name} and ${b.name} disagree on the order`).to.deep.equal(b.got.filter(both));
          }
          await sameStateOnEveryNode(cluster.nodes);
        } finally {
          for (const p of people) await p.on(2).command(`<terminateSession rid="end${run}"/>`).catch(() => undefined);
        }
      }),
      { numRuns: RUNS, ...(process.env.CWA_PROPERTY_SEED ? { seed: Number(process.env.CWA_PROPERTY_SEED) } : {}) },
    );
  });
});
