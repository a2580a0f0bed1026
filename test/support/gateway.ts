// Starts a real gateway on an ephemeral loopback port for a test.
import type { AddressInfo } from 'node:net';
import { defaultConfig, type GatewayConfig } from '../../src/config.js';
import { ManualClock } from '../../src/engine/clock.js';
import type { Logger } from '../../src/ops/logger.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { MemoryUserDataStore } from '../../src/store/memory.js';
import type { UserDataStore } from '../../src/store/types.js';
import { UserDirectory } from '../../src/users/directory.js';

export interface TestGateway {
  url: string;
  gateway: Gateway;
  config: GatewayConfig;
  /** Present when started with `manualClock`: time moves only when a test says so. */
  clock?: ManualClock;
  close(): Promise<void>;
}

let gateways = 0;

export async function startTestGateway(
  overrides: Partial<GatewayConfig> = {},
  opts: { manualClock?: boolean | ManualClock; users?: UserDirectory; store?: UserDataStore | 'sqlite' | 'redis'; logger?: Logger } = {},
): Promise<TestGateway> {
  // Rate limits off unless a test sets them: test clients share one address and send as fast as they can.
  const unthrottled = { rateAddress: 0, rateTicket: 0, rateLogonAddress: 0, rateLogonFailuresAddress: 0, logonBackoffAfter: 0, rateLogonFailures: 0 };
  // CWA_TEST_GATEWAY_STORE=redis://… runs every test gateway that names no store of its own on Redis.
  const onRedis = process.env.CWA_TEST_GATEWAY_STORE && opts.store === undefined && overrides.store === undefined;
  if (onRedis) {
    overrides = { store: process.env.CWA_TEST_GATEWAY_STORE, redisPrefix: `cwatest:${process.pid}:gw${++gateways}:`, ...overrides };
    opts = { ...opts, store: 'redis' };
  }
  const config: GatewayConfig = { ...defaultConfig(), port: 0, host: '127.0.0.1', holdMs: 2000, ...unthrottled, ...overrides };
  // Nodes of one test cluster share their manual clock.
  const clock = opts.manualClock instanceof ManualClock ? opts.manualClock : opts.manualClock ? new ManualClock() : undefined;
  // In memory unless the test asks for the embedded SQLite store (then under overrides.dataDir)
  // or for Redis (then overrides.store is the redis:// URL).
  const store = opts.store === 'sqlite' || opts.store === 'redis' ? undefined : (opts.store ?? new MemoryUserDataStore());
  const gateway = createGateway(config, { users: opts.users ?? UserDirectory.demo(), clock, store, logger: opts.logger });
  const ready = await gateway.ready(3000).catch((err: unknown) => {
    gateway.dispose();
    throw err;
  });
  if (!ready) {
    gateway.dispose();
    throw new Error(`Redis at ${config.store} did not answer within 3 s`);
  }
  await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
  const { port } = gateway.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    config,
    clock,
    async close() {
      // Upgraded (WebSocket) connections are not the HTTP server's to close: drop them first.
      gateway.websocket.close(0);
      gateway.server.closeAllConnections();
      await new Promise<void>((resolve) => gateway.server.close(() => resolve()));
      gateway.dispose();
    },
  };
}
