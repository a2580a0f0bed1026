// CWA-Ticket lifetimes, rotation and revocation, as clients meet them: a client library
// that reads the ticket once at logon and presents it forever (over HTTP and over a
// WebSocket) stays signed in while active, over several ticket lifetimes; a ticket's
// successor is random (an old ticket leads to nothing); a user can be signed out
// everywhere by the client or by an operator, on every door and on every node.
import { createHash, createHmac } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { main } from '../src/cli.js';
import { ticketHash } from '../src/engine/tickets.js';
import { CloseCode } from '../src/transport/ws/close-codes.js';
import { LegacyClient, type Reply } from './support/client.js';
import { startTestCluster } from './support/cluster.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { describeRedis, REDIS_TEST_URL } from './support/redis.js';
import { expectValidDocument } from './support/schemas.js';
import { WsTestClient } from './support/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MINUTE = 60_000;

/** A client library as found in the field: it reads CWA-Ticket once, at logon, and sends it forever. */
class LogonTicketClient extends LegacyClient {
  private logonTicket: string | undefined;
  override async http(...args: Parameters<LegacyClient['http']>): Promise<Reply> {
    const reply = await super.http(...args);
    if (this.logonTicket === undefined) this.logonTicket = this.ticket;
    else this.ticket = this.logonTicket;
    return reply;
  }
}

const query = (rid: string) => `<queryPresence rid="${rid}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`;

async function logoff(baseUrl: string, ticket: string | undefined): Promise<Response> {
  return fetch(`${baseUrl}/forms/logoff.html`, { method: 'POST', headers: ticket ? { 'CWA-Ticket': ticket } : {} });
}

describe('ticket hashes', () => {
  it('are the SHA-256 of the ticket, whether remembered from an earlier request or not', () => {
    const sha = (t: string) => createHash('sha256').update(t).digest('base64url');
    const tickets = Array.from({ length: 3000 }, (_, i) => `ticket-${i}`.padEnd(43, 'x'));
    // Past both generations of remembered tickets, in turn and again: every hash stays right.
    for (let round = 0; round < 2; round++) for (const t of tickets) expect(ticketHash(t)).to.equal(sha(t));
    for (const t of tickets.slice(-10)) expect(ticketHash(t)).to.equal(sha(t));
    // A long header is hashed, not remembered; its hash is right all the same.
    const junk = 'j'.repeat(10_000);
    expect(ticketHash(junk)).to.equal(sha(junk));
    expect(ticketHash(junk)).to.equal(sha(junk));
  });
});

