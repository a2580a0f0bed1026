// The UCWA door on a cluster: three gateway nodes sharing one Redis. A UCWA application's
// state (its conversations and their confIds, invitation and message ids, operationIds,
// the event channel's ack numbering, presence subscriptions) is replicated with the
// engine's, so any node serves any request of the application; a snapshot carries it,
// so a node that starts from a snapshot serves the application as the others do.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { conferenceChild, LegacyClient, messageTexts } from './support/client.js';
import { startTestCluster } from './support/cluster.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import { replicaOf, sameStateOnEveryNode, stateOf } from './support/state-dump.js';
import { dataText, link, UcwaClient, type Ev, type Mode, type Res } from './support/ucwa-client.js';
import { loadSnapshot, SNAPSHOT_VERSION, writeSnapshot } from '../src/cluster/snapshot.js';
import type { Replica } from '../src/cluster/redis-coordinator.js';
import type { XNode } from '../src/protocol/xml-tree.js';

/** Where each kind of request of one UCWA client goes: sign-in on one node, the application on another, events on a third. */
interface Route {
  signIn: number;
  application: number;
  events: number;
}

/** A fetch that sends each request to the node its route names (other requests rotate over the nodes). */
function routed(nodes: () => TestGateway[], route: Route): typeof fetch {
  let turn = 0;
  return (input, init) => {
    const u = new URL(String(input));
    const path = u.pathname.toLowerCase();
    const method = (init?.method ?? 'GET').toUpperCase();
    let i: number;
    if (path === '/' || path.startsWith('/autodiscover/') || path.startsWith('/webticket/')) i = route.signIn;
    else if ((method === 'POST' && path.endsWith('/applications')) || path.endsWith('/makemeavailable')) i = route.application;
    else if (path.endsWith('/events')) i = route.events;
    else i = turn++ % nodes().length;
    return fetch(nodes()[i]!.url + u.pathname + u.search, init);
  };
}

const incomingTexts = (events: Ev[]) =>
  events.filter((e) => e.rel === 'message' && e.type === 'completed' && e.resource?.props.direction === 'Incoming').map((e) => dataText(link(e.resource!, 'plainMessage')));

/** Polls until `n` incoming texts arrived (across nodes a command reaches the reading node a moment later). */
async function textsUntil(c: UcwaClient, n: number, maxPolls = 20): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < maxPolls && got.length < n; i++) {
    const { reply, events } = await c.poll();
    expect(reply.status, reply.text).to.equal(200);
    got.push(...incomingTexts(events));
  }
  return got;
}

/** Polls a CWA client until `n` texts arrived; also the confId of the last conference event (an escalation changes it). */
async function cwaTextsUntil(c: LegacyClient, n: number): Promise<string[] & { confId?: string }> {
  const got: string[] & { confId?: string } = [];
  for (let i = 0; i < 20 && got.length < n; i++) {
    const { reply, events } = await c.poll();
    expect(reply.status, reply.body).to.equal(200);
    got.push(...messageTexts(events));
    for (const e of events) if (e.name === 'conference' && messageTexts([e]).length > 0) got.confId = e.attrs.confId;
  }
  return got;
}

async function cwaSignedIn(url: string, login: string): Promise<LegacyClient> {
  const c = await new LegacyClient(url, login).signIn();
  while ((await c.poll()).events.length > 0);
  return c;
}

