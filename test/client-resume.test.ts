// The client library across a lost connection whose session survives (the gateway keeps
// running; a TCP forwarder in front of it drops every connection for a while): the client
// says the connection is lost, retries with exponential backoff and jitter (configurable,
// bounded), and once the gateway answers again goes on with the same sid from its cursor —
// no sign-in, every event exactly once and in order, a command sent during the outage run
// once. The backoff itself is checked on its own and by the spacing of the failed polls.
import { expect } from 'chai';
import {
  DEFAULT_BACKOFF,
  type ConnectionLost,
  type CwaClient,
  type ImMessage,
  type ImSession,
  type Resumed,
  type SessionLost,
} from '../src/client/index.js';
import { backoffDelay, backoffPolicy } from '../src/client/http.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { Forwarder, sleep, until, validatingClient } from './support/sdk.js';

describe('client library: a lost connection resumed from the cursor, backoff (src/client)', () => {
  let gw: TestGateway;
  let front: Forwarder;
  const clients: CwaClient[] = [];

  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
    front = new Forwarder();
    await front.start(gw.url);
  });
  afterEach(async () => {
    front.retarget(gw.url);
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw.close();
    await front.close();
  });

  function track<T extends CwaClient>(c: T): T {
    clients.push(c);
    return c;
  }

  it('backoff: exponential, capped, with jitter taken off each wait; bad values refused', () => {
    const p = backoffPolicy({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 });
    expect([0, 1, 2, 3, 4, 10, 1000].map((n) => backoffDelay(p, n, () => 0))).to.deep.equal([100, 200, 400, 800, 1000, 1000, 1000]);
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(p, n, () => 1))).to.deep.equal([50, 100, 200, 400, 500]);
    for (let i = 0; i < 200; i++) expect(backoffDelay(p, 3)).to.be.within(400, 800);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(p, 3)));
    expect(spread.size, 'jitter spreads the waits').to.be.greaterThan(10);
    expect(backoffPolicy(undefined)).to.deep.equal(DEFAULT_BACKOFF);
    expect(() => backoffPolicy({ jitter: 2 })).to.throw(RangeError, /jitter/);
    expect(() => backoffPolicy({ initialMs: 500, maxMs: 100 })).to.throw(RangeError, /maxMs/);
    expect(() => backoffPolicy({ factor: 0.5 })).to.throw(RangeError, /factor/);
    expect(() => validatingClient('http://127.0.0.1:1', { backoff: { initialMs: 0 } })).to.throw(RangeError, /initialMs/);
  });

  for (const transport of ['polling', 'auto'] as const) {
    it(`resumes with the same sid from the cursor: nothing lost or repeated, no sign-in, sessionLost not emitted (${transport})`, async function () {
      this.timeout(20_000);
      const alice = track(validatingClient(front.url, { transport, backoff: { initialMs: 20, maxMs: 200 } }));
      const bob = track(validatingClient(gw.url));
      const lost: ConnectionLost[] = [];
      const resumed: Resumed[] = [];
      const sessionLost: SessionLost[] = [];
      const again: unknown[] = [];
      const ended: string[] = [];
      alice.on('connectionLost', (l) => lost.push(l));
      alice.on('resumed', (r) => resumed.push(r));
      alice.on('sessionLost', (l) => sessionLost.push(l));
      alice.onSessionLost(() => sessionLost.push({ reason: 'stopped', previousSid: -1, signingInAgain: false }));
      alice.on('signedInAgain', (a) => again.push(a));
      alice.on('ended', (reason) => ended.push(reason));
      await alice.signIn('alice', 'alice-demo');
      await bob.signIn('bob', 'bob-demo');
      if (transport === 'auto') await until(() => alice.transport === 'websocket', 'a WebSocket');
      const eids: number[] = [];
      alice.onEvent((ev) => eids.push(Number(ev.attrs.eid)));
      const heardByAlice: ImMessage[] = [];
      const heardByBob: ImMessage[] = [];
      let bobSide: ImSession | undefined;
      bob.sessions.onIncomingSession((s) => {
        bobSide = s;
        s.onMessage((m) => heardByBob.push(m));
        void s.accept();
      });
      const chat = await alice.sessions.startImSession(bob.uri, 'hello');
      chat.onMessage((m) => heardByAlice.push(m));
      await chat.connected();
      await until(() => bobSide !== undefined && heardByBob.length === 1, 'bob has the conversation');
      const sid = alice.sid;

      front.retarget(undefined); // every connection of alice's dropped, new ones refused
      await until(() => lost.length === 1, 'connectionLost');
      expect(lost[0]!.sid).to.equal(sid);
      for (const text of ['one', 'two', 'three']) await bobSide!.sendMessage(text);
      const sentDuringOutage = chat.sendMessage('sent while cut off');
      await sleep(700);
      expect(heardByAlice, 'nothing arrives while cut off').to.deep.equal([]);
      front.retarget(gw.url);

      await sentDuringOutage;
      await until(() => heardByAlice.length === 3 && heardByBob.length === 2, 'the messages of the outage', 10_000);
      await sleep(300);
      expect(heardByAlice.map((m) => m.content)).to.deep.equal(['one', 'two', 'three']);
      expect(heardByBob.map((m) => m.content), 'the command sent during the outage ran once').to.deep.equal(['hello', 'sent while cut off']);
      expect(eids, 'every event once, in order').to.deep.equal(eids.map((_, i) => eids[0]! + i));
      expect(alice.sid, 'the same session').to.equal(sid);
      expect(resumed.length).to.be.greaterThanOrEqual(1);
      expect(resumed[0]!.sid).to.equal(sid);
      expect(resumed[0]!.cursor).to.be.at.least(lost[0]!.cursor);
      expect(resumed[0]!.outageMs).to.be.greaterThanOrEqual(600);
      expect(sessionLost).to.deep.equal([]);
      expect(again).to.deep.equal([]);
      expect(ended).to.deep.equal([]);
      expect(chat.state).to.equal('connected');
      expect(gw.gateway.engine.liveSessions()).to.equal(2);
    });
  }

  it('polls again with the configured backoff while cut off: waits grow and stay under maxMs', async function () {
    this.timeout(15_000);
    const failures: number[] = [];
    const counting: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (err) {
        if (String(input).includes('AsyncDataChannel') && !init?.signal?.aborted) failures.push(Date.now());
        throw err;
      }
    };
    const alice = track(validatingClient(front.url, { transport: 'polling', fetch: counting, backoff: { initialMs: 25, maxMs: 200, factor: 2, jitter: 0 } }));
    const resumed: Resumed[] = [];
    alice.onResumed((r) => resumed.push(r));
    await alice.signIn('alice', 'alice-demo');
    const sid = alice.sid;
    await sleep(100);
    front.retarget(undefined);
    await sleep(1800);
    front.retarget(gw.url);
    const gaps = failures.slice(1).map((t, i) => t - failures[i]!);
    // 25, 50, 100, 200, 200 … ms (plus the time a refused connection takes).
    expect(failures.length, `failed polls at ${gaps.join(', ')} ms`).to.be.within(7, 20);
    expect(Math.max(...gaps), 'no wait beyond maxMs').to.be.lessThan(200 + 150);
    expect(gaps[0]!, 'the waits grow').to.be.lessThan(gaps[gaps.length - 1]!);
    await until(() => resumed.length === 1, 'resumed', 5000);
    expect(resumed[0]!.sid).to.equal(sid);
    expect(alice.sid).to.equal(sid);
  });
});
