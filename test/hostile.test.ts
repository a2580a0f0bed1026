// Bad input gets a clear error within a second, nothing runs, and the gateway keeps serving.
import { expect } from 'chai';
import { LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';

const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

describe('hostile and malformed input', () => {
  let gw: TestGateway;
  let alice: LegacyClient;
  before(async () => {
    gw = await startTestGateway({ holdMs: 0 });
    alice = await new LegacyClient(gw.url, 'alice').signIn();
  });
  after(() => gw.close());

  async function post(body: string | Buffer, headers: Record<string, string> = {}) {
    const started = Date.now();
    const res = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, {
      method: 'POST',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'Content-Type': 'text/xml', 'CWA-Ticket': alice.ticket!, ...headers },
    });
    const text = await res.text();
    return { status: res.status, text, ms: Date.now() - started };
  }

  async function stillServes() {
    const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="99"><acceptImSession/></conference>`);
    expect(r.status).to.equal(200);
    expect(r.root.children[0]!.name).to.equal('requestFailed');
  }

  const billionLaughs =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' +
    `<cwaRequests xmlns="${NS}"><search rid="1">&lol3;</search></cwaRequests>`;

  const cases: Array<[string, string | Buffer, number, RegExp]> = [
    ['malformed XML', `<cwaRequests xmlns="${NS}"><terminateSession rid="1"></cwaRequests>`, 400, /malformed/],
    ['not XML at all', 'hello', 400, /malformed/],
    ['an empty body', '', 400, /malformed|root/],
    ['an entity bomb (DOCTYPE with nested entities)', billionLaughs, 400, /DOCTYPE/],
    ['an entity reference in an attribute (CVE-2013-1664 pattern)', `<cwaRequests xmlns="${NS}" sid="&lol;"><terminateSession rid="1"/></cwaRequests>`, 400, /entit/],
    ['an external entity', `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><cwaRequests xmlns="${NS}">&x;</cwaRequests>`, 400, /DOCTYPE/],
    ['a processing instruction', `<?xml version="1.0"?><?xml-stylesheet href="x"?><cwaRequests xmlns="${NS}"/>`, 400, /processing instruction/],
    ['a deep nest', `<cwaRequests xmlns="${NS}">${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</cwaRequests>`, 400, /deeper/],
    ['too many elements', `<cwaRequests xmlns="${NS}"><search rid="1">${'<x/>'.repeat(5000)}</search></cwaRequests>`, 400, /more than/],
    ['a huge attribute', `<cwaRequests xmlns="${NS}"><terminateSession rid="${'9'.repeat(10_000)}"/></cwaRequests>`, 400, /longer than/],
    ['a wrong root', `<cwaEvents xmlns="${NS}"/>`, 400, /root element/],
    ['a namespace declaration that is not a URI (found by fuzzing)', `<cwaRequests xmlns="${NS}"><terminateSession rid="1" xmlns="d 45Z"/></cwaRequests>`, 400, /malformed.*not a valid URI/],
    ['a wrong namespace', '<cwaRequests xmlns="urn:other"><terminateSession rid="1"/></cwaRequests>', 400, /namespace/],
    ['invalid UTF-8 in a body declared UTF-8', Buffer.concat([Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><cwaRequests xmlns="${NS}"><search rid="1">`), Buffer.from([0xc3, 0x28]), Buffer.from('</search></cwaRequests>')]), 400, /not valid UTF-8/],
    ['too many requests in one batch', `<cwaRequests xmlns="${NS}" sid="1">${'<terminateSession rid="1"/>'.repeat(100)}</cwaRequests>`, 400, /at most/],
  ];

  for (const [what, body, status, detail] of cases) {
    it(`refuses ${what} with ${status} and an error body, quickly, and keeps serving`, async () => {
      const r = await post(body);
      expect(r.status, r.text).to.equal(status);
      expectValidResponses(r.text);
      const error = parse(r.text).children[0]!;
      expect(error.name).to.equal('error');
      expect(error.attrs.code).to.match(/^180\d\d$/);
      expect(error.attrs.detail).to.match(detail);
      expect(r.ms).to.be.lessThan(1000);
      await stillServes();
    });
  }

  it('refuses a 6 MB body with 413 before reading it all, and keeps serving', async () => {
    const r = await post(Buffer.alloc(6 * 1024 * 1024, 'a'));
    expect(r.status).to.equal(413);
    expectValidResponses(r.text);
    expect(r.ms).to.be.lessThan(1000);
    await stillServes();
  });

  it('reads the body as XML whatever content type a legacy AJAX library sets (none, text/plain, form-urlencoded)', async () => {
    for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded; charset=UTF-8', 'application/xml', '']) {
      const r = await post(`<cwaRequests xmlns="${NS}" sid="${alice.sid}"><conference rid="${alice.nextRid()}" confId="99"><acceptImSession/></conference></cwaRequests>`, { 'Content-Type': type });
      expect(r.status, type).to.equal(200);
      expect(parse(r.text).children[0]!.name, type).to.equal('requestFailed');
    }
  });

  it('refuses a content type that is not XML with 415', async () => {
    const r = await post('{"a":1}', { 'Content-Type': 'application/json' });
    expect(r.status).to.equal(415);
    expectValidResponses(r.text);
  });

  it('runs nothing of a batch it refuses as a whole', async () => {
    const r = await post(`<cwaRequests xmlns="${NS}" sid="${alice.sid}"><terminateSession rid="1"/><bad></cwaRequests>`);
    expect(r.status).to.equal(400);
    await stillServes(); // the session was not terminated
  });
});

