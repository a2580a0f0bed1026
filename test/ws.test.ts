// The WebSocket data channel: attach (ticket in a header or the query, refusals as
// for polls), push from the cursor, ack frames, command frames, contention with
// polls and other sockets, and the limits (payload, send buffer). Every frame and
// every refusal body is checked against schemas/ by the test clients.
import { expect } from 'chai';
import { CloseCode } from '../src/transport/ws/close-codes.js';
import { CWA_NS, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { WsTestClient } from './support/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Queues `n` small events for a session straight through the engine (tagged rid="<tag><i>"). */
export async function queue(gw: TestGateway, sid: number, n: number, tag = 'q'): Promise<void> {
  const engine = gw.gateway.engine;
  await engine.exclusive(() =>
    engine.deliver(Array.from({ length: n }, (_, i) => ({ sid, event: { kind: 'requestSucceeded' as const, rid: `${tag}${i}` } }))),
  );
}

/**
 * Signs in; `head` is the eid of the last event of the session's initial burst
 * (configuration, selfPresence, contact list …), learned by a poll that acknowledges nothing.
 */
async function signIn(gw: TestGateway, login = 'alice'): Promise<LegacyClient & { head: number }> {
  const c = await new LegacyClient(gw.url, login).signIn();
  const { reply } = await c.poll(0);
  return Object.assign(c, { head: Number(reply.root.attrs.ackId) });
}

const rids = (events: { attrs: Record<string, string> }[]) => events.map((e) => e.attrs.rid ?? '');
const eids = (events: { attrs: Record<string, string> }[]) => events.map((e) => Number(e.attrs.eid));

describe('WebSocket data channel', () => {
  let gw: TestGateway;
  const open: WsTestClient[] = [];
  async function attach(o: Parameters<typeof WsTestClient.attach>[1]): Promise<WsTestClient> {
    const c = await WsTestClient.attach(gw.url, o);
    open.push(c);
    return c;
  }
  afterEach(async () => {
    for (const c of open.splice(0)) c.socket.terminate();
    await gw.close();
  });

  describe('attach', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0 });
    });

    it('pushes the events after AckId in one cwaEvents frame, the same event bytes a poll gets', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const poll = await alice.poll(0); // acknowledges nothing: AckId=0
      expect(H).to.be.at.least(2);
      const ws = await attach({ sid: alice.sid, ackId: 0, ticket: alice.ticket });
      await ws.untilFrames(1);
      const frame = ws.frames[0]!;
      expect(frame).to.match(new RegExp(`^<cwaEvents sid="${alice.sid}" ackId="${H}" pollWaitTime="${gw.config.pollWaitMs}" sessionTimeout="\\d+">`));
      const inner = (xml: string) => xml.slice(xml.indexOf('>') + 1);
      expect(inner(frame)).to.equal(inner(poll.reply.body));
      expect(ws.events.map((e) => e.name).slice(0, 2)).to.deep.equal(['configuration', 'selfPresence']);
      expect(eids(ws.events)).to.deep.equal(Array.from({ length: H }, (_, i) => i + 1));
    });

    it('confirms an attach with nothing pending by an empty frame at the head, and corrects a cursor ahead of it', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const a = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await a.untilFrames(1);
      expect(a.frames[0]).to.match(new RegExp(`^<cwaEvents sid="\\d+" ackId="${H}" pollWaitTime="\\d+" sessionTimeout="\\d+"/>$`));
      const b = await attach({ sid: alice.sid, ackId: 500, ticket: alice.ticket });
      await b.untilFrames(1);
      expect(b.frames[0]).to.include(`ackId="${H}"`);
      await queue(gw, alice.sid, 1);
      await b.untilEid(H + 1);
    });

    it('takes the ticket from the query (ticket or CWA-Ticket), names compared without case, like poll parameters', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const a = await attach({ sid: alice.sid, ticket: alice.ticket, ticketIn: 'query' });
      await a.untilEid(H);
      const url = `${gw.url.replace('http', 'ws')}/cwa/asyncdatachannel.ashx?SID=${alice.sid}&&ackid=${H}&CWA-TICKET=${encodeURIComponent(alice.ticket!)}`;
      const { default: WebSocket } = await import('ws');
      const raw = new WebSocket(url);
      const first = await new Promise<string>((resolve, reject) => {
        raw.once('message', (d) => resolve(d.toString()));
        raw.once('error', reject);
      });
      expect(first).to.include(`ackId="${H}"`);
      raw.terminate();
    });

    it('refuses the upgrade with the status and XML error a poll would get', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const bob = await signIn(gw, 'bob');
      const noTicket = await WsTestClient.refusal(gw.url, { sid: alice.sid });
      expect(noTicket.status).to.equal(401);
      expect(noTicket.body).to.match(/code="18100" reason="Not Authenticated"/);
      const badTicket = await WsTestClient.refusal(gw.url, { sid: alice.sid, ticket: 'nope', ticketIn: 'query' });
      expect(badTicket.status).to.equal(401);
      const foreign = await WsTestClient.refusal(gw.url, { sid: bob.sid, ticket: alice.ticket });
      expect(foreign.status).to.equal(404);
      expect(foreign.body).to.match(/code="18100"/);
      const unknown = await WsTestClient.refusal(gw.url, { sid: 9999, ticket: alice.ticket });
      expect(unknown.status).to.equal(404);
      const badSid = await WsTestClient.refusal(gw.url, { sid: Number.NaN, ticket: alice.ticket });
      expect(badSid.status).to.equal(400);
      const wrongPath = await WsTestClient.refusal(gw.url, { sid: alice.sid, ticket: alice.ticket, path: '/cwa/MainCommandHandler.ashx' });
      expect(wrongPath.status).to.equal(404);
      await alice.poll(H);
      const stale = await WsTestClient.refusal(gw.url, { sid: alice.sid, ackId: H - 1, ticket: alice.ticket });
      expect(stale.status).to.equal(409);
      expect(stale.body).to.match(/code="18102"/);
      await alice.terminate();
      const ended = await WsTestClient.refusal(gw.url, { sid: alice.sid, ticket: alice.ticket });
      expect(ended.status).to.equal(404);
    });

    it('announces the current ticket in the 101 answer', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ticket: alice.ticket });
      expect(ws.ticket).to.equal(alice.ticket);
    });
  });

  describe('push, acknowledge, command', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0, logMaxEvents: 5000, logMaxBytes: 8 * 1024 * 1024 });
    });

    it('pushes events as they are queued, at most 200 per frame, each frame\'s ackId its last eid', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      await queue(gw, alice.sid, 1, 'one');
      await ws.untilEid(H + 1);
      await queue(gw, alice.sid, 450, 'many');
      await ws.untilEid(H + 451);
      expect(eids(ws.events)).to.deep.equal(Array.from({ length: 451 }, (_, i) => i + H + 1));
      for (const f of ws.frames.slice(1)) {
        const n = (f.match(/<requestSucceeded /g) ?? []).length;
        expect(n).to.be.within(1, 200);
        const lastEid = [...f.matchAll(/eid="(\d+)"/g)].pop()![1];
        expect(f).to.match(new RegExp(`^<cwaEvents [^>]*ackId="${lastEid}"`));
      }
    });

    it('drops what an ack frame acknowledges and redelivers the rest on the next attach or poll', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: 0, ticket: alice.ticket });
      await queue(gw, alice.sid, 4);
      await ws.untilEid(H + 4);
      ws.ack(H + 2, true);
      await sleep(50);
      expect(gw.gateway.engine.sessionFor('alice', alice.sid)!.userActive).to.equal(true);
      // Events <= H+2 are gone (an older cursor is an explicit error); the last two were pushed but not acknowledged.
      expect((await WsTestClient.refusal(gw.url, { sid: alice.sid, ackId: H + 1, ticket: alice.ticket })).status).to.equal(409);
      const again = await attach({ sid: alice.sid, ackId: H + 2, ticket: alice.ticket });
      await again.untilEid(H + 4);
      expect(eids(again.events)).to.deep.equal([H + 3, H + 4]);
      await again.close();
      const { events } = await alice.poll(H + 2);
      expect(eids(events)).to.deep.equal([H + 3, H + 4]);
    });

    it('ignores an ack older than the acknowledged position', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      ws.ack(1);
      ws.ack(H);
      await queue(gw, alice.sid, 2);
      await ws.untilEid(H + 2);
      expect(ws.closeCode).to.equal(undefined);
    });

    it('runs a cwaRequests frame like a POST and answers with the cwaResponses frame; a repeated batch gets the cached answer', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      // An invitation to an unknown user: answered, then its failure sequence arrives as events.
      const invite = `<conference rid="7" confId="0"><initiateImSession><uris><uri>sip:nobody@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`;
      const first = await ws.command(alice.sid, invite);
      expect(first.root.children[0]!.name).to.equal('initiateImSessionAccepted');
      await ws.until(() => ws.events.some((e) => e.children[0]?.name === 'imSessionState'), 'the failure sequence');
      const count = ws.events.length;
      const retry = await ws.command(alice.sid, invite);
      expect(retry.body).to.equal(first.body);
      // The same batch over HTTP is the same retry (one cache for both doors).
      const viaHttp = await alice.command(invite);
      expect(viaHttp.body).to.equal(first.body);
      await queue(gw, alice.sid, 1, 'marker');
      await ws.until(() => rids(ws.events).includes('marker0'), 'the marker');
      expect(ws.events.length).to.equal(count + 1);
    });

    /** Counts what reaches the kernel from the gateway's side of a session's WebSocket: chunks per write call. */
    const socketWrites = (sid: number): number[] => {
      const sub = gw.gateway.websocket.list().find((s) => s.sid === sid)!;
      const raw = (sub as unknown as { socket: { _socket: { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void } } }).socket._socket;
      const writes: number[] = [];
      const writev = raw._writev.bind(raw);
      const write = raw._write.bind(raw);
      raw._writev = (chunks: unknown, cb: unknown) => {
        writes.push((chunks as unknown[]).length);
        writev(chunks, cb);
      };
      raw._write = (chunk: unknown, enc: unknown, cb: unknown) => {
        writes.push(1);
        write(chunk, enc, cb);
      };
      return writes;
    };

    it('writes the answer to a command frame and the events that command caused in one write to the socket', async () => {
      const alice = await signIn(gw);
      const ws = await attach({ sid: alice.sid, ackId: alice.head, ticket: alice.ticket });
      await ws.untilFrames(1);
      const writes = socketWrites(alice.sid);
      const frames = ws.frames.length;
      // A presence change is answered and causes a selfPresence event on the same session.
      const answer = await ws.command(alice.sid, '<publishSelfPresence rid="9"><cwaCategory name="note" instanceMask="0"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal">Gone fishing</body></note></cwaCategory></publishSelfPresence>');
      expect(answer.root.children[0]!.name).to.equal('requestAccepted');
      await ws.until(() => ws.frames.length >= frames + 2, 'the answer and the event');
      expect(ws.frames[frames]).to.match(/^<cwaResponses/);
      expect(ws.frames[frames + 1]).to.match(/^<cwaEvents/);
      // Two frames (a header and a payload each): one writev of four chunks, not two syscalls.
      expect(writes).to.deep.equal([4]);
    });

    it('also when the command ran at once (a message in a conversation: its answer and messageIdReceived in one write, with --confirmation-batch-ms 0)', async () => {
      await gw.close();
      gw = await startTestGateway({ holdMs: 0, confirmationBatchMs: 0 });
      const alice = await signIn(gw);
      const bob = await signIn(gw, 'bob');
      const invited = await alice.command(`<conference rid="2" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
      const confId = Number(invited.root.children[0]!.attrs.confId);
      const ringing = await bob.pollUntil((e) => e.children.some((c) => c.name === 'imSessionReceived'));
      const bobConf = ringing.find((e) => e.children.some((c) => c.name === 'imSessionReceived'))!.attrs.confId;
      await bob.command(`<conference rid="2" confId="${bobConf}"><acceptImSession/></conference>`);
      const { reply } = await alice.poll(alice.head);
      const ws = await attach({ sid: alice.sid, ackId: Number(reply.root.attrs.ackId), ticket: alice.ticket });
      await ws.untilFrames(1);
      const writes = socketWrites(alice.sid);
      const frames = ws.frames.length;
      const answer = await ws.command(alice.sid, `<conference rid="3" confId="${confId}"><sendMessage><content>m1</content></sendMessage></conference>`);
      expect(answer.root.children[0]!.name).to.equal('requestAccepted');
      await ws.until(() => ws.frames.length >= frames + 2, 'the answer and the event');
      expect(ws.frames[frames]).to.match(/^<cwaResponses/);
      expect(ws.frames[frames + 1]).to.match(/^<cwaEvents[^]*messageIdReceived/);
      expect(writes).to.deep.equal([4]);
    });

    it('answers an unusable frame with an error frame and keeps the socket open', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      const cases: Array<[string | Buffer, RegExp]> = [
        ['<cwaRequests', /code="18000"/],
        ['not xml at all', /code="18000"/],
        ['<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><cwaRequests/>', /code="18000"/],
        ['<hello/>', /code="18000"[^>]*root element must be cwaRequests/],
        ['<ack/>', /code="18001"[^>]*ackId/],
        ['<ack ackId="-3"/>', /code="18001"/],
        ['<ack ackId="1" colour="red"/>', /code="18001"/],
        ['<ack ackId="1"><x/></ack>', /code="18000"/],
        [Buffer.from('<ack ackId="1"/>'), /code="18000"[^>]*binary/],
      ];
      for (const [frame, expected] of cases) {
        const reply = await ws.request(frame as string);
        expect(reply.body, String(frame)).to.match(expected);
        expect(reply.root.attrs).to.deep.equal({ requestProcessed: '0', unexpectedElement: '0' });
      }
      const ok = await ws.command(alice.sid, `<conference rid="1" confId="5"><acceptImSession/></conference>`);
      expect(ok.root.children[0]!.name).to.equal('requestFailed');
      expect(ws.closeCode).to.equal(undefined);
    });

    it('closes with 1009 on a frame larger than --ws-max-payload-bytes', async () => {
      await gw.close();
      gw = await startTestGateway({ holdMs: 0, wsMaxPayloadBytes: 1024 });
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      ws.send(`<cwaRequests xmlns="${CWA_NS}">${' '.repeat(1024)}</cwaRequests>`);
      expect((await ws.closed).code).to.equal(CloseCode.MessageTooBig);
    });

    it('counts frames as activity for the idle timeout; ends with the terminal event, then 4004', async () => {
      await gw.close();
      gw = await startTestGateway({ holdMs: 0, sessionTimeoutS: 60 }, { manualClock: true });
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: 0, ticket: alice.ticket });
      await ws.untilEid(H);
      gw.clock!.advance(50_000);
      ws.ack(H);
      await sleep(50);
      gw.clock!.advance(50_000);
      await gw.gateway.tick();
      expect(gw.gateway.engine.sessionFor('alice', alice.sid), 'alive: the ack was activity').to.not.equal(undefined);
      gw.clock!.advance(61_000);
      await gw.gateway.tick();
      await ws.until(() => ws.events.some((e) => e.name === 'sessionTerminated'), 'sessionTerminated');
      expect(ws.events[ws.events.length - 1]!.attrs.reason).to.equal('timeout');
      expect((await ws.closed).code).to.equal(CloseCode.SessionEnded);
    });

    it('closes with 4004 after terminateSession sent as a frame', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      const r = await ws.command(alice.sid, '<terminateSession rid="9"/>');
      expect(r.root.children[0]!.name).to.equal('requestAccepted');
      const closed = await ws.closed;
      expect(closed).to.deep.equal({ code: CloseCode.SessionEnded, reason: 'session ended' });
    });
  });

  describe('contention and switching', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 10_000 });
    });

    it('closes the older socket with 4001 "superseded" when a second socket attaches', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const a = await attach({ sid: alice.sid, ackId: 0, ticket: alice.ticket });
      await a.untilEid(H);
      const b = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      expect(await a.closed).to.deep.equal({ code: CloseCode.Superseded, reason: 'superseded' });
      await queue(gw, alice.sid, 1);
      await b.untilEid(H + 1);
      expect(gw.gateway.websocket.stats().open).to.equal(1);
    });

    it('a poll takes over from an attached socket (closed with 4001) and gets what the socket did not see acknowledged', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: 0, ticket: alice.ticket });
      await ws.untilEid(H);
      await queue(gw, alice.sid, 2);
      await ws.untilEid(H + 2);
      ws.ack(H);
      await sleep(30);
      const { events } = await alice.poll(H);
      expect(eids(events)).to.deep.equal([H + 1, H + 2]);
      expect((await ws.closed).code).to.equal(CloseCode.Superseded);
    });

    it('answers a held poll at once when a socket attaches: empty, with the poll\'s own AckId', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const started = Date.now();
      const held = alice.poll(H);
      await sleep(100);
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      const { reply, events } = await held;
      expect(reply.status).to.equal(200);
      expect(events).to.have.length(0);
      expect(reply.root.attrs.ackId).to.equal(String(H));
      expect(Date.now() - started).to.be.lessThan(2000);
      await queue(gw, alice.sid, 1);
      await ws.untilEid(H + 1);
    });

    it('the superseded held poll answers with its own AckId even when events arrived meanwhile', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const held = alice.poll(H);
      await sleep(100);
      // Events and the attach land together: the held poll must not claim them (ackId stays H).
      const attaching = WsTestClient.attach(gw.url, { sid: alice.sid, ackId: H, ticket: alice.ticket });
      const queued = queue(gw, alice.sid, 3);
      const ws = await attaching;
      open.push(ws);
      await queued;
      const { reply, events } = await held;
      if (events.length === 0) expect(reply.root.attrs.ackId).to.equal(String(H));
      else expect(eids(events)).to.deep.equal([H + 1, H + 2, H + 3]); // answered before the socket took over
      await ws.untilEid(H + 3);
      expect(eids(ws.events)).to.deep.equal([H + 1, H + 2, H + 3]);
    });
  });

  describe('limits and liveness', () => {
    it('closes a socket that does not read with 4002 once its send buffer passes --ws-max-buffered-bytes; it resumes from its cursor', async function () {
      this.timeout(30_000);
      gw = await startTestGateway({ holdMs: 0, wsMaxBufferedBytes: 64 * 1024, logMaxEvents: 100_000, logMaxBytes: 512 * 1024 * 1024, maxMessageLength: 1024 * 1024 });
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      (ws.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      // Big events until the kernel buffers are full and the gateway's own buffer passes the bound.
      const engine = gw.gateway.engine;
      const big = 'x'.repeat(256 * 1024);
      let queued = 0;
      for (let i = 0; i < 400 && gw.gateway.websocket.stats().open > 0; i++) {
        await engine.exclusive(() => engine.deliver([{ sid: alice.sid, event: { kind: 'requestFailed', rid: `big${i}`, error: { code: 18400, reason: 'Internal Failure', detail: big } } }]));
        queued += 1;
        await sleep(1);
      }
      expect(gw.gateway.websocket.stats().ended[String(CloseCode.TooSlow)]).to.equal(1);
      (ws.socket as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await ws.closed).code).to.equal(CloseCode.TooSlow);
      // Nothing was acknowledged: a new socket gets every event from its cursor.
      const again = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await again.untilEid(H + queued, 20_000);
      expect(eids(again.events)).to.deep.equal(Array.from({ length: queued }, (_, i) => i + H + 1));
    });

    it('drops a socket that misses a pong, and answers pings of a live one', async () => {
      gw = await startTestGateway({ holdMs: 0, wsPingIntervalMs: 40 });
      const alice = await signIn(gw);
      const H = alice.head;
      const live = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await sleep(200);
      expect(live.closeCode).to.equal(undefined);
      await live.close();
      const { default: WebSocket } = await import('ws');
      const deaf = new WebSocket(`${gw.url.replace('http', 'ws')}/cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=${H}`, {
        headers: { 'CWA-Ticket': alice.ticket! },
        autoPong: false,
      });
      const closed = await new Promise<number>((resolve) => deaf.on('close', (code) => resolve(code)));
      expect(closed).to.equal(1006); // dropped without a close frame
      expect(gw.gateway.websocket.stats().ended.heartbeat).to.equal(1);
    });

    it('counts pongs as activity for the idle timeout', async () => {
      // A heartbeat slow enough that a busy machine does not miss a pong (which drops the socket).
      gw = await startTestGateway({ holdMs: 0, sessionTimeoutS: 60, wsPingIntervalMs: 150 }, { manualClock: true });
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      const session = gw.gateway.engine.sessionFor('alice', alice.sid)!;
      for (let i = 0; i < 4; i++) {
        gw.clock!.advance(50_000);
        // The next pong touches the session: wait for it rather than for a fixed time.
        const until = Date.now() + 5_000;
        while (session.lastActivity < gw.clock!.now() && Date.now() < until) await sleep(20);
        expect(session.lastActivity, `a pong after step ${i}`).to.equal(gw.clock!.now());
        await gw.gateway.tick();
      }
      expect(ws.closeCode).to.equal(undefined);
      expect(gw.gateway.engine.sessionFor('alice', alice.sid)).to.not.equal(undefined);
    });
  });

  describe('operations', () => {
    it('counts open sockets and socket commands in /metrics; command frames count against --rate-ticket, the upgrade against --rate-address', async () => {
      gw = await startTestGateway({ holdMs: 0, rateTicket: 1, rateTicketBurst: 4, rateAddress: 1, rateAddressBurst: 4 });
      const alice = await signIn(gw);
      const H = alice.head;
      const metrics = gw.gateway.metrics;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      expect(await metrics.value('cwa_websockets')).to.equal(1);
      const cmd = `<conference rid="1" confId="99"><acceptImSession/></conference>`;
      // Two of the ticket's 4 went to initiateSession and the poll.
      const answers = [await ws.command(alice.sid, cmd), await ws.command(alice.sid, cmd), await ws.command(alice.sid, cmd)];
      expect(answers.map((a) => a.root.children[0]!.name)).to.deep.equal(['requestFailed', 'requestFailed', 'error']);
      expect(answers[2]!.body).to.match(/code="18101"/);
      expect(await metrics.value('cwa_throttled_total', { limit: 'ticket' })).to.equal(1);
      expect(ws.closeCode).to.equal(undefined);
      expect(await metrics.text()).to.match(/^cwa_command_duration_seconds_count\{transport="websocket"\} 2$/m);
      // The address budget (4 at once: logon, initiateSession, poll, upgrade) is spent: the next upgrade gets 429.
      const refused = await WsTestClient.refusal(gw.url, { sid: alice.sid, ackId: H, ticket: alice.ticket });
      expect(refused.status).to.equal(429);
      expect(refused.body).to.match(/code="18101"/);
      await ws.close();
      await sleep(20);
      expect(await metrics.value('cwa_websockets')).to.equal(0);
    });
  });

  describe('tickets', () => {
    beforeEach(async () => {
      gw = await startTestGateway({ holdMs: 0, ticketTtlS: 600, sessionTimeoutS: 3600, wsPingIntervalMs: 30 }, { manualClock: true });
    });

    it('sends a ticket frame when the ticket rotates; the new ticket works over HTTP', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const original = alice.ticket!;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: original, ticketIn: 'query' });
      await ws.untilFrames(1);
      gw.clock!.advance(301_000);
      await ws.until(() => ws.frames.some((f) => f.startsWith('<ticket>')), 'a ticket frame');
      expect(ws.ticket).to.not.equal(original);
      alice.ticket = ws.ticket;
      expect((await alice.poll(H)).reply.status).to.equal(200);
    });

    it('sends the rotated ticket first when the socket attaches with an old one', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      gw.clock!.advance(301_000);
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket, ticketIn: 'query' });
      await ws.untilFrames(2);
      expect(ws.frames[0]).to.match(/^<ticket>[\w-]+<\/ticket>$/);
      expect(ws.frames[1]).to.match(/^<cwaEvents /);
    });

    it('closes with 4003 when the ticket expired', async () => {
      const alice = await signIn(gw);
      const H = alice.head;
      const ws = await attach({ sid: alice.sid, ackId: H, ticket: alice.ticket });
      await ws.untilFrames(1);
      gw.clock!.advance(601_000);
      expect(await ws.closed).to.deep.equal({ code: CloseCode.NotAuthenticated, reason: 'not authenticated' });
    });
  });
});
