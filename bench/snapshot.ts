// node dist/bench/snapshot.js [--url redis://127.0.0.1:6379/14] [--sessions N]
// What a cluster snapshot costs: N signed-in users, each with a session, a contact, and
// half of them in a conversation with a few messages, events read and acknowledged; then
// the time to write the snapshot
// (the node's event loop is blocked meanwhile), its size, and the time to load it.
import { loadConfig } from '../src/config.js';
import { replicaPartsOf } from '../src/cluster/redis-coordinator.js';
import { loadSnapshot, SNAPSHOT_VERSION, writeSnapshot } from '../src/cluster/snapshot.js';
import { createGateway } from '../src/server.js';
import { UserDirectory } from '../src/users/directory.js';
import type { AddressInfo } from 'node:net';
import { CwaClient, HttpTarget } from './client.js';
import { mapLimit } from './stats.js';
import { BENCH_PASSWORD, benchLogin, benchUsers } from './users.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const URL_ = arg('--url', 'redis://127.0.0.1:6379/14');
const N = Number(arg('--sessions', '5000'));

async function main(): Promise<void> {
  const prefix = `bench:snap:${process.pid}:`;
  const config = await loadConfig(['--store', URL_, '--redis-prefix', prefix, '--port', '0', '--rate-address', '0', '--rate-ticket', '0', '--rate-logon-address', '0', '--snapshot-every', '0', '--hold-ms', '0'], {});
  const gw = createGateway(config, { users: UserDirectory.fromRecords(benchUsers(N)) });
  if (!(await gw.ready(5000))) throw new Error(`no Redis at ${URL_}`);
  await new Promise<void>((r) => gw.server.listen(0, '127.0.0.1', r));
  const target = HttpTarget.keepAlive((gw.server.address() as AddressInfo).port, 50);
  try {
    const started = performance.now();
    const clients = await mapLimit([...Array(N).keys()], 50, async (i) => {
      const c = new CwaClient(target, benchLogin(i), BENCH_PASSWORD);
      await c.logon();
      await c.initiateSession();
      return c;
    });
    await mapLimit([...Array(N / 2).keys()], 50, async (k) => {
      const [a, b] = [clients[2 * k]!, clients[2 * k + 1]!];
      const conf = await a.inviteIm(b.uri, 'hello');
      for (let m = 0; m < 3; m++) await a.command(a.sendMessageBody(conf, a.nextRid(), `m${m}`));
    });
    // Clients read and acknowledge their events, as real ones do (the logs are then short).
    await mapLimit(clients, 50, async (c) => {
      await c.poll();
      await c.poll();
    });
    const built = (performance.now() - started) / 1000;
    const parts = replicaPartsOf(gw.cluster!);
    const meta = { v: SNAPSHOT_VERSION, epoch: 'bench', seq: gw.cluster!.position, clock: Date.now(), lastTickAt: 0 };
    const times: number[] = [];
    let bytes: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      bytes = writeSnapshot(parts, meta);
      times.push(performance.now() - t0);
    }
    const fresh = (gw.cluster as unknown as { opts: { makeReplica: () => typeof parts } }).opts.makeReplica();
    const t1 = performance.now();
    loadSnapshot(bytes, fresh);
    const load = performance.now() - t1;
    times.sort((a, b) => a - b);
    if (process.env.SNAP_PARTS) {
      const { serialize } = await import('node:v8');
      for (const [name, v] of Object.entries({
        engine: parts.state.engine.exportState(),
        sessions: parts.state.engine.exportState().sessions,
        presence: parts.state.engine.exportState().presence,
        im: parts.state.engine.exportState().im,
        store: parts.store.exportState(),
        logs: parts.logs.exportState(),
        rid: parts.state.ridCache.exportState(),
      })) {
        console.log(name, (serialize(v).length / 1e6).toFixed(2), 'MB');
      }
    }
    console.log(`${N} sessions (${N / 2} conversations, 3 messages each, events acknowledged), ${gw.cluster!.position} commands, built in ${built.toFixed(1)} s`);
    console.log(`| snapshot | write (median of 5) | load | per session |`);
    console.log(`|---|---|---|---|`);
    console.log(`| ${(bytes.length / 1e6).toFixed(1)} MB | ${times[2]!.toFixed(0)} ms | ${load.toFixed(0)} ms | ${(bytes.length / N / 1000).toFixed(1)} kB |`);
  } finally {
    target.agent.destroy();
    gw.server.closeAllConnections();
    await new Promise<void>((r) => gw.server.close(() => r()));
    const redis = gw.redis!;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    gw.dispose();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
