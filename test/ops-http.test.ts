// Browser and proxy friendliness (CORS, preflights, security headers), request ids,
// /healthz and /readyz, and structured logs that never hold a ticket or a password.
import { expect } from 'chai';
import type http from 'node:http';
import request from 'supertest';
import { createLogger, scrubUrl } from '../src/ops/logger.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

describe('CORS', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  const preflight = (origin?: string) =>
    fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, {
      method: 'OPTIONS',
      headers: {
        ...(origin ? { Origin: origin } : {}),
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'cwa-ticket, content-type',
      },
    });

  it('answers a preflight from an allowed origin with the methods and CWA-Ticket allowed', async () => {
    gw = await startTestGateway({ corsOrigins: 'https://app.example.com, https://other.example.com:8443' });
    const res = await preflight('https://app.example.com');
    expect(res.status).to.equal(204);
    expect(res.headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
    expect(res.headers.get('access-control-allow-methods')).to.include('POST').and.include('GET');
    expect(res.headers.get('access-control-allow-headers')!.toLowerCase()).to.include('cwa-ticket').and.include('content-type');
    expect(res.headers.get('access-control-max-age')).to.equal('600');
    expect(res.headers.get('vary')).to.match(/Origin/);
  });

  it('lets a page of an allowed origin read CWA-Ticket on a real request', async () => {
    gw = await startTestGateway({ corsOrigins: 'https://app.example.com' });
    const res = await fetch(`${gw.url}/forms/logon.html`, {
      method: 'POST',
      headers: { Origin: 'https://app.example.com', 'Content-Type': 'text/plain' },
      body: '<cwaRequests><logon><user>alice</user><password>alice-demo</password></logon></cwaRequests>',
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).to.include('CWA-Ticket');
    expect(res.headers.get('cwa-ticket')).to.match(/^[\w-]{43}$/);
  });

  it('gives no CORS headers to another origin, and still answers its preflight (204) without them', async () => {
    gw = await startTestGateway({ corsOrigins: 'https://app.example.com' });
    const res = await preflight('https://evil.example.net');
    expect(res.status).to.equal(204);
    expect(res.headers.get('access-control-allow-origin')).to.equal(null);
    const post = await fetch(`${gw.url}/healthz`, { headers: { Origin: 'https://evil.example.net' } });
    expect(post.headers.get('access-control-allow-origin')).to.equal(null);
  });

  it('answers an OPTIONS without Origin, or with CORS off, with 204 and Allow (never 404/405)', async () => {
    gw = await startTestGateway({ corsOrigins: 'https://app.example.com' });
    expect((await preflight()).status).to.equal(204);
    await gw.close();
    gw = await startTestGateway();
    const res = await preflight('https://app.example.com');
    expect(res.status).to.equal(204);
    expect(res.headers.get('allow')).to.include('POST');
    expect(res.headers.get('access-control-allow-origin')).to.equal(null);
  });

  it('allows any origin with *', async () => {
    gw = await startTestGateway({ corsOrigins: '*' });
    const res = await preflight('https://anywhere.example');
    expect(res.headers.get('access-control-allow-origin')).to.equal('*');
  });
});

describe('security headers and request ids', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  after(() => gw.close());

  it('adds security headers and leaves the XML answers as they were', async () => {
    const alice = new LegacyClient(gw.url, 'alice');
    const reply = await alice.logon(); // the test client checks content type and schema
    expect(reply.status).to.equal(200);
    const res = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, { method: 'POST', body: '<cwaRequests/>' });
    expect(res.headers.get('content-type')).to.equal('text/xml; charset=utf-8');
    expect(res.headers.get('cache-control')).to.equal('no-cache, no-store');
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(res.headers.get('x-frame-options')).to.equal('DENY');
    expect(res.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(res.headers.get('content-security-policy')).to.include("default-src 'none'");
    expect(res.headers.get('strict-transport-security')).to.equal(null); // left to the TLS terminator
    expect(res.headers.get('x-powered-by')).to.equal(null);
    expect(await res.text()).to.match(/^<cwaResponses requestProcessed="0" unexpectedElement="0"><error code="18100"/);
  });

  it('echoes a plain X-Request-Id and makes one up otherwise', async () => {
    const given = await fetch(`${gw.url}/healthz`, { headers: { 'X-Request-Id': 'lb-1234.abc' } });
    expect(given.headers.get('x-request-id')).to.equal('lb-1234.abc');
    const made = await fetch(`${gw.url}/healthz`);
    const again = await fetch(`${gw.url}/healthz`);
    expect(made.headers.get('x-request-id')).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(again.headers.get('x-request-id')).to.not.equal(made.headers.get('x-request-id'));
    const odd = await fetch(`${gw.url}/healthz`, { headers: { 'X-Request-Id': 'x'.repeat(500) } });
    expect(odd.headers.get('x-request-id')).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/);
  });
});

