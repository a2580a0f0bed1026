// The web client's files at /app/ (dist/web, built by npm run build): content types, caching,
// the Content-Security-Policy, and what the page is made of. The page itself is tested in
// Chromium by test/browser/web-client.browser.ts (npm run test:browser).
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WEB_CLIENT_CSP, WEB_CLIENT_DIR } from '../src/transport/http/web-client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

describe('web client files (/app/)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  after(() => gw.close());

  async function assetsOf(): Promise<{ html: string; script: string; style: string }> {
    const res = await fetch(`${gw.url}/app/`);
    const html = await res.text();
    const script = /<script type="module" src="(assets\/app-[A-Z0-9]+\.js)"><\/script>/.exec(html)?.[1];
    const style = /<link rel="stylesheet" href="(assets\/app-[A-Z0-9]+\.css)">/.exec(html)?.[1];
    expect(script, 'the script').to.be.a('string');
    expect(style, 'the style sheet').to.be.a('string');
    return { html, script: script!, style: style! };
  }

  it('serves index.html: HTML, no-cache with an ETag (304 when unchanged), the CSP', async () => {
    const res = await fetch(`${gw.url}/app/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).to.equal('no-cache');
    expect(res.headers.get('content-security-policy')).to.equal(WEB_CLIENT_CSP);
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(res.headers.get('x-frame-options')).to.equal('DENY');
    const etag = res.headers.get('etag');
    expect(etag).to.match(/^"[\w-]+"$/);
    const again = await fetch(`${gw.url}/app/`, { headers: { 'If-None-Match': etag! } });
    expect(again.status).to.equal(304);
    expect((await fetch(`${gw.url}/app/index.html`)).status).to.equal(200);
  });

  it('allows only its own scripts and styles: no inline script, no other origin', async () => {
    const csp = WEB_CLIENT_CSP;
    expect(csp).to.include("script-src 'self'").and.include("style-src 'self'").and.include("default-src 'none'");
    expect(csp).not.to.include('unsafe-inline');
    expect(csp).not.to.include('unsafe-eval');
    expect(csp).not.to.match(/https?:|\*/);
    const { html } = await assetsOf();
    // Every script is an external file of the app; no inline script, style or handler.
    expect(html.match(/<script/g)).to.have.length(1);
    expect(html).not.to.match(/<style|\son[a-z]+=|style=/i);
  });

  it('serves hashed assets as immutable with their content types', async () => {
    const { script, style } = await assetsOf();
    const js = await fetch(`${gw.url}/app/${script}`);
    expect(js.status).to.equal(200);
    expect(js.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');
    const body = await js.text();
    expect(body.length).to.be.greaterThan(1000);
    const css = await fetch(`${gw.url}/app/${style}`);
    expect(css.headers.get('content-type')).to.equal('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');
    const head = await fetch(`${gw.url}/app/${script}`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.headers.get('content-length')).to.equal(String(Buffer.byteLength(body)));
  });

  it('redirects /app to /app/ and answers 404 for anything else under it', async () => {
    const bare = await fetch(`${gw.url}/app`, { redirect: 'manual' });
    expect(bare.status).to.equal(301);
    expect(bare.headers.get('location')).to.equal('/app/');
    for (const path of ['/app/assets/nope.js', '/app/../package.json', '/app/assets/', '/app/src/web/app.ts']) {
      expect((await fetch(`${gw.url}${path}`)).status, path).to.equal(404);
    }
  });

  it('is built from the client library only, and the library ships as a browser module too', async () => {
    const { script } = await assetsOf();
    const bundle = await readFile(join(WEB_CLIENT_DIR, script), 'utf8');
    // The app speaks the wire protocol through the library: its paths come from there.
    expect(bundle).to.include('/cwa/AsyncDataChannel.ashx');
    const lib = await readFile(join(WEB_CLIENT_DIR, '..', 'browser', 'cwa-gateway-client.js'), 'utf8');
    expect(lib).to.match(/export\s*\{[^}]*CwaClient/);
    const sources = await readFile(new URL('../../src/web/app.ts', import.meta.url), 'utf8');
    const imports = [...sources.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.filter((i) => !i!.startsWith('./'))).to.deep.equal(['cwa-gateway/client']);
  });
});
