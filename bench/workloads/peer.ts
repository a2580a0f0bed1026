// The peer bench: Prosody 0.12 (Debian's package) and the gateway driven by one load driver
// in one sitting. The driver and Prosody's configuration live in the design notes'
// peer-bench/ folder (read-only): it is copied to a work folder once, its driver uses the
// project's `ws`, and the runs alternate between the two servers — Prosody BOSH, gateway
// long-poll, Prosody WebSocket, gateway WebSocket — each on a freshly started server, as
// that folder's README prescribes. A run counts only when the driver says `ok` (nothing
// lost, no duplicate, no session error).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type PeerTransport = 'bosh' | 'ws' | 'cwa' | 'cwa-ws';

export interface PeerRun {
  transport: PeerTransport;
  msgsPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  serverCpu: number;
  driverCpu: number;
  /** HTTP requests a second over the measured phase (long-poll transports; NaN over WebSocket). */
  httpPerSec: number;
  ok: boolean;
}

/** The driver's bare run (driver/bare.js): a bare `node:http` server that answers a tiny POST, 50 connections of the driver's own HTTP client. */
export interface PeerBareRun {
  reqPerSec: number;
  p50: number;
  p99: number;
  serverCpu: number;
  driverCpu: number;
  ok: boolean;
}

export interface PeerIdleRun {
  /** Bare: bench/peer-bare.ts, Node's own HTTP and `ws` holding the same idle clients (no gateway). */
  server: 'prosody' | 'gateway' | 'bare';
  transport: PeerTransport;
  sessions: number;
  kBPerSession: number;
  /** The sign-in burst: wall-clock seconds for all sessions (the driver signs in 20 at a time). */
  loginS: number;
  ok: boolean;
}

export interface PeerOptions {
  /** The peer-bench folder (default: ../shared/peer-bench beside the project). */
  dir?: string;
  pairs: number;
  /** Messages per pair, for long-poll transports and for WebSocket ones. */
  msgsPoll: number;
  msgsWs: number;
  /**
   * Unmeasured messages per pair before the measured ones (the driver's --warmup), for both
   * servers alike: a freshly started Node process runs unoptimized code for its first second
   * or so, and the figures are meant to be of the steady state.
   */
  warmup: number;
  /** Idle sessions for the memory run (0 = none); see idleSessionsAllowed. */
  idle: number;
  /** Seconds of the bare node:http run (default 5). */
  bareSeconds?: number;
  progress: (text: string) => void;
}

export interface PeerRound {
  runs: PeerRun[];
  idle: PeerIdleRun[];
  bare?: PeerBareRun;
}

/** Why the peer bench cannot run at all, or which half of it cannot; undefined when all is there. */
export function peerPrerequisites(dir: string): { noDriver?: string; noProsody?: string } {
  if (!existsSync(join(dir, 'driver', 'driver.js'))) return { noDriver: `no peer-bench driver at ${dir} (--peer-dir)` };
  const which = spawnSync('sh', ['-c', 'command -v prosody && command -v prosodyctl && id prosody'], { encoding: 'utf8' });
  if (which.status !== 0) return { noProsody: 'Prosody is not installed (apt-get install prosody lua-event): its runs are skipped' };
  return {};
}

export function defaultPeerDir(): string {
  return process.env.CWA_PEER_BENCH_DIR ?? join(ROOT, '..', 'shared', 'peer-bench');
}

/**
 * How many idle sessions this machine lets the driver hold: each costs a socket in the driver and
 * one in the server, and Node (driver, gateway) and start.sh (Prosody) raise their open-files
 * limit to the hard one. Some room is left for everything else they open.
 */
export function idleSessionsAllowed(wanted: number): { sessions: number; why?: string } {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const hard = r.stdout.trim() === 'unlimited' ? Number.POSITIVE_INFINITY : Number(r.stdout.trim());
  if (!Number.isFinite(hard) || wanted <= hard - 256) return { sessions: wanted };
  const sessions = Math.max(0, hard - 256);
  return { sessions, why: `the open-files limit (ulimit -Hn ${hard}) allows ${sessions} idle sessions, not ${wanted}` };
}

/** A writable copy of the peer-bench folder, kept between runs (Prosody's accounts live in it). */
export function preparePeerFolder(source: string, users: number, withProsody: boolean, progress: (t: string) => void): string {
  const work = join(process.env.TMPDIR ?? '/tmp', 'cwa-gateway-peer-bench');
  mkdirSync(work, { recursive: true });
  for (const entry of ['driver', 'prosody.cfg.lua', 'start.sh', 'stop.sh', 'create_users.sh']) {
    if (entry === 'driver') rmSync(join(work, 'driver'), { recursive: true, force: true });
    cpSync(join(source, entry), join(work, entry), { recursive: true });
  }
  // The driver needs `ws` (and `autocannon` for its bare run): the project's own copies.
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'driver', 'node_modules'), 'dir');
  if (withProsody) prosodyAccounts(work, users, progress);
  // Clear-text passwords, as the folder's cwa-users.js writes them: an all-clear-text directory
  // checks a logon with one SHA-256, no scrypt, so 5,000 sign-ins cost the gateway nothing extra.
  const users2 = Array.from({ length: users }, (_, i) => ({ login: `u${i + 1}`, password: 'pw', uri: `sip:u${i + 1}@localhost`, displayName: `User ${i + 1}` }));
  writeFileSync(join(work, 'cwa-users.json'), JSON.stringify({ users: users2 }));
  return work;
}

