// node dist/bench/redis-wake.js [--url redis://127.0.0.1:6379/14] [--iterations N]
// How a cluster node learns of a command another node appended: the two ways to wait on
// Redis, measured between two connections (as two nodes are). Latency is from the
// appending call to the moment the follower holds the entry.
//   block:  the follower sits in XREAD BLOCK on the stream (what the gateway does)
//   pubsub: the appender also PUBLISHes; the follower, subscribed, then reads the entry (XRANGE)
import { Redis } from 'ioredis';
import { percentile } from './stats.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const URL_ = arg('--url', 'redis://127.0.0.1:6379/14');
const N = Number(arg('--iterations', '3000'));
const KEY = `bench:wake:${process.pid}`;
const payload = JSON.stringify({ c: { t: 'batch', login: 'u1', batch: { items: [] } }, o: 'n:1', now: Date.now(), seed: 'x'.repeat(32) }).padEnd(400, ' ');

async function block(appender: Redis, follower: Redis): Promise<number[]> {
  const out: number[] = [];
  let last = '0-0';
  for (let i = 0; i < N; i++) {
    const got = follower.xread('BLOCK', 5000, 'STREAMS', KEY, last) as Promise<[string, [string, string[]][]][] | null>;
    await new Promise((r) => setImmediate(r)); // the XREAD is on its way
    const t0 = performance.now();
    await appender.xadd(KEY, '*', 'c', payload);
    const res = await got;
    out.push(performance.now() - t0);
    last = res![0]![1].at(-1)![0];
  }
  return out;
}

async function pubsub(appender: Redis, reader: Redis, subscriber: Redis): Promise<number[]> {
  const out: number[] = [];
  let last = '0-0';
  let wake: (() => void) | undefined;
  subscriber.on('message', () => wake?.());
  await subscriber.subscribe(`${KEY}:wake`);
  for (let i = 0; i < N; i++) {
    const woken = new Promise<void>((r) => (wake = r));
    const t0 = performance.now();
    await appender.multi().xadd(KEY, '*', 'c', payload).publish(`${KEY}:wake`, '1').exec();
    await woken;
    const entries = await reader.xrange(KEY, `(${last}`, '+');
    out.push(performance.now() - t0);
    last = entries.at(-1)![0];
  }
  return out;
}

async function main(): Promise<void> {
  const conns = [0, 1, 2, 3].map(() => new Redis(URL_));
  const [appender, follower, reader, subscriber] = conns as [Redis, Redis, Redis, Redis];
  try {
    await appender.del(KEY);
    const rows: string[] = [];
    for (const [name, run] of [
      ['block (XREAD BLOCK)', () => block(appender, follower)],
      ['pubsub + XRANGE', () => pubsub(appender, reader, subscriber)],
    ] as const) {
      await run(); // warm-up
      const lat = await run();
      rows.push(`| ${name} | ${percentile(lat, 50).toFixed(3)} | ${percentile(lat, 99).toFixed(3)} | ${lat.length} |`);
    }
    console.log('| follower wakes by | p50 ms | p99 ms | appends |');
    console.log('|---|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    await appender.del(KEY).catch(() => undefined);
    for (const c of conns) c.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
