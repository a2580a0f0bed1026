// Starts a real gateway on an ephemeral loopback port for a test (the package's embedded
// gateway, the one `cwa-gateway replay` starts).
import type { GatewayConfig } from '../../src/config.js';
import { startEmbeddedGateway, type EmbeddedGateway, type EmbeddedGatewayOptions } from '../../src/testing/gateway.js';

export type TestGateway = EmbeddedGateway;

let gateways = 0;

export async function startTestGateway(overrides: Partial<GatewayConfig> = {}, opts: EmbeddedGatewayOptions = {}): Promise<TestGateway> {
  // CWA_TEST_GATEWAY_STORE=redis://… runs every test gateway that names no store of its own on Redis.
  const onRedis = process.env.CWA_TEST_GATEWAY_STORE && opts.store === undefined && overrides.store === undefined;
  if (onRedis) {
    overrides = { store: process.env.CWA_TEST_GATEWAY_STORE, redisPrefix: `cwatest:${process.pid}:gw${++gateways}:`, ...overrides };
    opts = { ...opts, store: 'redis' };
  }
  return startEmbeddedGateway(overrides, opts);
}
