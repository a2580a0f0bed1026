// The profiling recipe: the end-to-end workloads (long-poll, then WebSocket) against a gateway
// child started under `node --cpu-prof`, then the top self-time functions and files of its
// main thread over the measured window, and the CPU the gateway spent per message and per
// request (process.cpuUsage over the window, the figure least disturbed by other load).
//   npm run build && node dist/bench/profile.js [--pairs 50] [--seconds 5] [--only poll,ws]
//                    [--top 25] [--dir DIR] [--interval-us 500] [--no-profile | --alloc]
// --no-profile measures the CPU figures without the profiler's own overhead. --alloc samples
// allocations instead of CPU (bench/alloc-sampler.ts: where the bytes that make the scavenges
// come from). The profiles stay in DIR (default $TMPDIR/cwa-gateway-profile/<time>/); open them
// in Chrome DevTools for the tree.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSummary, summarise, type CpuProfile } from './cpuprofile.js';
import { renderAllocations, summariseAllocations, type HeapProfile } from './heapprofile.js';

interface Args {
  pairs: number;
  seconds: number;
  only: string[];
  top: number;
  dir: string;
  intervalUs: number;
  profile: boolean;
  alloc: boolean;
}

function parseArgs(argv: string[]): Args {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    pairs: Number(value('--pairs') ?? 50),
    seconds: Number(value('--seconds') ?? 5),
    only: (value('--only') ?? 'poll,ws').split(','),
    top: Number(value('--top') ?? 25),
    dir: value('--dir') ?? join(process.env.TMPDIR ?? tmpdir(), 'cwa-gateway-profile', new Date().toISOString().replace(/[:.]/g, '-')),
    intervalUs: Number(value('--interval-us') ?? 500),
    profile: !argv.includes('--no-profile') && !argv.includes('--alloc'),
    alloc: argv.includes('--alloc'),
  };
}

/**
 * HTTP requests per delivered message in the long-poll workload, roughly: the sender's POST,
 * the receiver's poll answer carrying the message, and the sender's poll answers carrying its
 * messageIdReceived, a batch each --confirmation-batch-ms (see workloads/end-to-end.ts; about
 * 2.1 at 50 pairs). Over WebSocket a message costs one command frame in, its answer and the
 * receiver's event frame out (acks coalesced per 10 ms, confirmations a frame per batch).
 */
const REQUESTS_PER_MESSAGE: Record<string, number> = { poll: 2.1, ws: 3 };

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const out: string[] = [];
  const dir = a.dir;
  mkdirSync(dir, { recursive: true });
  // Read by bench/child.ts when it is first imported, hence the imports after it.
  process.env.CWA_BENCH_SERVER_NODE_ARGS = a.profile
    ? `--cpu-prof --cpu-prof-dir=${dir} --cpu-prof-interval=${a.intervalUs}`
    : a.alloc
      ? `--import ${join(fileURLToPath(new URL('.', import.meta.url)), 'alloc-sampler.js')}`
      : '';
  if (a.alloc) process.env.CWA_BENCH_ALLOC_DIR = dir;
  const { endToEnd } = await import('./workloads/end-to-end.js');
  const { endToEndWebSocket } = await import('./workloads/end-to-end-ws.js');
  const seen = new Set<string>();
  for (const name of a.only) {
    const run = name === 'poll' ? endToEnd : name === 'ws' ? endToEndWebSocket : undefined;
    if (!run) throw new Error(`--only: unknown workload ${name} (poll, ws)`);
    process.stderr.write(`profile: ${name}, ${a.pairs} pairs, ${a.seconds} s${a.profile ? ` -> ${dir}` : ''}\n`);
    const [r] = await run({ sizes: [a.pairs], durationS: a.seconds, warmupS: 0.5, serverWarmupS: 3 });
    const cpuPerMsg = ((r.serverCpu / 100) * 1e6) / r.msgsPerSec;
    out.push(
      `## ${name === 'poll' ? 'long-poll' : 'WebSocket'}, ${a.pairs} pairs${a.profile ? ' (under the profiler)' : a.alloc ? ' (allocations sampled)' : ''}`,
      '',
      `${r.msgsPerSec.toFixed(0)} msgs/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, gateway CPU ${r.serverCpu.toFixed(0)} % of a core, ` +
        `${cpuPerMsg.toFixed(0)} µs CPU per message, ≈ ${(cpuPerMsg / REQUESTS_PER_MESSAGE[name]!).toFixed(0)} µs per ${name === 'poll' ? 'HTTP request' : 'frame in or out'}`,
      '',
    );
    if (a.alloc) {
      const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapprofile') && !seen.has(f));
      if (fresh.length !== 1) throw new Error(`expected one new .heapprofile in ${dir}, found ${fresh.length}`);
      seen.add(fresh[0]!);
      const file = join(dir, fresh[0]!);
      out.push(renderAllocations(file, summariseAllocations(JSON.parse(readFileSync(file, 'utf8')) as HeapProfile, a.top)));
      continue;
    }
    if (!a.profile) continue;
    // The child writes its profile as it exits; the last seconds of it are the measured window.
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !seen.has(f));
    if (fresh.length !== 1) throw new Error(`expected one new .cpuprofile in ${dir}, found ${fresh.length}`);
    seen.add(fresh[0]!);
    const file = join(dir, fresh[0]!);
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    out.push(renderSummary(`${file}, last ${a.seconds} s`, summarise(profile, { windowS: a.seconds, top: a.top })));
  }
  console.log(out.join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('profile failed:', err);
    process.exit(1);
  },
);
