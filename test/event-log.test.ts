// The EventLog contract, written against the interface so every implementation
// (in-memory now, Redis later) runs the same cases.
import { expect } from 'chai';
import { MemoryEventLog, type EventLog, type EventRecord } from '../src/delivery/event-log.js';

const rec = (name: string): EventRecord => ({ head: `<${name} eid="`, tail: '"/>' });
const TERMINAL = rec('sessionTerminated');

export function eventLogContract(name: string, make: (limits: { maxEvents: number; maxBytes: number }) => EventLog): void {
  describe(`EventLog contract: ${name}`, () => {
    it('numbers events from 1 per log, renders head+eid+tail, and reads after the cursor', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.open(2);
      expect(await log.append(1, [rec('a'), rec('b')])).to.deep.equal({ ok: true, lastEid: 2 });
      expect(await log.append(2, [rec('x')])).to.deep.equal({ ok: true, lastEid: 1 });
      const r = await log.read(1, 0, 10);
      expect(r).to.deep.equal({ status: 'ok', events: [{ eid: 1, xml: '<a eid="1"/>', lazy: false }, { eid: 2, xml: '<b eid="2"/>', lazy: false }], head: 2, closed: false });
      expect(await log.read(1, 1, 10)).to.have.property('events').that.deep.equals([{ eid: 2, xml: '<b eid="2"/>', lazy: false }]);
    });

    it('keeps whether an event is a confirmation that may wait (lazy), as appended', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, [rec('a'), { ...rec('b'), lazy: true }]);
      const r = await log.read(1, 0, 10);
      expect(r).to.have.property('events').that.deep.equals([{ eid: 1, xml: '<a eid="1"/>', lazy: false }, { eid: 2, xml: '<b eid="2"/>', lazy: true }]);
    });

    it('keeps unacknowledged events for re-reads, drops acknowledged ones, and calls an older cursor stale', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, [rec('a'), rec('b'), rec('c')]);
      const first = await log.read(1, 0, 10);
      expect(await log.read(1, 0, 10)).to.deep.equal(first);
      await log.read(1, 2, 10);
      expect(await log.read(1, 1, 10)).to.deep.equal({ status: 'stale', acked: 2, head: 3 });
      expect(await log.read(1, 2, 10)).to.have.property('events').with.length(1);
    });

    it('limits one read to `max` events, oldest first', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, Array.from({ length: 7 }, () => rec('e')));
      const r = await log.read(1, 0, 3);
      expect(r.status === 'ok' && r.events.map((e) => e.eid)).to.deep.equal([1, 2, 3]);
      // max 0 only acknowledges (a WebSocket attach does that)
      expect(await log.read(1, 2, 0)).to.deep.equal({ status: 'ok', events: [], head: 7, closed: false });
      expect(await log.peek(1, 2, 0)).to.deep.equal({ status: 'ok', events: [], head: 7, closed: false });
    });

    it('clamps an acknowledgement beyond the head and reports the head', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, [rec('a')]);
      expect(await log.read(1, 50, 10)).to.deep.equal({ status: 'ok', events: [], head: 1, closed: false });
      await log.append(1, [rec('b')]);
      expect(await log.read(1, 1, 10)).to.have.property('events').with.length(1);
    });

    it('acknowledges at once where it can as read(sid, ackId, 0) does: drops, clamps to the head, refuses an older cursor', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      if (!log.acknowledge) return expect(log.acknowledge, 'only logs that can answer at once offer it').to.equal(undefined);
      await log.open(1);
      await log.append(1, [rec('a'), rec('b'), rec('c')]);
      expect(log.acknowledge(1, 2)).to.equal(3);
      expect(await log.backlog?.(1)).to.deep.equal({ events: 1, bytes: '<c eid="3"/>'.length });
      expect(log.acknowledge(1, 1), 'older than what it acknowledged').to.equal(undefined);
      expect(log.acknowledge(1, 50), 'beyond the head: the head').to.equal(3);
      expect(log.position?.(1)).to.deep.equal({ head: 3, acked: 3 });
      expect(log.acknowledge(2, 1), 'an unknown log').to.equal(undefined);
    });

    it('overflows on count: keeps what it had, appends the terminal event, refuses more', async () => {
      const log = make({ maxEvents: 3, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, [rec('a'), rec('b')]);
      expect(await log.append(1, [rec('c'), rec('d')])).to.deep.equal({ ok: false, reason: 'overflow' });
      expect(await log.append(1, [rec('e')])).to.deep.equal({ ok: false, reason: 'closed' });
      const r = await log.read(1, 0, 10);
      expect(r.status === 'ok' && r.events.map((e) => e.xml)).to.deep.equal(['<a eid="1"/>', '<b eid="2"/>', '<sessionTerminated eid="3"/>']);
      expect(r.status === 'ok' && r.closed).to.equal(true);
    });

    it('overflows on bytes, and acknowledging makes room again', async () => {
      const log = make({ maxEvents: 100, maxBytes: 40 });
      await log.open(1);
      expect((await log.append(1, [rec('aaaaaaaa'), rec('bbbbbbbb')])).ok).to.equal(true); // 2 x 17 bytes
      await log.read(1, 2, 10);
      expect((await log.append(1, [rec('cccccccc'), rec('dddddddd')])).ok).to.equal(true);
      expect(await log.append(1, [rec('eeeeeeee')])).to.deep.equal({ ok: false, reason: 'overflow' });
    });

    it('wakes a waiter on append, on close and on remove; times out otherwise', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      const woken = log.wait(1, 0, 5_000);
      await log.append(1, [rec('a')]);
      expect(await woken).to.equal(true);
      expect(await log.wait(1, 0, 5_000)).to.equal(true); // already there
      expect(await log.wait(1, 1, 20)).to.equal(false);
      const onClose = log.wait(1, 1, 5_000);
      await log.close(1, TERMINAL);
      expect(await onClose).to.equal(true);
      await log.open(2);
      const onRemove = log.wait(2, 0, 5_000);
      await log.remove(2);
      expect(await onRemove).to.equal(true);
      expect(await log.read(2, 0, 10)).to.deep.equal({ status: 'missing' });
    });

    it('peeks without acknowledging, and calls a cursor older than the acknowledged position stale', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      await log.append(1, [rec('a'), rec('b'), rec('c')]);
      const p = await log.peek(1, 1, 10);
      expect(p.status === 'ok' && p.events.map((e) => e.eid)).to.deep.equal([2, 3]);
      expect((await log.peek(1, 0, 2)).status === 'ok').to.equal(true);
      const again = await log.read(1, 0, 10); // nothing was acknowledged by peek
      expect(again.status === 'ok' && again.events.length).to.equal(3);
      await log.read(1, 2, 10);
      expect(await log.peek(1, 1, 10)).to.deep.equal({ status: 'stale', acked: 2, head: 3 });
      expect(await log.peek(1, 9, 10)).to.deep.equal({ status: 'ok', events: [], head: 3, closed: false });
      expect(await log.peek(2, 0, 10)).to.deep.equal({ status: 'missing' });
    });

    it('calls a watcher once on append, on close and on remove; registers none when the log moved already; unwatch takes one back', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      const calls: string[] = [];
      const watcher = (name: string) => ({ logChanged: () => calls.push(name) });
      await log.open(1);
      const a = watcher('a');
      const b = watcher('b');
      expect(log.watch(1, 0, a)).to.equal(true);
      expect(log.watch(1, 0, b)).to.equal(true);
      await log.append(1, [rec('x')]);
      await log.append(1, [rec('y')]);
      expect(calls).to.deep.equal(['a', 'b']); // each once, though two appends came
      expect(log.watch(1, 1, watcher('late'))).to.equal(false); // an event after 1 is there
      expect(log.watch(9, 0, watcher('unknown'))).to.equal(false);
      const gone = watcher('taken back');
      expect(log.watch(1, 2, gone)).to.equal(true);
      log.unwatch(1, gone);
      log.unwatch(1, gone); // twice, or never registered: nothing
      expect(log.watch(1, 2, watcher('closed'))).to.equal(true);
      await log.close(1, TERMINAL);
      expect(log.watch(1, 3, watcher('after close'))).to.equal(false);
      await log.open(2);
      expect(log.watch(2, 0, watcher('removed'))).to.equal(true);
      await log.remove(2);
      await log.open(3);
      await log.append(3, [rec('z')]); // no watcher on 3: nothing to call
      expect(calls).to.deep.equal(['a', 'b', 'closed', 'removed']);
    });

    it('stops waiting when the signal aborts', async () => {
      const log = make({ maxEvents: 100, maxBytes: 100_000 });
      await log.open(1);
      const ac = new AbortController();
      const w = log.wait(1, 0, 5_000, ac.signal);
      ac.abort();
      expect(await w).to.equal(false);
    });
  });
}

eventLogContract('memory', (limits) => new MemoryEventLog(limits, TERMINAL));
