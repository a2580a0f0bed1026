// The yardstick: one continuous session of a client library written against a real
// Communicator Web Access 2007 R2 server (the public Java library with a Swing IM app on
// top), with every wire habit it has at once, against a gateway with default options
// (rate limits included):
// - it GETs the server root first (Accept: text/plain, a Firefox 3.6 User-Agent) and gives
//   up on any status >= 400;
// - it posts XML form-encoded, in its platform's charset, declared in the XML declaration;
// - it reads CWA-Ticket once, at logon, and presents it forever;
// - it numbers its own conversations (1 + the highest confId in its table), ignores the
//   confId it is given, drops invitations from its table, never sends acceptImSession and
//   always polls with UA=false;
// - it walks userPresence child nodes by position.
// Bob, carol and dave are ordinary clients. Nothing any of them sends may reach someone it
// was not meant for, and alice stays signed in for hours while she is active.
import { expect } from 'chai';
import { defaultConfig } from '../src/config.js';
import type { XNode } from '../src/protocol/xml-tree.js';
import { CWA_NS, conferenceChild, drainEvents, LegacyClient, messageTexts, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { dom, elementsByPosition, type DomElement } from './support/position-dom.js';
import { expectValidDocument } from './support/schemas.js';

const FIREFOX_36 = 'Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3';
const MINUTE = 60_000;

/** The Java library's wire behaviour, as observed against a real server. */
class JavaLibraryClient {
  /** Read once, at logon; sent on every request after that, whatever the answers offer. */
  ticket = '';
  sid = 0;
  ackId = 0;
  /** Its own conversations: confId -> the peer it started it with. */
  readonly table = new Map<number, string>();
  readonly received: { confId: number; sender: string; text: string }[] = [];
  readonly presence: DomElement[] = [];
  private rid = 1;

  constructor(readonly baseUrl: string, readonly login: string, readonly password: string) {}

  async connect(): Promise<number> {
    const res = await fetch(`${this.baseUrl}/`, { headers: { Accept: 'text/plain', 'User-Agent': FIREFOX_36 } });
    await res.arrayBuffer();
    return res.status;
  }

  /** A form-encoded ISO-8859-1 body with its XML declaration, as the library posts. */
  private async post(path: string, inner: string, withNs = true): Promise<{ status: number; text: string; ticket: string | null }> {
    const xml = `<?xml version="1.0" encoding="ISO-8859-1"?><cwaRequests${withNs ? ` xmlns="${CWA_NS}" sid="${this.sid}"` : ''}>${inner}</cwaRequests>`;
    const res = await fetch(this.baseUrl + path, {
      method: 'POST',
      body: Buffer.from(xml, 'latin1'),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Java/1.6.0_20', ...(this.ticket ? { 'CWA-Ticket': this.ticket } : {}) },
    });
    const text = await res.text();
    expectValidDocument(text);
    return { status: res.status, text, ticket: res.headers.get('cwa-ticket') };
  }

  async logon(): Promise<void> {
    const r = await this.post('/forms/logon.html', `<logon><user>${this.login}</user><password>${this.password}</password></logon>`, false);
    expect(r.status, r.text).to.equal(200);
    this.ticket = r.ticket!;
  }

  async command(inner: string): Promise<XNode> {
    const r = await this.post('/cwa/MainCommandHandler.ashx', inner);
    expect(r.status, r.text).to.equal(200);
    return parse(r.text).children[0]!;
  }

  nextRid(): string {
    return String(this.rid++);
  }

  async initiateSession(): Promise<void> {
    const answer = await this.command(`<initiateSession rid="${this.nextRid()}"><localeId>1033</localeId></initiateSession>`);
    this.sid = Number(answer.children.find((c) => c.name === 'sid')!.text);
  }

  /** Its next conversation's number: one above every confId in its table. */
  nextConfId(): number {
    return 1 + Math.max(0, ...this.table.keys());
  }

  async start(peer: string, text: string): Promise<number> {
    const confId = this.nextConfId();
    // It ignores the answer's confId: the conversation is `confId` from now on.
    await this.command(`<conference confId="${confId}" rid="${this.nextRid()}"><initiateImSession><uris><uri>${peer}</uri></uris><message><format>text/plain</format><content>${text}</content></message></initiateImSession></conference>`);
    this.table.set(confId, peer);
    return confId;
  }

  async say(confId: number, text: string): Promise<void> {
    await this.command(`<conference confId="${confId}" rid="${this.nextRid()}"><sendMessage><format>text/plain</format><content>${text}</content></sendMessage></conference>`);
  }

  /** Polls (UA=false) until the log is empty; handles events by position, as the library does. */
  async pollAll(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${this.baseUrl}/cwa/AsyncDataChannel.ashx?Sid=${this.sid}&AckId=${this.ackId}&UA=false`, { headers: { 'CWA-Ticket': this.ticket, 'User-Agent': 'Java/1.6.0_20' } });
      const text = await res.text();
      expect(res.status, text).to.equal(200);
      expectValidDocument(text);
      const doc = dom(text);
      this.ackId = Number(doc.attrs.ackId);
      const events = doc.childNodes.filter((n): n is DomElement => n.type === 'element');
      if (events.length === 0) return;
      for (const e of events) this.handle(e);
    }
    throw new Error('the log did not drain');
  }

  private handle(e: DomElement): void {
    if (e.name === 'userPresence') {
      this.presence.push(e);
      return;
    }
    if (e.name !== 'conference') return;
    const confId = Number(e.attrs.confId);
    const body = e.childNodes.find((n): n is DomElement => n.type === 'element')!;
    const textOf = (el: DomElement | undefined) => (el?.childNodes ?? []).map((n) => (n.type === 'text' ? n.value : '')).join('');
    // An invitation leaves (never enters) its table; so does a conversation that ended.
    if (body.name === 'imSessionState' && ['incoming', 'terminated'].includes(textOf(body).trim())) this.table.delete(confId);
    if (body.name === 'messageReceived') {
      const message = body.childNodes.find((n): n is DomElement => n.type === 'element' && n.name === 'message');
      const content = message?.childNodes.find((n): n is DomElement => n.type === 'element' && n.name === 'content');
      this.received.push({ confId, sender: body.attrs.sender ?? '', text: textOf(content) });
    }
  }
}

async function acceptFrom(c: LegacyClient, inviter: string): Promise<number> {
  const events = await drainEvents(c);
  const inv = events.find((e) => conferenceChild(e, 'imSessionReceived')?.children.find((x) => x.name === 'inviter')?.attrs.uri === inviter);
  expect(inv, `${c.login}: an invitation from ${inviter}`).to.not.equal(undefined);
  const confId = Number(inv!.attrs.confId);
  await c.command(`<conference rid="${c.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
  return confId;
}

describe('a client library written against the original server, all its habits at once, default options', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    const d = defaultConfig();
    // Default limits, rate limits included (startTestGateway turns those off unless told).
    gw = await startTestGateway(
      { holdMs: 0, rateAddress: d.rateAddress, rateTicket: d.rateTicket, rateLogonAddress: d.rateLogonAddress, rateLogonFailures: d.rateLogonFailures },
      { manualClock: true },
    );
  });
  afterEach(() => gw.close());

  it('signs in, chats with the right people only, is handed invitations it never accepts, reads presence by position, and stays signed in for hours', async () => {
    const clock = gw.clock!;
    const step = async (ms: number) => {
      clock.advance(ms);
      await gw.gateway.tick();
    };
    const alice = new JavaLibraryClient(gw.url, 'alice', 'alice-demo');
    expect(await alice.connect(), 'GET / before logon').to.equal(200);
    await alice.logon();
    await alice.initiateSession();
    const logonTicket = alice.ticket;
    const [bob, carol, dave] = await Promise.all(['bob', 'carol', 'dave'].map((l) => new LegacyClient(gw.url, l).signIn()));
    await alice.pollAll();
    for (const c of [bob, carol, dave]) await drainEvents(c);

    // Her first conversation, numbered 1 by her.
    expect(await alice.start('sip:dave@example.com', 'hi dave')).to.equal(1);
    await acceptFrom(dave, 'sip:alice@example.com');
    // Bob invites her; her library drops the invitation from its table.
    const bobStart = await bob.command(`<conference rid="${bob.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:alice@example.com</uri></uris><message><content>hi alice</content></message></initiateImSession></conference>`);
    const bobConf = bobStart.root.children[0]!.attrs.confId!;
    await alice.pollAll();
    // Her next conversation, with carol, is 2 by her count; a latin-1 line goes out on 2.
    expect(await alice.start('sip:carol@example.com', 'hallo carol')).to.equal(2);
    await acceptFrom(carol, 'sip:alice@example.com');
    const latin = 'Grüße, Carol: nur für dich';
    await alice.say(2, latin);
    await step(3_000);
    expect(messageTexts(await drainEvents(carol)), 'carol gets the line, decoded from ISO-8859-1').to.deep.equal([latin]);
    const bobSaw = await drainEvents(bob);
    expect(messageTexts(bobSaw), 'nothing of hers reaches bob').to.deep.equal([]);
    expect(messageTexts(await drainEvents(dave))).to.deep.equal([]);

    // Nobody accepts bob's invitation, and her library polls UA=false: after --mpop-accept-s
    // her endpoint, heard from last, takes it, and bob can go on sending.
    await alice.pollAll();
    await step(8_000);
    await alice.pollAll();
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><sendMessage><content>are you there?</content></sendMessage></conference>`);
    await alice.pollAll();
    expect(alice.received.map((m) => m.text), 'bob\'s line reaches her').to.include('are you there?');
    const bobEvents = await drainEvents(bob);
    expect(bobEvents.some((e) => conferenceChild(e, 'messageSendFailed')), 'bob\'s line was delivered').to.equal(false);

    // Presence, read by position: userPresence [text, user, text], user [text, cwaCategory, …, text],
    // cwaCategory [text, category, text].
    await alice.command(`<queryPresence rid="${alice.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);
    await alice.pollAll();
    expect(alice.presence.length).to.be.greaterThan(0);
    for (const up of alice.presence) {
      const [user] = elementsByPosition(up);
      expect(user!.name).to.equal('user');
      const categories = elementsByPosition(user!);
      expect(categories.length).to.be.greaterThan(0);
      for (const c of categories) {
        expect(c.name).to.equal('cwaCategory');
        expect(elementsByPosition(c)).to.have.length(1);
      }
    }

    // Four hours, active every five minutes, always with the logon ticket. Every half hour a
    // new conversation with carol (the last one ended for inactivity and left her table), so
    // her counter goes down and up again: every line reaches carol, and only carol.
    let sent = 0;
    for (let minute = 5; minute <= 240; minute += 5) {
      await step(5 * MINUTE);
      for (const c of [bob, carol, dave]) await drainEvents(c);
      await alice.pollAll();
      if (minute % 30 === 0) {
        const confId = await alice.start('sip:carol@example.com', `line ${minute}`);
        expect(confId, 'her count starts again from her table').to.be.below(3);
        sent += 1;
        const carolConf = await acceptFrom(carol, 'sip:alice@example.com');
        expect(carolConf).to.be.greaterThan(1_000_000);
        await alice.say(confId, `more ${minute}`);
        expect(messageTexts(await drainEvents(carol)), 'her next line, on the confId she chose').to.deep.equal([`more ${minute}`]);
        for (const c of [bob, dave]) expect(messageTexts(await drainEvents(c)), `${c.login} gets nothing of hers`).to.deep.equal([]);
      }
    }
    expect(sent).to.equal(8);
    expect(alice.ticket, 'the library never took another ticket').to.equal(logonTicket);
    await alice.pollAll();
    expect(gw.gateway.engine.sessionFor('alice', alice.sid), 'her session is alive after four hours').to.not.equal(undefined);
  });
});
