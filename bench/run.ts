// npm run bench -- [--quick] [--json FILE] [--reps N] [--pairs 1,10,50,100] [--only command,e2e,ws,memory,cluster,apply,peer,ucwa] [--store URL]
//                  [--command-seconds S] [--e2e-seconds S] [--cluster-redis URL] [--cluster-pairs 10,50]
//                  [--peer] [--peer-dir DIR] [--peer-pairs 50] [--peer-idle 5000] [--peer-warmup 200]
//                  [--apply-pairs 50] [--apply-rounds 400]
// --peer adds the peer workload: Prosody and the gateway under one load driver, back to back
// (bench/workloads/peer.ts); `--only peer` runs it alone.
// Runs each workload `reps` times on fresh server processes, prints medians as Markdown
// tables and, last, one JSON line with everything (also written to --json FILE).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import { renderReport } from './report.js';
import { medianOf } from './stats.js';
import { commandChannel, type CommandChannelRun } from './workloads/command-channel.js';
import { endToEnd, type EndToEndRun } from './workloads/end-to-end.js';
import { endToEndWebSocket } from './workloads/end-to-end-ws.js';
import { applyRate, type ApplyRateRun } from './workloads/apply-rate.js';
import { idleMemory, type IdleMemoryRun } from './workloads/idle-memory.js';
import { ucwaEndToEnd } from './workloads/ucwa.js';
import { defaultPeerDir, idleSessionsAllowed, peerPrerequisites, peerRound, preparePeerFolder, type PeerBareRun, type PeerIdleRun, type PeerRound, type PeerRun, type PeerTransport } from './workloads/peer.js';

interface Settings {
  quick: boolean;
  reps: number;
  connections: number;
  commandS: number;
  endToEndS: number;
  /** Unmeasured warm-up of a fresh gateway (JIT, WebAssembly tier-up). */
  gatewayWarmupS: number;
  /** Unmeasured warm-up of the bare server. */
  bareWarmupS: number;
  /** Unmeasured traffic before each end-to-end size. */
  sizeWarmupS: number;
  pairs: number[];
  sessions: number;
  only: Set<string>;
  json?: string;
  /** The gateway's --store (embedded, or redis://… for a cluster node) in workloads 1-3. */
  store: string;
  /** Redis of the cluster workload (a fresh key prefix per run). */
  clusterRedis: string;
  clusterPairs: number[];
  peerDir: string;
  peerPairs: number;
  peerIdle: number;
  peerWarmup: number;
  applyPairs: number;
  applyRounds: number;
}

interface LoadFigure { reqPerSec: number; p50: number; p99: number; runs: number[] }

export interface BenchResults {
  env: { node: string; cpu: string; cores: number; platform: string; loadAvgStart: number[]; loadAvgEnd?: number[] };
  settings: Omit<Settings, 'only'> & { only: string[] };
  /** ratio: of the medians; runRatios: gateway/bare within each run. */
  command?: { gateway: LoadFigure; bare: LoadFigure; ratio: number; runRatios: number[] };
  endToEnd?: (Omit<EndToEndRun, 'pairs'> & { pairs: number; runs: number[] })[];
  endToEndWs?: (Omit<EndToEndRun, 'pairs'> & { pairs: number; runs: number[] })[];
  /** UCWA applications end to end (JSON event channel), one message in flight per pair. */
  ucwa?: (Omit<EndToEndRun, 'pairs'> & { pairs: number; runs: number[] })[];
  memory?: IdleMemoryRun;
  /** End to end over long-poll: one embedded gateway, one node on Redis, three nodes on Redis (requests rotating over them). */
  cluster?: { setup: string; nodes: number; rows: (Omit<EndToEndRun, 'pairs'> & { pairs: number; runs: number[] })[] }[];
  /** Why the cluster workload did not run. */
  clusterSkipped?: string;
  /** Prosody and the gateway under the peer-bench driver, same sitting: medians per transport. */
  peer?: {
    pairs: number;
    /** Unmeasured messages per pair before each measured run (the driver's --warmup), for both servers. */
    warmup: number;
    runs: (Omit<PeerRun, 'ok'> & { runs: number[]; allOk: boolean })[];
    idle: (Omit<PeerIdleRun, 'ok'> & { runs: number[]; allOk: boolean })[];
    /** The driver's bare node:http run, medians. */
    bare?: Omit<PeerBareRun, 'ok'> & { runs: number[]; allOk: boolean };
    prosodySkipped?: string;
  };
  /** Why the peer workload did not run. */
  peerSkipped?: string;
  /** One replica replaying a recorded command stream (no HTTP, no Redis): the cluster's ceiling. */
  apply?: ApplyRateRun & { loadAvg: number[] };
  elapsedS: number;
}