/** What Prosody 0.12's internal_plain storage writes for an account whose password is 'pw'. */
const PROSODY_ACCOUNT = 'return {\n\t["password"] = "pw";\n};\n';

/**
 * Prosody accounts u1..uN (password 'pw'), once per machine. `prosodyctl register` takes about
 * 0.1 s an account (over 8 minutes for 5,000), so it registers u1 only; when its file is the one
 * internal_plain storage is known to write (the password is the file's only content), the others
 * are written as copies of it, with its owner and mode. Otherwise every account goes through
 * prosodyctl (the folder's create_users.sh).
 */
function prosodyAccounts(work: string, users: number, progress: (t: string) => void): void {
  const dir = join(work, 'run', 'data', 'localhost', 'accounts');
  const file = (i: number) => join(dir, `u${i}.dat`);
  const missing = (): number[] => Array.from({ length: users }, (_, i) => i + 1).filter((i) => !existsSync(file(i)));
  if (missing().length === 0) return;
  progress(`peer: registering ${missing().length} Prosody accounts (once per machine)`);
  run(join(work, 'stop.sh'), []);
  mustRun(join(work, 'start.sh'), []); // renders run/prosody.cfg.lua, owns run/ by prosody
  try {
    mustRun(join(work, 'create_users.sh'), ['1']);
    const reference = readFileSync(file(1), 'utf8');
    if (reference === PROSODY_ACCOUNT) {
      const { uid, gid, mode } = statSync(file(1));
      for (const i of missing()) {
        writeFileSync(file(i), reference, { mode: mode & 0o777 });
        chownSync(file(i), uid, gid);
      }
    } else {
      progress(`peer: Prosody wrote u1.dat as ${JSON.stringify(reference)}; registering the others with prosodyctl (slow)`);
      mustRun(join(work, 'create_users.sh'), [String(users)]);
    }
  } finally {
    run(join(work, 'stop.sh'), []);
  }
  const still = missing().length;
  if (still > 0) throw new Error(`peer: ${still} Prosody accounts are still missing in ${dir}`);
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function mustRun(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.out.slice(-2000)}`);
  return r.out;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The gateway as a user starts it (bin/cwa-gateway.js), with no rate limits, as Prosody runs none. */
async function startGateway(work: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  // CWA_PEER_GATEWAY_BIN runs another build's bin/cwa-gateway.js (e.g. before a change) under the same driver.
  const bin = process.env.CWA_PEER_GATEWAY_BIN ?? join(ROOT, 'bin', 'cwa-gateway.js');
  const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--users', join(work, 'cwa-users.json'),
    '--data-dir', join(work, 'gateway-data'), '--hold-ms', '25000', '--max-sessions-per-user', '100',
    '--rate-address', '0', '--rate-ticket', '0', '--rate-logon-address', '0', '--rate-logon-failures', '0', '--rate-logon-failures-address', '0',
    '--ws-frame-rate', '0', '--log-level', 'warn'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url };
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('the gateway did not become ready within 20 s');
}

/** bench/peer-bare.ts: bare Node answering the driver's idle clients (the floor under the gateway's memory figure). */
async function startBare(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'peer-bare.js'), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the bare server exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url };
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('the bare server did not become ready within 10 s');
}

async function stopGateway(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface DriverLine {
  transport: PeerTransport;
  msgs_per_s?: number;
  latency_ms?: { p50: number; p95: number; p99: number };
  phase?: { server_cpu_pct: number; driver_cpu_pct: number };
  http_requests?: number;
  span_s?: number;
  kB_per_session?: number;
  sessions: number;
  ok?: boolean;
  session_errors?: number;
  login?: { failures: number; wall_s: number };
}

function driver(work: string, args: string[]): Promise<DriverLine> {
  const json = join(work, `driver-${process.pid}.jsonl`);
  rmSync(json, { force: true });
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(work, 'driver', 'driver.js'), ...args, '--json', json, '--quiet', 'true'], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => {
      if (!existsSync(json)) return reject(new Error(`the driver (${args.join(' ')}) wrote no result (exit ${code})`));
      const lines = readFileSync(json, 'utf8').trim().split('\n');
      resolveRun(JSON.parse(lines[lines.length - 1]!) as DriverLine);
    });
  });
}

function toRun(line: DriverLine): PeerRun {
  return {
    transport: line.transport,
    msgsPerSec: line.msgs_per_s ?? Number.NaN,
    p50: line.latency_ms?.p50 ?? Number.NaN,
    p95: line.latency_ms?.p95 ?? Number.NaN,
    p99: line.latency_ms?.p99 ?? Number.NaN,
    serverCpu: line.phase?.server_cpu_pct ?? Number.NaN,
    driverCpu: line.phase?.driver_cpu_pct ?? Number.NaN,
    httpPerSec: line.http_requests !== undefined && line.span_s ? line.http_requests / line.span_s : Number.NaN,
    ok: line.ok === true,
  };
}

/**
 * The driver's ceiling for request and answer over HTTP on this machine: its bare server
 * (`driver/bare.js` starts `baresrv.js`) under its own keep-alive client, 50 connections.
 */
export async function bareRun(work: string, seconds: number): Promise<PeerBareRun> {
  const json = join(work, `bare-${process.pid}.jsonl`);
  rmSync(json, { force: true });
  const port = await freePort();
  await new Promise<void>((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(work, 'driver', 'bare.js'), '--conns', '50', '--duration-s', String(seconds), '--port', String(port), '--json', json],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolveRun() : reject(new Error(`the driver's bare run exited with ${code}`))));
  });
  const lines = readFileSync(json, 'utf8').trim().split('\n');
  const r = JSON.parse(lines[lines.length - 1]!) as { req_per_s: number; errors: number; latency_ms: { p50: number; p99: number }; cpu: { server_cpu_pct: number; driver_cpu_pct: number } };
  return { reqPerSec: r.req_per_s, p50: r.latency_ms.p50, p99: r.latency_ms.p99, serverCpu: r.cpu.server_cpu_pct, driverCpu: r.cpu.driver_cpu_pct, ok: r.errors === 0 };
}

