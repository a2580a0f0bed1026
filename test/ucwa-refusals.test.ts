// Refusals made before the UCWA door runs (the per-address limit, a gateway shutting down)
// are answered in the UCWA representation on the door's paths, and in CWA's elsewhere.
import net from 'node:net';
import { expect } from 'chai';
import { startTestGateway } from './support/gateway.js';
import { expectValidUcwaJson, expectValidUcwaXml } from './support/ucwa-schemas.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('UCWA refusals made before the door', () => {
  it('the per-address limit answers a UCWA path with 429 TooManyRequests in JSON or XML, with Retry-After', async () => {
    const gw = await startTestGateway({ rateAddress: 1, rateAddressBurst: 2 }, { manualClock: true });
    try {
      for (let i = 0; i < 2; i++) expect((await fetch(`${gw.url}/Autodiscover/AutodiscoverService.svc/root`)).status).to.equal(200);
      const json = await fetch(`${gw.url}//ucwa/oauth/v1/applications`, { headers: { Accept: 'application/json' } });
      expect(json.status).to.equal(429);
      expect(json.headers.get('retry-after')).to.match(/^\d+$/);
      expect(json.headers.get('content-type')).to.match(/^application\/json/);
      const jsonText = await json.text();
      expectValidUcwaJson(jsonText);
      const body = JSON.parse(jsonText) as { code: string; subcode: string; message: string };
      expect(body.code).to.equal('TooManyRequests');
      const xml = await fetch(`${gw.url}/WebTicket/oauthtoken`, { method: 'POST', headers: { Accept: 'application/xml' } });
      expect(xml.status).to.equal(429);
      const text = await xml.text();
      expectValidUcwaXml(text);
      expect(text).to.match(/<reason[^>]*>/).and.to.include('TooManyRequests');
      // A CWA path over the same limit keeps the CWA answer (18101).
      const cwa = await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', body: '<x/>' });
      expect(cwa.status).to.equal(429);
      expect(await cwa.text()).to.include('code="18101"');
      expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit: 'address' })).to.equal(3);
    } finally {
      await gw.close();
    }
  });

  it('a UCWA request on an idle keep-alive connection once shutdown began: 503 ServiceUnavailable in JSON, Retry-After', async () => {
    const gw = await startTestGateway({ holdMs: 0, shutdownTimeoutMs: 3000 });
    try {
      const { port } = new URL(gw.url);
      const idle = net.connect(Number(port), '127.0.0.1');
      let reply = '';
      idle.on('data', (d) => (reply += d.toString()));
      const closed = new Promise((resolve) => idle.on('close', resolve));
      idle.write('GET /Autodiscover/AutodiscoverService.svc/root HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n');
      while (!reply.includes('}}')) await sleep(5);
      expect(reply).to.match(/^HTTP\/1\.1 200/);
      reply = '';
      // A request in flight keeps the drain going long enough for the idle connection to be used.
      const slow = net.connect(Number(port), '127.0.0.1');
      const slowClosed = new Promise((resolve) => slow.on('close', resolve));
      slow.on('data', () => undefined);
      slow.write('POST /WebTicket/oauthtoken HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 51\r\n\r\ngrant_type=');
      await sleep(50);
      const stopping = gw.gateway.stop();
      await sleep(20);
      idle.write('GET /ucwa/oauth/v1/applications HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n');
      await closed;
      expect(reply).to.match(/^HTTP\/1\.1 503/).and.to.match(/\r\nRetry-After: 1\r\n/i);
      const text = reply.slice(reply.indexOf('\r\n\r\n') + 4);
      expectValidUcwaJson(text);
      const body = JSON.parse(text) as { code: string };
      expect(body.code).to.equal('ServiceUnavailable');
      slow.write('password&username=a&password=bbbbbbbbbbb');
      await stopping;
      await slowClosed;
    } finally {
      await gw.close();
    }
  });
});
