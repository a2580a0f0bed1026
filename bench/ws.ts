// WebSocket delivery benchmark: events per second pushed to 1, 100 and 1,000
// subscribers, and memory per idle WebSocket, for the gateway and, in the same run,
// a bare `ws` server sending the same bytes (one cwaEvents frame per event).
//
//   npm run bench:ws -- [--subscribers 1,100,1000] [--bursts 1,50] [--events 200000] [--idle 2000] [--json FILE]
//
// The producer queues events in bursts: `burst` events per subscriber, then it yields
// to I/O. With bursts of 1 every event goes out in its own frame on both servers; with
// larger bursts the gateway puts the events queued in one turn into one frame, while
// the bare server still sends one frame per event.
//
// Each measurement uses a fresh server process (bench/ws-server.ts); this process is
// the subscribers. The gateway's subscribers are real sessions (initiateSession over
// HTTP, then a WebSocket attach with the ticket) that acknowledge what they receive.
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import WebSocket from 'ws';
import { BENCH_PASSWORD, benchLogin } from './users.js';
import { EVENT_BYTES } from './ws-event.js';
import type { ServerReply, ServerRequest } from './ws-server.js';

const CWA_NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
/** Extra node options for the server child only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const EXTRA_NODE_ARGS = (process.env.CWA_BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

interface Settings {
  subscribers: number[];
  bursts: number[];
  events: number;
  warmup: number;
  idle: number;
  json?: string;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { subscribers: [1, 100, 1000], bursts: [1, 50], events: 200_000, warmup: 20_000, idle: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--subscribers':
        s.subscribers = v!.split(',').map(Number);
        i++;
        break;
      case '--bursts':
        s.bursts = v!.split(',').map(Number);
        i++;
        break;
      case '--events':
        s.events = Number(v);
        i++;
        break;
      case '--warmup':
        s.warmup = Number(v);
        i++;
        break;
      case '--idle':
        s.idle = Number(v);
        i++;
        break;
      case '--json':
        s.json = v;
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return s;
}

type Kind = 'bare' | 'gateway';

class Server {
  private constructor(private readonly child: ChildProcess, readonly port: number) {}

  sids: number[] = [];

  static async start(kind: Kind, users = 1): Promise<Server> {
    const child = fork(new URL('./ws-server.js', import.meta.url), [kind, String(users)], { execArgv: ['--expose-gc', ...EXTRA_NODE_ARGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<ServerReply>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
    });
    return new Server(child, (ready as { port: number }).port);
  }

  request<T extends ServerReply>(m: ServerRequest): Promise<T> {
    return new Promise((resolve) => {
      this.child.once('message', (r: T) => resolve(r));
      this.child.send(m);
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit' } satisfies ServerRequest);
    const timer = setTimeout(() => this.child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Acks wait this long to cover everything received meanwhile (the client library's default). */
const ACK_DELAY_MS = 10;

/**
 * One subscriber: counts the events it receives and acknowledges them as the client
 * library does (one ack per ACK_DELAY_MS). The bare server's subscribers send the same
 * acks (it ignores them), so both servers carry the same client traffic.
 */
class Subscriber {
  events = 0;
  frames = 0;
  lastEid = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private target = Number.POSITIVE_INFINITY;
  private reached: (() => void) | undefined;

  constructor(readonly ws: WebSocket, readonly gateway: boolean) {
    ws.on('message', (data) => {
      this.frames += 1;
      if (gateway) {
        const m = /ackId="(\d+)"/.exec(data.toString());
        const ackId = m ? Number(m[1]) : 0;
        if (ackId > this.lastEid) {
          this.events += ackId - this.lastEid;
          this.lastEid = ackId;
        }
      } else {
        this.events += 1;
        this.lastEid += 1;
      }
      this.scheduleAck();
      if (this.events >= this.target) this.reached?.();
    });
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(`<ack ackId="${this.lastEid}"/>`);
    }, ACK_DELAY_MS);
  }

  until(events: number): Promise<void> {
    if (this.events >= events) return Promise.resolve();
    this.target = events;
    return new Promise((resolve) => (this.reached = resolve));
  }
}

async function post(url: string, body: string, ticket?: string): Promise<{ ticket: string | null; text: string }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/xml', ...(ticket ? { 'CWA-Ticket': ticket } : {}) } });
  return { ticket: res.headers.get('cwa-ticket'), text: await res.text() };
}

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  return out;
}

