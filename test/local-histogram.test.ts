// LocalHistogram (ops/local-histogram.ts) against prom-client's Histogram: the same
// observations print the same exposition text, bucket by bucket, sum and count included.
import { expect } from 'chai';
import { Histogram, Registry } from 'prom-client';
import { LocalHistogram } from '../src/ops/local-histogram.js';

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

describe('LocalHistogram: the command-duration histogram kept in plain numbers', () => {
  it('prints exactly what prom-client\'s Histogram prints for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const local = new LocalHistogram('x_seconds', 'Time to do x', 'transport', BOUNDS, [ours]);
    const reference = new Histogram({ name: 'x_seconds', help: 'Time to do x', labelNames: ['transport'], buckets: BOUNDS, registers: [theirs] });
    // Values on every bound, between, below the first, above the last; two label values.
    const values = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.025, 0.3, 1, 2.5, 3, 100, ...Array.from({ length: 500 }, (_, i) => (i * 7919 % 1000) / 997)];
    for (const [i, v] of values.entries()) {
      const transport = i % 3 === 0 ? 'websocket' : 'http';
      local.labels({ transport }).observe(v);
      reference.labels({ transport }).observe(v);
    }
    const text = await ours.metrics();
    expect(text).to.equal(await theirs.metrics());
    expect(text).to.match(/^x_seconds_count\{transport="http"\} 341$/m);
    expect(text).to.match(/^x_seconds_bucket\{le="\+Inf",transport="websocket"\} 171$/m);
  });

  it('reads as prom-client metrics do (get), and prints nothing before the first observation', async () => {
    const registry = new Registry();
    const local = new LocalHistogram('y_seconds', 'Time to do y', 'transport', [0.1, 1], [registry]);
    expect(await registry.metrics()).to.equal('# HELP y_seconds Time to do y\n# TYPE y_seconds histogram\n');
    local.labels({ transport: 'http' }).observe(0.5);
    const got = (await registry.getSingleMetric('y_seconds')!.get()) as unknown as { values: { metricName: string; labels: Record<string, string | number>; value: number }[] };
    expect(got.values.find((v) => v.metricName === 'y_seconds_bucket' && v.labels.le === 0.1)!.value).to.equal(0);
    expect(got.values.find((v) => v.metricName === 'y_seconds_bucket' && v.labels.le === 1)!.value).to.equal(1);
    expect(got.values.find((v) => v.metricName === 'y_seconds_sum')!.value).to.equal(0.5);
  });
});
