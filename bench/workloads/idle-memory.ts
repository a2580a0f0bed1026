// Workload 3, memory per idle session. The server child runs with --expose-gc and
// reports process.memoryUsage() after full collections, over IPC.
//  gateway: sessions whose clients each signed in and sent initiateSession on their own
//           keep-alive connection; measured with the connections idle, then with one
//           held long-poll per session (initial events acknowledged), which is what an
//           idle browser client looks like.
//  bare:    keep-alive connections that each made one POST, then one held GET each.
// A first group of `warm` clients is brought to the held state before the reference
// measurement, so that one-off growth (young generation, code, allocator arenas) is
// not charged to the sessions; then N more clients are added:
//   idle = (after N idle clients - reference) / N,  held = (after they all hold a poll - reference) / N.
import http from 'node:http';
import { CwaClient, HttpTarget } from '../client.js';
import { ServerChild } from '../child.js';
import { mapLimit, sleep } from '../stats.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';

export interface PerSession {
  heap: number;
  rss: number;
}

export interface IdleMemoryRun {
  sessions: number;
  /** Clients already holding a poll when the reference measurement is taken. */
  warm: number;
  /** Session plus an idle keep-alive connection. */
  gatewayIdle: PerSession;
  /** Session plus a held long-poll. */
  gatewayHeld: PerSession;
  bareIdle: PerSession;
  bareHeld: PerSession;
}

/** How one kind of client gets to the idle state, then to the held state. */
interface Population<C> {
  open(index: number): Promise<C>;
  hold(client: C): Promise<void>;
  close(client: C): void;
}

const PARALLEL = 50;

/** Waits until the server has gone quiet (its CPU time stops growing), so every request sent has been handled. */
async function quiet(server: ServerChild): Promise<void> {
  let last = await server.cpuMicros();
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    const now = await server.cpuMicros();
    if (now - last < 3000) return;
    last = now;
  }
}

/** One agent (one socket) per simulated client, so each holds its own connection. */
const ownConnection = (port: number) => new HttpTarget([port], new http.Agent({ keepAlive: true, maxSockets: 1 }));

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

async function measure<C>(server: ServerChild, pop: Population<C>, warm: number, n: number): Promise<{ idle: PerSession; held: PerSession }> {
  const clients: C[] = [];
  const open = (from: number, count: number) => mapLimit(range(from, count), PARALLEL, async (i) => {
    const c = await pop.open(i);
    clients.push(c);
    return c;
  });
  const hold = async (group: C[]) => {
    await mapLimit(group, PARALLEL, (c) => pop.hold(c));
    await sleep(100);
    await quiet(server);
  };
  try {
    await hold(await open(0, warm));
    const reference = await server.memory();
    const added = await open(warm, n);
    await quiet(server);
    const idle = await server.memory();
    await hold(added);
    const held = await server.memory();
    const per = (m: { heapUsed: number; rss: number }): PerSession => ({
      heap: (m.heapUsed - reference.heapUsed) / n,
      rss: (m.rss - reference.rss) / n,
    });
    return { idle: per(idle), held: per(held) };
  } finally {
    for (const c of clients) pop.close(c);
  }
}

async function gatewayRun(warm: number, n: number): Promise<{ idle: PerSession; held: PerSession }> {
  const server = await ServerChild.start({ kind: 'gateway', users: warm + n, flags: ['--hold-ms', '120000'] });
  try {
    return await measure<CwaClient>(server, {
      async open(i) {
        const c = new CwaClient(ownConnection(server.port), benchLogin(i), BENCH_PASSWORD);
        await c.logon();
        await c.initiateSession();
        return c;
      },
      async hold(c) {
        await c.poll(); // configuration and selfPresence
        c.poll().catch(() => undefined); // acknowledges them; held
      },
      close: (c) => c.target.agent.destroy(),
    }, warm, n);
  } finally {
    await server.stop();
  }
}

async function bareRun(warm: number, n: number): Promise<{ idle: PerSession; held: PerSession }> {
  const server = await ServerChild.start({ kind: 'bare' });
  const body = `<cwaRequests><logon><user>u1</user><password>${BENCH_PASSWORD}</password></logon></cwaRequests>`;
  try {
    return await measure<HttpTarget>(server, {
      async open() {
        const t = ownConnection(server.port);
        await t.request('POST', '/forms/logon.html', body);
        return t;
      },
      async hold(t) {
        t.request('GET', '/cwa/AsyncDataChannel.ashx?Sid=1&AckId=0&hold=1').catch(() => undefined);
      },
      close: (t) => t.agent.destroy(),
    }, warm, n);
  } finally {
    await server.stop();
  }
}

/** One repetition: a fresh gateway, then a fresh bare server. */
export async function idleMemory(sessions: number): Promise<IdleMemoryRun> {
  const warm = Math.max(500, Math.round(sessions / 4));
  const gw = await gatewayRun(warm, sessions);
  const bare = await bareRun(warm, sessions);
  return { sessions, warm, gatewayIdle: gw.idle, gatewayHeld: gw.held, bareIdle: bare.idle, bareHeld: bare.held };
}
