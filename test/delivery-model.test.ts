// The delivery contract, tested against a model with fast-check: random sequences of
// queued events, polls with current/stale/future cursors, lost answers, held polls
// released by events or by a WebSocket, WebSocket attaches (current/stale/future),
// frames processed or lost, acks, drops from either side, duplicate command batches
// over either door, and log overflow. Invariant: the client processes every event the
// log accepted exactly once and in order (skipping only what it acknowledged itself),
// the gateway never drops an event the client did not acknowledge, and every refusal
// is the documented explicit one (409 stale cursor, 404 ended session,
// sessionTerminated as the last event).
//
// CWA_PROPERTY_RUNS raises the number of runs (default 150); CWA_PROPERTY_SEED replays one.
import { expect } from 'chai';
import fc from 'fast-check';
import { CloseCode } from '../src/transport/ws/close-codes.js';
import { LegacyClient } from './support/client.js';
import { DeliveryDriver, LogRecorder } from './support/delivery-driver.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

type Cmd = fc.AsyncCommand<DeliveryDriver, DeliveryDriver>;
type CursorKind = 'current' | 'stale' | 'future';

const RUNS = Number(process.env.CWA_PROPERTY_RUNS ?? 150);
const LOG_MAX_EVENTS = 40;

function ackIdFor(d: DeliveryDriver, kind: CursorKind, k: number): number {
  if (kind === 'current') return d.cursor;
  if (kind === 'stale') return Math.max(0, d.cursor - k);
  return d.head + k;
}

/** What a poll or attach with `ackId` must get, from the log's state just before it. */
function expectedRefusal(d: DeliveryDriver, ackId: number): number | undefined {
  if (ackId < d.acked) return 409;
  if (d.closed && ackId >= d.head) return 404;
  return undefined;
}

/** A socket the gateway hands over to a newer attachment closes with 4001 (or 4004 when the session ended first). */
async function expectSuperseded(d: DeliveryDriver, socket: { closed(): Promise<number> }): Promise<void> {
  const code = await socket.closed();
  expect(code, 'the older attachment is closed').to.be.oneOf(d.closed ? [CloseCode.Superseded, CloseCode.SessionEnded] : [CloseCode.Superseded]);
}

async function queue(d: DeliveryDriver, n: number): Promise<void> {
  const engine = d.gw.gateway.engine;
  const before = d.head;
  const wasOpen = !d.closed;
  await engine.exclusive(() =>
    engine.deliver(Array.from({ length: n }, (_, i) => ({ sid: d.sid, event: { kind: 'requestSucceeded' as const, rid: `q${before + i}` } }))),
  );
  if (wasOpen && !d.closed) expect(d.head).to.equal(before + n); // all or nothing
  if (wasOpen && d.closed) {
    expect(d.head, 'overflow keeps nothing of the append but the terminal event').to.equal(before + 1);
    expect(d.recorder.xml(d.sid, d.head)).to.match(/^<sessionTerminated eid="\d+" reason="eventLogOverflow">/);
  }
}

class QueueEvents implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(d: DeliveryDriver) {
    await queue(d, this.n);
    await d.settle();
  }
  toString = () => `queue(${this.n})`;
}

class Poll implements Cmd {
  constructor(readonly kind: CursorKind, readonly k: number, readonly lose: boolean) {}
  /** A poll with nothing after its cursor would be held: that is HeldPoll's business. */
  check(d: Readonly<DeliveryDriver>) {
    const ackId = ackIdFor(d as DeliveryDriver, this.kind, this.k);
    return ackId !== d.head || d.closed || ackId < d.acked;
  }
  async run(d: DeliveryDriver) {
    const ackId = ackIdFor(d, this.kind, this.k);
    const refusal = expectedRefusal(d, ackId);
    const head = d.head;
    const hadSocket = d.socket?.open;
    if (this.kind === 'future') d.giveUpTo(head);
    d.noteAck(ackId);
    const { reply, events } = await d.http.poll(ackId);
    if (refusal) {
      expect(reply.status, reply.body).to.equal(refusal);
    } else {
      expect(reply.status, reply.body).to.equal(200);
      const eids = events.map((e) => Number(e.attrs.eid));
      const from = Math.min(ackId, head) + 1;
      expect(eids).to.deep.equal(Array.from({ length: Math.min(200, Math.max(0, head - from + 1)) }, (_, i) => from + i));
      expect(Number(reply.root.attrs.ackId)).to.equal(eids.length ? eids[eids.length - 1] : head);
      if (!this.lose) d.take(events, reply.body);
    }
    // A poll acknowledges even when it is answered 404 (it read the closed log); a stale one does not.
    if (refusal !== 409) await d.ackSettled(Math.min(ackId, head));
    if (hadSocket) await expectSuperseded(d, d.socket!);
    d.checkAcked();
  }
  toString = () => `poll(${this.kind}${this.kind === 'current' ? '' : ` ${this.k}`}${this.lose ? ', lost' : ''})`;
}

