// The client library (src/client) against a live gateway: a conversation over
// WebSocket, killed connections, a forced switch to polling and back, all without
// losing or repeating a message. Every document the client receives is checked
// against schemas/.
import { expect } from 'chai';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { CwaClient, CwaRequestError, parseXml, type ImSession, type TransportName } from '../src/client/index.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidDocument } from './support/schemas.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Lets a test refuse WebSocket upgrades, as a proxy without WebSocket support would. */
function upgradeGate(server: http.Server): { block(on: boolean): void } {
  const listeners = server.listeners('upgrade') as ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => void)[];
  server.removeAllListeners('upgrade');
  let blocked = false;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (blocked) {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    for (const l of listeners) l.call(server, req, socket, head);
  });
  return { block: (on) => (blocked = on) };
}

interface Party {
  client: CwaClient;
  received: string[];
  transports: TransportName[];
}

describe('client library (src/client)', () => {
  let gw: TestGateway | undefined;
  const clients: CwaClient[] = [];

  function party(login: string, options: Partial<ConstructorParameters<typeof CwaClient>[0]> = {}): Party {
    const transports: TransportName[] = [];
    const client = new CwaClient({
      baseUrl: gw!.url,
      wsRetryMs: 300,
      inspect: (direction, _channel, xml) => {
        if (direction === 'received') expectValidDocument(xml);
      },
      ...options,
    });
    client.onTransportChanged((t) => transports.push(t));
    clients.push(client);
    return { client, received: [], transports };
  }

  async function connect(a: Party, b: Party): Promise<{ mine: ImSession; theirs: ImSession }> {
    let incoming: ImSession | undefined;
    b.client.sessions.onIncomingSession((s) => {
      incoming = s;
      s.onMessage((m) => b.received.push(m.content));
    });
    const mine = await a.client.sessions.startImSession(b.client.uri, 'hello', { subject: 'test' });
    mine.onMessage((m) => a.received.push(m.content));
    await until(() => incoming !== undefined, 'the invitation');
    expect(incoming!.firstMessage?.content).to.equal('hello');
    expect(incoming!.subject).to.equal('test');
    expect(incoming!.peer.uri).to.equal(a.client.uri);
    await incoming!.accept();
    await mine.connected();
    await incoming!.connected();
    // The invitation's message comes through onMessage too; the tests below count what follows it.
    await until(() => b.received.length === 1, 'the invitation\'s message');
    expect(b.received.splice(0)).to.deep.equal(['hello']);
    return { mine, theirs: incoming! };
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw?.close();
    gw = undefined;
  });

  it('parses the gateway\'s documents with its own small XML reader', () => {
    const root = parseXml(
      '<?xml version="1.0"?><!-- c --><cwaEvents sid="1" ackId="3"><conference eid="3" confId="1"><messageReceived sender="sip:a@b">' +
        '<message><content>a &amp; b &lt;c&gt; &#x263A; &#65;<![CDATA[<raw>]]></content></message></messageReceived></conference>' +
        '<selfPresence eid="4"><cwaCategory name="state"><state xmlns="urn:x" xmlns:xsi="urn:y" xsi:type="aggregateState"><availability>3500</availability></state></cwaCategory></selfPresence></cwaEvents>',
    );
    expect(root.attrs).to.deep.equal({ sid: '1', ackId: '3' });
    const content = root.children[0]!.children[0]!.children[0]!.children[0]!;
    expect(content.text).to.equal('a & b <c> \u263A A<raw>');
    expect(root.children[1]!.children[0]!.children[0]!.attrs).to.deep.equal({ type: 'aggregateState' });
    for (const bad of ['<a>', '<a></b>', '<a/><b/>', 'text', '<a>&nope;</a>', '<!DOCTYPE a><a/>', '<a b="1></a>']) {
      expect(() => parseXml(bad), bad).to.throw();
    }
  });

  it('holds a conversation over WebSocket: messages both ways, participants, composing, addParticipant, terminate', async () => {
    gw = await startTestGateway({ holdMs: 2000 });
    const alice = party('alice');
    const bob = party('bob');
    const carol = party('carol');
    await alice.client.signIn('alice', 'alice-demo');
    await bob.client.signIn('bob', 'bob-demo');
    await carol.client.signIn('carol', 'carol-demo');
    await until(() => [alice, bob, carol].every((p) => p.client.transport === 'websocket'), 'everyone on WebSocket');
    const { mine, theirs } = await connect(alice, bob);
    expect([...mine.participants.keys()]).to.deep.equal(['sip:bob@example.com']);
    expect([...theirs.participants.keys()]).to.deep.equal(['sip:alice@example.com']);
    const composing: boolean[] = [];
    theirs.onComposing((c) => composing.push(c.composing));
    await mine.setComposing(true);
    const id1 = await mine.sendMessage('one & <two>');
    const id2 = await theirs.sendMessage('three', 'X-MMS-IM-Format: FN=Arial');
    expect(id1).to.be.a('string').and.not.equal('');
    expect(id2).to.be.a('string').and.not.equal(id1);
    await until(() => bob.received.length === 1 && alice.received.length === 1, 'the messages');
    expect(bob.received).to.deep.equal(['one & <two>']);
    expect(alice.received).to.deep.equal(['three']);
    expect(composing).to.deep.equal([true]);

    // A third participant: the conversation becomes a conference; addParticipant resolves when carol joins.
    let carolSession: ImSession | undefined;
    carol.client.sessions.onIncomingSession((s) => {
      carolSession = s;
      s.onMessage((m) => carol.received.push(m.content));
      void s.accept();
    });
    const joinedAtBob: string[] = [];
    theirs.onParticipantAdded((p) => joinedAtBob.push(p.uri));
    const carolAsParticipant = await mine.addParticipant('sip:carol@example.com');
    expect(carolAsParticipant.uri).to.equal('sip:carol@example.com');
    expect(mine.escalationMode).to.equal('escalated');
    await until(() => joinedAtBob.includes('sip:carol@example.com'), 'bob sees carol join');
    await mine.sendMessage('hello both');
    await until(() => bob.received.length === 2 && carol.received.length === 1, 'the conference message');
    expect(carol.received).to.deep.equal(['hello both']);
    // Someone who is not signed in: the promise is rejected with the invitation's SIP reason.
    const refused = (await mine.addParticipant('sip:dave@example.com').then(() => undefined, (e: unknown) => e)) as CwaRequestError;
    expect(refused).to.be.instanceOf(CwaRequestError);
    expect(refused.sip?.code).to.be.oneOf([404, 480]);

    // Alice leaves; bob and carol go on.
    const removed: string[] = [];
    theirs.onParticipantRemoved((uri) => removed.push(uri));
    await mine.terminate();
    await until(() => removed.includes('sip:alice@example.com'), 'bob sees alice leave');
    expect(mine.state).to.equal('terminated');
    await theirs.sendMessage('still here');
    await until(() => carol.received.includes('still here'), 'carol gets bob\'s message');
    expect(carolSession!.state).to.equal('connected');
    for (const p of [alice, bob, carol]) expect(p.transports).to.deep.equal(['websocket']);
  });

  it('reports a failed invitation with its SIP reason', async () => {
    gw = await startTestGateway({ holdMs: 2000 });
    const alice = party('alice');
    await alice.client.signIn('alice', 'alice-demo');
    const s = await alice.client.sessions.startImSession('sip:nobody@example.com', 'hi');
    const err = (await s.connected().then(() => undefined, (e: unknown) => e)) as CwaRequestError;
    expect(err).to.be.instanceOf(CwaRequestError);
    expect(err.sip?.code).to.equal(404);
    const bad = await alice.client.sessions.startImSession('not a uri', 'hi').then(() => undefined, (e: unknown) => e);
    expect(bad).to.be.instanceOf(CwaRequestError);
  });

  it('survives killed connections and a forced switch to polling (and back) without losing or repeating a message', async function () {
    this.timeout(30_000);
    gw = await startTestGateway({ holdMs: 2000 });
    const gate = upgradeGate(gw!.gateway.server);
    const alice = party('alice');
    const bob = party('bob');
    await alice.client.signIn('alice', 'alice-demo');
    await bob.client.signIn('bob', 'bob-demo');
    const { mine, theirs } = await connect(alice, bob);
    const sent: string[] = [];
    let n = 0;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const text = `m${n++}`;
        sent.push(text);
        await mine.sendMessage(text);
      }
    };
    const bobSocket = () => gw!.gateway.websocket.list().find((s) => s.login === 'bob' && s.isActive);
    const aliceSocket = () => gw!.gateway.websocket.list().find((s) => s.login === 'alice' && s.isActive);

    await until(() => bob.client.transport === 'websocket', 'bob on WebSocket');
    await send(5);
    // 1. Killed connections: the receiver's socket, then the sender's (with sendMessage batches in
    // flight on it: they go again as POSTs and run once), are dropped without a close frame.
    for (let k = 0; k < 4; k++) {
      const victim = k % 2 === 0 ? bobSocket : aliceSocket;
      await until(() => victim() !== undefined, 'a socket to kill');
      const sending = send(5);
      await sleep(k);
      victim()!.kill();
      await sending;
      await sleep(50);
    }
    await until(() => bob.received.length === sent.length, 'every message after the kills');
    expect(bob.received).to.deep.equal(sent);

    // 2. Forced switch to polling: upgrades are refused and the socket is killed; bob polls.
    await until(() => bobSocket() !== undefined, 'a socket for bob');
    gate.block(true);
    const sending = send(5);
    bobSocket()!.kill();
    await sending;
    await until(() => bob.client.transport === 'polling', 'bob polling');
    await send(5);
    await until(() => bob.received.length === sent.length, 'every message while polling');
    expect(bob.received).to.deep.equal(sent);

    // 3. Upgrades work again: bob goes back to WebSocket (it retries every wsRetryMs) and the conversation goes on.
    gate.block(false);
    const more = send(5);
    await until(() => bob.client.transport === 'websocket', 'bob back on WebSocket');
    await more;
    await send(5);
    await until(() => bob.received.length === sent.length, 'every message at the end');
    expect(bob.received).to.deep.equal(sent);
    expect(bob.transports).to.include.ordered.members(['websocket', 'polling', 'websocket']);

    // 4. The application can switch doors itself, in the middle of a burst.
    const burst = send(10);
    bob.client.useTransport('polling');
    await burst;
    await until(() => bob.client.transport === 'polling' && bob.received.length === sent.length, 'polling by choice');
    bob.client.useTransport('auto');
    await send(5);
    await until(() => bob.client.transport === 'websocket' && bob.received.length === sent.length, 'back by choice');
    expect(bob.received).to.deep.equal(sent);
    // Bob's own messages still go through whatever door is up.
    await theirs.sendMessage('bye');
    await until(() => alice.received.includes('bye'), 'alice gets bye');
  });

  it('works with polling only (no WebSocket available)', async () => {
    gw = await startTestGateway({ holdMs: 500 });
    const alice = party('alice', { webSocket: null });
    const bob = party('bob', { transport: 'polling' });
    await alice.client.signIn('alice', 'alice-demo');
    await bob.client.signIn('bob', 'bob-demo');
    const { mine } = await connect(alice, bob);
    for (const m of ['a', 'b', 'c']) await mine.sendMessage(m);
    await until(() => bob.received.length === 3, 'the messages');
    expect(bob.received).to.deep.equal(['a', 'b', 'c']);
    expect(alice.transports).to.deep.equal(['polling']);
    expect(bob.transports).to.deep.equal(['polling']);
  });

  it('ends with the gateway\'s reason when the session ends, and refuses a wrong password', async () => {
    gw = await startTestGateway({ holdMs: 2000 });
    const alice = party('alice');
    const wrong = await alice.client.signIn('alice', 'nope').then(() => undefined, (e: unknown) => e);
    expect(wrong).to.be.instanceOf(CwaRequestError);
    expect((wrong as CwaRequestError).status).to.equal(401);
    await alice.client.signIn('alice', 'alice-demo');
    const ended = new Promise<string>((resolve) => alice.client.onEnded((reason) => resolve(reason)));
    await until(() => alice.client.transport === 'websocket', 'WebSocket');
    await gw!.gateway.engine.exclusive(() => gw!.gateway.engine.endSession(gw!.gateway.engine.sessionFor('alice', alice.client.sid)!, 'timeout'));
    expect(await ended).to.equal('sessionEnded');
  });
});
