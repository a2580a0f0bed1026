// A UCWA 1.0 client as the tests drive it, written from the wire reference: it starts at
// the root, follows links by rel only, speaks JSON or XML (Accept and Content-Type), and
// checks every document the gateway sends against schemas/ucwa.xsd or schemas/ucwa.schema.json.
import { expect } from 'chai';
import { parseXmlTree, type XNode } from '../../src/protocol/xml-tree.js';
import { expectValidUcwaJson, expectValidUcwaXml } from './ucwa-schemas.js';

export const UCWA_NS = 'http://schemas.microsoft.com/rtc/2012/03/ucwa';
const READ_LIMITS = { maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxAttributeLength: 1_000_000 };

export type Mode = 'json' | 'xml';

/** A resource as the client reads it, from either representation. */
export interface Res {
  rel: string;
  href: string;
  props: Record<string, unknown>;
  links: Record<string, { href: string; title?: string }[]>;
  embedded: Record<string, Res[]>;
}

export interface Ev {
  sender: string;
  senderHref: string;
  type: string;
  rel: string;
  href: string;
  title?: string;
  in?: string;
  /** The href of `in` (XML carries no rel for it). */
  inHref?: string;
  status?: string;
  reason?: { code: string; subcode?: string; message?: string };
  resource?: Res;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

export function fromJson(o: Record<string, unknown>, rel = String(o.rel ?? '')): Res {
  const links: Res['links'] = {};
  const embedded: Res['embedded'] = {};
  const props: Record<string, unknown> = {};
  let href = '';
  for (const [k, v] of Object.entries(o)) {
    if (k === '_links') {
      for (const [r, l] of Object.entries(v as Record<string, unknown>)) {
        const list = (Array.isArray(l) ? l : [l]) as { href: string; title?: string }[];
        if (r === 'self') href = list[0]!.href;
        else links[r] = list;
      }
    } else if (k === '_embedded') {
      for (const [r, e] of Object.entries(v as Record<string, unknown>)) embedded[r] = (Array.isArray(e) ? e : [e]).map((x) => fromJson(x as Record<string, unknown>));
    } else if (k !== 'rel') props[k] = v;
  }
  return { rel, href, props, links, embedded };
}

export function fromXml(node: XNode): Res {
  const links: Res['links'] = {};
  const embedded: Res['embedded'] = {};
  const props: Record<string, unknown> = {};
  for (const c of node.children) {
    if (c.name === 'link') (links[c.attrs.rel!] ??= []).push({ href: c.attrs.href!, ...(c.attrs.title !== undefined ? { title: c.attrs.title } : {}) });
    else if (c.name === 'property') props[c.attrs.name!] = c.text;
    else if (c.name === 'propertyList') props[c.attrs.name!] = c.children.map((i) => i.text);
    else if (c.name === 'resource') (embedded[c.attrs.rel!] ??= []).push(fromXml(c));
  }
  return { rel: node.attrs.rel ?? '', href: node.attrs.href ?? '', props, links, embedded };
}

export function link(r: Res, rel: string): string {
  const l = r.links[rel]?.[0];
  if (!l) throw new Error(`no ${rel} link on ${r.rel} ${r.href}: ${Object.keys(r.links).join(', ')}`);
  return l.href;
}

export function prop(r: Res, name: string): unknown {
  return r.props[name];
}

export class UcwaClient {
  token = '';
  user?: Res;
  app?: Res;
  events = '';
  /** Every event received, in order. */
  received: Ev[] = [];
  private opSeq = 0;

