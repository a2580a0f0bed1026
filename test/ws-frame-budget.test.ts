// Every WebSocket frame counts: acks, binary frames and frames the gateway can only refuse
// take a token of the socket's budget (--ws-frame-rate after --ws-frame-burst) like command
// frames do. Past it the gateway stops reading the socket until the budget refills, so a
// flood costs it a bounded amount of work and other clients are served meanwhile; a client
// that merely bursts loses nothing. On a cluster, an ack's `ua` flipping on every frame
// appends a `touch` command at most once per interval per session.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL, uniquePrefix } from './support/redis.js';
import { wsUrl, WsTestClient } from './support/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function signedIn(url: string, login: string): Promise<LegacyClient> {
  const c = await new LegacyClient(url, login).signIn();
  while ((await c.poll(c.ackId)).events.length > 0);
  return c;
}

/** A raw socket (no schema check per frame: it receives thousands) that counts what it gets. */
async function rawSocket(url: string, c: LegacyClient): Promise<{ ws: WebSocket; received: () => number; errors: () => number }> {
  const ws = new WebSocket(wsUrl(url, { sid: c.sid, ackId: c.ackId }), { headers: { 'CWA-Ticket': c.ticket! } });
  let received = 0;
  let errors = 0;
  ws.on('message', (data) => {
    received += 1;
    if (data.toString().includes('<error ')) errors += 1;
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, received: () => received, errors: () => errors };
}

/** Sends `frame()` as fast as the socket takes it (keeping at most 1 MB in the client's buffer) for `ms`. */
async function flood(ws: WebSocket, ms: number, frame: (i: number) => [Buffer | string, boolean]): Promise<number> {
  const end = Date.now() + ms;
  let sent = 0;
  while (Date.now() < end && ws.readyState === WebSocket.OPEN) {
    if (ws.bufferedAmount > 1024 * 1024) {
      await sleep(1);
      continue;
    }
    const [data, binary] = frame(sent);
    ws.send(data, { binary });
    sent += 1;
    if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  return sent;
}

describe('WebSocket frame budget (--ws-frame-rate, --ws-frame-burst)', () => {
  let gw: TestGateway;
  afterEach(async () => {
    await gw?.close();
  });

  it('a flood of binary frames and malformed 64 KB acks is read at the budget\'s pace: bounded work, other clients served meanwhile', async function () {
    this.timeout(20_000);
    const rate = 50;
    const burst = 50;
    gw = await startTestGateway({ wsFrameRate: rate, wsFrameBurst: burst, holdMs: 0 });
    const mallory = await signedIn(gw.url, 'dave');
    const alice = await signedIn(gw.url, 'alice');
    const { ws, errors } = await rawSocket(gw.url, mallory);
    // Malformed acks (some just under the 64 KB frame limit) and binary frames.
    const bigAck = Buffer.from(`<ack ackId="1" ${'x'.repeat(65_000)}`);
    const smallAck = Buffer.from('<ack ackId="1" ua=');
    const binary = Buffer.alloc(16, 7);
    const started = Date.now();
    const flooding = flood(ws, 2000, (i) => (i % 50 === 0 ? [bigAck, false] : i % 2 === 0 ? [smallAck, false] : [binary, true]));
    // Meanwhile another client is answered promptly.
    const slowest: number[] = [];
    while (Date.now() - started < 1800) {
      const t = Date.now();
      const r = await alice.poll(alice.ackId);
      expect(r.reply.status).to.equal(200);
      slowest.push(Date.now() - t);
      await sleep(50);
    }
    const sent = await flooding;
    const elapsedS = (Date.now() - started) / 1000;
    await sleep(200);
    // Every frame read is answered (an error frame each): what was read is bounded by the budget.
    const read = errors();
    expect(sent, 'the client offered far more than the budget').to.be.greaterThan(4 * (burst + rate * elapsedS));
    expect(read, `${read} frames read in ${elapsedS} s`).to.be.at.most(burst + rate * (elapsedS + 0.5));
    expect(read).to.be.greaterThan(rate * (elapsedS - 1));
    expect(Math.max(...slowest), 'other clients answered promptly').to.be.below(300);
    expect(await gw.gateway.metrics.value('cwa_websocket_frames_total', { budget: 'waited' })).to.be.greaterThan(0);
    // Once the flooder leaves, the gateway has no backlog to work through.
    ws.terminate();
    const t = Date.now();
    expect((await alice.poll(alice.ackId)).reply.status).to.equal(200);
    expect(Date.now() - t).to.be.below(300);
  });

  it('a client that bursts past the budget loses nothing: every command frame is run and answered, in order', async () => {
    gw = await startTestGateway({ wsFrameRate: 100, wsFrameBurst: 10, holdMs: 0 });
    const alice = await signedIn(gw.url, 'alice');
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket });
    try {
      const n = 80;
      const started = Date.now();
      for (let i = 0; i < n; i++) {
        ws.send(`<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${alice.sid}"><queryPresence rid="${100 + i}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence></cwaRequests>`);
        if (i % 10 === 0) ws.ack(alice.ackId, i % 20 === 0);
      }
      const answers = () => ws.frames.filter((f) => f.startsWith('<cwaResponses'));
      await ws.until(() => answers().length >= n, `${n} answers`, 5000);
      const rids = answers().map((f) => Number(/rid="(\d+)"/.exec(f)?.[1]));
      expect(rids).to.deep.equal(Array.from({ length: n }, (_, i) => 100 + i));
      expect(answers().some((f) => f.includes('<error ')), 'nothing refused').to.equal(false);
      // 88 frames at 100/s after a burst of 10: they were paced, not all read at once.
      expect(Date.now() - started).to.be.at.least(500);
      expect(ws.closeCode).to.equal(undefined);
    } finally {
      await ws.close();
    }
  });

  it('an ack frame longer than 1024 characters is refused without being parsed', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await signedIn(gw.url, 'alice');
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: alice.ackId, ticket: alice.ticket });
    try {
      await ws.untilFrames(1);
      const long = await ws.request(`<ack ackId="1"${' '.repeat(2000)}/>`);
      expect(long.body).to.match(/code="18001"[^>]*longer than 1024/);
      ws.ack(alice.ackId); // a short one is still taken (not answered)
      const ok = await ws.request(`<ack ackId="x"/>`);
      expect(ok.body).to.match(/code="18001"[^>]*ackId/);
    } finally {
      await ws.close();
    }
  });
});

