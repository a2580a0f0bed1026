// Two field clients of the UCWA door, written from the wire reference (ucwa-messaging.md
// §2–§8, §14) and behaving the way those clients do on the wire, not the way our own test
// client does:
// (a) Microsoft's Windows Store sample: XML everywhere, discovery from the root, the 401
//     parsed by splitting on `,` then `=`, a form POST to the token URL, `token_type + " " +
//     access_token` as Authorization, links followed by rel, events read by element name,
//     exact 201/204 checks, an event loop that stops on anything but 200;
// (b) a JSON bot: Content-Type application/json on GETs and empty POSTs, an absolute root
//     joined with relative hrefs (`//ucwa/…`), hard-coded sign-in paths, `?ack=N&timeout=180`,
//     heartbeat on `<application>/reportMyActivity`, replies POSTed to the message's own href,
//     typing on `<messaging>/typing`, correlation by operationId, one endpointId for every user.
// The peer on the other door is a CWA client. Both run over HTTP; (c) runs the sample over
// HTTPS behind --public-url.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SaxesParser } from 'saxes';
import { conferenceChild, LegacyClient, messageTexts } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidUcwaJson, expectValidUcwaXml } from './support/ucwa-schemas.js';

// ---- HTTP as the clients see it: every header line kept -----------------------------------

interface Answer {
  status: number;
  /** Header lines as sent, names in lower case (two WWW-Authenticate lines stay two). */
  lines: [string, string][];
  text: string;
}

interface Wire {
  /** Trusted CA (https). */
  ca?: string;
  /** origin -> where to connect (the outside address of --public-url reached on loopback). */
  route?: Map<string, { host: string; port: number }>;
}

function send(wire: Wire, method: string, url: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const u = new URL(url);
  const to = wire.route?.get(u.origin);
  const lib = u.protocol === 'https:' ? https : http;
  const opts: https.RequestOptions = {
    method,
    host: to?.host ?? u.hostname,
    port: to?.port ?? (u.port || (u.protocol === 'https:' ? 443 : 80)),
    // The request line keeps the path as the client built it (`//ucwa/…` included).
    path: url.slice(u.origin.length) || '/',
    headers: { Host: u.host, ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) },
    ...(wire.ca ? { ca: wire.ca, servername: u.hostname } : {}),
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const req = lib.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const lines: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, lines, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const header = (a: Answer, name: string) => a.lines.find(([k]) => k === name)?.[1];

// ---- (a) the Windows Store sample ----------------------------------------------------------

/** An XML element as System.Xml.Linq shows it: local names, attributes, children, text. */
interface XEl {
  name: string;
  attrs: Record<string, string>;
  children: XEl[];
  text: string;
}

function parseXml(xml: string): XEl {
  const p = new SaxesParser({ xmlns: true });
  const stack: XEl[] = [];
  let root: XEl | undefined;
  p.on('opentag', (t) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(t.attributes)) if (typeof a !== 'string') attrs[a.local] = a.value;
    const el: XEl = { name: t.local ?? t.name, attrs, children: [], text: '' };
    if (stack.length > 0) stack[stack.length - 1]!.children.push(el);
    else root = el;
    stack.push(el);
  });
  p.on('text', (t) => {
    if (stack.length > 0) stack[stack.length - 1]!.text += t;
  });
  p.on('closetag', () => void stack.pop());
  p.write(xml).close();
  return root!;
}

/** The sample's UcwaResource: GetLinkUri, GetPropertyValue, GetEmbeddedResource by rel. */
class SampleResource {
  constructor(readonly x: XEl) {}
  static of(xml: string): SampleResource {
    return new SampleResource(parseXml(xml));
  }
  get Name() { return this.x.attrs.rel; }
  get Uri() { return this.x.attrs.href; }
  get Links() { return this.x.children.filter((c) => c.name === 'link'); }
  get LinkNames() { return this.Links.map((l) => l.attrs.rel!); }
  GetLinkUri(rel: string) { return this.Links.find((l) => l.attrs.rel === rel)?.attrs.href; }
  GetPropertyValue(name: string) {
    // Linq's prop.Attribute("name").Value: a property without a name would throw.
    const props = this.x.children.filter((c) => c.name === 'property');
    for (const p of props) if (p.attrs.name === undefined) throw new Error('a <property> without a name');
    return props.find((p) => p.attrs.name === name)?.text;
  }
  get PropertyNames() { return this.x.children.filter((c) => c.name === 'property').map((p) => p.attrs.name); }
  EmbeddedResourceElements() { return this.x.children.filter((c) => c.name === 'resource'); }
  GetEmbeddedResource(rel: string) {
    const e = this.EmbeddedResourceElements().find((r) => r.attrs.rel === rel);
    return e ? new SampleResource(e) : undefined;
  }
  GetEmbeddedResourceUri(rel: string) {
    return this.GetLinkUri(rel) ?? this.GetEmbeddedResource(rel)?.Uri;
  }
}

/** One event as UcwaEvent reads it: Type = element name, Name = rel, Uri = href, Resource = first nested <resource>. */
interface SampleEvent {
  sender: string;
  Type: string;
  Name: string;
  Uri: string;
  Resource?: SampleResource;
  /** The events href of the response it came in. */
  EventsHref: string;
}

