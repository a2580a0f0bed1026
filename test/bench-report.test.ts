// The bench's peer report: the driver's ceiling is arithmetic on the runs' own figures.
import { expect } from 'chai';
import { driverCeilings } from '../bench/report.js';

const run = (transport: string, msgsPerSec: number, serverCpu: number, driverCpu: number) => ({
  transport: transport as 'cwa',
  msgsPerSec,
  p50: 1,
  p95: 2,
  p99: 3,
  serverCpu,
  driverCpu,
  httpPerSec: Number.NaN,
  runs: [msgsPerSec],
  allOk: true,
});

describe('bench report: driver ceiling', () => {
  it('gives CPU per message for both servers and the rate at which the driver fills a core', () => {
    // 4,000 msgs/s with the driver at 64 % of a core: 160 µs per message, ceiling 6,250 msgs/s;
    // Prosody at 2,500 msgs/s: the driver could show at most 2.5×.
    const lines = driverCeilings({ pairs: 50, warmup: 200, idle: [], runs: [run('bosh', 2500, 100, 30), run('cwa', 4000, 100, 64)] });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.equal('cwa 250 / 160 (ceiling 6,250 msgs/s, 2.5× Prosody); bosh 400 / 120');
  });

  it('leaves out a transport that did not run and the ratio when Prosody did not', () => {
    const lines = driverCeilings({ pairs: 50, warmup: 200, idle: [], runs: [run('cwa-ws', 10000, 100, 50)] });
    expect(lines).to.deep.equal(['cwa-ws 100 / 50 (ceiling 20,000 msgs/s)']);
  });
});

describe('bench: allocation profile summary', () => {
  it('adds self sizes per function, file and area over the whole tree', async () => {
    const { summariseAllocations } = await import('../bench/heapprofile.js');
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const profile = {
      head: {
        callFrame: frame('(root)', ''),
        selfSize: 0,
        children: [
          { callFrame: frame('pump', 'file:///x/dist/src/transport/ws/subscriber.js', 92), selfSize: 3_000_000, children: [
            { callFrame: frame('write', 'file:///x/node_modules/saxes/saxes.js', 442), selfSize: 1_000_000, children: [] },
          ] },
          { callFrame: frame('pump', 'file:///x/dist/src/transport/ws/subscriber.js', 92), selfSize: 1_000_000, children: [] },
        ],
      },
    };
    const s = summariseAllocations(profile, 10);
    expect(s.totalMb).to.equal(5);
    expect(s.functions[0]).to.deep.equal({ name: 'pump src/transport/ws/subscriber.js:93', mb: 4, pct: 80 });
    expect(s.files.map((f) => f.name)).to.deep.equal(['src/transport/ws/subscriber.js', 'saxes']);
    expect(s.areas.find((a) => a.name === 'request parsing and validation')?.pct).to.equal(20);
  });
});
