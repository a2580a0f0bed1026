// The server side of the benchmark, run as a child process (forked with an IPC channel)
// so that it has its own event loop and heap:
//   node server-entry.js gateway <users> [gateway flags...]   the gateway, with <users> bench users
//   node server-entry.js bare                                 the bare Node http baseline
// It listens on a free loopback port, sends {type:'ready', port}, then answers
//   {type:'mem'}   with process.memoryUsage() taken after full garbage collections (needs --expose-gc)
//   {type:'cpu'}   with process.cpuUsage()
//   {type:'stats'} with the gateway's live session count.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { createGateway, type Gateway } from '../src/server.js';
import { UserDirectory } from '../src/users/directory.js';
import { createBaselineServer } from './baseline.js';
import { benchUsers } from './users.js';

export type ParentMessage = { type: 'mem' } | { type: 'cpu' } | { type: 'stats' };
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'mem'; heapUsed: number; rss: number; external: number; arrayBuffers: number }
  | { type: 'cpu'; user: number; system: number }
  | { type: 'stats'; sessions: number };

/** Idle keep-alive connections must outlive the memory workload (Node's default is 5 s). */
const KEEP_ALIVE_MS = 120_000;

/**
 * The benchmark is a few clients on one address sending as fast as they can: rate limits that
 * never bite (the token buckets still run, so their cost is measured); logon limits off, since
 * every bench user signs in from the same address. Flags given to the child come after and win.
 */
const UNTHROTTLED = [
  '--rate-address', '1000000', '--rate-address-burst', '1000000',
  '--rate-ticket', '1000000', '--rate-ticket-burst', '1000000',
  '--rate-logon-address', '0', '--rate-logon-failures', '0',
  // A bench socket sends a command frame per message, thousands a second: far past the default
  // per-socket frame budget (200/s), which is sized for people, not for a load generator.
  '--ws-frame-rate', '1000000', '--ws-frame-burst', '1000000',
];

async function settledMemory(): Promise<ChildMessage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { type: 'mem', heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function main(): Promise<void> {
  const [kind, users, ...flags] = process.argv.slice(2);
  let server: http.Server;
  let gateway: Gateway | undefined;
  if (kind === 'gateway') {
    const config = await loadConfig(['--port', '0', '--host', '127.0.0.1', ...UNTHROTTLED, ...flags], {});
    gateway = createGateway(config, { users: UserDirectory.fromRecords(benchUsers(Number(users))) });
    server = gateway.server;
    if (!(await gateway.ready(5000))) throw new Error('the gateway\'s store does not answer');
  } else if (kind === 'bare') {
    server = createBaselineServer();
  } else {
    throw new Error(`usage: server-entry.js gateway <users> [flags] | bare (got ${kind})`);
  }
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  process.on('message', (msg: ParentMessage) => {
    const reply = (m: ChildMessage) => process.send?.(m);
    if (msg.type === 'mem') void settledMemory().then(reply);
    else if (msg.type === 'cpu') reply({ type: 'cpu', ...process.cpuUsage() });
    else if (msg.type === 'stats') reply({ type: 'stats', sessions: gateway?.engine.liveSessions() ?? 0 });
  });
  // The parent going away (or closing the channel) ends the child.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies ChildMessage);
}

main().catch((err) => {
  console.error('bench server:', err);
  process.exit(1);
});
