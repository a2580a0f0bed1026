// The client library's errors against a live gateway: one class per thing an application
// can act on (unreachable, not signed in, wrong password, SIP failures named by their code,
// throttled with the gateway's Retry-After), and 429s waited out within the retry policy.
import { expect } from 'chai';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  CwaClientError,
  CwaRequestError,
  GatewayUnreachableError,
  NetworkError,
  NotAuthenticatedError,
  NotSignedInError,
  RequestFailedError,
  SignInRejectedError,
  SipError,
  ThrottledError,
  type CwaClient,
  type ImSession,
} from '../src/client/index.js';
import type { GatewayConfig } from '../src/config.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { rejection, until, validatingClient } from './support/sdk.js';

describe('client library: errors (src/client)', () => {
  let gw: TestGateway | undefined;
  const clients: CwaClient[] = [];

  async function gateway(overrides: Partial<GatewayConfig> = {}): Promise<TestGateway> {
    gw = await startTestGateway({ holdMs: 1000, ...overrides });
    return gw;
  }

  function client(options: Parameters<typeof validatingClient>[1] = {}): CwaClient {
    const c = validatingClient(gw!.url, options);
    clients.push(c);
    return c;
  }

  async function signedIn(login: string, options: Parameters<typeof validatingClient>[1] = {}): Promise<CwaClient> {
    const c = client(options);
    await c.signIn(login, `${login}-demo`);
    return c;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw?.close();
    gw = undefined;
  });

  it('GatewayUnreachableError when nothing listens, with the cause named', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = validatingClient(`http://127.0.0.1:${port}`);
    const err = await rejection(c.signIn('alice', 'alice-demo'));
    expect(err).to.be.instanceOf(GatewayUnreachableError).and.instanceOf(CwaClientError);
    expect(err).not.to.be.instanceOf(CwaRequestError);
    expect(err.message).to.include(`127.0.0.1:${port}`).and.include('ECONNREFUSED');
    expect((err as GatewayUnreachableError).url).to.equal(`http://127.0.0.1:${port}/forms/logon.html`);
  });

  it('GatewayUnreachableError for a request once the gateway is gone longer than offlineLimitMs, and the client ends "unreachable"', async function () {
    this.timeout(10_000);
    await gateway();
    const alice = await signedIn('alice', { transport: 'polling', offlineLimitMs: 500 });
    const ended = new Promise<string>((resolve) => alice.onEnded((reason) => resolve(reason)));
    await gw!.close();
    gw = undefined;
    const err = await rejection(alice.request(`<queryPresence rid="${alice.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`));
    expect(err).to.be.instanceOf(GatewayUnreachableError);
    expect(await ended).to.equal('unreachable');
  });

  it('SignInRejectedError for a wrong password; NotSignedInError before signing in', async () => {
    await gateway();
    const c = client();
    const wrong = await rejection(c.signIn('alice', 'not-her-password'));
    expect(wrong).to.be.instanceOf(SignInRejectedError).and.instanceOf(CwaRequestError);
    expect((wrong as SignInRejectedError).status).to.equal(401);
    const early = await rejection(c.request('<queryPresence rid="1"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>'));
    expect(early).to.be.instanceOf(NotSignedInError);
    expect(early.message).to.include('signIn');
  });

  it('the error names: NetworkError, NotAuthenticatedError, RequestFailedError (code, reason, SIP status and meaning), ThrottledError; the former names are the same classes', async () => {
    expect(GatewayUnreachableError).to.equal(NetworkError);
    expect(NotSignedInError).to.equal(NotAuthenticatedError);
    expect(Object.getPrototypeOf(SipError)).to.equal(RequestFailedError);
    expect(new ThrottledError('slow down', 1500)).to.be.instanceOf(CwaRequestError).and.instanceOf(CwaClientError);

    // NetworkError: nothing listens.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const offline = await rejection(validatingClient(`http://127.0.0.1:${port}`, { offlineLimitMs: 0 }).signIn('alice', 'alice-demo'));
    expect(offline).to.be.instanceOf(NetworkError).and.instanceOf(GatewayUnreachableError);
    expect(offline.name).to.equal('NetworkError');

    await gateway();
    // NotAuthenticatedError: no session.
    const nobody = client();
    const notIn = await rejection(nobody.directory.search('carol'));
    expect(notIn).to.be.instanceOf(NotAuthenticatedError).and.instanceOf(NotSignedInError);
    expect(notIn.name).to.equal('NotAuthenticatedError');

    const alice = await signedIn('alice');
    // RequestFailedError without a SIP status: a search with nothing to search for.
    const empty = (await rejection(alice.directory.search({}))) as RequestFailedError;
    expect(empty).to.be.instanceOf(RequestFailedError).and.instanceOf(CwaRequestError);
    expect(empty).not.to.be.instanceOf(SipError);
    expect(empty.name).to.equal('RequestFailedError');
    expect(empty.code).to.be.a('number').within(18000, 18999);
    expect(empty.reason).to.be.a('string').and.not.equal('');
    expect(empty.sipStatus).to.equal(undefined);
    expect(empty.sipMeaning).to.equal(undefined);

    // RequestFailedError with a SIP status: an invitation to nobody (a SipError).
    const failed = (await rejection((await alice.sessions.startImSession('sip:nobody@example.com', 'hi')).connected())) as RequestFailedError;
    expect(failed).to.be.instanceOf(RequestFailedError).and.instanceOf(SipError);
    expect(failed.code).to.be.a('number');
    expect(failed.reason).to.be.a('string').and.not.equal('');
    expect(failed.sipStatus).to.equal(404);
    expect(failed.sipMeaning).to.equal('user not found');
    // A contact-list failure the SIP side answers (a duplicate group name: 485).
    await alice.contacts.addGroup('Twice');
    const dup = (await rejection(alice.contacts.addGroup('Twice'))) as RequestFailedError;
    expect(dup).to.be.instanceOf(RequestFailedError);
    expect(dup.sipStatus).to.equal(485);
    expect(dup.sipMeaning).to.equal('ambiguous (a duplicate name)');
    expect(dup.message).to.include('SIP 485');
  });

  it('SipError names the code and its meaning: 404 user not found, 480 not available, 603 declined', async () => {
    await gateway();
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const expectSip = async (s: ImSession, code: number, words: string) => {
      const err = (await rejection(s.connected())) as SipError;
      expect(err).to.be.instanceOf(SipError).and.instanceOf(CwaRequestError);
      expect(err.sipCode).to.equal(code);
      expect(err.sip?.code).to.equal(code);
      expect(err.meaning).to.equal(words);
      expect(err.target).to.equal(s.peer.uri);
      expect(err.message).to.match(new RegExp(`^${s.peer.uri}: ${words} \\(SIP ${code} `));
    };
    await expectSip(await alice.sessions.startImSession('sip:nobody@example.com', 'hi'), 404, 'user not found');
    await expectSip(await alice.sessions.startImSession('sip:dave@example.com', 'hi'), 480, 'not available');
    bob.sessions.onIncomingSession((s) => void s.terminate());
    await expectSip(await alice.sessions.startImSession(bob.uri, 'hi'), 603, 'declined');
    // addParticipant rejects with the invitee named.
    let carolIn: ImSession | undefined;
    const carol = await signedIn('carol');
    carol.sessions.onIncomingSession((s) => {
      carolIn = s;
      void s.accept();
    });
    const withCarol = await alice.sessions.startImSession(carol.uri, 'hi carol');
    await withCarol.connected();
    await until(() => carolIn !== undefined, 'carol');
    const err = (await rejection(withCarol.addParticipant('sip:erin@example.com'))) as SipError;
    expect(err).to.be.instanceOf(SipError);
    expect(err.message).to.equal('sip:erin@example.com: not available (SIP 480 Temporarily Unavailable)');
  });

  it('SipError 486 busy and 408 no answer', async function () {
    this.timeout(10_000);
    await gateway({ maxConferencesPerSession: 1, inviteTimeoutS: 1 });
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const carol = await signedIn('carol');
    // carol and bob are talking; bob has no room for another conversation.
    bob.sessions.onIncomingSession((s) => void s.accept());
    const busyMaker = await carol.sessions.startImSession(bob.uri, 'hi');
    await busyMaker.connected();
    const busy = (await rejection((await alice.sessions.startImSession(bob.uri, 'hi')).connected())) as SipError;
    expect(busy).to.be.instanceOf(SipError);
    expect(busy.message).to.equal(`${bob.uri}: busy (SIP 486 Busy Here)`);
    // dave signs in and lets it ring.
    const dave = await signedIn('dave');
    let rang = false;
    dave.sessions.onIncomingSession(() => (rang = true));
    const started = Date.now();
    const noAnswer = (await rejection((await alice.sessions.startImSession(dave.uri, 'anyone?')).connected())) as SipError;
    expect(rang).to.equal(true);
    expect(noAnswer).to.be.instanceOf(SipError);
    expect(noAnswer.sipCode).to.equal(408);
    expect(noAnswer.message).to.equal(`${dave.uri}: no answer (SIP 408 Request Timeout)`);
    expect(Date.now() - started).to.be.greaterThanOrEqual(900);
  });

  it('waits out a 429 for the Retry-After the gateway gave, or rejects with ThrottledError carrying it', async function () {
    this.timeout(15_000);
    // One request a second per ticket; the client polls (a WebSocket's commands are not HTTP requests).
    await gateway({ rateTicket: 1, rateTicketBurst: 2, holdMs: 5000 });
    const query = (c: CwaClient) => c.request(`<queryPresence rid="${c.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);

    const patient = await signedIn('alice', { transport: 'polling', retry: { maxRetries: 10 } });
    const waitedFrom = Date.now();
    const answers = await Promise.all([query(patient), query(patient), query(patient), query(patient)]);
    for (const a of answers) expect(a.name).to.equal('requestAccepted');
    expect(Date.now() - waitedFrom, 'some were throttled and waited').to.be.greaterThanOrEqual(900);

    const impatient = await signedIn('bob', { transport: 'polling', retry: false });
    const outcomes = await Promise.allSettled([query(impatient), query(impatient), query(impatient), query(impatient)]);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as ThrottledError);
    expect(refused.length).to.be.greaterThan(0);
    for (const err of refused) {
      expect(err).to.be.instanceOf(ThrottledError).and.instanceOf(CwaRequestError);
      expect(err.status).to.equal(429);
      expect(err.code).to.equal(18101);
      expect(err.retryAfterMs).to.be.a('number').within(1000, 2000);
      expect(err.message).to.match(/retry after/i);
    }

    // A Retry-After longer than maxDelayMs is not waited for.
    const hasty = await signedIn('carol', { transport: 'polling', retry: { maxRetries: 5, maxDelayMs: 100 } });
    const started = Date.now();
    const hastyOutcomes = await Promise.allSettled([query(hasty), query(hasty), query(hasty), query(hasty)]);
    expect(hastyOutcomes.some((o) => o.status === 'rejected' && o.reason instanceof ThrottledError)).to.equal(true);
    expect(Date.now() - started, 'a 1 s Retry-After is not waited for').to.be.lessThan(900);
  });
});
