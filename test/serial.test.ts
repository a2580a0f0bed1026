// The engine's command mutex (engine/serial.ts): steps run one after another in the order
// they were handed in; `now` runs a step at once when nothing is running or waiting, and a
// step that completes synchronously gives its value without a promise.
import { expect } from 'chai';
import { Serial } from '../src/engine/serial.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Serial: steps in order, at once when free', () => {
  it('now: a synchronous step on a free queue runs at once and gives its value; a busy queue gives a promise, in order', async () => {
    const serial = new Serial();
    const seen: string[] = [];
    expect(serial.now(() => (seen.push('a'), 1))).to.equal(1);
    let release!: () => void;
    const slow = serial.now(() => new Promise<string>((resolve) => (release = () => resolve('slow'))).then((v) => (seen.push('b'), v)));
    expect(slow).to.be.instanceOf(Promise);
    const queued = serial.now(() => (seen.push('c'), 3));
    expect(queued, 'the queue is busy: the step waits its turn').to.be.instanceOf(Promise);
    await tick();
    expect(seen).to.deep.equal(['a']);
    release();
    expect(await slow).to.equal('slow');
    expect(await queued).to.equal(3);
    expect(seen).to.deep.equal(['a', 'b', 'c']);
    await tick();
    expect(serial.now(() => 4), 'free again').to.equal(4);
  });

  it('a step handed in while a step runs at once waits for it, also when that step turns out to wait', async () => {
    const serial = new Serial();
    const seen: string[] = [];
    let release!: () => void;
    let inner!: Promise<unknown>;
    let nested!: unknown;
    const outer = serial.now(() => {
      seen.push('outer starts');
      inner = serial.run(() => seen.push('run inside'));
      nested = serial.now(() => seen.push('now inside'));
      return new Promise<void>((resolve) => (release = resolve)).then(() => seen.push('outer ends'));
    });
    expect(nested, 'a step handed in by a running step is queued').to.be.instanceOf(Promise);
    await tick();
    await tick();
    expect(seen).to.deep.equal(['outer starts']);
    release();
    await outer;
    await inner;
    await nested;
    expect(seen).to.deep.equal(['outer starts', 'outer ends', 'run inside', 'now inside']);
    // And a synchronous outer step: what it handed in runs after it.
    const order: string[] = [];
    const sync = serial.now(() => {
      void serial.run(() => order.push('after'));
      order.push('outer');
      return 'done';
    });
    expect(sync).to.equal('done');
    await tick();
    expect(order).to.deep.equal(['outer', 'after']);
  });

  it('a step that throws at once gives a rejected promise, and the queue goes on', async () => {
    const serial = new Serial();
    const failed = serial.now(() => {
      throw new Error('boom');
    });
    expect(failed).to.be.instanceOf(Promise);
    let error: unknown;
    await (failed as Promise<unknown>).catch((err: unknown) => (error = err));
    expect(String(error)).to.contain('boom');
    expect(await serial.run(() => 'next')).to.equal('next');
    await tick();
    expect(serial.now(() => 'free')).to.equal('free');
  });
});
