// GET / as a real client library's connect() sends it before it signs in (Accept:
// text/plain, a Firefox 3.6 User-Agent; any status >= 400 and it gives up), as a browser
// and as a UCWA-style client send it.
import { expect } from 'chai';
import http from 'node:http';
import { rootCallerOf } from '../src/transport/http/root.js';
import { PACKAGE_VERSION } from '../src/version.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';

/** The library's connect(): a Firefox 3.6 User-Agent and Accept: text/plain. */
const LIBRARY_HEADERS = {
  Accept: 'text/plain',
  'User-Agent': 'Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3',
};
const FIREFOX_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** A request with exactly these headers (fetch would add an Accept of its own). */
function request(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET / (a client library connects by fetching the root)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  after(() => gw.close());

  it('tells the three kinds of caller apart by Accept', () => {
    expect(rootCallerOf('text/plain')).to.equal('text');
    expect(rootCallerOf(FIREFOX_ACCEPT)).to.equal('browser');
    expect(rootCallerOf('text/html, */*')).to.equal('browser');
    expect(rootCallerOf(undefined)).to.equal('ucwa');
    expect(rootCallerOf('')).to.equal('ucwa');
    expect(rootCallerOf('*/*')).to.equal('ucwa');
    expect(rootCallerOf('application/json')).to.equal('ucwa');
    expect(rootCallerOf('application/vnd.microsoft.com.ucwa+json')).to.equal('ucwa');
    expect(rootCallerOf('application/xml')).to.equal('ucwa');
    expect(rootCallerOf('text/plain, */*')).to.equal('text');
    expect(rootCallerOf('text/html;q=0.1, application/json')).to.equal('ucwa');
    expect(rootCallerOf('text/html;q=0, text/plain')).to.equal('text');
    expect(rootCallerOf('image/png')).to.equal('text');
  });

  it("answers the library's exact request with 200 and a plain-text page naming the gateway, without a redirect, with the usual security headers", async () => {
    const r = await request(`${gw.url}/`, 'GET', LIBRARY_HEADERS);
    expect(r.status).to.equal(200);
    expect(r.headers.location).to.equal(undefined);
    expect(r.headers['content-type']).to.match(/^text\/plain; charset=utf-8/);
    expect(r.body).to.include(`cwa-gateway ${PACKAGE_VERSION}`);
    for (const path of ['/forms/logon.html', '/cwa/MainCommandHandler.ashx', '/cwa/AsyncDataChannel.ashx']) expect(r.body).to.include(path);
    expect(r.headers.vary).to.match(/Accept/);
    expect(r.headers['x-content-type-options']).to.equal('nosniff');
    expect(r.headers['x-frame-options']).to.equal('DENY');
    expect(r.headers['content-security-policy']).to.match(/default-src 'none'/);
    expect(r.headers['x-request-id']).to.be.a('string');
  });

  it('answers HEAD / with 200 and no body', async () => {
    const r = await request(`${gw.url}/`, 'HEAD', LIBRARY_HEADERS);
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('');
    expect(r.headers['content-type']).to.match(/^text\/plain/);
  });

  it('redirects a browser to the web client (302 to /app/) and answers a UCWA caller with 200 and the autodiscover document', async () => {
    const browser = await request(`${gw.url}/`, 'GET', { Accept: FIREFOX_ACCEPT });
    expect(browser.status).to.equal(302);
    expect(browser.headers.location).to.equal('/app/');
    expect(browser.headers.vary).to.match(/Accept/);
    const head = await request(`${gw.url}/`, 'HEAD', { Accept: 'text/html' });
    expect(head.status).to.equal(302);
    expect(head.headers.location).to.equal('/app/');
    for (const accept of [undefined, '*/*', 'application/json', 'application/xml']) {
      const r = await request(`${gw.url}/`, 'GET', accept === undefined ? {} : { Accept: accept });
      expect(r.status, String(accept)).to.equal(200);
      expect(r.headers.location, String(accept)).to.equal(undefined);
      expect(r.body, String(accept)).to.include('/Autodiscover/AutodiscoverService.svc/root/oauth/user');
    }
  });

  it('with --no-web-client answers a browser with an HTML page naming the gateway (200, no redirect)', async () => {
    const off = await startTestGateway({ holdMs: 0, noWebClient: true });
    try {
      const browser = await request(`${off.url}/`, 'GET', { Accept: FIREFOX_ACCEPT });
      expect(browser.status).to.equal(200);
      expect(browser.headers.location).to.equal(undefined);
      expect(browser.headers['content-type']).to.match(/^text\/html; charset=utf-8/);
      expect(browser.body).to.include('cwa-gateway');
      expect(browser.headers['content-security-policy']).to.match(/default-src 'none'/);
      expect((await request(`${off.url}/app/`, 'GET', { Accept: FIREFOX_ACCEPT })).status).to.equal(404);
    } finally {
      await off.close();
    }
  });

  it('answers another method on / with 405 and Allow', async () => {
    const r = await request(`${gw.url}/`, 'POST', { 'Content-Type': 'text/xml' });
    expect(r.status).to.equal(405);
    expect(r.headers.allow).to.equal('GET, HEAD');
    expectValidResponses(r.body);
  });
});
