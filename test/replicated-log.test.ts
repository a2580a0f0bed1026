// The event logs as a cluster node's transports see them: reads are local, and what a
// read acknowledges becomes a command (here captured instead of sent to Redis).
import { expect } from 'chai';
import { MemoryEventLog, type EventRecord } from '../src/delivery/event-log.js';
import { ReplicatedEventLog } from '../src/cluster/replicated-log.js';

const LIMITS = { maxEvents: 100, maxBytes: 100_000 };
const rec = (n: number): EventRecord => ({ head: `<e${n} eid="`, tail: '"/>' });
const turn = () => new Promise((r) => setImmediate(r));

describe('ReplicatedEventLog', () => {
  let local: MemoryEventLog;
  let proposed: [number, number][][];
  let log: ReplicatedEventLog;
  beforeEach(async () => {
    local = new MemoryEventLog(LIMITS, rec(0));
    proposed = [];
    log = new ReplicatedEventLog(
      () => local,
      async (acks) => {
        proposed.push(acks);
        for (const [sid, ackId] of acks) await local.read(sid, ackId, 0); // "applied"
      },
    );
    await local.open(1);
    await local.open(2);
  });

  it('reads without acknowledging itself, and proposes the acknowledgements of one turn in one command', async () => {
    await local.append(1, [rec(1), rec(2), rec(3)]);
    await local.append(2, [rec(1)]);
    const r = await log.read(1, 2, 10);
    expect(r.status === 'ok' && r.events.map((e) => e.eid)).to.deep.equal([3]);
    expect(local.position(1)!.acked, 'not before the command applies').to.equal(0);
    await log.read(2, 1, 10);
    await turn();
    expect(proposed).to.deep.equal([[[1, 2], [2, 1]]]);
    expect(local.position(1)!.acked).to.equal(2);
  });

  it('acknowledges a cursor ahead of the head as far as the head it holds now, not as far as the log has grown when the command applies', async () => {
    await local.append(1, [rec(1), rec(2)]);
    await log.read(1, 10, 10);
    // An event queued before the acknowledgement is applied: the client never saw it.
    await local.append(1, [rec(3)]);
    await turn();
    expect(proposed).to.deep.equal([[[1, 2]]]);
    const after = await log.read(1, 2, 10);
    expect(after.status === 'ok' && after.events.map((e) => e.eid)).to.deep.equal([3]);
  });

  it('proposes nothing for what is acknowledged already or being acknowledged', async () => {
    await local.append(1, [rec(1), rec(2)]);
    await log.read(1, 2, 10);
    await log.read(1, 2, 10);
    await log.read(1, 1, 10);
    await turn();
    expect(proposed).to.deep.equal([[[1, 2]]]);
    await log.read(1, 2, 10);
    await turn();
    expect(proposed).to.have.length(1);
  });

  it('answers a cursor behind an acknowledgement still being applied as stale, as it will be once applied', async () => {
    await local.append(1, [rec(1), rec(2), rec(3)]);
    await log.read(1, 3, 10);
    const behind = await log.read(1, 2, 10);
    expect(behind).to.deep.include({ status: 'stale', acked: 3 });
    await turn();
    expect(await log.read(1, 2, 10)).to.deep.include({ status: 'stale', acked: 3 });
  });

  it('refuses to append, close or remove: only applied commands change the logs', async () => {
    for (const call of [() => log.append(1, [rec(1)]), () => log.close(1), () => log.remove(1), () => log.open(3)]) {
      let failed = false;
      await call().catch(() => (failed = true));
      expect(failed).to.equal(true);
    }
  });
});