/** UCWA `from` starts an IM with CWA `to` and `to` accepts: the connected messaging resource and `to`'s confId. */
async function connectedTo(from: UcwaClient, to: LegacyClient, toUri: string): Promise<{ messaging: Res; conversation: Res; confId: string }> {
  const start = await from.post(link(from.communication(), 'startMessaging'), { to: toUri, operationId: from.nextOperationId() }, { message: 'data:text/plain,hello' });
  expect(start.status, start.text).to.equal(201);
  const invited = await to.pollUntil((e) => Boolean(conferenceChild(e, 'imSessionReceived')));
  const confId = invited.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
  const accepted = await to.command(`<conference rid="${to.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
  expect(accepted.status, accepted.body).to.equal(200);
  await from.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed', 20);
  const messaging = from.received.filter((e) => e.rel === 'messaging' && e.resource?.props.state === 'Connected').pop()!.resource!;
  const conversation = await from.get(link(messaging, 'conversation'));
  return { messaging, conversation, confId };
}

describeRedis('UCWA on a cluster of three nodes sharing Redis', () => {
  for (const mode of ['json', 'xml'] as Mode[]) {
    it(`${mode}: signed in on node A, application created on node B, events read on node C; chats with CWA users on other nodes both ways and in a three-person conference across the doors`, async () => {
      const cluster = await startTestCluster(3, { holdMs: 1000 });
      try {
        const nodes = () => cluster.nodes;
        const alice = await new UcwaClient(nodes()[0]!.url, 'alice', 'alice-demo', mode, routed(nodes, { signIn: 0, application: 1, events: 2 })).signIn();
        // The application was created on B and is read on C: its links and state are there.
        expect(alice.app!.href).to.match(/^\/ucwa\/oauth\/v1\/applications\/\d+$/);
        await alice.drain();
        const bob = await cwaSignedIn(nodes()[1]!.url, 'bob');
        const { messaging, conversation, confId } = await connectedTo(alice, bob, 'sip:bob@example.com');
        expect(messaging.props.state).to.equal('Connected');
        // UCWA -> CWA (sent on whichever node), CWA -> UCWA (sent on node B, read on node C), in order.
        for (const text of ['one', 'two', 'three']) {
          const sent = await alice.request('POST', `${link(messaging, 'sendMessage')}?operationId=${text}`, text, { 'Content-Type': 'text/plain' });
          expect(sent.status, sent.text).to.equal(201);
        }
        expect([...await cwaTextsUntil(bob, 3)]).to.deep.equal(['one', 'two', 'three']);
        for (const text of ['r1', 'r2', 'r3']) await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><content>${text}</content></sendMessage></conference>`);
        expect(await textsUntil(alice, 3)).to.deep.equal(['r1', 'r2', 'r3']);
        // Typing across nodes: bob composing reaches alice as typingParticipants.
        await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><notifyComposing>Composing</notifyComposing></conference>`);
        await alice.until((e) => e.in === 'typingParticipants' && e.type === 'added', 20);
        // A third person on the UCWA door, her requests on other nodes: alice adds carol.
        const carol = await new UcwaClient(nodes()[2]!.url, 'carol', 'carol-demo', mode, routed(nodes, { signIn: 2, application: 0, events: 1 })).signIn();
        await carol.drain();
        const add = await alice.post(link(conversation, 'addParticipant'), { to: 'sip:carol@example.com', operationId: 'add-carol' });
        expect(add.status, add.text).to.equal(201);
        const inv = (await carol.until((e) => e.rel === 'messagingInvitation' && e.type === 'started', 20)).resource!;
        expect((await carol.request('POST', link(inv, 'accept'))).status).to.equal(204);
        await carol.until((e) => e.rel === 'messagingInvitation' && e.type === 'completed', 20);
        const carolMessaging = carol.received.filter((e) => e.rel === 'messaging' && e.resource?.props.state === 'Connected').pop()!.resource!;
        await alice.until((e) => e.rel === 'participantInvitation' && e.type === 'completed', 20);
        // Everyone's text reaches the two others, whichever door and node.
        expect((await carol.request('POST', link(carolMessaging, 'sendMessage'), 'from carol', { 'Content-Type': 'text/plain' })).status).to.equal(201);
        expect(await textsUntil(alice, 1)).to.deep.equal(['from carol']);
        const bobGot = await cwaTextsUntil(bob, 1);
        expect([...bobGot]).to.deep.equal(['from carol']);
        const sent = await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobGot.confId!}"><sendMessage><content>from bob</content></sendMessage></conference>`);
        expect(sent.body).to.not.contain('requestFailed');
        expect(await textsUntil(alice, 1)).to.deep.equal(['from bob']);
        expect(await textsUntil(carol, 1)).to.deep.equal(['from bob']);
        // Every node holds the same state, the UCWA door's included.
        await sameStateOnEveryNode(cluster.nodes);
        for (const node of cluster.nodes) {
          const apps = [...replicaOf(node.gateway).state.ucwa.apps.values()];
          expect(apps.map((a) => a.login).sort()).to.deep.equal(['alice', 'carol']);
          const conv = [...apps.find((a) => a.login === 'alice')!.conversations.values()][0]!;
          expect(conv.participants.map((p) => p.uri).sort()).to.deep.equal(['sip:bob@example.com', 'sip:carol@example.com']);
        }
      } finally {
        await cluster.close();
      }
    });
  }

  it('a snapshot holds the UCWA state: loaded into an empty replica, the applications, conversations, operationIds and ack numbering are the same', async () => {
    const gw = await startTestGateway({ store: REDIS_TEST_URL, redisPrefix: uniquePrefix('ucwasnap'), holdMs: 0 }, { store: 'redis' });
    try {
      const alice = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
      await alice.drain();
      const bob = await cwaSignedIn(gw.url, 'bob');
      await connectedTo(alice, bob, 'sip:bob@example.com');
      const sub = await alice.post(link(alice.app!.embedded.people![0]!, 'presenceSubscriptions'), { duration: '30', uris: ['sip:bob@example.com'] });
      expect(sub.status, sub.text).to.be.oneOf([200, 201]);
      const from = replicaOf(gw.gateway);
      const bytes = writeSnapshot(from, { v: SNAPSHOT_VERSION, epoch: 'e', seq: 7, clock: from.clock.now(), lastTickAt: 0 });
      const empty = (gw.gateway.cluster as unknown as { opts: { makeReplica: () => Replica } }).opts.makeReplica();
      expect(stateOf(empty, 'ucwa')).to.not.equal(stateOf(from, 'ucwa'));
      loadSnapshot(bytes, empty);
      expect(stateOf(empty, 'ucwa')).to.equal(stateOf(from, 'ucwa'));
      const app = [...empty.state.ucwa.apps.values()][0]!;
      expect(app.conversations.size).to.equal(1);
      expect(app.byConfId.size).to.equal(1);
      expect(app.presence.subscriptions.size).to.equal(1);
      expect(app.channel.next).to.equal(from.state.ucwa.apps.get(app.sid)!.channel.next);
    } finally {
      await gw.close();
    }
  });

  it('a node restarted from a snapshot keeps serving the UCWA application: events continue without loss, with the same ack numbering', async () => {
    const cluster = await startTestCluster(3, { holdMs: 1000, snapshotEvery: 40 });
    const redis = new Redis(REDIS_TEST_URL);
    try {
      const nodes = () => cluster.nodes;
      const alice = await new UcwaClient(nodes()[0]!.url, 'alice', 'alice-demo', 'json', routed(nodes, { signIn: 0, application: 1, events: 2 })).signIn();
      await alice.drain();
      const bob = await cwaSignedIn(nodes()[0]!.url, 'bob');
      const { confId } = await connectedTo(alice, bob, 'sip:bob@example.com');
      const say = async (text: string) => {
        const r = await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><content>${text}</content></sendMessage></conference>`);
        expect(r.body).to.not.contain('requestFailed');
      };
      // Enough traffic for snapshots and a trimmed stream; alice reads every message on node C.
      for (let i = 0; i < 25; i++) {
        await say(`m${i}`);
        expect(await textsUntil(alice, 1)).to.deep.equal([`m${i}`]);
      }
      // Node C goes away; bob goes on meanwhile.
      const old = cluster.nodes[2]!;
      await old.close();
      for (const text of ['gap1', 'gap2', 'gap3']) await say(text);
      const prefix = nodes()[0]!.config.redisPrefix;
      const first = (await redis.xrange(`${prefix}cmd`, '-', '+', 'COUNT', 1))[0]![0];
      expect(Number(first.split('-')[1]), 'the stream was trimmed past the application\'s creation').to.be.greaterThan(40);
      // It comes back (a fresh process: the snapshot, then the stream after it).
      const fresh = await startTestGateway(nodes()[0]!.config, { store: 'redis' });
      cluster.nodes[2] = fresh;
      const ackBefore = alice.events;
      const { reply, events, page } = await alice.poll();
      expect(reply.status, reply.text).to.equal(200);
      // Same numbering: the page answers the ack alice was told to follow next, and carries what was queued meanwhile.
      expect(page!.href).to.equal(ackBefore);
      expect(page!.links.next![0]!.href).to.equal(ackBefore.replace(/ack=(\d+)/, (_, n: string) => `ack=${Number(n) + 1}`));
      expect(incomingTexts(events)).to.deep.equal(['gap1', 'gap2', 'gap3']);
      // A re-GET of the same ack on the fresh node replays it byte for byte.
      const again = await alice.request('GET', ackBefore);
      expect(again.status).to.equal(200);
      expect(again.text).to.equal(reply.text);
      // And it goes on both ways.
      await say('after');
      expect(await textsUntil(alice, 1)).to.deep.equal(['after']);
      const messaging = alice.received.filter((e) => e.rel === 'messaging' && e.resource?.props.state === 'Connected').pop()!.resource!;
      const sent = await alice.request('POST', link(messaging, 'sendMessage'), 'back from C', { 'Content-Type': 'text/plain' });
      expect(sent.status, sent.text).to.equal(201);
      expect((await bob.pollUntil((e: XNode) => messageTexts([e]).includes('back from C'))).length).to.be.greaterThan(0);
      await sameStateOnEveryNode(cluster.nodes);
    } finally {
      redis.disconnect();
      await cluster.close();
    }
  });
});
