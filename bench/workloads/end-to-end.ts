// Workload 2, end-to-end latency over long-poll: N conversing pairs. Each sender keeps
// exactly one message in flight: it POSTs sendMessage, and sends the next one when its
// receiver's long-poll has returned the previous message and its own POST has been
// answered. Senders and receivers both long-poll continuously, as real clients do (the
// sender's data channel carries the messageIdReceived of each message). Latency is
// (receiver's poll returned it) - (sender started the POST).
// One gateway process per repetition serves every size in turn (fresh users for each
// size), after a warm-up that lets the JIT and the libxml2 WebAssembly tier up: a cold
// gateway runs at well under half its steady rate for its first few seconds.
import { CwaClient, HttpTarget, connectPair } from '../client.js';
import { ServerGroup } from '../child.js';
import { mapLimit, percentile, sleep } from '../stats.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';

export interface EndToEndRun {
  pairs: number;
  msgsPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  /** Gateway CPU time over the measured window, as % of one core. */
  serverCpu: number;
  /** The load generator's CPU time over the same window (same scale). */
  clientCpu: number;
}

export interface EndToEndOptions {
  /** Pair counts, run in this order. */
  sizes: number[];
  durationS: number;
  /** Warm-up of each size (pairs connected, not measured). */
  warmupS: number;
  /** Extra warm-up of a fresh gateway, with the first size. */
  serverWarmupS: number;
  /** Extra gateway flags (e.g. --store redis://…). */
  flags?: string[];
  /** Gateway nodes (with --store redis://…); requests go to each in turn. */
  nodes?: number;
}

const CONTENT = /<content>m(\d+)<\/content>/g;

class Pair {
  seq = 0;
  sentAt = 0;
  /** Messages delivered inside the measured window. */
  measured = 0;
  posted = false;
  received = false;

  constructor(
    readonly sender: CwaClient,
    readonly receiver: CwaClient,
    readonly confId: number,
  ) {}
}

/** One repetition: a fresh gateway, each size in turn; one result per size. */
export async function endToEnd(opts: EndToEndOptions): Promise<EndToEndRun[]> {
  return eachSize(opts, opts.flags, conversations);
}

export type SizeRun = (server: ServerGroup, pairs: number, firstUser: number, durationS: number, warmupS: number) => Promise<EndToEndRun>;

/** A fresh gateway (started with `flags`), then `run` for each size in turn, each on its own users. */
export async function eachSize(opts: EndToEndOptions, flags: EndToEndOptions['flags'], run: SizeRun): Promise<EndToEndRun[]> {
  const users = 2 * opts.sizes.reduce((a, b) => a + b, 0);
  const server = await ServerGroup.start(opts.nodes ?? 1, { kind: 'gateway', users, flags });
  try {
    const out: EndToEndRun[] = [];
    let firstUser = 0;
    for (const [i, pairs] of opts.sizes.entries()) {
      const warmupS = opts.warmupS + (i === 0 ? opts.serverWarmupS : 0);
      out.push(await run(server, pairs, firstUser, opts.durationS, warmupS));
      firstUser += 2 * pairs;
    }
    return out;
  } finally {
    await server.stop();
  }
}

async function conversations(server: ServerGroup, size: number, firstUser: number, durationS: number, warmupS: number): Promise<EndToEndRun> {
  // Per pair: the sender's POST, the sender's poll and the receiver's poll; all opened
  // before the load starts, and no more (see HttpTarget.preconnect).
  const sockets = 3 * size;
  const target = HttpTarget.keepAlive(server.ports, sockets);
  let running = true;
  let measuring = false;
  let delivered = 0;
  let failure: Error | undefined;
  const latencies: number[] = [];
  const fail = (err: unknown) => {
    if (running && !failure) failure = err as Error;
  };

  try {
    const indexes = Array.from({ length: size }, (_, i) => firstUser + 2 * i);
    const pairs = await mapLimit(indexes, 20, async (u) => {
      const sender = new CwaClient(target, benchLogin(u), BENCH_PASSWORD);
      const receiver = new CwaClient(target, benchLogin(u + 1), BENCH_PASSWORD);
      for (const c of [sender, receiver]) {
        await c.logon();
        await c.initiateSession();
      }
      const { senderConf } = await connectPair(sender, receiver);
      return new Pair(sender, receiver, senderConf);
    });
    await target.preconnect(sockets);

    const send = (p: Pair) => {
      p.seq += 1;
      p.posted = false;
      p.received = false;
      p.sentAt = performance.now();
      p.sender
        .command(p.sender.sendMessageBody(p.confId, p.sender.nextRid(), `m${p.seq}`))
        .then(() => {
          p.posted = true;
          if (p.received && running) send(p);
        }, fail);
    };

    const receiverLoop = async (p: Pair) => {
      while (running) {
        const text = await p.receiver.poll();
        const now = performance.now();
        for (const m of text.matchAll(CONTENT)) {
          if (Number(m[1]) !== p.seq) continue;
          p.received = true;
          if (measuring) {
            delivered += 1;
            p.measured += 1;
            latencies.push(now - p.sentAt);
          }
        }
        if (p.received && p.posted && running) send(p);
      }
    };
    const senderLoop = async (p: Pair) => {
      while (running) await p.sender.poll();
    };

    for (const p of pairs) {
      receiverLoop(p).catch(fail);
      senderLoop(p).catch(fail);
      send(p);
    }
    await sleep(warmupS * 1000);
    const cpuStart = await server.cpuMicros();
    const clientStart = process.cpuUsage();
    const start = performance.now();
    measuring = true;
    await sleep(durationS * 1000);
    measuring = false;
    const elapsed = performance.now() - start;
    const clientUsage = process.cpuUsage(clientStart);
    const cpu = (await server.cpuMicros()) - cpuStart;
    running = false;
    if (failure) throw failure;
    const stalled = pairs.filter((p) => p.measured === 0);
    if (stalled.length > 0) {
      const now = performance.now();
      const d = stalled.slice(0, 5).map((p) => `seq ${p.seq} posted ${p.posted} received ${p.received} sent ${(now - p.sentAt).toFixed(0)} ms ago, receiver sid ${p.receiver.sid} ack ${p.receiver.ackId}`);
      const count = (o: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(o).reduce((n, a) => n + (a?.length ?? 0), 0);
      d.push(`agent: ${count(target.agent.sockets)} sockets, ${count(target.agent.freeSockets)} free, ${count(target.agent.requests)} queued`);
      throw new Error(`end-to-end, ${size} pairs: ${stalled.length} pair(s) delivered nothing in ${durationS} s: ${d.join('; ')}`);
    }
    return {
      pairs: size,
      msgsPerSec: delivered / (elapsed / 1000),
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      serverCpu: (cpu / 1000 / elapsed) * 100,
      clientCpu: ((clientUsage.user + clientUsage.system) / 1000 / elapsed) * 100,
    };
  } finally {
    // Polls still held are cut: the gateway sees the connections close.
    running = false;
    target.agent.destroy();
  }
}
