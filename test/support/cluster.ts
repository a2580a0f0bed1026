// Several gateway nodes in this process on one Redis database and key prefix, behind a
// round-robin balancer: what an operator runs on several machines, in one test.
import type { GatewayConfig } from '../../src/config.js';
import { ManualClock } from '../../src/engine/clock.js';
import { Balancer } from './balancer.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { REDIS_TEST_URL, uniquePrefix } from './redis.js';

export interface TestCluster {
  nodes: TestGateway[];
  balancer: Balancer;
  /** The balancer's URL: clients hop to the next node on every request. */
  url: string;
  clock?: ManualClock;
  close(): Promise<void>;
}

export async function startTestCluster(size: number, overrides: Partial<GatewayConfig> = {}, opts: { manualClock?: boolean } = {}): Promise<TestCluster> {
  const config = { store: REDIS_TEST_URL, redisPrefix: uniquePrefix('cluster'), ...overrides };
  const clock = opts.manualClock ? new ManualClock() : undefined;
  const nodes: TestGateway[] = [];
  for (let i = 0; i < size; i++) nodes.push(await startTestGateway(config, { store: 'redis', ...(clock ? { manualClock: clock } : {}) }));
  const balancer = new Balancer(nodes.map((n) => n.url));
  const url = await balancer.start();
  return {
    nodes,
    balancer,
    url,
    ...(clock ? { clock } : {}),
    async close() {
      await balancer.close();
      for (const n of nodes) await n.close();
    },
  };
}