/** WebUtility.UrlDecode: `+` is a space, %xx in either case. */
const urlDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

const ACCEPT_XML = 'application/xml';

class WindowsStoreSample {
  baseAddress = '';
  authorization: string | undefined;
  app!: SampleResource;
  readonly events: SampleEvent[] = [];
  readonly answers: number[] = [];
  eventLoopStatus: number | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** Names fetched for participant hrefs (ProcessConversationEvents). */
  readonly participantNames = new Map<string, string>();

  constructor(
    readonly wire: Wire,
    readonly discoverUrl: string,
    readonly userName: string,
    readonly password: string,
  ) {}

  private abs(uri: string) {
    return /^http/.test(uri) ? uri : new URL(uri, this.baseAddress).href;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Accept: ACCEPT_XML, ...(this.authorization ? { Authorization: this.authorization } : {}), ...extra };
  }

  async get(uri: string): Promise<{ status: number; resource?: SampleResource; answer: Answer }> {
    const answer = await send(this.wire, 'GET', this.abs(uri), this.headers());
    let resource: SampleResource | undefined;
    if (answer.text.trim() !== '') {
      expectValidUcwaXml(answer.text);
      resource = SampleResource.of(answer.text);
    }
    return { status: answer.status, ...(resource ? { resource } : {}), answer };
  }

  /** PostResourceAsync(uri, string, contentType): UTF-8 bytes with the given Content-Type. */
  async post(uri: string, data: string | null, contentType = 'application/xml'): Promise<Answer> {
    const answer = await send(this.wire, 'POST', this.abs(uri), this.headers(data === null ? {} : { 'Content-Type': contentType }), data ?? '');
    if (answer.text.trim() !== '') expectValidUcwaXml(answer.text);
    return answer;
  }

  /** SignIn: discover, 401, token, user, applications (201), event channel, makeMeAvailable (204), application again, reportMyActivity. */
  async signIn(): Promise<void> {
    const root = await this.get(this.discoverUrl);
    expect(root.status, root.answer.text).to.equal(200);
    expect(header(root.answer, 'content-type')).to.match(/^application\/xml/);
    const userHref = root.resource!.GetLinkUri('user')!;
    expect(userHref, 'rel="user" link').to.be.a('string');
    // var arr = opResult.Resource.Uri.Split('/'); SetBaseAddress(new Uri(arr[0] + "//" + arr[2]))
    const arr = root.resource!.Uri!.split('/');
    this.baseAddress = `${arr[0]}//${arr[2]}`;
    const challenge = await this.get(userHref);
    expect(challenge.status).to.equal(401);
    let tokenUrl: string | undefined;
    for (const [k, v] of challenge.answer.lines) {
      if (k !== 'www-authenticate' || !v.includes('MsRtcOAuth href')) continue;
      tokenUrl = v.split(',').find((s) => s.includes('MsRtcOAuth'))!.split('=')[1]!.replace(/"/g, '').trim();
    }
    expect(tokenUrl, 'MsRtcOAuth href').to.be.a('string');
    // FormUrlEncodedContent: grant_type, password, username; the transport's Accept stays application/xml.
    const form = new URLSearchParams([['grant_type', 'password'], ['password', this.password], ['username', this.userName]]).toString();
    const tokenAnswer = await send(this.wire, 'POST', tokenUrl!, { Accept: ACCEPT_XML, 'Content-Type': 'application/x-www-form-urlencoded' }, form);
    expect(tokenAnswer.status, tokenAnswer.text).to.equal(200);
    const token = JSON.parse(tokenAnswer.text) as { access_token: string; token_type: string; expires_in: number };
    expect(token.access_token).to.match(/^cwt=/);
    // new AuthenticationHeaderValue(token_type, access_token)
    this.authorization = `${token.token_type} ${token.access_token}`;
    const user = await this.get(userHref);
    expect(user.status).to.equal(200);
    const applicationsUrl = user.resource!.GetLinkUri('applications')!;
    expect(applicationsUrl.startsWith(this.baseAddress), `${applicationsUrl} on ${this.baseAddress}`).to.equal(true);
    const appSettings =
      '<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">' +
      `   <property name="culture">en-us</property>   <property name="endpointId">${randomUUID()}</property>` +
      '   <property name="userAgent">ContosoApp/1.0 (WinStore)</property></input>';
    const created = await this.post(applicationsUrl, appSettings);
    expect(created.status, created.text).to.equal(201); // HttpStatusCode.Created, nothing else
    this.app = SampleResource.of(created.text);
    this.startEventChannel(this.app.GetLinkUri('events')!);
    const me = this.app.GetEmbeddedResource('me')!;
    const mma =
      '<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">' +
      '  <property name="phoneNumber">4255552222</property>  <property name="signInAs">Online</property>' +
      ' <propertyList name="supportedMessageFormats">    <item>Plain</item>    <item>Html</item>  </propertyList>' +
      '  <propertyList name="supportedModalities">    <item>PhoneAudio</item>    <item>Messaging</item>  </propertyList></input>';
    const available = await this.post(me.GetLinkUri('makeMeAvailable')!, mma);
    expect(available.status, available.text).to.equal(204);
    const again = await this.get(this.app.Uri!);
    expect(again.status).to.equal(200);
    this.app = again.resource!;
    // Me.Refresh: me, then note, presence, location and phones by link.
    const meAgain = await this.get(this.app.GetEmbeddedResourceUri('me')!);
    expect(meAgain.status).to.equal(200);
    for (const rel of ['note', 'presence', 'location', 'phones']) {
      const href = meAgain.resource!.GetEmbeddedResourceUri(rel);
      expect(href, `me links ${rel}`).to.be.a('string');
      const r = await this.get(href!);
      expect(r.status, `GET me/${rel}`).to.equal(200);
    }
    const report = await this.post(this.app.GetEmbeddedResource('me')!.GetLinkUri('reportMyActivity')!, null);
    expect(report.status).to.equal(204);
  }

  private startEventChannel(first: string): void {
    this.loop = (async () => {
      let uri = first;
      while (!this.stopped) {
        let r: Awaited<ReturnType<WindowsStoreSample['get']>>;
        try {
          r = await this.get(uri);
        } catch (err) {
          if (this.stopped) return;
          throw err;
        }
        this.answers.push(r.status);
        if (r.status !== 200) {
          this.eventLoopStatus = r.status; // the loop ends on anything but 200
          return;
        }
        const data = r.resource!;
        expect(data.x.name).to.equal('events');
        for (const sender of data.x.children.filter((c) => c.name === 'sender')) {
          for (const e of sender.children) {
            const res = e.children.find((c) => c.name === 'resource');
            this.events.push({ sender: sender.attrs.rel!, Type: e.name, Name: e.attrs.rel!, Uri: e.attrs.href!, ...(res ? { Resource: new SampleResource(res) } : {}), EventsHref: data.Uri! });
          }
        }
        const next = data.GetLinkUri('resync') ?? data.GetLinkUri('resume') ?? data.GetLinkUri('next');
        if (!next) throw new Error(`no next link in ${r.answer.text}`);
        uri = next;
      }
    })();
  }

  /** Waits for an event from `from` on matching `pred`. */
  async until(pred: (e: SampleEvent) => boolean, from = 0, ms = 5000): Promise<SampleEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.slice(from).find(pred);
      if (e) return e;
      if (this.eventLoopStatus !== undefined) throw new Error(`event channel stopped with ${this.eventLoopStatus}`);
      if (Date.now() > end) throw new Error(`no such event; saw ${this.events.map((x) => `${x.sender}:${x.Type}:${x.Name}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await send(this.wire, 'DELETE', this.abs(this.app.Uri!), this.headers()).catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }
}

