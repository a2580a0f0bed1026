// Workload 5, UCWA instant messaging end to end: N pairs of UCWA applications (JSON), each
// in a connected conversation (startMessaging, accept). Each sender keeps exactly one message
// in flight: it POSTs text/plain to its sendMessage href, and sends the next one when its
// receiver's event channel (P-GET) has returned the previous message as a `message` event and
// its own POST has been answered (201). Senders and receivers both keep a P-GET parked, as UCWA
// clients do (the sender's channel carries its own message's `completed` event). Latency is
// (receiver's P-GET returned it) - (sender started the POST).
import { HttpTarget } from '../client.js';
import type { ServerGroup } from '../child.js';
import { mapLimit, percentile, sleep } from '../stats.js';
import { UcwaBenchClient, connectUcwaPair } from '../ucwa-client.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';
import { eachSize, type EndToEndOptions, type EndToEndRun } from './end-to-end.js';

const CONTENT = /"plainMessage":\{"href":"data:text\/plain;charset=utf-8,m(\d+)"/g;

class Pair {
  seq = 0;
  sentAt = 0;
  measured = 0;
  posted = false;
  received = false;

  constructor(
    readonly sender: UcwaBenchClient,
    readonly receiver: UcwaBenchClient,
  ) {}
}

/** One repetition: a fresh gateway, each size in turn; one result per size. */
export async function ucwaEndToEnd(opts: EndToEndOptions): Promise<EndToEndRun[]> {
  return eachSize(opts, opts.flags, ucwaConversations);
}

async function ucwaConversations(server: ServerGroup, size: number, firstUser: number, durationS: number, warmupS: number): Promise<EndToEndRun> {
  // Per pair: the sender's POST, the sender's P-GET and the receiver's P-GET.
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
      const sender = new UcwaBenchClient(target, benchLogin(u), BENCH_PASSWORD);
      const receiver = new UcwaBenchClient(target, benchLogin(u + 1), BENCH_PASSWORD);
      await sender.signIn();
      await receiver.signIn();
      await connectUcwaPair(sender, receiver);
      return new Pair(sender, receiver);
    });
    await target.preconnect(sockets);

    const send = (p: Pair) => {
      p.seq += 1;
      p.posted = false;
      p.received = false;
      p.sentAt = performance.now();
      p.sender.sendMessage(`m${p.seq}`).then((r) => {
        if (r.status !== 201) throw new Error(`sendMessage ${p.sender.login}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
        p.posted = true;
        if (p.received && running) send(p);
      }).catch(fail);
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
    if (stalled.length > 0) throw new Error(`ucwa, ${size} pairs: ${stalled.length} pair(s) delivered nothing in ${durationS} s (first: ${stalled[0]!.sender.login} seq ${stalled[0]!.seq})`);
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
    running = false;
    target.agent.destroy();
  }
}
