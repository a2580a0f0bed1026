// examples/browser/ in a real Chromium (Debian's `chromium` via playwright-core): the page and
// the client bundle (dist/browser/cwa-gateway-client.js) served from the gateway's origin, as
// its comments say. The page signs in as alice, shows her contact's presence live, receives a
// conversation bob starts from Node (its first message included), answers, and starts one of
// its own. A wrong password and a message that looks like HTML are shown as text.
//
// npm run test:browser (CWA_CHROMIUM names another browser binary).
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CwaClient, type ImMessage, type ImSession } from '../../src/client/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { until } from '../support/sdk.js';

const CHROMIUM = process.env.CWA_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FILES: Record<string, [string, string]> = {
  'index.html': ['examples/browser/index.html', 'text/html; charset=utf-8'],
  'chat.js': ['examples/browser/chat.js', 'text/javascript; charset=utf-8'],
  'cwa-gateway-client.js': ['dist/browser/cwa-gateway-client.js', 'text/javascript; charset=utf-8'],
};

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).innerText()).replace(/\s+/g, ' ');
}

async function shows(page: Page, selector: string, wanted: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await text(page, selector).catch(() => '');
    if (seen.includes(wanted)) return;
    if (Date.now() > deadline) throw new Error(`${selector} does not show ${JSON.stringify(wanted)}; it reads ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('examples/browser: a page on the client bundle, in Chromium', function () {
  this.timeout(60_000);
  let browser: Browser;
  let gw: TestGateway;
  const errors: string[] = [];

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
    gw = await startTestGateway({ holdMs: 1000 });
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  it('signs in, shows a contact\'s presence live, receives and starts conversations', async () => {
    // alice's contact list has bob in it.
    const setup = new CwaClient({ baseUrl: gw.url });
    await setup.signIn('alice', 'alice-demo');
    await setup.contacts.add('sip:bob@example.com', { name: 'Bob' });
    await setup.signOut();

    const context = await browser.newContext();
    // The example's files at /example/ on the gateway's origin (no CORS needed).
    await context.route(`${gw.url}/example/**`, async (route) => {
      const name = new URL(route.request().url()).pathname.replace('/example/', '') || 'index.html';
      const file = FILES[name];
      if (!file) return route.fulfill({ status: 404, body: 'not found' });
      const body = await readFile(ROOT + file[0]).catch((err: Error) => err);
      if (body instanceof Error) return route.fulfill({ status: 500, body: `${body.message} (npm run build writes the bundle)` });
      await route.fulfill({ status: 200, contentType: file[1], body });
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => errors.push(`dialog: ${d.message()}`));
    await page.goto(`${gw.url}/example/index.html`);

    await page.fill('[aria-label=password]', 'wrong');
    await page.click('#signin button');
    await shows(page, '#status', 'Wrong user name or password');
    await page.fill('[aria-label=password]', 'alice-demo');
    await page.click('#signin button');
    await shows(page, '#status', 'Signed in as sip:alice@example.com');
    await shows(page, '#contacts', 'Bob: offline');

    const bob = new CwaClient({ baseUrl: gw.url });
    const heard: ImMessage[] = [];
    let started: ImSession | undefined;
    bob.sessions.onIncomingSession((s) => {
      s.onMessage((m) => heard.push(m));
      void s.accept();
    });
    try {
      await bob.signIn('bob', 'bob-demo');
      await shows(page, '#contacts', 'Bob: available');
      await bob.presence.setNote('at the <b>desk</b>');
      await shows(page, '#contacts', 'Bob: available (at the <b>desk</b>)');

      // bob starts a conversation: its first message shows, and the page answers in it.
      started = await bob.sessions.startImSession('sip:alice@example.com', 'hello from node');
      started.onMessage((m) => heard.push(m));
      await started.connected();
      await shows(page, '#log', 'hello from node');
      await page.fill('[aria-label=to]', 'sip:bob@example.com');
      await page.fill('[aria-label=message]', 'hi bob, from the page');
      await page.click('#send button');
      await until(() => heard.some((m) => m.content === 'hi bob, from the page'), 'bob hears the page', 10_000);
      await shows(page, '#log', 'me: hi bob, from the page');
      await started.terminate();
      await shows(page, '#log', '(the conversation with');

      // The page starts one of its own, the first message in the invitation.
      await page.fill('[aria-label=to]', 'sip:bob@example.com');
      await page.fill('[aria-label=message]', 'a new conversation');
      const count = heard.length;
      await page.click('#send button');
      await until(() => heard.length > count && heard.at(-1)!.content === 'a new conversation', 'bob hears the new conversation', 10_000);
      expect(heard.at(-1)!.fromInvitation).to.equal(true);
      // A person who does not exist: the SIP failure, named.
      await page.fill('[aria-label=to]', 'sip:nobody@example.com');
      await page.fill('[aria-label=message]', 'anyone?');
      await page.click('#send button');
      await shows(page, '#log', 'not sent: sip:nobody@example.com: user not found (SIP 404');
      expect(await page.locator('#log b').count(), 'HTML stays text').to.equal(0);
      expect(await page.locator('#contacts b').count(), 'HTML stays text').to.equal(0);
      expect(errors).to.deep.equal([]);
    } finally {
      await bob.signOut().catch(() => undefined);
      await context.close();
    }
  });
});