describe('tickets: sliding lifetime, offered successors', () => {
  let gw: TestGateway;
  const sockets: WsTestClient[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.socket.terminate();
    await gw.close();
  });

  it('keeps a client that never updates its ticket signed in while it is active, over four ticket lifetimes (default lifetimes); expires it after an idle lifetime', async () => {
    gw = await startTestGateway({ holdMs: 0 }, { manualClock: true });
    const lib = await new LogonTicketClient(gw.url, 'alice').signIn();
    const logonTicket = lib.ticket!;
    let offered = 0;
    // Polls every 5 minutes and a command every 10, for 4 hours (the ticket lives an hour).
    for (let t = 1; t <= 48; t++) {
      gw.clock!.advance(5 * MINUTE);
      await gw.gateway.tick();
      const { reply } = await lib.poll();
      expect(reply.status, `poll after ${t * 5} min: ${reply.body}`).to.equal(200);
      if (reply.ticket !== logonTicket) offered += 1;
      if (t % 2 === 0) {
        const r = await lib.command(query(lib.nextRid()));
        expect(r.status, `command after ${t * 5} min`).to.equal(200);
        expect(r.body).to.not.contain('requestFailed');
      }
      expect(lib.ticket).to.equal(logonTicket);
    }
    // Successors were offered (and ignored), about one per lifetime, never more than one at once.
    expect(offered).to.be.within(3, 4);
    // Idle for a whole lifetime: the session times out first, then the ticket.
    gw.clock!.advance(61 * MINUTE);
    await gw.gateway.tick();
    expect((await lib.poll()).reply.status).to.equal(401);
    expect((await lib.command(query('x'), 0)).status).to.equal(401);
  });

  it('keeps a WebSocket whose client never takes an offered ticket open and working over four lifetimes (the heartbeat checks the ticket), HTTP with the logon ticket too; closes it 4003 once the ticket expired', async () => {
    gw = await startTestGateway({ holdMs: 0, ticketTtlS: 600, sessionTimeoutS: 3600, wsPingIntervalMs: 20 }, { manualClock: true });
    const lib = await new LogonTicketClient(gw.url, 'alice').signIn();
    const { reply } = await lib.poll(0);
    const ws = await WsTestClient.attach(gw.url, { sid: lib.sid, ackId: Number(reply.root.attrs.ackId), ticket: lib.ticket });
    sockets.push(ws);
    await ws.untilFrames(1);
    for (let t = 1; t <= 16; t++) {
      gw.clock!.advance(150_000);
      await sleep(60); // heartbeats run
      expect(ws.closeCode, `after ${t * 150} s`).to.equal(undefined);
      if (t % 4 === 0) {
        const answers = ws.frames.filter((f) => f.startsWith('<cwaResponses')).length;
        ws.socket.send(`<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${lib.sid}">${query(`w${t}`)}</cwaRequests>`);
        await ws.until(() => ws.frames.filter((f) => f.startsWith('<cwaResponses')).length > answers, 'the command answer');
        expect(ws.frames[ws.frames.length - 1]).to.not.contain('requestFailed');
        expect((await lib.command(query(lib.nextRid()))).status).to.equal(200);
      }
    }
    expect(ws.frames.filter((f) => f.startsWith('<ticket>')).length, 'successors offered in ticket frames').to.be.at.least(3);
    // The socket stops presenting the ticket only when the client goes: close it, let the ticket lapse.
    ws.socket.close();
    await ws.closed;
    gw.clock!.advance(601_000);
    expect((await lib.command(query('late'))).status).to.equal(401);
  });

  it('a WebSocket follows the offered ticket once its client used it elsewhere (the attach ticket then retires); 4003 when the ticket expired', async () => {
    gw = await startTestGateway({ holdMs: 0, ticketTtlS: 600, sessionTimeoutS: 3600, wsPingIntervalMs: 20 }, { manualClock: true });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const { reply } = await alice.poll(0);
    const first = alice.ticket!;
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: Number(reply.root.attrs.ackId), ticket: first });
    sockets.push(ws);
    gw.clock!.advance(301_000);
    await ws.until(() => ws.frames.some((f) => f.startsWith('<ticket>')), 'a ticket frame');
    // The client takes the offer: its HTTP requests present the new ticket, which retires the old.
    alice.ticket = ws.ticket;
    expect((await alice.command(query(alice.nextRid()))).status).to.equal(200);
    gw.clock!.advance(61_000);
    await sleep(80);
    const old = new LegacyClient(gw.url, 'alice');
    old.ticket = first;
    expect((await old.command(query('o'))).status).to.equal(401);
    expect(ws.closeCode, 'the socket followed its client to the new ticket').to.equal(undefined);
    gw.clock!.advance(601_000);
    expect(await ws.closed).to.deep.equal({ code: CloseCode.NotAuthenticated, reason: 'not authenticated' });
  });

  it('draws every successor at random: an old ticket leads to no newer one (no derivation, and two offers for one ticket differ)', async () => {
    gw = await startTestGateway({ holdMs: 0, ticketTtlS: 600, sessionTimeoutS: 3600 }, { manualClock: true });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const t0 = alice.ticket!;
    const offers: string[] = [];
    const user = new LegacyClient(gw.url, 'alice');
    user.sid = alice.sid;
    // The successor offered for t0 is never taken; once it lapses, the next use of t0 is offered another.
    for (const step of [301_000, 0, 300_000, 301_000]) {
      gw.clock!.advance(step);
      user.ticket = t0;
      const { reply } = await user.poll(0);
      expect(reply.status).to.equal(200);
      if (reply.ticket !== t0) offers.push(reply.ticket!);
    }
    expect(offers).to.have.length(2);
    expect(offers[0]).to.not.equal(offers[1]);
    // The former rotation (HMAC keyed with the old ticket), applied up to three times, gives nothing.
    let derived = t0;
    for (let i = 0; i < 3; i++) {
      derived = createHmac('sha256', derived).update('cwa-gateway ticket rotation').digest('base64url');
      expect(offers).to.not.include(derived);
      const forger = new LegacyClient(gw.url, 'alice');
      forger.ticket = derived;
      expect((await forger.command(query('f'), alice.sid)).status).to.equal(401);
    }
    // The offer taken, the old ticket retires; its holder is refused, and learns no ticket.
    user.ticket = offers[1];
    expect((await user.poll(0)).reply.status).to.equal(200);
    gw.clock!.advance(61_000);
    user.ticket = t0;
    const refused = await user.poll(0);
    expect(refused.reply.status).to.equal(401);
    expect(refused.reply.ticket).to.equal(null);
  });
});

