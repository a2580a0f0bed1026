// Switching between long-polling and WebSocket inside one conversation, with messages
// queued during every switch: the receiver sees every message exactly once, in order.
import { expect } from 'chai';
import { CloseCode } from '../src/transport/ws/close-codes.js';
import { conferenceChild, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { WsTestClient } from './support/ws-client.js';
import type { XNode } from '../src/protocol/xml-tree.js';

/** A receiver that keeps its own cursor and processes each eid once, whichever door it came through. */
class Receiver {
  cursor = 0;
  readonly messages: string[] = [];
  readonly seenEids: number[] = [];
  readonly events: XNode[] = [];

  take(events: XNode[]): void {
    for (const e of events) {
      const eid = Number(e.attrs.eid);
      if (eid <= this.cursor) continue; // already processed (a redelivery)
      expect(eid, 'no gap').to.equal(this.cursor + 1);
      this.cursor = eid;
      this.seenEids.push(eid);
      this.events.push(e);
      const mr = conferenceChild(e, 'messageReceived');
      if (mr) this.messages.push(mr.children[0]!.children.find((c) => c.name === 'content')!.text);
    }
  }
}

describe('switching between polling and WebSocket', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('poll -> WebSocket -> poll -> WebSocket -> poll in one conversation: every message once, in order', async () => {
    gw = await startTestGateway({ holdMs: 300 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const rx = new Receiver();
    const pollBob = async () => {
      const { reply, events } = await bob.poll(rx.cursor);
      expect(reply.status, reply.body).to.equal(200);
      rx.take(events);
    };
    await pollBob();
    await alice.poll();
    const start = await alice.command(
      `<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hello</content></message></initiateImSession></conference>`,
    );
    const aliceConf = start.root.children[0]!.attrs.confId!;
    let invitation: XNode | undefined;
    while (!invitation) {
      await pollBob();
      invitation = rx.events.find((e) => conferenceChild(e, 'imSessionReceived'));
    }
    const bobConf = invitation.attrs.confId!;
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
    await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');

    const sent: string[] = [];
    let n = 0;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const text = `m${n++}`;
        sent.push(text);
        const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="${aliceConf}"><sendMessage><content>${text}</content></sendMessage></conference>`);
        expect(r.root.children[0]!.name).to.equal('requestAccepted');
      }
    };
    const wsPhase = async (ending: 'client-close' | 'superseded-by-poll') => {
      await send(2); // queued while nothing is attached
      const attaching = WsTestClient.attach(gw.url, { sid: bob.sid, ackId: rx.cursor, ticket: bob.ticket });
      const during = send(2); // queued while the socket attaches
      const ws = await attaching;
      await during;
      await send(3); // queued while the socket is attached
      const target = sent.length;
      await ws.until(() => {
        const fresh = ws.events.filter((e) => Number(e.attrs.eid) > rx.cursor);
        return fresh.filter((e) => conferenceChild(e, 'messageReceived')).length + rx.messages.length >= target;
      }, 'the phase\'s messages');
      // Process only part of what arrived and acknowledge it; the rest stays unacknowledged.
      const half = ws.events.slice(0, Math.ceil(ws.events.length / 2));
      rx.take(half);
      ws.ack(rx.cursor);
      await send(1); // queued while switching away
      if (ending === 'client-close') {
        await ws.close();
        await pollBob();
      } else {
        await pollBob(); // takes over: the socket is closed with 4001
        expect((await ws.closed).code).to.equal(CloseCode.Superseded);
      }
    };

    await send(2);
    await pollBob();
    await wsPhase('client-close');
    await send(2);
    await pollBob();
    await wsPhase('superseded-by-poll');
    await send(2);
    while (rx.messages.length < sent.length) await pollBob();
    expect(rx.messages).to.deep.equal(sent);
    expect(rx.seenEids).to.deep.equal(Array.from({ length: rx.cursor }, (_, i) => i + 1));
  });
});