/** A signed-in session per subscriber (bench users u<first>, u<first+1> …): their tickets and sids. */
async function gatewaySessions(base: string, n: number, first = 0): Promise<{ tickets: string[]; sids: number[] }> {
  const made = await inBatches(n, 50, async (i) => {
    const logon = await post(`${base}/forms/logon.html`, `<cwaRequests><logon><user>${benchLogin(first + i)}</user><password>${BENCH_PASSWORD}</password></logon></cwaRequests>`);
    const r = await post(`${base}/cwa/MainCommandHandler.ashx`, `<cwaRequests xmlns="${CWA_NS}" sid="0"><initiateSession rid="1"/></cwaRequests>`, logon.ticket!);
    return { ticket: r.ticket ?? logon.ticket!, sid: Number(/<sid>(\d+)<\/sid>/.exec(r.text)![1]) };
  });
  return { tickets: made.map((m) => m.ticket), sids: made.map((m) => m.sid) };
}

/** The initial burst of a session (configuration, selfPresence, contact list …): attach after it. */
async function headOf(base: string, sid: number, ticket: string): Promise<number> {
  const res = await fetch(`${base}/cwa/AsyncDataChannel.ashx?Sid=${sid}&AckId=0`, { headers: { 'CWA-Ticket': ticket } });
  return Number(/ackId="(\d+)"/.exec(await res.text())![1]);
}