/** One round: each transport once, the two servers alternating, each run on a fresh server. */
export async function peerRound(work: string, o: PeerOptions, withProsody: boolean): Promise<PeerRound> {
  const pairsArgs = (transport: PeerTransport, msgs: number) => ['--transport', transport, '--pairs', String(o.pairs), '--msgs', String(msgs), '--window', '1', '--warmup', String(o.warmup)];
  const runs: PeerRun[] = [];
  const idle: PeerIdleRun[] = [];
  const prosody = async (args: string[]) => {
    run(join(work, 'stop.sh'), []);
    mustRun(join(work, 'start.sh'), []);
    try {
      return await driver(work, [...args, '--prosody-cfg', '']);
    } finally {
      run(join(work, 'stop.sh'), []);
    }
  };
  const gateway = async (args: string[], start = () => startGateway(work)) => {
    const gw = await start();
    try {
      return await driver(work, [...args, '--cwa-url', gw.url, '--pid', String(gw.child.pid)]);
    } finally {
      await stopGateway(gw.child);
    }
  };
  o.progress('peer: bare node:http under the driver\'s client');
  const bare = await bareRun(work, o.bareSeconds ?? 5);
  for (const [peer, ours, msgs] of [['bosh', 'cwa', o.msgsPoll], ['ws', 'cwa-ws', o.msgsWs]] as const) {
    if (withProsody) {
      o.progress(`peer: Prosody ${peer}, ${o.pairs} pairs`);
      runs.push(toRun(await prosody(pairsArgs(peer, msgs))));
    }
    o.progress(`peer: gateway ${ours}, ${o.pairs} pairs`);
    runs.push(toRun(await gateway(pairsArgs(ours, msgs))));
  }
  if (o.idle > 0) {
    // The driver's own deadline (110 s by default) covers sign-in and hold: a thousand sessions
    // more give it 20 s more (Prosody's BOSH signs in about 130 sessions a second here).
    const idleArgs = (t: PeerTransport) => ['--transport', t, '--mode', 'idle', '--idle', String(o.idle), '--hold-s', '5',
      '--max-s', String(110 + Math.ceil(o.idle / 50))];
    const idleRun = (server: PeerIdleRun['server'], transport: PeerTransport, l: DriverLine): PeerIdleRun => ({
      server, transport, sessions: l.sessions, kBPerSession: l.kB_per_session ?? Number.NaN, loginS: l.login?.wall_s ?? Number.NaN,
      ok: l.login !== undefined && !l.login.failures && !l.session_errors,
    });
    for (const [peer, ours] of [['bosh', 'cwa'], ['ws', 'cwa-ws']] as const) {
      if (withProsody) {
        o.progress(`peer: Prosody ${peer}, ${o.idle} idle sessions`);
        idle.push(idleRun('prosody', peer, await prosody(idleArgs(peer))));
      }
      o.progress(`peer: gateway ${ours}, ${o.idle} idle sessions`);
      idle.push(idleRun('gateway', ours, await gateway(idleArgs(ours))));
      o.progress(`peer: bare Node ${ours}, ${o.idle} idle sessions`);
      idle.push(idleRun('bare', ours, await gateway(idleArgs(ours), startBare)));
    }
  }
  return { runs, idle, bare };
}