describeRedis('WebSocket ack ua flip-flop on a cluster node', () => {
  it('appends a touch command at most once per interval per session, and the last UA reported wins', async function () {
    this.timeout(20_000);
    const prefix = uniquePrefix('flip');
    // --session-timeout-s 20: a touch at most every min(5 s, 20 s / 20) = 1 s. No frame budget: the touch rule alone.
    const gw = await startTestGateway({ store: REDIS_TEST_URL, redisPrefix: prefix, sessionTimeoutS: 20, wsFrameRate: 0, holdMs: 0 }, { store: 'redis' });
    const redis = new Redis(REDIS_TEST_URL);
    try {
      const alice = await signedIn(gw.url, 'alice');
      const ws = await new Promise<WebSocket>((resolve, reject) => {
        const s = new WebSocket(wsUrl(gw.url, { sid: alice.sid, ackId: alice.ackId }), { headers: { 'CWA-Ticket': alice.ticket! } });
        s.once('open', () => resolve(s));
        s.once('error', reject);
      });
      const touches = async () =>
        (await redis.xrange(`${prefix}cmd`, '-', '+'))
          .map(([, fields]) => JSON.parse(fields[fields.indexOf('c') + 1]!) as { c: { t: string; sid?: number } })
          .filter((e) => e.c.t === 'touch' && e.c.sid === alice.sid).length;
      const before = await touches();
      const started = Date.now();
      const sent = await flood(ws, 2000, (i) => [`<ack ackId="${alice.ackId}" ua="${i % 2 === 0}"/>`, false]);
      // The last frame said ua="true" (odd count) or "false"; one more ends on true.
      if (sent % 2 === 0) ws.send(`<ack ackId="${alice.ackId}" ua="true"/>`);
      // Once the gateway has read every frame (it answers a command sent after them)...
      const answered = new Promise((resolve) => ws.on('message', (d) => d.toString().startsWith('<cwaResponses') && resolve(undefined)));
      ws.send(`<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${alice.sid}"><queryPresence rid="9"><uris><uri>sip:bob@example.com</uri></uris></queryPresence></cwaRequests>`);
      await answered;
      await sleep(1500); // ...the interval passes: the change that waited goes
      const seconds = (Date.now() - started) / 1000;
      const appended = (await touches()) - before;
      expect(sent).to.be.greaterThan(1000);
      expect(appended, `${appended} touch commands for ${sent} frames in ${seconds} s`).to.be.at.most(Math.ceil(seconds) + 2);
      expect(appended).to.be.at.least(1);
      const session = gw.gateway.engine.sessionFor('alice', alice.sid)!;
      expect(session.userActive, 'the last UA reported').to.equal(true);
      ws.terminate();
    } finally {
      redis.disconnect();
      await gw.close();
    }
  });
});
