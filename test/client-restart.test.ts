// The client library across a gateway restart: the gateway (embedded SQLite store) is
// stopped and a new one started behind the same URL. The client finds its session and
// ticket gone, says so (onSessionLost), signs in again with the credentials it holds
// (onSignedInAgain) and goes on; with `signInAgain: false` it ends instead. A session that
// ended normally (sessionTerminated) is never signed in again.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CwaClient, ImMessage, ImSession, SessionLost, SignedInAgain } from '../src/client/index.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { Forwarder, sleep, until, validatingClient } from './support/sdk.js';

interface Watched {
  client: CwaClient;
  lost: SessionLost[];
  again: SignedInAgain[];
  ended: string[];
  /** From client.on('sessionLost') and client.on('resumed'). */
  sessionLostByName: SessionLost[];
  resumed: unknown[];
}

describe('client library across a gateway restart (src/client)', () => {
  let dataDir: string;
  let gw: TestGateway | undefined;
  let front: Forwarder;
  const clients: CwaClient[] = [];

  const startGateway = async () => {
    gw = await startTestGateway({ holdMs: 1000, dataDir }, { store: 'sqlite' });
    front.retarget(gw.url);
  };

  /** Stops the gateway, leaves the address dead for `downMs`, and starts a new one behind it. */
  const restart = async (downMs: number) => {
    await gw!.gateway.engine.shutdown();
    await gw!.close();
    front.retarget(undefined);
    await sleep(downMs);
    await startGateway();
  };

  function watched(options: Parameters<typeof validatingClient>[1] = {}): Watched {
    const client = validatingClient(front.url, options);
    clients.push(client);
    const w: Watched = { client, lost: [], again: [], ended: [], sessionLostByName: [], resumed: [] };
    client.on('sessionLost', (l) => w.sessionLostByName.push(l));
    client.on('resumed', (r) => w.resumed.push(r));
    client.onSessionLost((l) => w.lost.push(l));
    client.onSignedInAgain((a) => w.again.push(a));
    client.onEnded((reason) => w.ended.push(reason));
    return w;
  }

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cwa-client-restart-'));
    front = new Forwarder();
    await front.start();
    await startGateway();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw?.close();
    gw = undefined;
    await front.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  for (const transport of ['auto', 'polling'] as const) {
    it(`signs in again by itself after a restart, says so, and chats on (${transport})`, async function () {
      this.timeout(20_000);
      const alice = watched({ transport });
      const bob = watched({ transport });
      await alice.client.signIn('alice', 'alice-demo');
      await bob.client.signIn('bob', 'bob-demo');
      const heard: ImMessage[] = [];
      bob.client.sessions.onIncomingSession((s) => {
        s.onMessage((m) => heard.push(m));
        void s.accept();
      });
      const before = await alice.client.sessions.startImSession(bob.client.uri, 'before');
      await before.connected();
      await until(() => heard.length === 1, 'the first conversation');
      const states: string[] = [];
      before.onStateChanged((s) => states.push(s));
      const sids = [alice.client.sid, bob.client.sid];

      await restart(300);
      await until(() => alice.again.length === 1 && bob.again.length === 1, 'both signed in again', 15_000);
      for (const [i, w] of [alice, bob].entries()) {
        expect(w.lost).to.have.length(1);
        expect(w.lost[0]!.previousSid).to.equal(sids[i]);
        expect(w.lost[0]!.signingInAgain).to.equal(true);
        expect(w.lost[0]!.reason).to.be.oneOf(['notAuthenticated', 'sessionEnded']);
        expect(w.again[0]).to.deep.equal({ previousSid: sids[i], sid: w.client.sid });
        expect(w.ended, 'the client did not end').to.deep.equal([]);
        expect(w.sessionLostByName, "client.on('sessionLost') is the same event").to.deep.equal(w.lost);
        expect(w.resumed, 'a session that did not survive is not resumed').to.deep.equal([]);
      }
      // The conversation of the lost session is over; a new one works, first message included.
      expect(before.state).to.equal('terminated');
      expect(states).to.deep.equal(['terminated']);
      expect(alice.client.sessions.all()).to.deep.equal([]);
      const after = await alice.client.sessions.startImSession(bob.client.uri, 'after');
      await after.connected();
      await after.sendMessage('and more');
      await until(() => heard.length === 3, 'the new conversation');
      expect(heard.map((m) => [m.content, m.fromInvitation === true])).to.deep.equal([
        ['before', true],
        ['after', true],
        ['and more', false],
      ]);
      expect(gw!.gateway.engine.liveSessions()).to.equal(2);
    });
  }

  it('a request made while it signs in again runs in the new session', async function () {
    this.timeout(20_000);
    const alice = watched({ transport: 'polling' });
    await alice.client.signIn('alice', 'alice-demo');
    const lost = new Promise<void>((resolve) => alice.client.onSessionLost(() => resolve()));
    await restart(100);
    await lost;
    const answer = await alice.client.request(`<queryPresence rid="${alice.client.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);
    expect(answer.name).to.equal('requestAccepted');
    expect(alice.again).to.have.length(1);
  });

  it('with signInAgain: false it reports the lost session and ends', async function () {
    this.timeout(20_000);
    const alice = watched({ signInAgain: false });
    await alice.client.signIn('alice', 'alice-demo');
    const sid = alice.client.sid;
    await restart(100);
    await until(() => alice.ended.length === 1, 'the end', 15_000);
    expect(alice.lost).to.deep.equal([{ reason: alice.ended[0], previousSid: sid, signingInAgain: false }]);
    expect(alice.ended[0]).to.be.oneOf(['notAuthenticated', 'sessionEnded']);
    expect(alice.again).to.deep.equal([]);
    expect(gw!.gateway.engine.liveSessions()).to.equal(0);
  });

  it('does not sign in again after a session that ended normally (sessionTerminated)', async () => {
    const alice = watched();
    await alice.client.signIn('alice', 'alice-demo');
    const engine = gw!.gateway.engine;
    await engine.exclusive(() => engine.endSession(engine.sessionFor('alice', alice.client.sid)!, 'timeout'));
    await until(() => alice.ended.length === 1, 'the end');
    expect(alice.ended).to.deep.equal(['sessionEnded']);
    await sleep(200);
    expect(alice.lost).to.deep.equal([]);
    expect(alice.again).to.deep.equal([]);
    expect(engine.liveSessions()).to.equal(0);
  });

  for (const transport of ['auto', 'polling'] as const) {
    it(`does not sign in again after a sign-out everywhere (revocation) of a healthy connection (${transport})`, async () => {
      const alice = watched({ transport });
      await alice.client.signIn('alice', 'alice-demo');
      if (transport === 'auto') await until(() => alice.client.transport === 'websocket', 'a WebSocket');
      await sleep(50); // a poll or socket in place
      const engine = gw!.gateway.engine;
      await engine.signOut('alice');
      await until(() => alice.ended.length === 1, 'the end');
      expect(alice.ended[0]).to.be.oneOf(['notAuthenticated', 'sessionEnded']);
      await sleep(200);
      expect(alice.lost).to.deep.equal([]);
      expect(alice.again).to.deep.equal([]);
      expect(engine.liveSessions()).to.equal(0);
    });
  }

  it('signs out cleanly: no sign-in again after signOut', async () => {
    const alice = watched();
    await alice.client.signIn('alice', 'alice-demo');
    const s: ImSession[] = alice.client.sessions.all();
    expect(s).to.deep.equal([]);
    await alice.client.signOut();
    await sleep(200);
    expect(alice.lost).to.deep.equal([]);
    expect(alice.again).to.deep.equal([]);
    expect(gw!.gateway.engine.liveSessions()).to.equal(0);
  });
});
