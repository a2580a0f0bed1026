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
import { longPolls, runPairs, setUpPairs, type EndToEndRun } from '../pair-loop.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';

export type { EndToEndRun };

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

interface Pair {
  sender: CwaClient;
  receiver: CwaClient;
  confId: number;
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
  try {
    const pairs = await setUpPairs(size, firstUser, async (u): Promise<Pair> => {
      const { sender, receiver, senderConf } = await signedInPair(target, u);
      return { sender, receiver, confId: senderConf };
    });
    await target.preconnect(sockets);
    const count = (o: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(o).reduce((n, a) => n + (a?.length ?? 0), 0);
    return await runPairs(server, pairs, {
      label: 'end-to-end',
      content: CONTENT,
      send: (p, text) => p.sender.command(p.sender.sendMessageBody(p.confId, p.sender.nextRid(), text)),
      listen: longPolls(
        (p) => p.receiver.poll(),
        (p) => p.sender.poll(),
      ),
      describeStalled: (stalled) => {
        const now = performance.now();
        const d = stalled.slice(0, 5).map((s) => `seq ${s.seq} posted ${s.posted} received ${s.received} sent ${(now - s.sentAt).toFixed(0)} ms ago, receiver sid ${s.pair.receiver.sid} ack ${s.pair.receiver.ackId}`);
        d.push(`agent: ${count(target.agent.sockets)} sockets, ${count(target.agent.freeSockets)} free, ${count(target.agent.requests)} queued`);
        return `: ${d.join('; ')}`;
      },
    }, durationS, warmupS);
  } finally {
    // Polls still held are cut: the gateway sees the connections close.
    target.agent.destroy();
  }
}

/** Users `u` and `u + 1`, signed in (UC AJAX) and in a connected conversation. */
export async function signedInPair(target: HttpTarget, u: number): Promise<{ sender: CwaClient; receiver: CwaClient; senderConf: number }> {
  const sender = new CwaClient(target, benchLogin(u), BENCH_PASSWORD);
  const receiver = new CwaClient(target, benchLogin(u + 1), BENCH_PASSWORD);
  for (const c of [sender, receiver]) {
    await c.logon();
    await c.initiateSession();
  }
  const { senderConf } = await connectPair(sender, receiver);
  return { sender, receiver, senderConf };
}
