// The CWA paths are served before Express (src/transport/http/fast-path.ts): their answers
// must carry the same headers as Express's, match the same request paths, see the same client
// address behind proxies, and be counted and logged alike, also when the client goes away.
import { expect } from 'chai';
import express from 'express';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createLogger } from '../src/ops/logger.js';
import { clientAddress } from '../src/transport/http/operability.js';
import { routePath } from '../src/transport/http/fast-path.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidDocument } from './support/schemas.js';

const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
/** Headers of the answer itself, not of the gateway's policy. */
const OWN = new Set(['date', 'content-length', 'x-request-id', 'connection', 'keep-alive']);

function policyHeaders(res: Response): Map<string, string> {
  const out = new Map<string, string>();
  res.headers.forEach((value, name) => {
    if (!OWN.has(name)) out.set(name, value);
  });
  return out;
}

function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Writes raw bytes on one connection and collects everything answered until it goes quiet. */
async function rawExchange(url: string, bytes: string, quietMs = 300): Promise<string> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.write(bytes);
  let last = -1;
  while (last !== text.length) {
    last = text.length;
    await new Promise((r) => setTimeout(r, quietMs));
  }
  socket.destroy();
  return text;
}

describe('CWA paths before Express', () => {
  let gw: TestGateway;
  afterEach(() => gw?.close());

  for (const [label, corsOrigins, origin] of [
    ['without CORS', undefined, undefined],
    ['for an allowed origin', 'https://app.example.com, https://other.example.com', 'https://app.example.com'],
    ['for another origin', 'https://app.example.com', 'https://evil.example.net'],
    ['with any origin allowed', '*', 'https://anywhere.example'],
  ] as const) {
    it(`answers with the same security, CORS and caching headers as the Express routes, ${label}`, async () => {
      gw = await startTestGateway(corsOrigins ? { corsOrigins } : {});
      const headers: Record<string, string> = origin ? { Origin: origin } : {};
      // Express: an unknown path (404) and a wrong method on a CWA path (405); the CWA paths: no ticket (401), a bad body (400).
      const viaExpress = await fetch(`${gw.url}/no/such/thing`, { headers });
      const wrongMethod = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, { headers });
      const noTicket = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, { method: 'POST', headers, body: '<cwaRequests/>' });
      const badLogon = await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', headers, body: '<nope/>' });
      expect([viaExpress.status, wrongMethod.status, noTicket.status, badLogon.status]).to.deep.equal([404, 405, 401, 400]);
      const express = policyHeaders(viaExpress);
      expect(express.get('x-content-type-options')).to.equal('nosniff'); // helmet did run
      expect(policyHeaders(noTicket)).to.deep.equal(express);
      expect(policyHeaders(badLogon)).to.deep.equal(express);
      const withAllow = policyHeaders(wrongMethod);
      expect(withAllow.get('allow')).to.equal('POST');
      withAllow.delete('allow');
      expect(withAllow).to.deep.equal(express);
      for (const res of [viaExpress, wrongMethod, noTicket, badLogon]) {
        expect(res.headers.get('x-request-id')).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/);
        expectValidDocument(await res.text());
      }
      if (origin === 'https://app.example.com' || corsOrigins === '*') expect(express.get('access-control-allow-origin')).to.equal(corsOrigins === '*' ? '*' : origin);
      else expect(express.has('access-control-allow-origin')).to.equal(false);
    });
  }

  it('matches the paths as Express did: without case, with one trailing slash, in absolute form; other methods still get 405 and preflights 204', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    for (const path of ['/CWA/maincommandhandler.ASHX', '/cwa/MainCommandHandler.ashx/']) {
      const reply = await alice.http('POST', path, `<cwaRequests xmlns="${NS}" sid="${alice.sid}"><getPresence rid="${alice.nextRid()}"><uris/></getPresence></cwaRequests>`);
      expect(reply.status, path).to.be.oneOf([200]);
      expect(reply.root.name).to.equal('cwaResponses');
    }
    const poll = await alice.http('GET', `/Cwa/AsyncDataChannel.ashx/?Sid=${alice.sid}&AckId=0`);
    expect(poll.status).to.equal(200);
    expect(poll.root.name).to.equal('cwaEvents');
    // Two slashes are not one: Express did not serve it either.
    expect((await fetch(`${gw.url}/cwa/MainCommandHandler.ashx//`, { method: 'POST', body: '<cwaRequests/>' })).status).to.equal(404);
    const put = await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx`, { method: 'PUT' });
    expect([put.status, put.headers.get('allow')]).to.deep.equal([405, 'GET']);
    expect((await fetch(`${gw.url}/forms/logon.html`, { method: 'OPTIONS' })).status).to.equal(204);
    const head = await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=0`, { method: 'HEAD', headers: { 'CWA-Ticket': alice.ticket! } });
    expect(head.status).to.equal(200);
    const absolute = await rawExchange(gw.url, `GET http://gateway.example${'/cwa/AsyncDataChannel.ashx'}?Sid=${alice.sid}&AckId=0 HTTP/1.1\r\nHost: gateway.example\r\nCWA-Ticket: ${alice.ticket}\r\n\r\n`);
    expect(absolute).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(absolute).to.include('<cwaEvents');
  });

  it('reads the route path as Express does', () => {
    expect(routePath('/cwa/MainCommandHandler.ashx?x=1')).to.equal('/cwa/maincommandhandler.ashx');
    expect(routePath('/cwa/AsyncDataChannel.ashx#frag?x')).to.equal('/cwa/asyncdatachannel.ashx');
    expect(routePath('/cwa/AsyncDataChannel.ashx/?Sid=1')).to.equal('/cwa/asyncdatachannel.ashx');
    expect(routePath('HTTP://host:81/forms/logon.html?a')).to.equal('/forms/logon.html');
    expect(routePath('/')).to.equal('/');
    expect(routePath('*')).to.equal(undefined);
  });

  it('sees the client address Express\'s trust proxy saw, for every hop count and X-Forwarded-For', async () => {
    const cases = [undefined, '203.0.113.7', '203.0.113.7, 10.0.0.2', ' 203.0.113.7 ,10.0.0.2,, 10.0.0.3 ', '2001:db8::1', ',', ''];
    for (const hops of [0, 1, 2, 3]) {
      const app = express();
      if (hops > 0) app.set('trust proxy', hops);
      app.get('/', (req, res) => {
        res.json({ express: (hops > 0 ? req.ip : req.socket.remoteAddress) ?? 'unknown', ours: clientAddress(req, hops) });
      });
      const server = http.createServer(app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { port } = server.address() as AddressInfo;
        for (const xff of cases) {
          const res = await fetch(`http://127.0.0.1:${port}/`, { headers: xff === undefined ? {} : { 'X-Forwarded-For': xff } });
          const seen = (await res.json()) as { express: string; ours: string };
          expect(seen.ours, `${hops} hops, X-Forwarded-For ${JSON.stringify(xff)}`).to.equal(seen.express);
        }
      } finally {
        server.close();
      }
    }
  });

  it('counts and logs a client that leaves before its answer with status 499, once, and releases its held poll', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (s: string) => void lines.push(s) });
    gw = await startTestGateway({ holdMs: 10_000 }, { logger });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll(); // the session's first events
    const scrape = async () => (await fetch(`${gw.url}/metrics`)).text();
    const before = await scrape();
    const abort = new AbortController();
    const held = fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=${alice.ackId}`, {
      headers: { 'CWA-Ticket': alice.ticket!, 'X-Request-Id': 'leaves-early' },
      signal: abort.signal,
    }).catch(() => undefined);
    for (let i = 0; i < 100 && gw.gateway.context.ops.polls.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gw.gateway.context.ops.polls.size).to.equal(1);
    expect(gw.gateway.context.ops.inFlight.size).to.equal(1); // what shutdown drains
    abort.abort();
    await held;
    for (let i = 0; i < 100 && gw.gateway.context.ops.polls.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gw.gateway.context.ops.polls.size).to.equal(0);
    const after = await scrape();
    expect(gw.gateway.context.ops.inFlight.size).to.equal(0);
    const label = '{route="data",status="499"}';
    expect(sample(after, 'cwa_http_requests_total', label) - sample(before, 'cwa_http_requests_total', label)).to.equal(1);
    logger.flush();
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.reqId === 'leaves-early');
    expect(records).to.have.length(1);
    expect(records[0]).to.include({ status: 499, method: 'GET', login: 'alice', msg: 'request' });
    // The answered requests were counted with their status.
    expect(sample(after, 'cwa_http_requests_total', '{route="data",status="200"}')).to.be.at.least(1);
    expect(sample(after, 'cwa_http_requests_total', '{route="command",status="200"}')).to.be.at.least(1);
    expect(sample(after, 'cwa_http_requests_total', '{route="logon",status="200"}')).to.equal(1);
  });

  it('answers pipelined requests on one connection in order, and counts each', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const body = `<cwaRequests xmlns="${NS}" sid="${alice.sid}"><getPresence rid="77"><uris/></getPresence></cwaRequests>`;
    const post = `POST /cwa/MainCommandHandler.ashx HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${alice.ticket}\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const get = `GET /cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=0 HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${alice.ticket}\r\n\r\n`;
    const text = await rawExchange(gw.url, post + get + post);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).to.deep.equal(['200', '200', '200']);
    const order = [...text.matchAll(/<(cwaResponses|cwaEvents)\b/g)].map((m) => m[1]);
    expect(order).to.deep.equal(['cwaResponses', 'cwaEvents', 'cwaResponses']);
    expect(gw.gateway.context.ops.inFlight.size).to.equal(0);
  });

  it('still reads chunked and compressed bodies, and refuses one over --max-body-bytes with 413', async () => {
    gw = await startTestGateway({ maxBodyBytes: 4096 });
    const logon = '<cwaRequests><logon><user>alice</user><password>alice-demo</password></logon></cwaRequests>';
    const chunked = await rawExchange(gw.url, `POST /forms/logon.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${logon.length.toString(16)}\r\n${logon}\r\n0\r\n\r\n`);
    expect(chunked).to.match(/^HTTP\/1\.1 200 /);
    expect(chunked).to.match(/\r\nCWA-Ticket: [\w-]{43}\r\n/i);
    const gz = await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: gzipSync(logon) });
    expect(gz.status).to.equal(200);
    const big = await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', body: `<cwaRequests>${' '.repeat(5000)}</cwaRequests>` });
    expect(big.status).to.equal(413);
    expect(big.headers.get('x-content-type-options')).to.equal('nosniff');
    expectValidDocument(await big.text());
  });

  it('judges each request by the ticket it presents, also when one connection presents several in turn', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    // One keep-alive connection for every request (the gateway keeps the ticket's hash per connection).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const poll = (sid: number, ticket: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=${sid}&AckId=0`, { agent, headers: { 'CWA-Ticket': ticket } }, (res) => {
          sockets.add(req.socket);
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
      });
    try {
      expect(await poll(alice.sid, alice.ticket!)).to.equal(200);
      expect(await poll(bob.sid, bob.ticket!), 'bob on the connection alice used').to.equal(200);
      expect(await poll(alice.sid, bob.ticket!), "bob's ticket does not reach alice's session").to.equal(404);
      expect(await poll(alice.sid, 'not-a-ticket'), 'an unknown ticket').to.equal(401);
      expect(await poll(alice.sid, alice.ticket!)).to.equal(200);
      expect(sockets.size, 'every request on one connection').to.equal(1);
      // A ticket revoked by a sign-out everywhere is refused on the connection that presented it before.
      await gw.gateway.coordinator.signOut('alice');
      expect(await poll(alice.sid, alice.ticket!)).to.equal(401);
    } finally {
      agent.destroy();
    }
  });
});
