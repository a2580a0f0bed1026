// The Redis event log: the EventLog contract (both wake-up mechanisms), then what only a
// shared log can get wrong: wake-ups across connections, two instances on one log,
// concurrent appends, peek, key prefix and TTLs.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { EventRecord } from '../src/delivery/event-log.js';
import { RedisEventLog, type RedisEventLogOptions } from '../src/delivery/redis-event-log.js';
import { eventLogContract } from './event-log.test.js';
import { describeRedis, openGatewayConnection, uniquePrefix } from './support/redis.js';

const rec = (name: string): EventRecord => ({ head: `<${name} eid="`, tail: '"/>' });
const TERMINAL = rec('sessionTerminated');
const LIMITS = { maxEvents: 1000, maxBytes: 1_000_000 };

describeRedis('Redis event log', () => {
  const connections: Redis[] = [];
  const logs: RedisEventLog[] = [];
  let redis: Redis;

  const connect = () => openGatewayConnection(connections);

  function makeLog(on: Redis, limits = LIMITS, options: RedisEventLogOptions = {}): RedisEventLog {
    const log = new RedisEventLog(on, limits, TERMINAL, { prefix: uniquePrefix('log'), ...options });
    logs.push(log);
    return log;
  }

  before(async () => {
    redis = await connect();
  });
  after(async () => {
    for (const l of logs) await l.disconnect();
    for (const c of connections) c.disconnect();
  });

  eventLogContract('redis, pub/sub wake-ups', (limits) => makeLog(redis, limits));
  eventLogContract('redis, blocking-read wake-ups', (limits) => makeLog(redis, limits, { wake: 'block' }));

  for (const wake of ['pubsub', 'block'] as const) {
    it(`wakes a waiter when another connection appends (${wake})`, async () => {
      const prefix = uniquePrefix('x');
      const a = makeLog(redis, LIMITS, { prefix, wake });
      const b = makeLog(await connect(), LIMITS, { prefix, wake });
      await a.open(7);
      const started = Date.now();
      const woken = a.wait(7, 0, 5_000);
      await new Promise((r) => setTimeout(r, 50));
      await b.append(7, [rec('m')]);
      expect(await woken).to.equal(true);
      expect(Date.now() - started).to.be.below(1_000);
      // close and remove from the other side wake too
      const onClose = a.wait(7, 1, 5_000);
      await new Promise((r) => setTimeout(r, 20));
      await b.close(7, TERMINAL);
      expect(await onClose).to.equal(true);
      await b.open(8);
      const onRemove = a.wait(8, 0, 5_000);
      await new Promise((r) => setTimeout(r, 20));
      await b.remove(8);
      expect(await onRemove).to.equal(true);
    });

    it(`an aborted wait ends at once and leaves nothing behind (${wake})`, async () => {
      const log = makeLog(redis, LIMITS, { wake });
      await log.open(1);
      const ac = new AbortController();
      const started = Date.now();
      const w = log.wait(1, 0, 5_000, ac.signal);
      await new Promise((r) => setTimeout(r, 30));
      ac.abort();
      expect(await w).to.equal(false);
      expect(Date.now() - started).to.be.below(1_000);
      // the connection is usable again by the next waiter
      const next = log.wait(1, 0, 5_000);
      await log.append(1, [rec('a')]);
      expect(await next).to.equal(true);
    });
  }

  it('two instances on one Redis serve the same log (append on node A, poll on node B)', async () => {
    const prefix = uniquePrefix('nodes');
    const nodeA = makeLog(redis, LIMITS, { prefix });
    const nodeB = makeLog(await connect(), LIMITS, { prefix });
    await nodeA.open(3);
    await nodeA.append(3, [rec('a'), rec('b')]);
    expect(await nodeB.read(3, 0, 10)).to.deep.equal({
      status: 'ok', events: [{ eid: 1, xml: '<a eid="1"/>' }, { eid: 2, xml: '<b eid="2"/>' }], head: 2, closed: false,
    });
    await nodeB.read(3, 1, 10); // B acknowledges 1
    expect(await nodeA.read(3, 0, 10)).to.deep.equal({ status: 'stale', acked: 1, head: 2 });
    expect(await nodeB.append(3, [rec('c')])).to.deep.equal({ ok: true, lastEid: 3 });
    const r = await nodeA.read(3, 1, 10);
    expect(r.status === 'ok' && r.events.map((e) => e.eid)).to.deep.equal([2, 3]);
  });

  it('keeps eids gap-free and unique under concurrent appends from two connections', async () => {
    const prefix = uniquePrefix('race');
    const a = makeLog(redis, LIMITS, { prefix });
    const b = makeLog(await connect(), LIMITS, { prefix });
    await a.open(1);
    const batches: Array<Promise<{ from: number; n: number }>> = [];
    for (let i = 0; i < 200; i++) {
      const log = i % 2 === 0 ? a : b;
      const n = 1 + (i % 3);
      batches.push(
        log.append(1, Array.from({ length: n }, (_, k) => rec(`e${i}x${k}`))).then((o) => {
          if (!o.ok) throw new Error(`append failed: ${o.reason}`);
          return { from: o.lastEid - n + 1, n };
        }),
      );
    }
    const done = await Promise.all(batches);
    const total = done.reduce((s, d) => s + d.n, 0);
    const r = await b.read(1, 0, 10_000);
    expect(r.status).to.equal('ok');
    if (r.status !== 'ok') return;
    expect(r.head).to.equal(total);
    expect(r.events.map((e) => e.eid)).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
    // each append's records are consecutive: batch i's k-th record has eid from + k
    done.forEach((d, i) => {
      for (let k = 0; k < d.n; k++) expect(r.events[d.from - 1 + k]!.xml).to.equal(`<e${i}x${k} eid="${d.from + k}"/>`);
    });
  });

  it('keeps every key under its prefix with a TTL, and forgets a dead session when the TTL passes', async () => {
    const prefix = uniquePrefix('ttl');
    const log = makeLog(redis, LIMITS, { prefix, ttlMs: 300 });
    await log.open(1);
    await log.append(1, [rec('a')]);
    await log.close(1, TERMINAL);
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.sort()).to.deep.equal([`${prefix}{s1}:ctl`, `${prefix}{s1}:log`, `${prefix}{s1}:meta`]);
    for (const k of keys) expect(await redis.pttl(k)).to.be.within(1, 300);
    await new Promise((r) => setTimeout(r, 400));
    expect(await redis.keys(`${prefix}*`)).to.deep.equal([]);
    expect(await log.read(1, 0, 10)).to.deep.equal({ status: 'missing' });
  });

  it('starts a session id met again from an empty log (a restarted gateway counts sids from 1)', async () => {
    const log = makeLog(redis);
    await log.open(1);
    await log.append(1, [rec('old')]);
    await log.open(1);
    expect(await log.read(1, 0, 10)).to.deep.equal({ status: 'ok', events: [], head: 0, closed: false });
    expect(await log.append(1, [rec('new')])).to.deep.equal({ ok: true, lastEid: 1 });
  });

  it('counts bytes as the memory log does (UTF-16 length of the rendered event)', async () => {
    const log = makeLog(redis, { maxEvents: 100, maxBytes: 40 });
    await log.open(1);
    expect((await log.append(1, [{ head: '<m t="é€😀', tail: '"/>' }])).ok).to.equal(true); // 13 UTF-16 units
    expect((await log.append(1, [rec('aaaaaaaa')])).ok).to.equal(true); // + 17 = 30
    expect(await log.append(1, [rec('bbbbbbbb')])).to.deep.equal({ ok: false, reason: 'overflow' }); // 47 > 40
    const r = await log.read(1, 0, 10);
    expect(r.status === 'ok' && r.events[0]!.xml).to.equal('<m t="é€😀1"/>');
  });
});
