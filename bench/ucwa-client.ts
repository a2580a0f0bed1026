// A deliberately cheap UCWA 1.0 client for the benchmark (the counterpart of client.ts):
// keep-alive `http.request`, JSON only, short regexes over the event pages instead of a
// parser, so that the numbers measure the gateway's UCWA door rather than the load generator.
import http from 'node:http';
import { BenchUser } from './client.js';

export interface UcwaReply {
  status: number;
  text: string;
  location: string | undefined;
}

const NEXT = /"next":\{"href":"([^"]+)"/;
const RESYNC = /"resync":\{"href":"([^"]+)"/;
const linkOf = (rel: string) => new RegExp(`"${rel}":\\{"href":"([^"]+)"`);
const ACCEPT = linkOf('accept');
const SEND = linkOf('sendMessage');

/** One UCWA application of one user: token, application href, event cursor. */
export class UcwaBenchClient extends BenchUser {
  token = '';
  app = '';
  events = '';
  sendHref = '';
  private next = 0;

  request(method: 'GET' | 'POST', path: string, body?: string, type = 'application/json'): Promise<UcwaReply> {
    const { target } = this;
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (body !== undefined) {
        headers['content-type'] = type;
        headers['content-length'] = Buffer.byteLength(body);
      }
      const port = target.ports[this.next++ % target.ports.length];
      const req = http.request({ host: target.host, port, method, path, headers, agent: target.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, location: res.headers.location }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  private expect(what: string, reply: UcwaReply, status: number): UcwaReply {
    if (reply.status !== status) throw new Error(`${what} ${this.login}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    return reply;
  }

  /** Token, application, makeMeAvailable. */
  async signIn(): Promise<void> {
    const form = new URLSearchParams({ grant_type: 'password', username: `${this.login}@example.com`, password: this.password }).toString();
    const token = this.expect('token', await this.request('POST', '/WebTicket/oauthtoken', form, 'application/x-www-form-urlencoded'), 200);
    this.token = (JSON.parse(token.text) as { access_token: string }).access_token;
    const created = this.expect('application', await this.request('POST', '/ucwa/oauth/v1/applications', JSON.stringify({ endpointId: `bench-${this.login}`, culture: 'en-US', userAgent: 'bench/1.0' })), 201);
    const app = JSON.parse(created.text) as { _links: { self: { href: string }; events: { href: string } } };
    this.app = app._links.self.href;
    this.events = app._links.events.href;
    this.expect('makeMeAvailable', await this.request('POST', `${this.app}/me/makeMeAvailable`, JSON.stringify({ supportedModalities: ['Messaging'] })), 204);
  }

  /** One P-GET; follows `next` (or `resync`). Resolves with the page's text. */
  async poll(): Promise<string> {
    const reply = await this.request('GET', this.events);
    if (reply.status !== 200) throw new Error(`events ${this.login}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    const next = RESYNC.exec(reply.text)?.[1] ?? NEXT.exec(reply.text)?.[1];
    if (!next) throw new Error(`events ${this.login}: no next link in ${reply.text.slice(0, 200)}`);
    this.events = next;
    return reply.text;
  }

  /** Polls until `re` matches a page; resolves with the match. */
  async pollFor(re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(await this.poll());
      if (m) return m;
    }
  }

  sendMessage(text: string): Promise<UcwaReply> {
    return this.request('POST', this.sendHref, text, 'text/plain');
  }
}

/** `a` starts messaging with `b` (UCWA), `b` accepts; both learn their sendMessage href. */
export async function connectUcwaPair(a: UcwaBenchClient, b: UcwaBenchClient): Promise<void> {
  const start = await a.request('POST', `${a.app}/communication/messagingInvitations`, JSON.stringify({ to: b.uri, operationId: 'bench' }));
  if (start.status !== 201) throw new Error(`startMessaging ${a.login}: HTTP ${start.status} ${start.text.slice(0, 200)}`);
  const accept = (await b.pollFor(ACCEPT))[1]!;
  const accepted = await b.request('POST', accept);
  if (accepted.status !== 204) throw new Error(`accept ${b.login}: HTTP ${accepted.status} ${accepted.text.slice(0, 200)}`);
  for (const c of [a, b]) c.sendHref = (await c.pollFor(SEND))[1]!;
}


