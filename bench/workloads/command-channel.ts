// Workload 1, the command channel: one sendMessage per POST on an already connected
// conversation (u0 -> u1), driven by autocannon; then the same POSTs against the bare
// Node http server. Both sides' event logs are kept drained by a poller, as real
// clients would, and the drained counts are checked against the requests answered.
import { COMMAND_PATH, CWA_NS, CwaClient, HttpTarget, connectPair } from '../client.js';
import { ServerChild } from '../child.js';
import { Drainer } from '../drainer.js';
import { postLoad, type LoadResult } from '../load.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';

export interface CommandChannelRun {
  gateway: LoadResult;
  bare: LoadResult;
}

export interface CommandChannelOptions {
  connections: number;
  durationS: number;
  /** Unmeasured load first: a cold gateway needs a few seconds for the JIT and the libxml2 WebAssembly to tier up. */
  gatewayWarmupS: number;
  bareWarmupS: number;
  /** Extra gateway flags (e.g. --store redis://…). */
  flags?: string[];
}

const body = (sid: number, confId: number, rid: number) =>
  `<cwaRequests sid="${sid}" xmlns="${CWA_NS}"><conference rid="${rid}" confId="${confId}">` +
  `<sendMessage><content>bench message ${rid}</content></sendMessage></conference></cwaRequests>`;

async function gatewayRun(opts: CommandChannelOptions): Promise<LoadResult> {
  // Flow control off (--log-high-water-pct 100): the poller drains the receiver as fast as it can, and every
  // answered POST must be a delivered message; with it on, a message sent while the poller is 500 events
  // behind is refused to the sender instead (correct, but it would make that count differ).
  const server = await ServerChild.start({ kind: 'gateway', users: 2, flags: [...(opts.flags ?? []), '--log-high-water-pct', '100'] });
  const target = HttpTarget.keepAlive(server.port, 8);
  const drainers: Drainer[] = [];
  try {
    const sender = new CwaClient(target, benchLogin(0), BENCH_PASSWORD);
    const receiver = new CwaClient(target, benchLogin(1), BENCH_PASSWORD);
    for (const c of [sender, receiver]) {
      await c.logon();
      await c.initiateSession();
    }
    const { senderConf } = await connectPair(sender, receiver);
    const acks = new Drainer(sender, 'messageIdReceived');
    const received = new Drainer(receiver, 'messageReceived');
    drainers.push(acks, received);

    let rid = 1000;
    const spec = {
      port: server.port,
      path: COMMAND_PATH,
      headers: { 'cwa-ticket': sender.ticket },
      body: () => body(sender.sid, senderConf, rid++),
      connections: opts.connections,
    };
    const warmup = opts.gatewayWarmupS > 0 ? (await postLoad({ ...spec, durationS: opts.gatewayWarmupS })).completed : 0;
    const result = await postLoad({ ...spec, durationS: opts.durationS });

    // Every answered POST must have been a delivered message: wait for the drainers to catch up.
    const expected = warmup + result.completed;
    for (let i = 0; i < 100 && received.seen < expected; i++) await new Promise((r) => setTimeout(r, 20));
    for (const d of drainers) if (d.error) throw d.error;
    if (received.seen < expected) {
      throw new Error(`command channel: ${result.completed} sendMessage answered (plus ${warmup} in warm-up) but only ${received.seen} delivered (warm-up included)`);
    }
    return result;
  } finally {
    for (const d of drainers) d.stop();
    await server.stop();
    target.agent.destroy();
  }
}

async function bareRun(opts: CommandChannelOptions): Promise<LoadResult> {
  const server = await ServerChild.start({ kind: 'bare' });
  try {
    let rid = 1000;
    const spec = {
      port: server.port,
      path: COMMAND_PATH,
      headers: { 'cwa-ticket': 'x'.repeat(43) },
      body: () => body(1, 1, rid++),
      connections: opts.connections,
    };
    if (opts.bareWarmupS > 0) await postLoad({ ...spec, durationS: opts.bareWarmupS });
    return await postLoad({ ...spec, durationS: opts.durationS });
  } finally {
    await server.stop();
  }
}

/** One repetition: a fresh gateway, then a fresh bare server, same load. */
export async function commandChannel(opts: CommandChannelOptions): Promise<CommandChannelRun> {
  const gateway = await gatewayRun(opts);
  const bare = await bareRun(opts);
  return { gateway, bare };
}