function parseArgs(argv: string[]): Settings {
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const flags = new Set(['--quick', '--peer']);
  const known = new Set([...flags, '--json', '--reps', '--pairs', '--only', '--command-seconds', '--e2e-seconds', '--store', '--cluster-redis', '--cluster-pairs',
    '--peer-dir', '--peer-pairs', '--peer-idle', '--peer-warmup', '--apply-pairs', '--apply-rounds']);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i]!)) throw new Error(`unknown argument ${argv[i]} (known: ${[...known].join(', ')})`);
    if (!flags.has(argv[i]!)) i++;
  }
  const positive = (name: string, n: number) => {
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: expected a positive number, got ${n}`);
    return n;
  };
  const settings: Settings = {
    quick,
    reps: Number(value('--reps') ?? (quick ? 1 : 3)),
    connections: 50,
    commandS: Number(value('--command-seconds') ?? (quick ? 2 : 6)),
    endToEndS: Number(value('--e2e-seconds') ?? (quick ? 2 : 5)),
    gatewayWarmupS: quick ? 1 : 3,
    bareWarmupS: 1,
    sizeWarmupS: 0.5,
    pairs: (value('--pairs') ?? '1,10,50,100').split(',').map(Number),
    sessions: quick ? 500 : 2000,
    only: new Set((value('--only') ?? 'command,e2e,ws,memory,cluster,apply,ucwa').split(',')),
    peerDir: value('--peer-dir') ?? defaultPeerDir(),
    peerPairs: Number(value('--peer-pairs') ?? 50),
    peerIdle: Number(value('--peer-idle') ?? (quick ? 100 : 5000)),
    peerWarmup: Number(value('--peer-warmup') ?? (quick ? 20 : 200)),
    applyPairs: Number(value('--apply-pairs') ?? 50),
    applyRounds: Number(value('--apply-rounds') ?? (quick ? 100 : 400)),
    json: value('--json'),
    store: value('--store') ?? 'embedded',
    clusterRedis: value('--cluster-redis') ?? 'redis://127.0.0.1:6379/14',
    clusterPairs: (value('--cluster-pairs') ?? '10,50').split(',').map(Number),
  };
  if (argv.includes('--peer')) settings.only.add('peer');
  positive('--reps', settings.reps);
  positive('--peer-pairs', settings.peerPairs);
  if (!Number.isInteger(positive('--apply-pairs', settings.applyPairs))) throw new Error(`--apply-pairs: ${settings.applyPairs} is not an integer`);
  if (!Number.isInteger(positive('--apply-rounds', settings.applyRounds))) throw new Error(`--apply-rounds: ${settings.applyRounds} is not an integer`);
  if (!Number.isInteger(settings.peerIdle) || settings.peerIdle < 0) throw new Error(`--peer-idle: expected a count, got ${settings.peerIdle}`);
  if (!Number.isInteger(settings.peerWarmup) || settings.peerWarmup < 0) throw new Error(`--peer-warmup: expected a count, got ${settings.peerWarmup}`);
  positive('--command-seconds', settings.commandS);
  positive('--e2e-seconds', settings.endToEndS);
  for (const p of settings.pairs) if (!Number.isInteger(positive('--pairs', p))) throw new Error(`--pairs: ${p} is not an integer`);
  for (const p of settings.clusterPairs) if (!Number.isInteger(positive('--cluster-pairs', p))) throw new Error(`--cluster-pairs: ${p} is not an integer`);
  for (const w of settings.only) if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${w} (${WORKLOADS.join(', ')})`);
  return settings;
}

const WORKLOADS = ['command', 'e2e', 'ws', 'memory', 'cluster', 'apply', 'peer', 'ucwa'];

