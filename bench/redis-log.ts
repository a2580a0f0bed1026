// node dist/bench/redis-log.js [--url redis://127.0.0.1:6379/14] [--iterations N]
// The Redis event log on its own: wake-up latency of a waiting poll when another
// connection appends, for both mechanisms (pub/sub, blocking stream reads), Redis commands
// per held poll, and append/read throughput. Uses a database of its own and empties it.
import { Redis } from 'ioredis';
import type { EventRecord } from '../src/delivery/event-log.js';
import { RedisEventLog } from '../src/delivery/redis-event-log.js';
import { connectRedis, whenReady } from '../src/store/redis-connection.js';
import { mapLimit, percentile, sleep } from './stats.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const URL_ = arg('--url', 'redis://127.0.0.1:6379/14');
const N = Number(arg('--iterations', '2000'));
const LIMITS = { maxEvents: 100_000, maxBytes: 100_000_000 };
const TERMINAL: EventRecord = { head: '<sessionTerminated eid="', tail: '"/>' };
// A message event of typical size (~400 bytes).
const MSG: EventRecord = { head: `<conference eid="`, tail: `" confId="1"><messageReceived><content>${'x'.repeat(300)}</content></messageReceived></conference>` };

// Round trips sent by connections named `waiter` (the waiting side and its duplicates).
let waiterCommands = 0;
const send = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof send>) {
  if (this.options.connectionName === 'waiter') waiterCommands++;
  return send.apply(this, args);
} as typeof send;

async function conn(name = 'cwa-bench'): Promise<Redis> {
  const r = connectRedis(URL_, name);
  if (!(await whenReady(r, 3000))) throw new Error(`no Redis at ${URL_}`);
  return r;
}


const fmt = (ms: number) => ms.toFixed(3);

async function wakeLatency(mode: 'pubsub' | 'block') {
  const a = await conn('waiter');
  const b = await conn();
  const waiterLog = new RedisEventLog(a, LIMITS, TERMINAL, { prefix: `bench:${mode}:`, wake: mode });
  const appender = new RedisEventLog(b, LIMITS, TERMINAL, { prefix: `bench:${mode}:` });
  await waiterLog.open(1);
  await sleep(100);
  // warm up
  for (let i = 0; i < 200; i++) {
    const w = waiterLog.wait(1, i, 5000);
    await sleep(1);
    await appender.append(1, [MSG]);
    await w;
  }
  let head = 200;
  const samples: number[] = [];
  const before = waiterCommands;
  for (let i = 0; i < N; i++) {
    // one held poll as the data channel does it: read (acknowledging), wait, read again
    await waiterLog.read(1, head, 200);
    const w = waiterLog.wait(1, head, 5000);
    await sleep(2); // the waiter is in place (subscribed / blocked)
    const t0 = performance.now();
    void appender.append(1, [MSG]);
    await w;
    samples.push(performance.now() - t0);
    head++;
    await waiterLog.read(1, head - 1, 200);
  }
  const commands = waiterCommands - before;
  // Concurrency: 500 sessions each holding a poll; one append to each, all at once.
  const many: number[] = [];
  const S = 500;
  await Promise.all(Array.from({ length: S }, (_, s) => waiterLog.open(100 + s)));
  const waits = Array.from({ length: S }, (_, s) => {
    const t = { start: 0 };
    return waiterLog.wait(100 + s, 0, 10_000).then(() => many.push(performance.now() - t.start)).then(() => t);
  });
  await sleep(300);
  const t0 = performance.now();
  await mapLimit(Array.from({ length: S }, (_, s) => s), 50, (s) => appender.append(100 + s, [MSG]));
  const appendedIn = performance.now() - t0;
  await Promise.all(waits);
  const fromStart = many.map((t) => t - t0);
  await waiterLog.disconnect();
  a.disconnect();
  b.disconnect();
  return {
    mode,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: percentile(samples, 100),
    roundTripsPerPoll: commands / N,
    fanout500: { appendedMs: appendedIn, lastWokenMs: percentile(fromStart, 100), p50: percentile(fromStart, 50) },
  };
}

async function throughput() {
  const r = await conn();
  const log = new RedisEventLog(r, LIMITS, TERMINAL, { prefix: 'bench:tp:' });
  const S = 100;
  await Promise.all(Array.from({ length: S }, (_, s) => log.open(s)));
  const APPENDS = 20_000;
  let t0 = performance.now();
  await mapLimit(Array.from({ length: APPENDS }, (_, i) => i), 64, (i) => log.append(i % S, [MSG]));
  const appendsPerS = APPENDS / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await mapLimit(Array.from({ length: APPENDS / 10 }, (_, i) => i), 64, (i) => log.append(i % S, Array.from({ length: 10 }, () => MSG)));
  const batch10PerS = APPENDS / 10 / ((performance.now() - t0) / 1000);
  // reads: each poll acknowledges one event and reads up to 200 after it
  const acked = new Array<number>(S).fill(0);
  const READS = 5_000;
  t0 = performance.now();
  let events = 0;
  await mapLimit(Array.from({ length: READS }, (_, i) => i), 64, async (i) => {
    const s = i % S;
    const res = await log.read(s, acked[s]!, 10);
    if (res.status === 'ok' && res.events.length) {
      events += res.events.length;
      acked[s] = res.events[res.events.length - 1]!.eid;
    }
  });
  const readsPerS = READS / ((performance.now() - t0) / 1000);
  await log.disconnect();
  r.disconnect();
  return { appendsPerS, batch10PerS, readsPerS, eventsReadPerS: events / (READS / readsPerS) };
}

const admin = new Redis(URL_);
await admin.flushdb();
const results = [];
for (const mode of ['pubsub', 'block'] as const) results.push(await wakeLatency(mode));
const tp = await throughput();
await admin.flushdb();
admin.disconnect();

console.log(`Redis event log, ${N} held polls per mechanism (${URL_})\n`);
console.log('| wake-up | p50 ms | p99 ms | max ms | Redis round trips per held poll (read, wait, read) | 500 held polls, one append each: all appended / last woken (ms) |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.mode} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.roundTripsPerPoll.toFixed(2)} | ${r.fanout500.appendedMs.toFixed(1)} / ${r.fanout500.lastWokenMs.toFixed(1)} |`);
}
console.log(`\n| throughput (64 in flight, 100 sessions, ~400-byte events) | per second |`);
console.log('|---|---|');
console.log(`| append, 1 event | ${tp.appendsPerS.toFixed(0)} |`);
console.log(`| append, 10 events | ${tp.batch10PerS.toFixed(0)} (${(tp.batch10PerS * 10).toFixed(0)} events) |`);
console.log(`| read (acknowledge + up to 10 events) | ${tp.readsPerS.toFixed(0)} (${tp.eventsReadPerS.toFixed(0)} events) |`);
console.log(JSON.stringify({ wake: results, throughput: tp }));
process.exit(0);