describe('tickets and session ownership', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  afterEach(() => gw.close());

  it('answers a failed logon with 401, an error body and no ticket', async () => {
    const mallory = new LegacyClient(gw.url, 'alice');
    const r = await mallory.logon('wrong');
    expect(r.status).to.equal(401);
    expect(r.ticket).to.equal(null);
    expect(r.root.children[0]!.name).to.equal('error');
  });

  it('accepts every logon-name form and issues an unguessable ticket', async () => {
    const tickets = new Set<string>();
    for (const user of ['alice', 'EXAMPLE\\alice', 'alice@example.com', 'sip:alice@example.com', 'ALICE']) {
      const c = new LegacyClient(gw.url, user, 'alice-demo');
      const r = await c.logon();
      expect(r.status, user).to.equal(200);
      expect(r.ticket).to.match(/^[A-Za-z0-9_-]{43}$/); // 256 random bits, base64url
      tickets.add(r.ticket!);
    }
    expect(tickets.size).to.equal(5);
  });

  it('refuses every request without a valid ticket with 401 and runs nothing', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    for (const ticket of [undefined, 'forged', alice.ticket + 'x']) {
      const c = new LegacyClient(gw.url, 'alice');
      c.ticket = ticket;
      c.sid = alice.sid;
      const cmd = await c.command('<terminateSession rid="1"/>');
      expect(cmd.status).to.equal(401);
      expect(cmd.ticket).to.equal(null);
      const poll = await c.poll(0);
      expect(poll.reply.status).to.equal(401);
    }
    expect((await alice.poll()).reply.status).to.equal(200); // still alive
  });

  it('keeps one user out of another user\'s session on both channels', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const spy = new LegacyClient(gw.url, 'bob');
    spy.ticket = bob.ticket;
    spy.sid = alice.sid;
    const poll = await spy.poll(0);
    expect(poll.reply.status).to.equal(404);
    expect(poll.reply.root.children[0]!.attrs.code).to.equal('18100');
    const cmd = await spy.command(`<terminateSession rid="5"/>`);
    expect(cmd.root.children[0]!.name).to.equal('requestFailed');
    expect(cmd.root.children[0]!.children[0]!.attrs.code).to.equal('18100');
    const mine = await alice.poll(0);
    expect(mine.reply.status).to.equal(200);
    expect(mine.events.map((e) => e.name)).to.deep.equal(['configuration', 'selfPresence', 'contactGroup', 'subscribers', 'selfRawCategories', 'containers']);
  });

  it('keeps the ticket valid after terminateSession', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const first = alice.sid;
    await alice.terminate();
    await alice.signIn();
    expect(alice.sid).to.not.equal(first);
  });

  it('answers a request that needs a session, before initiateSession, with 18100', async () => {
    const alice = new LegacyClient(gw.url, 'alice');
    await alice.logon();
    const r = await alice.command('<conference rid="1" confId="0"><acceptImSession/></conference>', 0);
    expect(r.root.children[0]!.children[0]!.attrs.code).to.equal('18100');
  });

  it('answers a request the reference names but the gateway does not carry out yet as not supported, not unknown', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const r = await alice.command('<conference rid="9" confId="1"><voIPTerminate><action>busyhere</action></voIPTerminate></conference>');
    expect(r.root.attrs.unexpectedElement).to.equal('0');
    expect(r.root.children[0]!.name).to.equal('requestFailed');
    expect(r.root.children[0]!.children[0]!.attrs.detail).to.match(/not supported/);
  });

  it('answers data-channel GETs without a usable Sid with 400', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    for (const q of ['', '?AckId=0', '?Sid=abc&AckId=0', '?Sid=1&AckId=-4']) {
      const r = await alice.http('GET', `/cwa/AsyncDataChannel.ashx${q}`);
      expect(r.status, q).to.equal(400);
    }
  });
});