  constructor(
    readonly baseUrl: string,
    readonly username: string,
    readonly password: string,
    readonly mode: Mode = 'json',
    readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get accept(): string {
    return this.mode === 'json' ? 'application/json' : 'application/xml';
  }

  url(href: string): string {
    return /^https?:/i.test(href) ? href : this.baseUrl + href;
  }

  async request(method: string, href: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await this.fetchImpl(this.url(href), {
      method,
      ...(body !== undefined ? { body } : {}),
      headers: { Accept: this.accept, ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}), ...headers },
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    if (text.length > 0 && /json/.test(type)) expectValidUcwaJson(text, href);
    if (text.length > 0 && /xml/.test(type)) expectValidUcwaXml(text);
    return { status: res.status, headers: res.headers, text };
  }

  parse(reply: Reply): Res {
    const type = reply.headers.get('content-type') ?? '';
    if (/json/.test(type)) return fromJson(JSON.parse(reply.text) as Record<string, unknown>);
    return fromXml(parseXmlTree(reply.text, READ_LIMITS));
  }

  async get(href: string): Promise<Res> {
    const r = await this.request('GET', href);
    expect(r.status, `GET ${href}: ${r.text}`).to.equal(200);
    return this.parse(r);
  }

  /** A POST of input properties in the client's representation. */
  input(props: Record<string, string | string[] | null>, links: Record<string, string> = {}): { body: string; type: string } {
    if (this.mode === 'json') {
      const o: Record<string, unknown> = { ...props };
      if (Object.keys(links).length > 0) o._links = Object.fromEntries(Object.entries(links).map(([k, v]) => [k, { href: v }]));
      return { body: JSON.stringify(o), type: 'application/json' };
    }
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
    let inner = '';
    for (const [k, v] of Object.entries(props)) {
      if (v === null) continue;
      if (Array.isArray(v)) inner += `<propertyList name="${k}">${v.map((i) => `<item>${esc(i)}</item>`).join('')}</propertyList>`;
      else inner += `<property name="${k}">${esc(v)}</property>`;
    }
    for (const [k, v] of Object.entries(links)) inner += `<link rel="${k}" href="${esc(v)}"/>`;
    return { body: `<?xml version="1.0" encoding="utf-8"?><input xmlns="${UCWA_NS}">${inner}</input>`, type: 'application/xml' };
  }

  async post(href: string, props: Record<string, string | string[] | null> = {}, links: Record<string, string> = {}): Promise<Reply> {
    const { body, type } = this.input(props, links);
    return this.request('POST', href, body, { 'Content-Type': type });
  }

  /** Root -> 401 challenge -> token -> user -> applications -> makeMeAvailable. */
  async signIn(opts: { endpointId?: string; available?: boolean } = {}): Promise<this> {
    const root = await this.get('/');
    const userHref = link(root, 'user');
    const challenge = await this.request('GET', userHref);
    expect(challenge.status).to.equal(401);
    const header = challenge.headers.get('www-authenticate') ?? '';
    const tokenUrl = /MsRtcOAuth href="([^"]+)"/.exec(header)?.[1];
    expect(tokenUrl, header).to.be.a('string');
    const tokenReply = await this.fetchImpl(tokenUrl!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8', Accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'password', username: this.username, password: this.password }).toString(),
    });
    const tokenBody = (await tokenReply.json()) as { access_token: string; token_type: string };
    expect(tokenReply.status, JSON.stringify(tokenBody)).to.equal(200);
    this.token = tokenBody.access_token;
    this.user = await this.get(userHref);
    const created = await this.post(link(this.user, 'applications'), { culture: 'en-US', endpointId: opts.endpointId ?? `ep-${Math.random().toString(16).slice(2)}`, userAgent: 'TestUcwa/1.0' });
    expect(created.status, created.text).to.equal(201);
    this.app = this.parse(created);
    this.events = link(this.app, 'events');
    if (opts.available !== false) {
      const me = this.app.embedded.me![0]!;
      const mma = await this.post(link(me, 'makeMeAvailable'), { supportedModalities: ['Messaging'], supportedMessageFormats: ['Plain', 'Html'] });
      expect(mma.status, mma.text).to.equal(204);
      this.app = await this.get(this.app.href);
    }
    return this;
  }

  communication(): Res {
    return this.app!.embedded.communication![0]!;
  }

  nextOperationId(): string {
    return `op-${this.username}-${++this.opSeq}`;
  }

  /** One P-GET on the current events link; follows next/resync; returns the events. */
  async poll(extra = ''): Promise<{ reply: Reply; events: Ev[]; page?: Res }> {
    const href = this.events + extra;
    const reply = await this.request('GET', href);
    if (reply.status !== 200) return { reply, events: [] };
    const events = this.readEvents(reply);
    const page = this.parsePage(reply);
    const next = page.links.resync?.[0]?.href ?? page.links.resume?.[0]?.href ?? page.links.next?.[0]?.href;
    if (next) this.events = next;
    this.received.push(...events);
    return { reply, events, page };
  }

  parsePage(reply: Reply): Res {
    if (/json/.test(reply.headers.get('content-type') ?? '')) {
      const o = JSON.parse(reply.text) as Record<string, unknown>;
      return fromJson({ _links: o._links } as Record<string, unknown>, 'events');
    }
    const root = parseXmlTree(reply.text, READ_LIMITS);
    return { ...fromXml(root), href: root.attrs.href! };
  }

  readEvents(reply: Reply): Ev[] {
    const out: Ev[] = [];
    if (/json/.test(reply.headers.get('content-type') ?? '')) {
      const o = JSON.parse(reply.text) as { sender?: { rel: string; href: string; events: Record<string, unknown>[] }[] };
      expect(o.sender, 'sender is always present').to.be.an('array');
      for (const s of o.sender ?? []) {
        for (const e of s.events) {
          const l = e.link as { rel: string; href: string; title?: string };
          const emb = e._embedded as Record<string, Record<string, unknown>> | undefined;
          out.push({
            sender: s.rel,
            senderHref: s.href,
            type: e.type as string,
            rel: l.rel,
            href: l.href,
            ...(l.title !== undefined ? { title: l.title } : {}),
            ...(e.in ? { in: (e.in as { rel: string }).rel, inHref: (e.in as { href: string }).href } : {}),
            ...(e.status ? { status: e.status as string } : {}),
            ...(e.reason ? { reason: e.reason as Ev['reason'] } : {}),
            ...(emb ? { resource: fromJson(emb[l.rel]!) } : {}),
          });
        }
      }
      return out;
    }
    const root = parseXmlTree(reply.text, READ_LIMITS);
    for (const s of root.children.filter((c) => c.name === 'sender')) {
      for (const e of s.children) {
        const inLink = e.children.find((c) => c.name === 'link' && c.attrs.rel === 'in');
        const status = e.children.find((c) => c.name === 'property' && c.attrs.name === 'status');
        const reason = e.children.find((c) => c.name === 'reason');
        const resource = e.children.find((c) => c.name === 'resource');
        out.push({
          sender: s.attrs.rel!,
          senderHref: s.attrs.href!,
          type: e.name,
          rel: e.attrs.rel!,
          href: e.attrs.href!,
          ...(e.attrs.title !== undefined ? { title: e.attrs.title } : {}),
          ...(inLink ? { inHref: inLink.attrs.href! } : {}),
          ...(inLink ? { in: 'typingParticipants'.toLowerCase() === inLink.attrs.href!.split('/').pop()!.toLowerCase() ? 'typingParticipants' : 'participant' } : {}),
          ...(status ? { status: status.text } : {}),
          ...(reason ? { reason: { code: reason.children.find((c) => c.name === 'code')!.text, subcode: reason.children.find((c) => c.name === 'subcode')?.text } } : {}),
          ...(resource ? { resource: fromXml(resource) } : {}),
        });
      }
    }
    return out;
  }

  /** Polls until an event matches; every event on the way is kept in `received`. */
  async until(pred: (e: Ev) => boolean, maxPolls = 10): Promise<Ev> {
    for (let i = 0; i < maxPolls; i++) {
      const { reply, events } = await this.poll();
      expect(reply.status, reply.text).to.equal(200);
      const hit = events.find(pred);
      if (hit) return hit;
    }
    throw new Error(`${this.username}: no matching event after ${maxPolls} polls; saw ${this.received.map(describe).join(', ')}`);
  }

  /** Everything queued now (the gateway answers an empty page when its hold passes). */
  async drain(): Promise<Ev[]> {
    const all: Ev[] = [];
    for (let i = 0; i < 20; i++) {
      const { reply, events } = await this.poll('&timeout=1');
      expect(reply.status, reply.text).to.equal(200);
      if (events.length === 0) return all;
      all.push(...events);
    }
    throw new Error('the event channel did not drain');
  }
}

export function describe(e: Ev): string {
  return `${e.sender}:${e.type}:${e.rel}${e.status ? `(${e.status})` : ''}`;
}

/** The text of a data: URI as the Windows Store sample reads it: after the last comma, URL-decoded (`+` is a space). */
export function dataText(href: string): string {
  return decodeURIComponent(href.split(',').pop()!.replace(/\+/g, ' '));
}