const STORE_SAMPLE_START = (operationId: string, to: string, threadId: string, first: string) =>
  '<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">' +
  `  <property name="operationId">${operationId}</property>  <property name="to">${to}</property>` +
  '  <property name="importance">normal</property>  <property name="subject">Build status</property>' +
  `  <property name="threadId">${threadId}</property>  <link rel="message" href="data:text/plain,${first}" /></input>`;

async function cwaPeer(url: string, login: string): Promise<LegacyClient> {
  const c = new LegacyClient(url, login);
  await c.signIn();
  return c;
}

/** The Windows Store sample's whole IM session against a CWA peer: outgoing, then incoming (accept), then incoming (decline). */
async function windowsStoreSampleChats(sample: WindowsStoreSample, bob: LegacyClient): Promise<void> {
  // ---- outgoing (Making an outgoing IM call and sending messages) ----
  const communication = sample.app.GetEmbeddedResource('communication')!;
  const operationId = randomUUID();
  const start = await sample.post(communication.GetLinkUri('startMessaging')!, STORE_SAMPLE_START(operationId, 'sip:bob@example.com', randomUUID(), 'Hi!'));
  expect(start.status, start.text).to.equal(201);
  const invitedBob = await bob.pollUntil((e) => conferenceChild(e, 'imSessionReceived') !== undefined);
  const confId = invitedBob.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
  const received = conferenceChild(invitedBob.find((e) => conferenceChild(e, 'imSessionReceived'))!, 'imSessionReceived')!;
  expect(received.children.find((c) => c.name === 'message')!.children.find((c) => c.name === 'content')!.text).to.equal('Hi!');
  // ProcessCommunicationEvents: messagingInvitation and conversation events carry their resource.
  const started = await sample.until((e) => e.sender === 'communication' && e.Name === 'messagingInvitation' && e.Type === 'started');
  const inv = started.Resource!;
  expect(inv.GetPropertyValue('state')!.toLowerCase()).to.equal('connecting');
  expect(inv.GetPropertyValue('operationId')).to.equal(operationId);
  expect(inv.GetPropertyValue('direction')).to.equal('Outgoing');
  await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
  // ProcessConversationEvents: messaging (always with its resource); Connected -> GET conversation.
  const connected = await sample.until((e) => e.sender === 'conversation' && e.Name === 'messaging' && e.Resource?.GetPropertyValue('state')?.toLowerCase() === 'connected');
  for (const e of sample.events.filter((x) => x.Name === 'messaging')) expect(e.Resource, 'every messaging event embeds the resource').to.not.equal(undefined);
  for (const e of sample.events.filter((x) => x.sender === 'communication' && (x.Name === 'messagingInvitation' || (x.Name === 'conversation' && x.Type !== 'deleted')))) {
    expect(e.Resource, `${e.Type} ${e.Name} embeds the resource`).to.not.equal(undefined);
    expect(e.Resource!.GetPropertyValue('state'), `${e.Name} state`).to.be.a('string');
  }
  const messaging = connected.Resource!;
  const conv = await sample.get(messaging.GetLinkUri('conversation')!);
  expect(conv.status).to.equal(200);
  expect(conv.resource!.GetPropertyValue('state')!.toLowerCase()).to.equal('connected');
  const completed = await sample.until((e) => e.Name === 'messagingInvitation' && e.Type === 'completed');
  expect(completed.Resource!.GetPropertyValue('status')).to.equal('Success');
  expect(completed.Resource!.GetPropertyValue('state')).to.equal('Connected');
  // Participant events: the sample GETs the participant and reads its name.
  const participant = await sample.until((e) => e.sender === 'conversation' && e.Name === 'participant' && e.Type === 'added');
  const p = await sample.get(participant.Uri);
  expect(p.status).to.equal(200);
  expect(p.resource!.GetPropertyValue('name')).to.equal('Bob Brennan');
  // SendMessage: sendMessageUri + "?OperationId=" + guid, text/plain -> 201.
  const sent = await sample.post(`${messaging.GetLinkUri('sendMessage')!}?OperationId=${operationId}`, 'Deploy finished, 1+1=2, all green.', 'text/plain');
  expect(sent.status, sent.text).to.equal(201);
  expect(header(sent, 'location')).to.match(/^\/ucwa\/oauth\/v1\/applications\//);
  const bobGot = await bob.pollUntil((e) => conferenceChild(e, 'messageReceived') !== undefined);
  expect(messageTexts(bobGot)).to.deep.equal(['Deploy finished, 1+1=2, all green.']);
  const own = await sample.until((e) => e.Name === 'message' && e.Resource?.GetPropertyValue('direction') === 'Outgoing');
  expect(own.Resource!.GetPropertyValue('operationId')).to.equal(operationId);
  expect(own.Resource!.LinkNames).to.not.include('plainMessage');
  // An incoming message (Answer an incoming IM call and receive messages): direction, status, timeStamp, links.
  await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><sendMessage><format>text/plain</format><content>Ship it, 3+4=7 &amp; 100%</content></sendMessage></conference>`);
  const incoming = (await sample.until((e) => e.Name === 'message' && e.Resource?.GetPropertyValue('direction')?.toLowerCase() === 'incoming')).Resource!;
  expect(incoming.GetPropertyValue('status')).to.be.a('string');
  expect(Number.isNaN(Date.parse(incoming.GetPropertyValue('timeStamp')!))).to.equal(false);
  for (const rel of ['contact', 'participant', 'messaging', 'plainMessage']) expect(incoming.LinkNames, rel).to.include(rel);
  const contact = await sample.get(incoming.GetLinkUri('contact')!);
  expect(contact.status).to.equal(200);
  expect(contact.resource!.GetPropertyValue('name')).to.equal('Bob Brennan');
  expect(urlDecode(incoming.GetLinkUri('plainMessage')!.split(',').pop()!)).to.equal('Ship it, 3+4=7 & 100%');
  // stopMessaging: 204; conversation deleted.
  const mark = sample.events.length;
  expect((await sample.post(messaging.GetLinkUri('stopMessaging')!, null)).status).to.equal(204);
  await sample.until((e) => e.Name === 'conversation' && e.Type === 'deleted', mark);
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');

  // ---- incoming, accepted ----
  const mark2 = sample.events.length;
  const r = await bob.command(`<conference rid="${bob.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:alice@example.com</uri></uris><message><format>text/plain</format><content>Lunch at 12+1?</content></message><subject>Lunch</subject></initiateImSession></conference>`);
  expect(r.status).to.equal(200);
  const invitation = (await sample.until((e) => e.Name === 'messagingInvitation' && e.Type === 'started', mark2)).Resource!;
  expect(invitation.GetPropertyValue('direction')!.toLowerCase()).to.equal('incoming');
  for (const name of ['threadId', 'state', 'subject', 'to', 'direction', 'importance']) expect(invitation.GetPropertyValue(name), name).to.be.a('string');
  const acceptUri = invitation.GetLinkUri('accept');
  const declineUri = invitation.GetLinkUri('decline');
  expect(acceptUri).to.be.a('string');
  expect(declineUri).to.be.a('string');
  // ContainsResource("from"): the embedded <resource rel="from">, the caller's name in it.
  const from = invitation.GetEmbeddedResource('from');
  expect(from, 'embedded from').to.not.equal(undefined);
  expect(from!.GetPropertyValue('name')).to.equal('Bob Brennan');
  expect(urlDecode(invitation.GetLinkUri('message')!.split(',').pop()!)).to.equal('Lunch at 12+1?');
  const accept = await sample.post(acceptUri!, null);
  expect(accept.status).to.equal(204);
  const firstText = (await sample.until((e) => e.Name === 'message' && e.Resource?.GetPropertyValue('direction') === 'Incoming', mark2)).Resource!;
  expect(urlDecode(firstText.GetLinkUri('plainMessage')!.split(',').pop()!)).to.equal('Lunch at 12+1?');
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  const inMessaging = (await sample.until((e) => e.Name === 'messaging' && e.Resource?.GetPropertyValue('state') === 'Connected', mark2)).Resource!;
  expect((await sample.post(`${inMessaging.GetLinkUri('sendMessage')!}?OperationId=${randomUUID()}`, 'Sure', 'text/plain')).status).to.equal(201);
  expect(messageTexts(await bob.pollUntil((e) => conferenceChild(e, 'messageReceived') !== undefined))).to.deep.equal(['Sure']);
  expect((await sample.post(inMessaging.GetLinkUri('stopMessaging')!, null)).status).to.equal(204);
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');

  // ---- incoming, declined ----
  const mark3 = sample.events.length;
  await bob.command(`<conference rid="${bob.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:alice@example.com</uri></uris><message><format>text/plain</format><content>again?</content></message></initiateImSession></conference>`);
  const again = (await sample.until((e) => e.Name === 'messagingInvitation' && e.Type === 'started', mark3)).Resource!;
  expect((await sample.post(again.GetLinkUri('decline')!, null)).status).to.equal(204);
  await sample.until((e) => e.Name === 'conversation' && e.Type === 'deleted', mark3);
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'terminated');
  expect(sample.eventLoopStatus, 'the event loop never saw anything but 200').to.equal(undefined);
}

