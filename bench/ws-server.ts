// The server side of bench/ws.ts, in its own process so its memory can be measured
// alone: either the gateway (event push through the event log and the WebSocket data
// channel) or a bare `ws` server sending the same bytes. Driven over IPC.
//   node dist/bench/ws-server.js gateway <users> | bare
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/server.js';
import { MemoryUserDataStore } from '../src/store/memory.js';
import { UserDirectory } from '../src/users/directory.js';
import { benchUsers } from './users.js';
import { BARE_FRAME, EVENT } from './ws-event.js';

export type ServerRequest =
  | { cmd: 'memory' }
  | { cmd: 'exit' }
  /**
   * Queue `perSubscriber` events to every session (gateway) or send as many frames to every
   * socket (bare), yielding to I/O after every `burst` events per subscriber.
   */
  | { cmd: 'push'; perSubscriber: number; burst: number; sids?: number[] };

export type ServerReply =
  | { cmd: 'ready'; port: number }
  | { cmd: 'memory'; rss: number; heapUsed: number; external: number }
  | { cmd: 'pushed' };

const tick = () => new Promise<void>((r) => setImmediate(r));

const send = (m: ServerReply) => process.send!(m);

function memory(): ServerReply {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { cmd: 'memory', rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function gateway(users: number): Promise<void> {
  const config = await loadConfig([
    '--port', '0', '--host', '127.0.0.1',
    // The bench pushes bursts: the bounds must not be what it measures.
    '--log-max-events', '1000000', '--log-max-bytes', String(1024 * 1024 * 1024),
    '--ws-max-buffered-bytes', String(1024 * 1024 * 1024),
    '--session-timeout-s', '86400',
    // Every subscriber is on this machine's one address: rate limits that never bite.
    '--rate-address', '1000000', '--rate-address-burst', '1000000',
    '--rate-ticket', '1000000', '--rate-ticket-burst', '1000000',
    '--rate-logon-address', '0', '--rate-logon-failures', '0',
  ], {});
  const gw = createGateway(config, { users: UserDirectory.fromRecords(benchUsers(users)), store: new MemoryUserDataStore() });
  await new Promise<void>((r) => gw.server.listen(0, '127.0.0.1', r));
  const { engine } = gw;
  process.on('message', async (m: ServerRequest) => {
    if (m.cmd === 'memory') return send(memory());
    if (m.cmd !== 'push') return;
    const sids = m.sids ?? [];
    for (let i = 0; i < m.perSubscriber; i++) {
      await engine.exclusive(() => engine.deliver(sids.map((sid) => ({ sid, event: EVENT }))));
      if (i % m.burst === m.burst - 1) await tick();
    }
    send({ cmd: 'pushed' });
  });
  send({ cmd: 'ready', port: (gw.server.address() as AddressInfo).port });
}

async function bare(): Promise<void> {
  const server = http.createServer((_req, res) => res.end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('message', () => undefined); // acks, like the gateway's clients send
    ws.on('close', () => sockets.delete(ws));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', async (m: ServerRequest) => {
    if (m.cmd === 'memory') return send(memory());
    if (m.cmd !== 'push') return;
    for (let i = 0; i < m.perSubscriber; i++) {
      for (const ws of sockets) ws.send(BARE_FRAME);
      if (i % m.burst === m.burst - 1) await tick();
    }
    send({ cmd: 'pushed' });
  });
  send({ cmd: 'ready', port: (server.address() as AddressInfo).port });
}

// A clean exit (rather than a kill) lets --cpu-prof write its profile.
process.on('message', (m: ServerRequest) => {
  if (m.cmd === 'exit') process.exit(0);
});

const kind = process.argv[2];
if (kind === 'gateway') await gateway(Number(process.argv[3] ?? 1));
else if (kind === 'bare') await bare();
else {
  console.error('usage: ws-server.js gateway <users> | bare');
  process.exit(2);
}