describe('time: session idle timeout, ticket expiry and rotation, unanswered invitations', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0, sessionTimeoutS: 60, ticketTtlS: 600, inviteTimeoutS: 30 }, { manualClock: true });
  });
  afterEach(() => gw.close());

  it('ends an idle session with a sessionTerminated(timeout) event, then forgets it', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    gw.clock!.advance(59_000);
    await gw.gateway.tick();
    expect((await alice.poll()).reply.status).to.equal(200); // the poll itself is activity
    gw.clock!.advance(61_000);
    await gw.gateway.tick();
    const { events } = await alice.poll();
    expect(events.map((e) => e.name)).to.deep.equal(['sessionTerminated']);
    expect(events[0]!.attrs.reason).to.equal('timeout');
    expect((await alice.poll()).reply.status).to.equal(404);
  });

  it('offers a successor past half a ticket\'s age; the old ticket works until the successor is used, then for a minute; an unused ticket expires', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const original = alice.ticket!;
    gw.clock!.advance(301_000);
    const r = await alice.poll();
    expect(r.reply.ticket).to.be.a('string').and.not.equal(original);
    const rotated = alice.ticket!;
    // Offered, not imposed: the old ticket goes on working, and is answered as it is (one successor at most).
    const old = new LegacyClient(gw.url, 'alice');
    old.sid = alice.sid;
    for (const step of [0, 61_000]) {
      gw.clock!.advance(step);
      old.ticket = original;
      const viaOld = await old.poll(alice.ackId);
      expect(viaOld.reply.status).to.equal(200);
      expect(viaOld.reply.ticket).to.equal(original);
    }
    // The successor's first use retires the old ticket after a minute (requests in flight).
    expect((await alice.poll()).reply.ticket).to.equal(rotated);
    gw.clock!.advance(59_000);
    old.ticket = original;
    expect((await old.poll(alice.ackId)).reply.status).to.equal(200);
    gw.clock!.advance(2_000);
    old.ticket = original;
    expect((await old.poll(alice.ackId)).reply.status).to.equal(401);
    expect((await alice.poll()).reply.status).to.not.equal(401);
    // A ticket unused for its lifetime expires.
    gw.clock!.advance(601_000);
    expect((await alice.poll()).reply.status).to.equal(401);
  });

  it('fails an invitation nobody answers after --invite-timeout-s, with SIP 408', async () => {
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await alice.poll();
    await bob.poll();
    await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
    await bob.poll();
    await alice.poll();
    gw.clock!.advance(31_000);
    await gw.gateway.tick();
    const a = await alice.poll();
    const failed = a.events.find((e) => e.name === 'requestFailed')!;
    expect(failed.children[0]!.children[0]!.attrs.code).to.equal('408');
    const b = await bob.poll();
    expect(b.events.map((e) => e.children[0]?.text)).to.include('terminated');
  });
});