function loadFigure(runs: { reqPerSec: number; p50: number; p99: number }[]): LoadFigure {
  return {
    reqPerSec: medianOf(runs, (r) => r.reqPerSec),
    p50: medianOf(runs, (r) => r.p50),
    p99: medianOf(runs, (r) => r.p99),
    runs: runs.map((r) => r.reqPerSec),
  };
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Deletes the cluster workload's keys (every key under `prefix`). */
async function dropBenchKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const results: BenchResults = {
    env: { node: process.version, cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.availableParallelism(), platform: `${process.platform} ${process.arch}`, loadAvgStart: os.loadavg() },
    settings: { ...s, only: [...s.only] },
    elapsedS: 0,
  };

  if (s.only.has('command')) {
    const runs: CommandChannelRun[] = [];
    for (let i = 0; i < s.reps; i++) {
      progress(`command channel, run ${i + 1}/${s.reps}`);
      runs.push(await commandChannel({ flags: ['--store', s.store], connections: s.connections, durationS: s.commandS, gatewayWarmupS: s.gatewayWarmupS, bareWarmupS: s.bareWarmupS }));
    }
    const gateway = loadFigure(runs.map((r) => r.gateway));
    const bare = loadFigure(runs.map((r) => r.bare));
    results.command = { gateway, bare, ratio: gateway.reqPerSec / bare.reqPerSec, runRatios: runs.map((r) => r.gateway.reqPerSec / r.bare.reqPerSec) };
  }

  const endToEndFigures = async (label: string, run: typeof endToEnd, flags = () => ['--store', s.store], nodes = 1, sizes = s.pairs) => {
    const reps: EndToEndRun[][] = [];
    for (let i = 0; i < s.reps; i++) {
      progress(`${label}, ${sizes.join('/')} pairs, run ${i + 1}/${s.reps}`);
      reps.push(await run({ flags: flags(), nodes, sizes, durationS: s.endToEndS, warmupS: s.sizeWarmupS, serverWarmupS: s.gatewayWarmupS }));
    }
    return sizes.map((pairs, k) => {
      const runs = reps.map((rep) => rep[k]!);
      return {
        pairs,
        msgsPerSec: medianOf(runs, (r) => r.msgsPerSec),
        p50: medianOf(runs, (r) => r.p50),
        p95: medianOf(runs, (r) => r.p95),
        p99: medianOf(runs, (r) => r.p99),
        serverCpu: medianOf(runs, (r) => r.serverCpu),
        clientCpu: medianOf(runs, (r) => r.clientCpu),
        runs: runs.map((r) => r.msgsPerSec),
      };
    });
  };
  if (s.only.has('e2e')) results.endToEnd = await endToEndFigures('end-to-end', endToEnd);
  if (s.only.has('ws')) results.endToEndWs = await endToEndFigures('end-to-end over WebSocket', endToEndWebSocket);
  if (s.only.has('ucwa')) results.ucwa = await endToEndFigures('UCWA end-to-end', ucwaEndToEnd);

  if (s.only.has('memory')) {
    const runs: IdleMemoryRun[] = [];
    for (let i = 0; i < s.reps; i++) {
      progress(`idle memory, ${s.sessions} sessions, run ${i + 1}/${s.reps}`);
      runs.push(await idleMemory(s.sessions));
    }
    const med = (pick: (r: IdleMemoryRun) => { heap: number; rss: number }) => ({
      heap: medianOf(runs, (r) => pick(r).heap),
      rss: medianOf(runs, (r) => pick(r).rss),
    });
    results.memory = {
      sessions: s.sessions,
      warm: runs[0]!.warm,
      gatewayIdle: med((r) => r.gatewayIdle),
      gatewayHeld: med((r) => r.gatewayHeld),
      bareIdle: med((r) => r.bareIdle),
      bareHeld: med((r) => r.bareHeld),
    };
  }

  if (s.only.has('cluster') && !(await redisAnswers(s.clusterRedis))) {
    results.clusterSkipped = `no Redis answers at ${s.clusterRedis.replace(/\/\/[^@/]*@/, '//***@')} (--cluster-redis)`;
    progress(`cluster workload skipped: ${results.clusterSkipped}`);
  } else if (s.only.has('cluster')) {
    // The same long-poll conversations on one embedded gateway, one node on Redis, and three
    // nodes on Redis with every request going to the next node (no affinity).
    let n = 0;
    const onRedis = () => ['--store', s.clusterRedis, '--redis-prefix', `bench:${process.pid}:${++n}:`];
    results.cluster = [];
    for (const [setup, flags, nodes] of [
      ['one gateway, embedded state', () => ['--store', 'embedded'], 1],
      ['one node on Redis', onRedis, 1],
      ['three nodes on Redis, requests rotating', onRedis, 3],
    ] as const) {
      results.cluster.push({ setup, nodes, rows: await endToEndFigures(`cluster: ${setup}`, endToEnd, flags, nodes, s.clusterPairs) });
    }
    await dropBenchKeys(s.clusterRedis, `bench:${process.pid}:`);
  }

  if (s.only.has('apply')) {
    progress(`apply rate: ${s.applyPairs} pairs, ${s.applyRounds} rounds recorded, replayed ${s.reps + 1} times`);
    const run = await applyRate({ pairs: s.applyPairs, rounds: s.applyRounds, reps: Math.max(3, s.reps) });
    results.apply = { ...run, loadAvg: os.loadavg() };
  }

  if (s.only.has('peer')) await peerWorkload(s, results);

  results.elapsedS = (performance.now() - started) / 1000;
  results.env.loadAvgEnd = os.loadavg();
  console.log(renderReport(results));
  const json = JSON.stringify(results);
  if (s.json) writeFileSync(s.json, json + '\n');
  console.log(json);
}

