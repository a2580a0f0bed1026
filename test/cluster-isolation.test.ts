// Two clusters on one Redis, on two databases with the same key prefix (staging on one
// database, production on another). Keys are per database, but pub/sub channels are not,
// and session ids start at 1 in every cluster: whatever one cluster announces must not
// reach the other. Each cluster has its own id (`<prefix>cluster-id`), and the channel
// of its attach notices is named after it.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL, REDIS_TEST_URL_2, uniquePrefix } from './support/redis.js';
import { WsTestClient } from './support/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function signedIn(url: string, login: string): Promise<LegacyClient> {
  const c = await new LegacyClient(url, login).signIn();
  while ((await c.poll(c.ackId)).events.length > 0);
  return c;
}

/** The same client's session, its requests sent to another node. */
const via = (c: LegacyClient, url: string) => Object.assign(new LegacyClient(url, c.login), { ticket: c.ticket, sid: c.sid, ackId: c.ackId });

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

describeRedis('two clusters on two databases of one Redis, same prefix', () => {
  const prefix = uniquePrefix('twin');
  const HOLD = 1500;
  let a: TestGateway[] = [];
  let b: TestGateway | undefined;

  before(async function () {
    this.timeout(10_000);
    expect(REDIS_TEST_URL_2).to.not.equal(REDIS_TEST_URL);
    await deleteKeys(REDIS_TEST_URL_2, prefix);
    const config = { redisPrefix: prefix, holdMs: HOLD };
    a = [await startTestGateway({ ...config, store: REDIS_TEST_URL }, { store: 'redis' }), await startTestGateway({ ...config, store: REDIS_TEST_URL }, { store: 'redis' })];
    b = await startTestGateway({ ...config, store: REDIS_TEST_URL_2 }, { store: 'redis' });
  });
  after(async () => {
    for (const gw of [...a, b]) await gw?.close();
    await deleteKeys(REDIS_TEST_URL, prefix);
    await deleteKeys(REDIS_TEST_URL_2, prefix);
  });

  it('each cluster draws its own id and keeps it in Redis', async () => {
    const [idA, idA1, idB] = [a[0]!.gateway.cluster!.clusterId, a[1]!.gateway.cluster!.clusterId, b!.gateway.cluster!.clusterId];
    expect(idA).to.be.a('string').and.to.equal(idA1);
    expect(idB).to.be.a('string').and.to.not.equal(idA);
    const r = new Redis(REDIS_TEST_URL);
    try {
      expect(await r.get(`${prefix}cluster-id`)).to.equal(idA);
    } finally {
      r.disconnect();
    }
  });

  it('neither notices the other: a held poll is not released, a WebSocket not superseded, ackIds stay right; within a cluster the rule still holds', async function () {
    this.timeout(10_000);
    const bob = await signedIn(a[0]!.url, 'bob');
    const erin = await signedIn(b!.url, 'erin');
    expect(erin.sid, 'the clusters number their sessions alike').to.equal(bob.sid);
    const head = () => a[0]!.gateway.context.log.position?.(bob.sid)?.head;
    expect(bob.ackId).to.equal(head());

    // bob's poll is held on cluster A while erin (same sid) polls cluster B, again and again.
    const started = Date.now();
    const held = bob.poll(bob.ackId);
    await sleep(100);
    // erin's polls are held too (nothing is queued for her): each one supersedes the one before, on B.
    const erinPolls: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      erinPolls.push(erin.poll(erin.ackId));
      await sleep(100);
    }
    const answered = await held;
    expect(Date.now() - started, 'held to the end of its hold').to.be.at.least(HOLD - 100);
    expect(answered.reply.status).to.equal(200);
    expect(Number(answered.reply.root.attrs.ackId), 'ackId is bob\'s head').to.equal(head());
    await Promise.all(erinPolls);

    // bob's WebSocket on cluster A; erin polls and attaches a WebSocket on cluster B.
    const ws = await WsTestClient.attach(a[0]!.url, { sid: bob.sid, ackId: bob.ackId, ticket: bob.ticket });
    const erinWs = await WsTestClient.attach(b!.url, { sid: erin.sid, ackId: erin.ackId, ticket: erin.ticket });
    try {
      await sleep(100);
      const closed = await Promise.race([ws.closed, sleep(600).then(() => undefined)]);
      expect(closed, 'bob\'s socket stays open').to.equal(undefined);
      const first = ws.frames.map((f) => /ackId="(\d+)"/.exec(f)?.[1]).find((x) => x !== undefined);
      expect(Number(first)).to.equal(head());

      // Within cluster A the rule still holds: bob polling node 1 closes his socket on node 0 (4001).
      erinWs.socket.close();
      await via(bob, a[1]!.url).poll(bob.ackId);
      const superseded = await Promise.race([ws.closed, sleep(2000).then(() => undefined)]);
      expect(superseded?.code).to.equal(4001);
    } finally {
      ws.socket.close();
      erinWs.socket.close();
    }
  });
});