async function connect(kind: Kind, server: Server, n: number): Promise<Subscriber[]> {
  const base = `http://127.0.0.1:${server.port}`;
  if (kind === 'bare') {
    return inBatches(n, 100, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
      await new Promise((r) => ws.once('open', r));
      return new Subscriber(ws, false);
    });
  }
  const { tickets, sids } = await gatewaySessions(base, n);
  server.sids = sids;
  const head = await headOf(base, sids[0]!, tickets[0]!);
  return inBatches(n, 100, async (i) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/cwa/AsyncDataChannel.ashx?Sid=${sids[i]}&AckId=${head}`, {
      headers: { 'CWA-Ticket': tickets[i]! },
      perMessageDeflate: false,
    });
    const sub = new Subscriber(ws, true);
    await new Promise((r) => ws.once('message', r)); // the attach confirmation (an empty frame at the head)
    sub.lastEid = head;
    sub.events = 0;
    sub.frames = 0;
    return sub;
  });
}

interface PushResult {
  kind: Kind;
  subscribers: number;
  burst: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  framesPerSecond: number;
}

async function push(kind: Kind, server: Server, subs: Subscriber[], total: number, burst: number): Promise<PushResult> {
  const per = Math.max(1, Math.round(total / subs.length));
  const before = subs.map((s) => s.events);
  const framesBefore = subs.reduce((n, s) => n + s.frames, 0);
  const started = process.hrtime.bigint();
  const done = Promise.all(subs.map((s, i) => s.until(before[i]! + per)));
  await server.request({ cmd: 'push', perSubscriber: per, burst, sids: server.sids });
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const events = per * subs.length;
  const frames = subs.reduce((n, s) => n + s.frames, 0) - framesBefore;
  return { kind, subscribers: subs.length, burst, events, seconds, eventsPerSecond: events / seconds, framesPerSecond: frames / seconds };
}

async function throughput(kind: Kind, n: number, s: Settings): Promise<PushResult[]> {
  const server = await Server.start(kind, n);
  try {
    const subs = await connect(kind, server, n);
    const results: PushResult[] = [];
    for (const burst of s.bursts) {
      await push(kind, server, subs, s.warmup, burst);
      results.push(await push(kind, server, subs, s.events, burst));
    }
    for (const sub of subs) sub.ws.terminate();
    return results;
  } finally {
    await server.stop();
  }
}

interface MemoryResult {
  kind: Kind;
  sockets: number;
  /** RSS and heap per idle WebSocket (gateway: beyond its session, which is measured separately). */
  rssPerSocket: number;
  heapPerSocket: number;
  /** Gateway only: a signed-in session with its WebSocket, everything included. */
  rssPerSession?: number;
  heapPerSession?: number;
}

async function idleMemory(kind: Kind, m: number): Promise<MemoryResult> {
  type Mem = { rss: number; heapUsed: number };
  const server = await Server.start(kind, m + 10);
  const base = `http://127.0.0.1:${server.port}`;
  try {
    // Warm the server up (code paths, JIT) with a few connections, then measure from there.
    const warm = await connect(kind, server, 10);
    for (const w of warm) w.ws.terminate();
    await new Promise((r) => setTimeout(r, 200));
    const m0 = await server.request<ServerReply & Mem>({ cmd: 'memory' });
    let mSessions = m0;
    let subs: Subscriber[];
    if (kind === 'gateway') {
      const { tickets, sids } = await gatewaySessions(base, m, 10);
      const head = await headOf(base, sids[0]!, tickets[0]!);
      mSessions = await server.request<ServerReply & Mem>({ cmd: 'memory' });
      subs = await inBatches(m, 100, async (i) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/cwa/AsyncDataChannel.ashx?Sid=${sids[i]}&AckId=${head}`, { headers: { 'CWA-Ticket': tickets[i]! }, perMessageDeflate: false });
        await new Promise((r) => ws.once('message', r));
        return new Subscriber(ws, true);
      });
    } else {
      subs = await connect(kind, server, m);
    }
    await new Promise((r) => setTimeout(r, 500));
    const m1 = await server.request<ServerReply & Mem>({ cmd: 'memory' });
    for (const sub of subs) sub.ws.terminate();
    return {
      kind,
      sockets: m,
      rssPerSocket: (m1.rss - mSessions.rss) / m,
      heapPerSocket: (m1.heapUsed - mSessions.heapUsed) / m,
      ...(kind === 'gateway' ? { rssPerSession: (m1.rss - m0.rss) / m, heapPerSession: (m1.heapUsed - m0.heapUsed) / m } : {}),
    };
  } finally {
    await server.stop();
  }
}

const kB = (b: number) => `${(b / 1024).toFixed(1)} kB`;
const rate = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  console.log(`# WebSocket delivery (Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, loopback; subscribers in this process)\n`);
  const pushes: PushResult[] = [];
  for (const n of s.subscribers) {
    for (const kind of ['bare', 'gateway'] as const) {
      for (const r of await throughput(kind, n, s)) {
        pushes.push(r);
        console.error(`  ${kind} × ${n}, bursts of ${r.burst}: ${rate(r.eventsPerSecond)} events/s`);
      }
    }
  }
  console.log(`${s.events.toLocaleString('en-US')} events per measurement, ${EVENT_BYTES} bytes each; frames/s and events per frame are the gateway's (the bare server sends one frame per event)\n`);
  console.log('| subscribers | burst | bare `ws` events/s | gateway events/s | gateway / bare | gateway frames/s | events per frame |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const burst of s.bursts) {
    for (const n of s.subscribers) {
      const b = pushes.find((p) => p.kind === 'bare' && p.subscribers === n && p.burst === burst)!;
      const g = pushes.find((p) => p.kind === 'gateway' && p.subscribers === n && p.burst === burst)!;
      console.log(
        `| ${n} | ${burst} | ${rate(b.eventsPerSecond)} | ${rate(g.eventsPerSecond)} | ${(g.eventsPerSecond / b.eventsPerSecond).toFixed(2)} | ${rate(g.framesPerSecond)} | ${(g.eventsPerSecond / g.framesPerSecond).toFixed(1)} |`,
      );
    }
  }
  const memory = [await idleMemory('bare', s.idle), await idleMemory('gateway', s.idle)];
  const [bm, gm] = memory as [MemoryResult, MemoryResult];
  console.log(`\n| ${s.idle} idle | RSS per WebSocket | heap per WebSocket | RSS per session + WebSocket | heap per session + WebSocket |`);
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| bare \`ws\` | ${kB(bm.rssPerSocket)} | ${kB(bm.heapPerSocket)} | | |`);
  console.log(`| gateway | ${kB(gm.rssPerSocket)} | ${kB(gm.heapPerSocket)} | ${kB(gm.rssPerSession!)} | ${kB(gm.heapPerSession!)} |`);
  const json = { node: process.version, cpus: os.cpus().length, settings: s, pushes, memory };
  console.log(`\n${JSON.stringify(json)}`);
  if (s.json) writeFileSync(s.json, JSON.stringify(json, null, 2));
}

await main();