class HeldPoll implements Cmd {
  constructor(readonly then: 'queue' | 'attach', readonly n: number, readonly lose: boolean) {}
  check(d: Readonly<DeliveryDriver>) {
    return d.cursor === d.head && !d.closed && d.cursor >= d.acked;
  }
  async run(d: DeliveryDriver) {
    const ackId = d.cursor;
    const hadSocket = d.socket?.open ? d.socket : undefined;
    d.noteAck(ackId);
    const held = d.http.poll(ackId);
    // Wait until the gateway holds it (it is then the session's attachment).
    const deadline = Date.now() + 2000;
    while (d.gw.gateway.context.attachments.current(d.sid)?.kind !== 'poll') {
      if (Date.now() > deadline) throw new Error('the poll was not held');
      await new Promise((r) => setTimeout(r, 1));
    }
    if (hadSocket) await expectSuperseded(d, hadSocket);
    await d.ackSettled(ackId);
    if (this.then === 'queue') {
      await queue(d, this.n);
      const { reply, events } = await held;
      expect(reply.status, reply.body).to.equal(200);
      expect(events.map((e) => Number(e.attrs.eid))[0], 'the held poll wakes with the new events').to.equal(ackId + 1);
      if (!this.lose) d.take(events, reply.body);
    } else {
      const started = Date.now();
      const { socket } = await d.attach(ackId);
      const { reply, events } = await held;
      expect(Date.now() - started, 'released at once').to.be.below(1500);
      expect(events).to.have.length(0);
      expect(Number(reply.root.attrs.ackId), 'a released poll keeps its own AckId').to.equal(ackId);
      d.socket = socket;
      await d.settle();
    }
    d.checkAcked();
  }
  toString = () => `heldPoll(then ${this.then === 'queue' ? `queue(${this.n})` : 'attach'}${this.lose ? ', lost' : ''})`;
}

class Attach implements Cmd {
  constructor(readonly kind: CursorKind, readonly k: number) {}
  check = () => true;
  async run(d: DeliveryDriver) {
    const ackId = ackIdFor(d, this.kind, this.k);
    const refusal = expectedRefusal(d, ackId);
    const previous = d.socket?.open ? d.socket : undefined;
    if (this.kind === 'future') d.giveUpTo(d.head);
    d.noteAck(ackId);
    const { status, socket } = await d.attach(ackId);
    expect(status).to.equal(refusal ?? 101);
    if (refusal !== 409) await d.ackSettled(Math.min(ackId, d.head));
    if (socket) {
      if (previous) await expectSuperseded(d, previous);
      d.socket = socket; // frames the old socket's client had not processed are lost with it
      await d.settle();
    }
    d.checkAcked();
  }
  toString = () => `attach(${this.kind}${this.kind === 'current' ? '' : ` ${this.k}`})`;
}