describe('/healthz and /readyz', () => {
  it('are ready while listening, and /readyz turns 503 as soon as shutdown starts', async () => {
    const gw = await startTestGateway({ holdMs: 5000 });
    try {
      expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);
      const ready = await fetch(`${gw.url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(await ready.text()).to.equal('ready');
      // Once shutdown starts the listener refuses new connections; ask the app itself.
      const app = gw.gateway.server.listeners('request')[0] as http.RequestListener;
      let during: request.Response | undefined;
      gw.gateway.shutdown.register('probe readiness', 'release', async () => {
        during = await request(app).get('/readyz');
      });
      expect((await gw.gateway.stop()).ok).to.equal(true);
      expect(during!.status).to.equal(503);
      expect(during!.text).to.equal('shutting down');
      expect((await request(app).get('/healthz')).status).to.equal(200); // alive until the process ends
    } finally {
      await gw.close();
    }
  });
});

describe('structured logs', () => {
  it('writes one JSON line per request with the request id, and never a ticket or a password', async () => {
    const lines: string[] = [];
    const logger = createLogger('trace', { write: (s: string) => void lines.push(s) });
    const gw = await startTestGateway({ holdMs: 0 }, { logger });
    try {
      const password = 'alice-demo';
      const alice = new LegacyClient(gw.url, 'alice');
      await alice.logon(password);
      await alice.command(`<initiateSession rid="1"/>`, 0);
      alice.sid = 1;
      await alice.poll();
      const ticket = alice.ticket!;
      // Failed logons, one with the password typed into the user field; a ticket in the query string.
      await new LegacyClient(gw.url, 'alice').logon('wrong-secret-1');
      await new LegacyClient(gw.url, 'S3cret-typed-as-user', 'x').logon();
      await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=1&ticket=${ticket}&AckId=0`, { headers: { 'CWA-Ticket': ticket, 'X-Request-Id': 'trace-me' } });
      await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, {
        method: 'POST',
        headers: { 'CWA-Ticket': ticket },
        body: `<cwaRequests xmlns="${NS}"><logon><user>alice</user><password>${password}</password></logon><bogus/></cwaRequests>`,
      });
      await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', body: `<cwaRequests><logon><user>alice</user><password>${password}</password><x/></logon></cwaRequests>` });
      logger.flush();
      const output = lines.join('');
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.length).to.be.greaterThan(5);
      for (const secret of [password, ticket, 'wrong-secret-1', 'S3cret-typed-as-user']) {
        expect(output, secret).to.not.include(secret);
      }
      const traced = records.find((r) => r.reqId === 'trace-me')!;
      expect(traced).to.include({ method: 'GET', status: 200, login: 'alice' });
      expect(traced.url).to.equal('/cwa/AsyncDataChannel.ashx?Sid=1&ticket=[redacted]&AckId=0');
      expect(records.some((r) => r.msg === 'logon' && r.login === 'alice')).to.equal(true);
      expect(records.some((r) => r.msg === 'logon failed' && r.login === '(unknown user)')).to.equal(true);
      for (const r of records) expect(r).to.have.property('level').that.is.a('string');
    } finally {
      await gw.close();
    }
  });

  it('redacts ticket and password fields wherever they are logged', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
    logger.info({ ticket: 't1', password: 'p1', req: { headers: { 'cwa-ticket': 't2', authorization: 'Basic x' } }, user: { password: 'p2' } }, 'x');
    const out = lines.join('');
    for (const s of ['t1', 'p1', 't2', 'Basic x', 'p2']) expect(out).to.not.include(`"${s}"`);
    expect(scrubUrl('/x?a=1&TICKET=abc&b=2')).to.equal('/x?a=1&TICKET=[redacted]&b=2');
    expect(scrubUrl('/x?ticket=abc')).to.equal('/x?ticket=[redacted]');
    expect(scrubUrl('/x?myticket=abc')).to.equal('/x?myticket=abc');
  });
});