describe('tickets: signing a user out everywhere', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('POST /forms/logoff.html revokes every ticket of the user and ends its sessions: 401 on every door, its WebSocket closes 4003, a held poll answers 401; other users go on', async () => {
    gw = await startTestGateway({ holdMs: 5000 });
    const phone = await new LegacyClient(gw.url, 'alice').signIn();
    const desk = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const { reply } = await phone.poll(0);
    const ws = await WsTestClient.attach(gw.url, { sid: phone.sid, ackId: Number(reply.root.attrs.ackId), ticket: phone.ticket });
    await ws.untilFrames(1);
    await desk.poll(0); // the initial events, answered at once; the next poll is held
    const held = desk.poll();
    await sleep(100);

    const out = await logoff(gw.url, desk.ticket);
    expect(out.status).to.equal(200);
    expect(out.headers.get('cwa-ticket')).to.equal(null);
    const body = await out.text();
    expectValidDocument(body);
    expect(body).to.contain('<requestSucceeded eid="0" rid=""/>');

    expect((await held).reply.status).to.equal(401);
    expect((await ws.closed).code).to.equal(CloseCode.NotAuthenticated);
    for (const c of [phone, desk]) {
      expect((await c.command(query('after'), 0)).status).to.equal(401);
      expect((await c.poll()).reply.status).to.equal(401);
      expect((await WsTestClient.refusal(gw.url, { sid: c.sid, ticket: c.ticket })).status).to.equal(401);
      expect((await logoff(gw.url, c.ticket)).status).to.equal(401);
    }
    expect(gw.gateway.engine.sessionsOf('alice')).to.have.length(0);
    expect((await bob.command(query(bob.nextRid()))).status).to.equal(200);
    // A new logon works.
    expect((await new LegacyClient(gw.url, 'alice').signIn()).sid).to.be.above(bob.sid);
  });

  it('an operator signs a user out with POST /admin/revoke and a bearer token (or `cwa-gateway revoke`); absent without --admin-token', async () => {
    const token = 'operator-secret-0123456789';
    gw = await startTestGateway({ holdMs: 0, adminToken: token });
    const revoke = (user: string, auth?: string) =>
      fetch(`${gw.url}/admin/revoke?user=${encodeURIComponent(user)}`, { method: 'POST', headers: auth ? { Authorization: auth } : {} });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    expect((await revoke('alice')).status).to.equal(401);
    expect((await revoke('alice', `Bearer ${token}x`)).status).to.equal(401);
    expect((await revoke('alice', token)).status).to.equal(401);
    expect((await alice.poll()).reply.status).to.equal(200);
    expect((await revoke('zed', `Bearer ${token}`)).status).to.equal(404);
    const ok = await revoke('CORP\\Alice', `Bearer ${token}`);
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.equal({ login: 'alice', ticketsRevoked: 1, sessionsEnded: 1 });
    expect((await alice.poll()).reply.status).to.equal(401);

    // The command-line client of the same endpoint.
    const again = await new LegacyClient(gw.url, 'alice').signIn();
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
    expect(await main(['revoke', '--user', 'alice', '--url', gw.url], { ...io, env: { CWA_ADMIN_TOKEN: token } })).to.equal(0);
    expect(out.join('')).to.match(/signed out alice: 1 session\(s\) ended, 1 ticket\(s\) revoked/);
    expect((await again.poll()).reply.status).to.equal(401);
    expect(await main(['revoke', '--user', 'alice', '--url', gw.url], { ...io, env: { CWA_ADMIN_TOKEN: `${token}x` } })).to.equal(1);
    expect(err.join('')).to.contain('HTTP 401');
    expect(await main(['revoke', '--url', gw.url], { ...io, env: { CWA_ADMIN_TOKEN: token } })).to.equal(2);
    await gw.close();

    gw = await startTestGateway({ holdMs: 0 });
    expect((await fetch(`${gw.url}/admin/revoke?user=alice`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).to.equal(404);
  });
});

describeRedis('tickets on a cluster', () => {
  it('a client presenting its logon ticket is served by every node past the lifetime; offers travel as hashes; a sign-out on one node revokes everywhere', async () => {
    const cluster = await startTestCluster(3, { holdMs: 0, ticketTtlS: 100, sessionTimeoutS: 3600, wsPingIntervalMs: 600_000 }, { manualClock: true });
    const redis = new Redis(REDIS_TEST_URL);
    try {
      const lib = await new LogonTicketClient(cluster.url, 'alice').signIn();
      const { reply } = await lib.poll(0);
      const ws = await WsTestClient.attach(cluster.nodes[2]!.url, { sid: lib.sid, ackId: Number(reply.root.attrs.ackId), ticket: lib.ticket });
      const offers = new Set<string>();
      for (let t = 1; t <= 12; t++) {
        cluster.clock!.advance(30_000);
        const r = await lib.command(query(lib.nextRid()));
        expect(r.status, `after ${t * 30} s`).to.equal(200);
        if (r.ticket !== lib.ticket) offers.add(r.ticket!);
      }
      expect(offers.size).to.be.at.least(2);
      const stream = (await redis.xrange(`${cluster.nodes[0]!.config.redisPrefix}cmd`, '-', '+')).map(([, f]) => f.join(' ')).join('\n');
      expect(stream).to.contain('"t":"rotate"');
      for (const offer of offers) {
        expect(stream).to.not.contain(offer);
        expect(stream).to.contain(ticketHash(offer));
      }
      expect(stream).to.not.contain(lib.ticket!);

      const out = await logoff(cluster.nodes[0]!.url, lib.ticket);
      expect(out.status).to.equal(200);
      expect((await ws.closed).code).to.equal(CloseCode.NotAuthenticated);
      for (const node of cluster.nodes) {
        const c = new LegacyClient(node.url, 'alice');
        c.ticket = lib.ticket;
        expect((await c.command(query('x'), 0)).status).to.equal(401);
        for (const offer of offers) {
          c.ticket = offer;
          expect((await c.command(query('y'), 0)).status).to.equal(401);
        }
      }
    } finally {
      redis.disconnect();
      await cluster.close();
    }
  });
});
