// A UCWA client signs in and chats over HTTPS (--tls-cert/--tls-key) with a throwaway
// certificate made by openssl: autodiscover links, the token URL and the applications URL
// all carry the https scheme and the host:port the client used.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { link, UcwaClient } from './support/ucwa-client.js';

/** fetch over node:https trusting one CA (the test certificate). */
function fetchWithCa(ca: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers as Record<string, string>, ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const one of v) headers.append(k, one);
            else if (v !== undefined) headers.set(k, v);
          }
          const body = Buffer.concat(chunks);
          resolve(new Response(res.statusCode === 204 ? null : body, { status: res.statusCode!, headers }));
        });
      });
      req.on('error', reject);
      if (init.body !== undefined && init.body !== null) req.write(init.body as string);
      req.end();
    });
  }) as typeof fetch;
}

describe('UCWA over HTTPS', () => {
  let dir: string;
  let gw: TestGateway;
  let url: string;
  let f: typeof fetch;
  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'ucwa-tls-'));
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'], { cwd: dir, encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`openssl is needed to make the test certificate: ${r.error?.message ?? r.stderr}`);
    gw = await startTestGateway({ tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem'), holdMs: 0 });
    url = gw.url.replace(/^http:/, 'https:').replace('127.0.0.1', 'localhost');
    f = fetchWithCa(readFileSync(join(dir, 'c.pem'), 'utf8'));
  });
  after(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in over https; every absolute link keeps scheme://host:port; IM with a CWA user over the same port', async () => {
    const alice = new UcwaClient(url, 'alice', 'alice-demo', 'xml', f);
    const root = await alice.get('/');
    expect(link(root, 'user')).to.equal(`${url}/Autodiscover/AutodiscoverService.svc/root/oauth/user`);
    const challenge = await alice.request('GET', link(root, 'user'));
    expect(challenge.headers.get('www-authenticate')).to.include(`MsRtcOAuth href="${url}/WebTicket/oauthtoken"`);
    await alice.signIn();
    expect(link(alice.user!, 'applications')).to.equal(`${url}/ucwa/oauth/v1/applications`);
    // A CWA client over the same https port.
    const bob = new LegacyClient(url, 'bob');
    (bob as unknown as { http: LegacyClient['http'] }).http = async function (this: LegacyClient, method, path, body, headers = {}) {
      const res = await f(url + path, { method, ...(body !== undefined ? { body } : {}), headers: { 'Content-Type': 'text/xml', ...(this.ticket ? { 'CWA-Ticket': this.ticket } : {}), ...headers } });
      const text = await res.text();
      const ticket = res.headers.get('cwa-ticket');
      if (ticket) this.ticket = ticket;
      const { parse } = await import('./support/client.js');
      return { status: res.status, body: text, root: parse(text), ticket };
    };
    await bob.signIn();
    const start = await alice.post(link(alice.communication(), 'startMessaging'), { to: 'sip:bob@example.com', operationId: 'tls' }, { message: 'data:text/plain,over TLS' });
    expect(start.status).to.equal(201);
    const polled = await bob.pollUntil((e) => e.children[0]?.name === 'imSessionReceived');
    expect(polled.length).to.be.greaterThan(0);
  });
});
