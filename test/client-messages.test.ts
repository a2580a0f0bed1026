// The client library's conversations against a live gateway: the message that rides in an
// invitation reaches the application through the same onMessage as every other one,
// flagged as the invitation's, even when the listener is added after an await.
import { expect } from 'chai';
import type { CwaClient, ImMessage, ImSession } from '../src/client/index.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { sleep, until, validatingClient } from './support/sdk.js';

describe('client library: messages (src/client)', () => {
  let gw: TestGateway;
  const clients: CwaClient[] = [];
  before(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
  });
  after(() => gw.close());

  async function signedIn(login: string, transport: 'auto' | 'polling' = 'auto'): Promise<CwaClient> {
    const c = validatingClient(gw.url, { transport });
    clients.push(c);
    await c.signIn(login, `${login}-demo`);
    return c;
  }

  for (const transport of ['auto', 'polling'] as const) {
    it(`delivers the invitation's message through onMessage, flagged, then the others in order (${transport})`, async () => {
      const alice = await signedIn('alice', transport);
      const bob = await signedIn('bob', transport);
      const got: ImMessage[] = [];
      let incoming: ImSession | undefined;
      bob.sessions.onIncomingSession((s) => {
        incoming = s;
        s.onMessage((m) => got.push(m));
      });
      const mine = await alice.sessions.startImSession(bob.uri, 'hello bob', { subject: 'lunch' });
      await until(() => incoming !== undefined, 'the invitation');
      await incoming!.accept();
      await mine.connected();
      await mine.sendMessage('second');
      await mine.sendMessage('third', 'X-MMS-IM-Format: FN=Arial');
      await until(() => got.length === 3, 'three messages');
      expect(got).to.deep.equal([
        { sender: alice.uri, content: 'hello bob', fromInvitation: true },
        { sender: alice.uri, content: 'second' },
        { sender: alice.uri, content: 'third', format: 'X-MMS-IM-Format: FN=Arial' },
      ]);
      // Still on the session, for code written before.
      expect(incoming!.firstMessage).to.deep.equal({ sender: alice.uri, content: 'hello bob' });
      // The inviter does not get her own first message back.
      const back: ImMessage[] = [];
      mine.onMessage((m) => back.push(m));
      await incoming!.sendMessage('hi alice');
      await until(() => back.length === 1, 'bob\'s answer');
      expect(back).to.deep.equal([{ sender: bob.uri, content: 'hi alice' }]);
    });
  }

  it('keeps messages for a listener added after an await, and hands them over once, in order', async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const first: string[] = [];
    const second: string[] = [];
    let incoming: ImSession | undefined;
    bob.sessions.onIncomingSession(async (s) => {
      await sleep(100); // e.g. looking the caller up first
      incoming = s;
      s.onMessage((m) => first.push(`${m.fromInvitation ? '*' : ''}${m.content}`));
    });
    await alice.sessions.startImSession(bob.uri, 'ring');
    await until(() => incoming !== undefined, 'the listener');
    await until(() => first.length === 1, 'the kept message');
    expect(first).to.deep.equal(['*ring']);
    // A second listener added later gets only what comes after it.
    incoming!.onMessage((m) => second.push(m.content));
    await incoming!.accept();
    const [mine] = alice.sessions.all();
    await mine!.connected();
    await mine!.sendMessage('after');
    await until(() => first.length === 2 && second.length === 1, 'the next message');
    expect(first).to.deep.equal(['*ring', 'after']);
    expect(second).to.deep.equal(['after']);
  });
});