async function peerWorkload(s: Settings, results: BenchResults): Promise<void> {
  const pre = peerPrerequisites(s.peerDir);
  if (pre.noDriver) {
    results.peerSkipped = pre.noDriver;
    progress(`peer workload skipped: ${pre.noDriver}`);
    return;
  }
  if (pre.noProsody) progress(`peer: ${pre.noProsody}`);
  const withProsody = !pre.noProsody;
  const allowed = idleSessionsAllowed(s.peerIdle);
  if (allowed.why) progress(`peer: ${allowed.why}`);
  const idle = allowed.sessions;
  const work = preparePeerFolder(s.peerDir, Math.max(2 * s.peerPairs, idle), withProsody, progress);
  const rounds: PeerRound[] = [];
  for (let i = 0; i < s.reps; i++) {
    progress(`peer round ${i + 1}/${s.reps}`);
    rounds.push(await peerRound(work, { pairs: s.peerPairs, msgsPoll: s.quick ? 100 : 500, msgsWs: s.quick ? 200 : 1500, warmup: s.peerWarmup, idle, progress }, withProsody));
  }
  const transports = [...new Set(rounds.flatMap((r) => r.runs.map((x) => x.transport)))] as PeerTransport[];
  const idleKinds = [...new Map(rounds.flatMap((r) => r.idle.map((x) => [`${x.server} ${x.transport}`, x] as const))).values()];
  results.peer = {
    pairs: s.peerPairs,
    warmup: s.peerWarmup,
    prosodySkipped: pre.noProsody,
    runs: transports.map((t) => {
      const runs = rounds.map((r) => r.runs.find((x) => x.transport === t)!).filter(Boolean);
      return {
        transport: t,
        msgsPerSec: medianOf(runs, (r) => r.msgsPerSec),
        p50: medianOf(runs, (r) => r.p50),
        p95: medianOf(runs, (r) => r.p95),
        p99: medianOf(runs, (r) => r.p99),
        serverCpu: medianOf(runs, (r) => r.serverCpu),
        driverCpu: medianOf(runs, (r) => r.driverCpu),
        httpPerSec: medianOf(runs, (r) => r.httpPerSec),
        runs: runs.map((r) => r.msgsPerSec),
        allOk: runs.every((r) => r.ok),
      };
    }),
    idle: idleKinds.map(({ server, transport: t }) => {
      const runs = rounds.map((r) => r.idle.find((x) => x.server === server && x.transport === t)!).filter(Boolean);
      return {
        server,
        transport: t,
        sessions: runs[0]!.sessions,
        kBPerSession: medianOf(runs, (r) => r.kBPerSession),
        loginS: medianOf(runs, (r) => r.loginS),
        runs: runs.map((r) => r.kBPerSession),
        allOk: runs.every((r) => r.ok),
      };
    }),
    bare: bareOf(rounds.flatMap((r) => (r.bare ? [r.bare] : []))),
  };
}

function bareOf(runs: PeerBareRun[]): NonNullable<BenchResults['peer']>['bare'] {
  if (runs.length === 0) return undefined;
  return {
    reqPerSec: medianOf(runs, (r) => r.reqPerSec),
    p50: medianOf(runs, (r) => r.p50),
    p99: medianOf(runs, (r) => r.p99),
    serverCpu: medianOf(runs, (r) => r.serverCpu),
    driverCpu: medianOf(runs, (r) => r.driverCpu),
    runs: runs.map((r) => r.reqPerSec),
    allOk: runs.every((r) => r.ok),
  };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