// ---- (b) a JSON bot ---------------------------------------------------------------------------

type Json = { _links?: Record<string, { href: string } | { href: string }[]>; _embedded?: Record<string, Json | Json[]>; [k: string]: unknown };
const href = (r: Json, rel: string) => (r._links?.[rel] as { href: string } | undefined)?.href;

interface BotEvent {
  sender: string;
  type: string;
  rel: string;
  href: string;
  status?: string;
  resource?: Json;
}

const CONSTANT_ENDPOINT = '3f1c9a5e-0000-4000-8000-00000000b07';

class JsonBot {
  token = '';
  app!: Json;
  appHref = '';
  /** The `next` href of the event channel. */
  next = '';
  readonly events: BotEvent[] = [];

  /** `root` is absolute and ends with '/'; hrefs are appended as they are (`//ucwa/…`). */
  constructor(
    readonly wire: Wire,
    readonly root: string,
    readonly user: string,
    readonly password: string,
  ) {}

  private async call(method: string, url: string, body?: string, contentType = 'application/json'): Promise<Answer> {
    return send(this.wire, method, url, { Accept: 'application/json', 'Content-Type': contentType, ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) }, body ?? (method === 'POST' ? '' : undefined));
  }

  /** Joins the absolute root and a relative href the bot's way. */
  url(h: string): string {
    return /^https?:/.test(h) ? h : this.root + h;
  }

  async get(h: string): Promise<Json> {
    const a = await this.call('GET', this.url(h));
    if (a.status !== 200) throw new Error(`GET ${h}: ${a.status} ${a.text}`);
    expectValidUcwaJson(a.text, h);
    return JSON.parse(a.text) as Json;
  }

  async post(h: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const a = await this.call('POST', this.url(h), text, contentType);
    if (a.text !== '') expectValidUcwaJson(a.text, h);
    return a;
  }

  async signIn(): Promise<void> {
    const base = this.root.replace(/\/$/, '');
    const token = await this.call('POST', `${base}/WebTicket/oauthtoken`, new URLSearchParams({ grant_type: 'password', username: this.user, password: this.password }).toString(), 'application/x-www-form-urlencoded');
    if (token.status !== 200) throw new Error(`token: ${token.status}`);
    this.token = (JSON.parse(token.text) as { access_token: string }).access_token;
    const user = await this.get(`${base}/Autodiscover/AutodiscoverService.svc/root/oauth/user`);
    const apps = await this.post(href(user, 'applications')!, { UserAgent: 'ExampleBot/1.0', EndpointId: CONSTANT_ENDPOINT, Culture: 'en-US' });
    if (apps.status !== 201) throw new Error(`applications: ${apps.status} ${apps.text}`);
    this.app = JSON.parse(apps.text) as Json;
    this.appHref = href(this.app, 'self')!;
    this.next = href(this.app, 'events')!;
    const me = this.app._embedded!.me as Json;
    const mma = await this.post(href(me, 'makeMeAvailable')!, { SupportedModalities: ['Messaging'], SupportedMessageFormats: ['Plain', 'Html'] });
    if (mma.status !== 204) throw new Error(`makeMeAvailable: ${mma.status} ${mma.text}`);
    const beat = await this.post(`${this.appHref}/reportMyActivity`);
    if (beat.status !== 204) throw new Error(`reportMyActivity: ${beat.status}`);
  }

  /** One P-GET: `<next>&timeout=180`; exactly 200 or the bot gives up. */
  async poll(): Promise<BotEvent[]> {
    const a = await this.call('GET', this.url(`${this.next}&timeout=180`));
    if (a.status !== 200) throw new Error(`events: ${a.status} ${a.text}`);
    expectValidUcwaJson(a.text, 'events');
    const page = JSON.parse(a.text) as Json & { sender?: { rel: string; events: { type: string; status?: string; link: { rel: string; href: string }; _embedded?: Record<string, Json> }[] }[] };
    this.next = href(page, 'resync') ?? href(page, 'resume') ?? href(page, 'next')!;
    const out: BotEvent[] = [];
    for (const s of page.sender ?? []) {
      for (const e of s.events) {
        const resource = e._embedded?.[e.link.rel];
        out.push({ sender: s.rel, type: e.type, rel: e.link.rel, href: e.link.href, ...(e.status ? { status: e.status } : {}), ...(resource ? { resource } : {}) });
      }
    }
    this.events.push(...out);
    return out;
  }

  async until(pred: (e: BotEvent) => boolean, from = this.events.length, polls = 20): Promise<BotEvent> {
    for (let i = 0; i < polls; i++) {
      const e = this.events.slice(from).find(pred);
      if (e) return e;
      await this.poll();
    }
    throw new Error(`${this.user}: no such event; saw ${this.events.map((x) => `${x.sender}:${x.type}:${x.rel}`).join(', ')}`);
  }
}