/** The client processes frames its socket received (some or all); unprocessed ones are lost if the socket goes. */
class ProcessFrames implements Cmd {
  constructor(readonly all: boolean, readonly ack: boolean) {}
  check = (d: Readonly<DeliveryDriver>) => !!d.socket && d.socket.consumed < d.socket.frames.length;
  async run(d: DeliveryDriver) {
    const s = d.socket!;
    const upTo = this.all ? s.frames.length : s.consumed + Math.ceil((s.frames.length - s.consumed) / 2);
    for (; s.consumed < upTo; s.consumed++) {
      const f = s.frames[s.consumed]!;
      if (f.root.name === 'cwaEvents') {
        d.take(f.root.children, f.text);
        // An empty first frame at a head past the cursor: only after the client acknowledged that far itself.
        if (f.root.children.length === 0) expect(Number(f.root.attrs.ackId)).to.be.at.most(Math.max(d.cursor, d.clientAcked));
      }
    }
    if (this.ack && s.open) {
      d.noteAck(d.cursor);
      s.ws.send(`<ack ackId="${d.cursor}"/>`);
      // The ack is applied in the background; wait for it so the next step sees a settled log.
      const deadline = Date.now() + 2000;
      while ((d.recorder.acked(d.sid) ?? d.cursor) < Math.min(d.cursor, d.head) && s.open) {
        if (Date.now() > deadline) throw new Error('the ack frame was not applied');
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    d.checkAcked();
  }
  toString = () => `process(${this.all ? 'all' : 'half'}${this.ack ? ', ack' : ''})`;
}

class DropSocket implements Cmd {
  constructor(readonly how: 'client-close' | 'client-terminate' | 'gateway-kill') {}
  check = (d: Readonly<DeliveryDriver>) => !!d.socket?.open;
  async run(d: DeliveryDriver) {
    const s = d.socket!;
    if (this.how === 'client-close') s.ws.close(1000);
    else if (this.how === 'client-terminate') s.ws.terminate();
    else d.gw.gateway.websocket.list().find((sub) => sub.sid === d.sid)?.kill();
    await s.closed();
    s.consumed = s.frames.length; // whatever the client had not processed is lost
    d.socket = undefined;
    // The gateway notices (for a terminate, when the TCP close arrives) and lets the session go.
    const deadline = Date.now() + 2000;
    while (d.gw.gateway.context.attachments.current(d.sid)?.kind === 'websocket') {
      if (Date.now() > deadline) throw new Error('the gateway kept a dropped socket attached');
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  toString = () => `drop(${this.how})`;
}

/** A command batch over HTTP or the socket; `dup` repeats the previous one byte for byte (a retry after a lost answer). */
class Command implements Cmd {
  constructor(readonly via: 'http' | 'ws', readonly dup: boolean, readonly lose: boolean) {}
  check = (d: Readonly<DeliveryDriver>) => (!this.dup || !!d.lastBatch) && (this.via === 'http' || !!d.socket?.open);
  async run(d: DeliveryDriver) {
    const text = this.dup ? d.lastBatch!.text : d.newBatch();
    const before = d.head;
    let response: string | undefined;
    if (this.via === 'http') {
      response = await d.postBatch(text);
    } else {
      const s = d.socket!;
      const seen = s.responses;
      s.ws.send(text);
      await s.until(() => s.responses > seen || !s.open, 'the answer frame');
      response = s.responses > seen ? s.frames.filter((f) => f.root.name === 'cwaResponses')[seen]!.text : undefined;
    }
    if (this.dup) {
      expect(d.head, 'a repeated batch runs once').to.equal(before);
      if (response !== undefined && d.lastBatch!.response !== undefined) expect(response).to.equal(d.lastBatch!.response);
    } else {
      d.lastBatch = { text, response: this.lose ? undefined : response, headAfter: d.head };
    }
    if (this.dup && d.lastBatch!.response === undefined && !this.lose) d.lastBatch!.response = response;
    await d.settle();
  }
  toString = () => `command(${this.via}${this.dup ? ', repeated' : ''}${this.lose ? ', answer lost' : ''})`;
}

const cursorKind = fc.constantFrom<CursorKind>('current', 'current', 'stale', 'future');
const COMMANDS = [
  fc.oneof({ arbitrary: fc.integer({ min: 1, max: 5 }), weight: 6 }, { arbitrary: fc.constant(LOG_MAX_EVENTS), weight: 1 }).map((n) => new QueueEvents(n)),
  fc.tuple(cursorKind, fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([k, n, lose]) => new Poll(k, n, lose && k !== 'future')),
  fc.tuple(fc.constantFrom<'queue' | 'attach'>('queue', 'attach'), fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([t, n, lose]) => new HeldPoll(t, n, lose)),
  fc.tuple(cursorKind, fc.integer({ min: 1, max: 3 })).map(([k, n]) => new Attach(k, n)),
  fc.tuple(fc.boolean(), fc.boolean()).map(([all, ack]) => new ProcessFrames(all, ack)),
  fc.constantFrom<'client-close' | 'client-terminate' | 'gateway-kill'>('client-close', 'client-terminate', 'gateway-kill').map((h) => new DropSocket(h)),
  fc.tuple(fc.constantFrom<'http' | 'ws'>('http', 'ws'), fc.boolean(), fc.boolean()).map(([via, dup, lose]) => new Command(via, dup, lose)),
];

function deliveryContract(title: string, runs: number, start: () => Promise<TestGateway>): void {
describe(title, function () {
  this.timeout(Math.max(60_000, runs * 1000));
  let gw: TestGateway;
  let http: LegacyClient;
  let recorder: LogRecorder;

  before(async () => {
    gw = await start();
    // The log the engine appends to (on a cluster node, its replica's; the transports read it through the stream).
    recorder = new LogRecorder(gw.gateway.coordinator.state.log);
    http = new LegacyClient(gw.url, 'alice');
    await http.logon();
  });
  after(() => gw.close());

  /** After the steps: the client catches up by polling; everything is accounted for exactly once. */
  async function drain(d: DeliveryDriver): Promise<void> {
    if (d.socket?.open) {
      d.socket.ws.terminate();
      await d.socket.closed();
    }
    d.socket = undefined;
    for (let i = 0; i < 20 && d.cursor < d.head; i++) {
      const refusal = expectedRefusal(d, d.cursor);
      d.noteAck(d.cursor);
      const { reply, events } = await d.http.poll(d.cursor);
      expect(reply.status, `drain: ${reply.body}`).to.equal(refusal ?? 200);
      d.take(events, reply.body);
    }
    expect(d.cursor, 'caught up with the log').to.equal(d.head);
    const accounted = [...d.processed, ...d.skipped].sort((a, b) => a - b);
    expect(accounted, 'every event once: processed or given up by the client\'s own ack').to.deep.equal(Array.from({ length: d.head }, (_, i) => i + 1));
    expect(new Set(d.processed).size).to.equal(d.processed.length);
    if (d.closed) {
      // The terminal event is the log's last; after it the session answers 404.
      expect(d.recorder.xml(d.sid, d.head)).to.match(/^<sessionTerminated /);
      expect((await d.http.poll(d.cursor)).reply.status).to.equal(404);
    } else {
      await d.http.command(`<terminateSession rid="end"/>`, d.sid);
    }
  }

  it(`holds for random schedules (${runs} runs)`, async () => {
    const started = Date.now();
    let steps = 0;
    let sessions = 0;
    const kinds = new Map<string, number>();
    let overflows = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: 40, size: 'max' }), async (cmds) => {
        const client = new LegacyClient(gw.url, 'alice');
        client.ticket = http.ticket;
        // A fresh rid each run: the same initiateSession batch again would be answered from the duplicate cache.
        const started = await client.command(`<initiateSession rid="s${++sessions}"/>`, 0);
        client.sid = Number(started.root.children[0]!.children.find((c) => c.name === 'sid')!.text);
        const d = new DeliveryDriver(gw, client, recorder, client.sid);
        try {
          // Count the steps that ran (a step whose precondition fails is skipped).
          const counted = [...cmds].map((c): Cmd => ({
            check: (m) => c.check(m) as boolean,
            run: (m, r) => {
              steps += 1;
              const name = c.toString().replace(/\(.*$/, '');
              kinds.set(name, (kinds.get(name) ?? 0) + 1);
              return c.run(m, r);
            },
            toString: () => c.toString(),
          }));
          await fc.asyncModelRun(() => ({ model: d, real: d }), counted);
          if (d.closed) overflows += 1;
          await drain(d);
        } finally {
          if (d.socket?.open) d.socket.ws.terminate();
        }
      }),
      {
        numRuns: runs,
        ...(process.env.CWA_PROPERTY_SEED ? { seed: Number(process.env.CWA_PROPERTY_SEED) } : {}),
      },
    );
    if (process.env.CWA_PROPERTY_RUNS) {
      console.log(`      ${runs} runs, ${steps} steps (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}), ${overflows} overflows, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  });
});
}

const CONTRACT_CONFIG = { holdMs: 5000, logMaxEvents: LOG_MAX_EVENTS, logMaxBytes: 1024 * 1024, ridCacheSize: 8 };

deliveryContract('delivery contract: model-based property test', RUNS, () => startTestGateway(CONTRACT_CONFIG));

// The same contract on a cluster node (--store redis://…): acknowledgements and activity go
// through the shared command stream, reads come from the node's replica.
describeRedis('delivery contract on a cluster node', () => {
  deliveryContract('delivery contract: model-based property test on a cluster node', Number(process.env.CWA_PROPERTY_RUNS ?? 60), () =>
    startTestGateway({ ...CONTRACT_CONFIG, store: REDIS_TEST_URL, redisPrefix: uniquePrefix('model') }, { store: 'redis' }),
  );
});
