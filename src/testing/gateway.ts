// A gateway started in-process on an ephemeral loopback port: what `replay` runs a
// transcript against when no --target is given, and what the project's own tests use.
import type { AddressInfo } from 'node:net';
import { defaultConfig, type GatewayConfig } from '../config.js';
import { ManualClock } from '../engine/clock.js';
import type { Logger } from '../ops/logger.js';
import { createGateway, type Gateway } from '../server.js';
import { MemoryUserDataStore } from '../store/memory.js';
import type { UserDataStore } from '../store/types.js';
import { UserDirectory } from '../users/directory.js';

export interface EmbeddedGateway {
  url: string;
  gateway: Gateway;
  config: GatewayConfig;
  /** Present when started with `manualClock`: time moves only when told to. */
  clock?: ManualClock;
  close(): Promise<void>;
}

export interface EmbeddedGatewayOptions {
  manualClock?: boolean | ManualClock;
  /** The users it serves; the demo users by default. */
  users?: UserDirectory;
  /** A store object, or 'sqlite' / 'redis' to let the gateway open the one `config.store` names. */
  store?: UserDataStore | 'sqlite' | 'redis';
  logger?: Logger;
}

/** Rate limits off: replay clients share one address and send as fast as they can. */
export const UNTHROTTLED: Partial<GatewayConfig> = {
  rateAddress: 0,
  rateTicket: 0,
  rateLogonAddress: 0,
  rateLogonFailuresAddress: 0,
  logonBackoffAfter: 0,
  rateLogonFailures: 0,
};

export async function startEmbeddedGateway(overrides: Partial<GatewayConfig> = {}, opts: EmbeddedGatewayOptions = {}): Promise<EmbeddedGateway> {
  const config: GatewayConfig = { ...defaultConfig(), port: 0, host: '127.0.0.1', holdMs: 2000, ...UNTHROTTLED, ...overrides };
  // Nodes of one cluster share their manual clock.
  const clock = opts.manualClock instanceof ManualClock ? opts.manualClock : opts.manualClock ? new ManualClock() : undefined;
  // In memory unless asked for the embedded SQLite store (then under config.dataDir) or Redis (config.store).
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