/** The form-encoded data URI text, decoded as bots do (unquote_plus / UrlDecode). */
const dataText = (uri: string) => urlDecode(uri.slice(uri.indexOf(',') + 1));

describe('UCWA field clients, literally', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 200 });
  });
  afterEach(async () => gw.close());

  it('the Windows Store sample (XML): discovery, 401, token, 201, 204, events by element name; IM with a CWA user both ways, accept and decline', async () => {
    const sample = new WindowsStoreSample({}, gw.url, 'alice@example.com', 'alice-demo');
    await sample.signIn();
    const bob = await cwaPeer(gw.url, 'bob');
    try {
      await windowsStoreSampleChats(sample, bob);
    } finally {
      await sample.stop();
    }
  });

  it('the sample\'s raw habits: typed text put unencoded into the first message\'s data URI, and plain text sent as application/xml', async () => {
    const sample = new WindowsStoreSample({}, gw.url, 'alice@example.com', 'alice-demo');
    await sample.signIn();
    const bob = await cwaPeer(gw.url, 'bob');
    try {
      // `data:text/plain,` + the text as typed: a `%` that is no escape is text, never a dropped message.
      const communication = sample.app.GetEmbeddedResource('communication')!;
      const start = await sample.post(communication.GetLinkUri('startMessaging')!, STORE_SAMPLE_START(randomUUID(), 'sip:bob@example.com', randomUUID(), '100% sure, 50%off %e2%82%ac'));
      expect(start.status, start.text).to.equal(201);
      const invited = await bob.pollUntil((e) => conferenceChild(e, 'imSessionReceived') !== undefined);
      const received = conferenceChild(invited.find((e) => conferenceChild(e, 'imSessionReceived'))!, 'imSessionReceived')!;
      expect(received.children.find((c) => c.name === 'message')!.children.find((c) => c.name === 'content')!.text).to.equal('100% sure, 50%off \u20ac');
      const confId = invited.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
      await bob.command(`<conference rid="${bob.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
      const messaging = (await sample.until((e) => e.Name === 'messaging' && e.Resource?.GetPropertyValue('state') === 'Connected')).Resource!;
      // The events-sample transport labels every string body application/xml, the message text included.
      const sent = await sample.post(`${messaging.GetLinkUri('sendMessage')!}?OperationId=${randomUUID()}`, 'Hello, this is a test.', 'application/xml');
      expect(sent.status, sent.text).to.equal(201);
      expect(messageTexts(await bob.pollUntil((e) => conferenceChild(e, 'messageReceived') !== undefined))).to.deep.equal(['Hello, this is a test.']);
      // A wrapped body in that type is still read as input.
      const wrapped = await sample.post(messaging.GetLinkUri('sendMessage')!, '<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><property name="message">wrapped</property></input>');
      expect(wrapped.status).to.equal(201);
      expect(messageTexts(await bob.pollUntil((e) => conferenceChild(e, 'messageReceived') !== undefined))).to.deep.equal(['wrapped']);
    } finally {
      await sample.stop();
    }
  });

  it('a JSON bot: application/json everywhere, //ucwa joins, hard-coded sign-in, ack&timeout, operationId correlation, replies to the message href, typing', async () => {
    const root = `${gw.url}/`;
    const alice = new JsonBot({}, root, 'alice@example.com', 'alice-demo');
    const carol = new JsonBot({}, root, 'carol@example.com', 'carol-demo');
    await alice.signIn();
    await carol.signIn();
    // One constant endpointId, two users: two applications.
    expect(alice.appHref).to.not.equal(carol.appHref);
    await alice.poll();
    await carol.poll();
    // operationId = the name of the communication resource's "please pass this in a PUT request" property.
    const communication = alice.app._embedded!.communication as Json;
    const putName = Object.keys(communication).find((k) => communication[k] === 'please pass this in a PUT request')!;
    expect(putName).to.be.a('string');
    const start = await alice.post(href(communication, 'startMessaging')!, { to: 'sip:carol@example.com', operationId: putName, subject: 'bot', _links: { message: { href: 'data:text/plain,1%2B1%3D2' } } });
    expect(start.status, start.text).to.equal(201);
    // Correlation: every embedded resource of the operation echoes the operationId.
    const mine = await alice.until((e) => e.rel === 'messaging' && e.resource?.operationId === putName, 0);
    expect(mine.resource!.state).to.equal('Connecting');
    expect(alice.events.find((e) => e.rel === 'messagingInvitation')!.resource!.operationId).to.equal(putName);
    expect(alice.events.find((e) => e.rel === 'conversation')!.resource!.operationId).to.equal(putName);
    // carol's bot accepts (empty POST with Content-Type application/json).
    const inv = await carol.until((e) => e.rel === 'messagingInvitation' && e.type === 'started');
    expect(dataText(href(inv.resource!, 'message')!)).to.equal('1+1=2');
    const accepted = await carol.post(href(inv.resource!, 'accept')!);
    expect(accepted.status).to.equal(204);
    // The first message arrives at carol as message completed, Success, Incoming.
    const first = await carol.until((e) => e.rel === 'message' && e.type === 'completed' && e.status === 'Success' && e.resource?.direction === 'Incoming');
    expect(dataText(href(first.resource!, 'plainMessage')!)).to.equal('1+1=2');
    // carol replies to the message's own href; a `+` travels as %2B.
    const reply = await carol.post(first.href, 'a+b, c', 'text/plain');
    expect(reply.status, reply.text).to.equal(201);
    const got = await alice.until((e) => e.rel === 'message' && e.resource?.direction === 'Incoming');
    const uri = href(got.resource!, 'plainMessage')!;
    expect(uri).to.match(/^data:text\/plain;charset=utf-8,/);
    expect(uri.slice(uri.indexOf(',') + 1)).to.match(/^a%2bb%2c\+c$/i);
    expect(dataText(uri)).to.equal('a+b, c');
    // alice sends on "message href minus its last segment".
    const sendUrl = got.href.slice(0, got.href.lastIndexOf('/'));
    const sent = await alice.post(`${sendUrl}?operationId=null`, 'back at you', 'text/plain');
    expect(sent.status, sent.text).to.equal(201);
    expect(sent.lines.find(([k]) => k === 'location')![1].startsWith(`${sendUrl}/`)).to.equal(true);
    const back = await carol.until((e) => e.rel === 'message' && e.resource?.direction === 'Incoming');
    expect(dataText(href(back.resource!, 'plainMessage')!)).to.equal('back at you');
    // Typing on <messaging>/typing.
    const carolMessaging = carol.events.filter((e) => e.rel === 'messaging').pop()!;
    const typing = await carol.post(`${carolMessaging.href}/typing`);
    expect(typing.status).to.equal(204);
    const seen = await alice.until((e) => e.rel === 'participant' && e.type === 'added' && /carol/.test(e.href) && alice.events.length > 0);
    expect(seen).to.not.equal(undefined);
    // A startMessaging with operationId null is echoed as null.
    const cwa = await cwaPeer(gw.url, 'bob');
    const nul = await alice.post(href(communication, 'startMessaging')!, { to: 'sip:bob@example.com', operationId: null });
    expect(nul.status).to.equal(201);
    const nulInv = await alice.until((e) => e.rel === 'messagingInvitation' && e.type === 'started' && /bob/.test(String((e.resource?.to as string | undefined) ?? '')));
    expect(nulInv.resource!.operationId).to.equal(null);
    const bobInvited = await cwa.pollUntil((e) => conferenceChild(e, 'imSessionReceived') !== undefined);
    expect(bobInvited.length).to.be.greaterThan(0);
    // Heartbeat again after chatting.
    expect((await alice.post(`${alice.appHref}/reportMyActivity`)).status).to.equal(204);
  });

  it('security: one user\'s token reaches none of another user\'s application, conversation, message or subscription (404)', async () => {
    const root = `${gw.url}/`;
    const alice = new JsonBot({}, root, 'alice@example.com', 'alice-demo');
    const carol = new JsonBot({}, root, 'carol@example.com', 'carol-demo');
    await alice.signIn();
    await carol.signIn();
    await carol.poll();
    const communication = alice.app._embedded!.communication as Json;
    expect((await alice.post(href(communication, 'startMessaging')!, { to: 'sip:carol@example.com', _links: { message: { href: 'data:text/plain,secret' } } })).status).to.equal(201);
    const inv = await carol.until((e) => e.rel === 'messagingInvitation' && e.type === 'started');
    expect((await carol.post(href(inv.resource!, 'accept')!)).status).to.equal(204);
    const msg = await carol.until((e) => e.rel === 'message' && e.resource?.direction === 'Incoming');
    const sub = await carol.post(`${carol.appHref}/people/presenceSubscriptions`, { uris: ['sip:bob@example.com'], duration: 15 });
    expect(sub.status).to.equal(201);
    const subHref = sub.lines.find(([k]) => k === 'location')![1];
    // alice's valid token on carol's resources (the ids are carol's; alice has an application of her own).
    const messaging = carol.events.filter((e) => e.rel === 'messaging').pop()!.href;
    for (const h of [carol.appHref, `${carol.appHref}/events?ack=1`, inv.href, href(inv.resource!, 'conversation')!, messaging, msg.href, subHref, `${carol.appHref}/me`]) {
      const a = await send({}, 'GET', alice.url(h), { Accept: 'application/json', Authorization: `Bearer ${alice.token}` });
      expect(a.status, h).to.equal(404);
      expect(a.text, h).to.not.include('secret');
      expectValidUcwaJson(a.text, h);
    }
    for (const h of [`${messaging}/messages`, href(inv.resource!, 'accept')!, `${messaging}/terminate`]) {
      const a = await send({}, 'POST', alice.url(h), { Accept: 'application/json', Authorization: `Bearer ${alice.token}`, 'Content-Type': 'text/plain' }, 'injected');
      expect(a.status, h).to.equal(404);
    }
    expect((await send({}, 'DELETE', alice.url(carol.appHref), { Authorization: `Bearer ${alice.token}` })).status).to.equal(404);
    // carol's application is untouched.
    expect((await send({}, 'GET', carol.url(carol.appHref), { Authorization: `Bearer ${carol.token}` })).status).to.equal(200);
    // A made-up token: 401 with the challenge, never a resource.
    const guess = await send({}, 'GET', carol.url(carol.appHref), { Authorization: `Bearer cwt=${'A'.repeat(40)}` });
    expect(guess.status).to.equal(401);
    expect(guess.lines.some(([k, v]) => k === 'www-authenticate' && v.startsWith('MsRtcOAuth href='))).to.equal(true);
  });

  it('security: an idle token expires (--ticket-ttl-s): 401 with the challenge on the application', async () => {
    const short = await startTestGateway({ holdMs: 0, ticketTtlS: 1 });
    try {
      const bot = new JsonBot({}, `${short.url}/`, 'alice@example.com', 'alice-demo');
      await bot.signIn();
      expect((await send({}, 'GET', bot.url(bot.appHref), { Authorization: `Bearer ${bot.token}` })).status).to.equal(200);
      await new Promise((r) => setTimeout(r, 2200));
      const late = await send({}, 'GET', bot.url(bot.appHref), { Accept: 'application/json', Authorization: `Bearer ${bot.token}` });
      expect(late.status).to.equal(401);
      expect(late.lines.some(([k, v]) => k === 'www-authenticate' && v.startsWith('MsRtcOAuth href='))).to.equal(true);
    } finally {
      await short.close();
    }
  });

  describe('over HTTPS behind --public-url', () => {
    let dir: string;
    let ca: string;
    before(function () {
      dir = mkdtempSync(join(tmpdir(), 'ucwa-field-'));
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=lyncdiscover.example.com', '-addext', 'subjectAltName=DNS:lyncdiscover.example.com,DNS:localhost', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'], { cwd: dir, encoding: 'utf8' });
      if (r.error || r.status !== 0) throw new Error(`openssl is needed to make the test certificate: ${r.error?.message ?? r.stderr}`);
      ca = readFileSync(join(dir, 'c.pem'), 'utf8');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('the sample signs in at https://lyncdiscover.example.com (the --public-url), every absolute link on it, and chats with a JSON bot', async () => {
      const tls = await startTestGateway({ holdMs: 200, tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem'), publicUrl: 'https://lyncdiscover.example.com/' });
      try {
        const port = Number(new URL(tls.url).port);
        const wire: Wire = { ca, route: new Map([['https://lyncdiscover.example.com', { host: '127.0.0.1', port }]]) };
        const sample = new WindowsStoreSample(wire, 'https://lyncdiscover.example.com', 'alice@example.com', 'alice-demo');
        await sample.signIn();
        expect(sample.baseAddress).to.equal('https://lyncdiscover.example.com');
        const bot = new JsonBot(wire, 'https://lyncdiscover.example.com/', 'carol@example.com', 'carol-demo');
        await bot.signIn();
        const challenge = await send(wire, 'GET', 'https://lyncdiscover.example.com/Autodiscover/AutodiscoverService.svc/root/oauth/user', { Accept: 'application/json' });
        const tokenLine = challenge.lines.find(([k, v]) => k === 'www-authenticate' && v.startsWith('MsRtcOAuth'))![1];
        expect(tokenLine).to.match(/^MsRtcOAuth href="https:\/\/lyncdiscover\.example\.com\/WebTicket\/oauthtoken",/);
        // UCWA to UCWA over TLS: the sample calls the bot's user.
        const communication = sample.app.GetEmbeddedResource('communication')!;
        const start = await sample.post(communication.GetLinkUri('startMessaging')!, STORE_SAMPLE_START(randomUUID(), 'sip:carol@example.com', randomUUID(), 'over%20tls'));
        expect(start.status).to.equal(201);
        expect(header(start, 'location')).to.match(/^\/ucwa\/oauth\/v1\/applications\/\d+\/communication\/messagingInvitations\//);
        const inv = await bot.until((e) => e.rel === 'messagingInvitation' && e.type === 'started');
        expect(dataText(href(inv.resource!, 'message')!)).to.equal('over tls');
        expect((await bot.post(href(inv.resource!, 'accept')!)).status).to.equal(204);
        await sample.until((e) => e.Name === 'messagingInvitation' && e.Type === 'completed');
        await sample.stop();
      } finally {
        await tls.close();
      }
    });
  });
});
