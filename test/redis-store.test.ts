// The user-data store on Redis: the same contract as memory and SQLite, and no lost
// update when two connections change one owner at once.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { SEED } from '../src/engine/identity.js';
import { RedisUserDataStore } from '../src/store/redis.js';
import { storeContract } from './store.test.js';
import { describeRedis, openGatewayConnection, uniquePrefix } from './support/redis.js';

describeRedis('Redis user-data store', () => {
  const connections: Redis[] = [];
  let redis: Redis;
  const connect = () => openGatewayConnection(connections);
  before(async () => {
    redis = await connect();
  });
  after(() => {
    for (const c of connections) c.disconnect();
  });

  storeContract('redis', () => new RedisUserDataStore(redis, uniquePrefix('store')));

  it('loses no update when two connections change one contact list and its containers at once', async () => {
    const prefix = uniquePrefix('race');
    const a = new RedisUserDataStore(redis, prefix);
    const b = new RedisUserDataStore(await connect(), prefix);
    await a.initOwner('o', SEED);
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      const s = i % 2 === 0 ? a : b;
      writes.push(s.changeContactList('o', { putContacts: [{ uri: `sip:c${i}@x.com`, name: `C${i}`, subscribed: true, tag: false, groups: [1] }] }));
      writes.push(s.updateContainer('o', 400, [{ type: 'uri', value: `sip:m${i}@x.com` }], []));
      writes.push(s.allocateGroupId('o'));
    }
    const results = await Promise.all(writes);
    const list = await b.contactList('o');
    expect(list.contacts).to.have.length(60);
    expect(list.deltaNum).to.equal(61);
    // every deltaNum handed out once
    const deltas = results.filter((_, i) => i % 3 === 0) as number[];
    expect(new Set(deltas).size).to.equal(60);
    const groupIds = results.filter((_, i) => i % 3 === 2) as number[];
    expect([...groupIds].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i + 2));
    const team = (await a.containers('o')).find((c) => c.id === 400)!;
    expect(team.members).to.have.length(60);
  });

  it('initialises an owner once when two nodes race to do it', async () => {
    const prefix = uniquePrefix('init');
    const a = new RedisUserDataStore(redis, prefix);
    const b = new RedisUserDataStore(await connect(), prefix);
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).initOwner('o', SEED)));
    expect(created.filter(Boolean)).to.have.length(1);
  });

  it('keeps durable data without a TTL, under its prefix', async () => {
    const prefix = uniquePrefix('keys');
    const s = new RedisUserDataStore(redis, prefix);
    await s.initOwner('sip:a@x.com', SEED);
    await s.putSubscriber('sip:a@x.com', { uri: 'sip:w@x.com', acknowledged: false });
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.length).to.be.greaterThan(0);
    for (const k of keys) expect(await redis.pttl(k)).to.equal(-1);
  });
});
