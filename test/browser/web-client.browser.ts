// The web client (/app/) in a real Chromium: Debian's `chromium` driven by playwright-core
// (no browser download). Several people in their own browser contexts sign in, see each
// other's presence, chat with typing shown, escalate, leave and sign out; one context has
// its WebSocket blocked and works over long-polls; a message that looks like HTML stays
// text; a person using the page stays available and one coming back from idle is seen back;
// the gateway restarts under pages, which sign in again by themselves (or show the sign-in
// form with the reason when that fails). Also measures the app's JavaScript bytes and first
// paint. On failure, every open page is photographed into test-results/.
//
// npm run test:browser (CWA_CHROMIUM names another browser binary; WEB_CLIENT_SCREENSHOT=FILE
// saves the README's picture of the web client).
import { expect } from 'chai';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { defaultConfig, type GatewayConfig } from '../../src/config.js';
import { silentLogger } from '../../src/ops/logger.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { UNTHROTTLED } from '../../src/testing/gateway.js';
import { UserDirectory } from '../../src/users/directory.js';

const CHROMIUM = process.env.CWA_CHROMIUM ?? '/usr/bin/chromium';
const RESULTS = 'test-results';
/** The issue's budgets: JavaScript as transferred, uncompressed; first paint of a cold load. */
const MAX_JS_BYTES = 100_000;
const MAX_FIRST_PAINT_MS = 1000;
const WAIT_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls until `check` passes (playwright-core has no web-first assertions). */
async function eventually(what: string, check: () => Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(50);
  }
}

async function hasText(loc: Locator, text: string | RegExp, what: string, ms = WAIT_MS): Promise<void> {
  let seen = '';
  await eventually(`${what} to contain ${String(text)}`, async () => {
    seen = (await loc.innerText({ timeout: 1000 })).replace(/\s+/g, ' ');
    return typeof text === 'string' ? seen.includes(text) : text.test(seen);
  }, ms).catch((err: Error) => {
    throw new Error(`${err.message}; it reads: ${JSON.stringify(seen)}`);
  });
}

async function visible(loc: Locator, what: string): Promise<void> {
  await loc.waitFor({ state: 'visible', timeout: WAIT_MS }).catch(() => {
    throw new Error(`${what} is not shown`);
  });
}

async function gone(loc: Locator, what: string): Promise<void> {
  await loc.waitFor({ state: 'detached', timeout: WAIT_MS }).catch(() => {
    throw new Error(`${what} is still there`);
  });
}

interface Person {
  name: string;
  page: Page;
  context: BrowserContext;
  /** Native dialogs the page opened (alert(), confirm() …): there must be none. */
  dialogs: string[];
  errors: string[];
}

describe('web client in Chromium (/app/)', function () {
  this.timeout(180_000);
  let browser: Browser;
  let gw: RunningGateway | undefined;
  let port: number;
  let dataDir: string;
  let url: string;
  let step = 'start';
  const people: Person[] = [];

  async function startServing(users = UserDirectory.demo()): Promise<void> {
    gw = await startGateway(gatewayConfig(port, dataDir), { users, logger: silentLogger() });
  }

  function gatewayConfig(on: number, dir: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
    return { ...defaultConfig(), ...UNTHROTTLED, port: on, host: '127.0.0.1', dataDir: dir, holdMs: 5000, shutdownTimeoutMs: 1000, ...overrides };
  }

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    dataDir = await mkdtemp(join(tmpdir(), 'cwa-web-'));
    await startServing();
  });

  after(async () => {
    await browser?.close();
    await gw?.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      await mkdir(RESULTS, { recursive: true });
      const test = (this.currentTest.title ?? 'test').replace(/[^\w-]+/g, '-').slice(0, 60);
      const at = step.replace(/[^\w-]+/g, '-').slice(0, 60);
      for (const p of people) {
        const file = join(RESULTS, `${test}--${at}--${p.name}.png`);
        await p.page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        console.log(`    screenshot: ${file}`);
      }
    }
    for (const p of people.splice(0)) await p.context.close().catch(() => undefined);
  });

  async function person(name: string, options: { blockWebSocket?: boolean } = {}): Promise<Person> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    if (options.blockWebSocket) {
      // As a proxy that does not pass WebSockets: every socket to the gateway is refused.
      await context.routeWebSocket(/AsyncDataChannel/i, (ws) => ws.close({ code: 1006 }).catch(() => ws.close()));
    }
    const page = await context.newPage();
    const p: Person = { name, page, context, dialogs: [], errors: [] };
    page.on('dialog', (d) => {
      p.dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    page.on('pageerror', (err) => p.errors.push(err.message));
    people.push(p);
    return p;
  }

  async function signIn(p: Person, login: string, password = `${login}-demo`, base = url): Promise<void> {
    const { page } = p;
    if (!page.url().startsWith(base)) {
      const res = await page.goto(`${base}/`); // a browser at the root is sent to the web client
      expect(page.url()).to.equal(`${base}/app/`);
      expect(res?.status()).to.equal(200);
    }
    await page.getByRole('textbox', { name: 'User name', exact: true }).fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  const region = (p: Person, names: string | RegExp) =>
    p.page.getByRole('region', { name: typeof names === 'string' ? `Conversation with ${names}` : names, exact: true });
  const contact = (p: Person, name: string) => p.page.getByRole('list', { name: 'Contacts', exact: true }).getByRole('listitem').filter({ hasText: name });

  async function addContact(p: Person, query: string, name: string): Promise<void> {
    const box = p.page.getByRole('searchbox', { name: 'Search the directory', exact: true });
    await box.fill(query);
    await box.press('Enter');
    const results = p.page.getByRole('list', { name: 'Search results', exact: true });
    await results.getByRole('button', { name: `Add ${name}`, exact: true }).click();
    await visible(contact(p, name), `${name} in ${p.name}'s contacts`);
  }

  async function send(conv: Locator, text: string): Promise<void> {
    const box = conv.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill(text);
    await box.press('Enter');
  }

  const messages = (conv: Locator) => conv.getByRole('log', { name: 'Messages', exact: true });

  it('lets people sign in, see presence, chat with typing, escalate, leave and sign out', async () => {
    step = 'failed sign-in';
    const alice = await person('alice');
    await signIn(alice, 'alice', 'wrong password');
    await hasText(alice.page.getByRole('alert'), 'Sign-in failed', 'the alert');
    await visible(alice.page.getByRole('textbox', { name: 'User name', exact: true }), 'the sign-in form');

    step = 'sign in';
    await alice.page.getByLabel('Password', { exact: true }).fill('alice-demo');
    await alice.page.getByLabel('Password', { exact: true }).press('Enter'); // the keyboard signs in too
    await visible(alice.page.getByRole('heading', { name: 'Alice Anders', exact: true }), "alice's heading");
    const bob = await person('bob');
    await signIn(bob, 'bob');
    await visible(bob.page.getByRole('heading', { name: 'Bob Brennan', exact: true }), "bob's heading");
    await hasText(bob.page.locator('#connection'), 'Connected', "bob's connection state");
    // The contact list is there while still empty.
    await alice.page.getByRole('list', { name: 'Contacts', exact: true }).waitFor({ state: 'attached', timeout: WAIT_MS });
    expect(await alice.page.getByRole('list', { name: 'Contacts', exact: true }).getByRole('listitem').count()).to.equal(0);
    for (const p of [alice, bob]) {
      const options = await p.page.getByRole('combobox', { name: 'My status', exact: true }).locator('option').allInnerTexts();
      expect(options).to.deep.equal(['Available', 'Busy', 'Do not disturb', 'Be right back', 'Away', 'Appear offline']);
      await visible(p.page.getByRole('button', { name: 'Sign out', exact: true }), 'Sign out');
    }

    step = 'contacts and presence';
    await addContact(alice, 'bob', 'Bob Brennan');
    await hasText(contact(alice, 'Bob Brennan'), 'Available', "bob's availability at alice's");
    await addContact(bob, 'anders', 'Alice Anders');
    await hasText(contact(bob, 'Alice Anders'), 'Available', "alice's availability at bob's");
    await bob.page.getByRole('combobox', { name: 'My status', exact: true }).selectOption({ label: 'Busy' });
    await hasText(contact(alice, 'Bob Brennan'), 'Busy', "bob's new status at alice's");
    await alice.page.getByRole('combobox', { name: 'My status', exact: true }).selectOption({ label: 'Do not disturb' });
    const note = alice.page.getByRole('textbox', { name: 'Note', exact: true });
    await note.fill('Reviewing the release');
    await note.press('Enter');
    await hasText(contact(bob, 'Alice Anders'), 'Do not disturb', "alice's new status at bob's");
    await hasText(contact(bob, 'Alice Anders'), 'Reviewing the release', "alice's note at bob's");
    await alice.page.getByRole('combobox', { name: 'My status', exact: true }).selectOption({ label: 'Available' });
    await hasText(contact(bob, 'Alice Anders'), 'Available', 'alice available again');

    step = 'alice starts a conversation';
    await contact(alice, 'Bob Brennan').getByRole('button', { name: 'Chat with Bob Brennan', exact: true }).click();
    const aliceConv = region(alice, 'Bob Brennan');
    await visible(aliceConv, "alice's conversation");
    await send(aliceConv, 'Hello Bob');

    step = 'bob accepts the invitation';
    const invitation = bob.page.getByRole('dialog', { name: 'Invitation from Alice Anders', exact: true });
    await visible(invitation, 'the invitation');
    await hasText(invitation, 'Alice Anders: Hello Bob', 'the invitation');
    await invitation.getByRole('button', { name: 'Accept', exact: true }).click();
    await gone(invitation, 'the invitation');
    const bobConv = region(bob, 'Alice Anders');
    await hasText(messages(bobConv), 'Alice Anders: Hello Bob', "bob's log");
    // Focus is in the message box: bob just types.
    expect(await bobConv.getByRole('textbox', { name: 'Message', exact: true }).evaluate((el) => el === document.activeElement)).to.equal(true);

    step = 'typing both ways';
    await bob.page.keyboard.type('Hi Ali');
    await hasText(aliceConv.getByRole('status'), 'Bob Brennan is typing', "alice's typing status");
    await bob.page.keyboard.type('ce');
    await bob.page.keyboard.press('Enter');
    await hasText(messages(aliceConv), 'Bob Brennan: Hi Alice', "alice's log");
    await eventually('the typing status to clear', async () => (await aliceConv.getByRole('status').innerText()) === '');
    await hasText(messages(bobConv), 'Bob Brennan: Hi Alice', 'bob sees his own message');
    await aliceConv.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('A moment');
    await hasText(bobConv.getByRole('status'), 'Alice Anders is typing', "bob's typing status");
    await aliceConv.getByRole('button', { name: 'Send', exact: true }).click();
    await hasText(messages(bobConv), 'Alice Anders: A moment', "bob's log");

    step = 'a message that looks like HTML';
    const html = '<img src=x onerror=alert(1)>';
    await send(aliceConv, html);
    await hasText(messages(bobConv), `Alice Anders: ${html}`, "bob's log shows the text");
    expect(await bobConv.locator('img').count()).to.equal(0);
    expect(await aliceConv.locator('img').count()).to.equal(0);

    step = 'alice invites carol';
    const carol = await person('carol');
    await signIn(carol, 'carol');
    await visible(carol.page.getByRole('heading', { name: 'Carol Chen', exact: true }), "carol's heading");
    await aliceConv.getByRole('button', { name: 'Invite', exact: true }).click();
    const invite = aliceConv.getByRole('textbox', { name: 'Invite someone', exact: true });
    await invite.fill('carol'); // a login
    await aliceConv.getByRole('button', { name: 'Add', exact: true }).click();
    const carolInvitation = carol.page.getByRole('dialog', { name: 'Invitation from Alice Anders', exact: true });
    await visible(carolInvitation, "carol's invitation");
    await carol.page.keyboard.press('Enter'); // Accept has the focus
    const carolConv = region(carol, /^Conversation with (Alice Anders, Bob Brennan|Bob Brennan, Alice Anders)$/);
    await visible(carolConv, "carol's conversation");
    const aliceConf = region(alice, 'Bob Brennan, Carol Chen');
    await hasText(messages(aliceConf), 'Carol Chen joined', "alice's log");
    await visible(region(bob, 'Alice Anders, Carol Chen'), "bob's conversation, renamed");
    await send(carolConv, 'Hi both');
    await hasText(messages(aliceConf), 'Carol Chen: Hi both', "alice's log");
    await hasText(messages(region(bob, 'Alice Anders, Carol Chen')), 'Carol Chen: Hi both', "bob's log");
    await send(aliceConf, 'Welcome Carol');
    await hasText(messages(carolConv), 'Alice Anders: Welcome Carol', "carol's log");
    if (process.env.WEB_CLIENT_SCREENSHOT) await alice.page.screenshot({ path: process.env.WEB_CLIENT_SCREENSHOT });

    step = 'bob leaves';
    await region(bob, 'Alice Anders, Carol Chen').getByRole('button', { name: 'Leave', exact: true }).click();
    await gone(region(bob, 'Alice Anders, Carol Chen'), "bob's conversation");
    const aliceWithCarol = region(alice, 'Carol Chen');
    await hasText(messages(aliceWithCarol), 'Bob Brennan left', "alice's log");
    await visible(region(carol, 'Alice Anders'), "carol's conversation, renamed");

    step = 'a second conversation at once';
    await contact(alice, 'Bob Brennan').getByRole('button', { name: 'Chat with Bob Brennan', exact: true }).click();
    await send(region(alice, 'Bob Brennan'), 'One more thing');
    const again = bob.page.getByRole('dialog', { name: 'Invitation from Alice Anders', exact: true });
    await again.getByRole('button', { name: 'Accept', exact: true }).click();
    await send(region(bob, 'Alice Anders'), 'Yes?');
    await hasText(messages(region(alice, 'Bob Brennan')), 'Bob Brennan: Yes?', "alice's second conversation");
    await send(aliceWithCarol, 'Still here');
    await hasText(messages(region(carol, 'Alice Anders')), 'Alice Anders: Still here', "carol's log");
    expect(await alice.page.getByRole('region', { name: /^Conversation with / }).count()).to.equal(2);

    step = 'alice signs out';
    await alice.page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await visible(alice.page.getByRole('textbox', { name: 'User name', exact: true }), 'the sign-in form');
    await hasText(messages(region(bob, 'Alice Anders')), 'Alice Anders left', "bob's log");
    await hasText(contact(bob, 'Alice Anders'), 'Offline', 'alice offline at bob\'s');

    for (const p of [alice, bob, carol]) {
      expect(p.dialogs, `${p.name}'s native dialogs`).to.deep.equal([]);
      expect(p.errors, `${p.name}'s page errors`).to.deep.equal([]);
    }
  });

  it('works over long-polls when the WebSocket is blocked', async () => {
    step = 'sign in with the WebSocket blocked';
    const dave = await person('dave', { blockWebSocket: true });
    const erin = await person('erin');
    await signIn(dave, 'dave');
    await signIn(erin, 'erin');
    await visible(dave.page.getByRole('heading', { name: 'Dave Dawson', exact: true }), "dave's heading");
    await hasText(dave.page.locator('#connection'), 'Polling', "dave's connection state");
    await hasText(erin.page.locator('#connection'), 'Connected', "erin's connection state");

    step = 'chat over polling';
    const box = dave.page.getByRole('searchbox', { name: 'Search the directory', exact: true });
    await box.fill('erin');
    await box.press('Enter');
    await dave.page.getByRole('list', { name: 'Search results', exact: true }).getByRole('button', { name: 'Chat with Erin Evans', exact: true }).click();
    const daveConv = region(dave, 'Erin Evans');
    await send(daveConv, 'Over long-polls');
    await erin.page.getByRole('dialog', { name: 'Invitation from Dave Dawson', exact: true }).getByRole('button', { name: 'Accept', exact: true }).click();
    const erinConv = region(erin, 'Dave Dawson');
    await hasText(messages(erinConv), 'Dave Dawson: Over long-polls', "erin's log");
    await erinConv.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('Got it');
    await hasText(daveConv.getByRole('status'), 'Erin Evans is typing', "dave's typing status");
    await erinConv.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await hasText(messages(daveConv), 'Erin Evans: Got it', "dave's log");
    await daveConv.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('Good');
    await hasText(erinConv.getByRole('status'), 'Dave Dawson is typing', "erin's typing status");
    await daveConv.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await hasText(messages(erinConv), 'Dave Dawson: Good', "erin's log");
    await hasText(dave.page.locator('#connection'), 'Polling', "dave's connection state");
    expect(dave.errors).to.deep.equal([]);
  });

  /** Records what #connection reads, and whether the sign-in form appears, from now on. */
  async function watchConnection(p: Person): Promise<void> {
    await p.page.evaluate(() => {
      const w = window as unknown as { seen: string[] };
      w.seen = [];
      const connection = document.getElementById('connection')!;
      const note = () => {
        const now = document.getElementById('user') ? 'the sign-in form' : connection.textContent ?? '';
        if (w.seen.at(-1) !== now) w.seen.push(now);
      };
      note();
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
  }
  const seen = (p: Person) => p.page.evaluate(() => (window as unknown as { seen: string[] }).seen);

  it('keeps a person who uses the page available, and shows them back at once after idling', async () => {
    // A gateway of its own, where a session without user activity idles after 7 s.
    const idlePort = await freePort();
    const idleDir = await mkdtemp(join(tmpdir(), 'cwa-web-idle-'));
    const idleUrl = `http://127.0.0.1:${idlePort}`;
    const idle = await startGateway(gatewayConfig(idlePort, idleDir, { machineIdleS: 7 }), { users: UserDirectory.demo(), logger: silentLogger() });
    try {
      step = 'sign in';
      const alice = await person('alice');
      const bob = await person('bob');
      await signIn(alice, 'alice', undefined, idleUrl);
      await signIn(bob, 'bob', undefined, idleUrl);
      await visible(alice.page.getByRole('heading', { name: 'Alice Anders', exact: true }), "alice's heading");
      await visible(bob.page.getByRole('heading', { name: 'Bob Brennan', exact: true }), "bob's heading");
      await addContact(bob, 'anders', 'Alice Anders');
      await hasText(contact(bob, 'Alice Anders'), 'Available', "alice's availability at bob's");

      step = 'alice uses the page for longer than the idle time';
      const shown = new Set<string>();
      const activeUntil = Date.now() + 10_000;
      for (let i = 0; Date.now() < activeUntil; i++) {
        await alice.page.mouse.move(200 + (i % 2) * 40, 300);
        shown.add((await contact(bob, 'Alice Anders').innerText()).includes('Away') ? 'Away' : 'not Away');
        await sleep(200);
      }
      expect([...shown], "alice as bob sees her while she uses the page").to.deep.equal(['not Away']);
      await hasText(contact(bob, 'Alice Anders'), 'Available', "alice's availability at bob's");

      step = 'alice leaves the page alone';
      // Idle 7 s after the last report, which may trail her last move by up to 5 s; then the next tick.
      await hasText(contact(bob, 'Alice Anders'), 'Away', "alice idle at bob's", 25_000);

      step = 'alice is back';
      const back = Date.now();
      await alice.page.keyboard.press('Shift');
      await hasText(contact(bob, 'Alice Anders'), 'Available', "alice back at bob's");
      const ms = Date.now() - back;
      console.log(`    user activity: alice seen back ${ms} ms after her first keystroke`);
      expect(ms).to.be.below(3000);
      for (const p of [alice, bob]) expect(p.errors, `${p.name}'s page errors`).to.deep.equal([]);
    } finally {
      await idle.close().catch(() => undefined);
      await rm(idleDir, { recursive: true, force: true });
    }
  });

  it('signs in again by itself when the gateway restarts under the page: Reconnecting, then Connected', async () => {
    step = 'sign in';
    const carol = await person('carol');
    const erin = await person('erin');
    await signIn(carol, 'carol');
    await signIn(erin, 'erin');
    await visible(carol.page.getByRole('heading', { name: 'Carol Chen', exact: true }), "carol's heading");
    await visible(erin.page.getByRole('heading', { name: 'Erin Evans', exact: true }), "erin's heading");
    await addContact(erin, 'carol', 'Carol Chen');
    await carol.page.getByRole('combobox', { name: 'My status', exact: true }).selectOption({ label: 'Busy' });
    await hasText(contact(erin, 'Carol Chen'), 'Busy', "carol's status at erin's");
    for (const p of [carol, erin]) {
      await hasText(p.page.locator('#connection'), 'Connected', `${p.name}'s connection state`);
      await watchConnection(p);
    }
    await sleep(1200); // a socket that lived a while, then went away, is a lost connection

    step = 'the gateway stops';
    await gw!.close();
    gw = undefined;
    await hasText(carol.page.locator('#connection'), 'Reconnecting', "carol's connection state");

    step = 'the gateway is back';
    await startServing();
    for (const p of [carol, erin]) {
      await hasText(p.page.locator('#connection'), 'Connected', `${p.name}'s connection state`);
      const states = await seen(p);
      // Reconnecting until signed in again, then Connected; never the sign-in form.
      expect(states.at(-1), `${p.name}: ${states.join(' → ')}`).to.equal('Connected');
      expect(states, `${p.name}: ${states.join(' → ')}`).to.include('Reconnecting').and.not.include('the sign-in form');
      expect(states.lastIndexOf('Reconnecting')).to.be.lessThan(states.length - 1);
    }
    await visible(carol.page.getByRole('heading', { name: 'Carol Chen', exact: true }), "carol's heading, still");

    step = 'the new sessions work';
    // The status carol chose on the page is hers again in the new session.
    await hasText(contact(erin, 'Carol Chen'), 'Busy', "carol's status at erin's after the restart");
    const box = carol.page.getByRole('searchbox', { name: 'Search the directory', exact: true });
    await box.fill('erin');
    await box.press('Enter');
    await carol.page.getByRole('list', { name: 'Search results', exact: true }).getByRole('button', { name: 'Chat with Erin Evans', exact: true }).click();
    await send(region(carol, 'Erin Evans'), 'Back after the restart');
    await erin.page.getByRole('dialog', { name: 'Invitation from Carol Chen', exact: true }).getByRole('button', { name: 'Accept', exact: true }).click();
    await hasText(messages(region(erin, 'Carol Chen')), 'Carol Chen: Back after the restart', "erin's log");
    for (const p of [carol, erin]) expect(p.errors, `${p.name}'s page errors`).to.deep.equal([]);
  });

  it('shows the sign-in form with the reason when signing in again fails, and the user signs in again', async () => {
    step = 'sign in';
    const dave = await person('dave');
    await signIn(dave, 'dave');
    await visible(dave.page.getByRole('heading', { name: 'Dave Dawson', exact: true }), "dave's heading");
    await hasText(dave.page.locator('#connection'), 'Connected', 'the connection state');
    await sleep(1200);

    step = 'the gateway stops';
    await gw!.close();
    gw = undefined;
    await hasText(dave.page.locator('#connection'), 'Reconnecting', 'the connection state');

    step = 'the gateway is back, with a new password for dave';
    const demo = UserDirectory.demo();
    const record = demo.findByUri('sip:dave@example.com')!;
    await startServing(UserDirectory.fromRecords([{ login: record.login, uri: record.uri, displayName: record.displayName, password: 'dave-changed' }]));
    await hasText(dave.page.getByRole('alert'), 'Could not sign in again after the connection was lost', 'the reason on the sign-in form');
    await hasText(dave.page.getByRole('alert'), 'Sign in again', 'the reason on the sign-in form');
    // Keyboard only: the user name is kept and the password box has the focus.
    expect(await dave.page.getByRole('textbox', { name: 'User name', exact: true }).inputValue()).to.equal('dave');
    await dave.page.keyboard.type('dave-changed');
    await dave.page.keyboard.press('Enter');
    await visible(dave.page.getByRole('heading', { name: 'Dave Dawson', exact: true }), "dave's heading again");
    await hasText(dave.page.locator('#connection'), 'Connected', 'the connection state');
    // Still keyboard only: the status is a native select that has the focus after sign-in.
    await dave.page.keyboard.press('ArrowDown');
    expect(await dave.page.getByRole('combobox', { name: 'My status', exact: true }).inputValue()).to.equal('busy');
    expect(dave.errors).to.deep.equal([]);

    step = 'the demo users again';
    await gw!.close();
    gw = undefined;
    await startServing();
  });

  it(`loads in at most ${MAX_JS_BYTES} bytes of JavaScript and paints within ${MAX_FIRST_PAINT_MS} ms`, async () => {
    step = 'cold load';
    const p = await person('visitor');
    let jsBytes = 0;
    const scripts: string[] = [];
    p.page.on('response', async (res) => {
      if (res.request().resourceType() !== 'script') return;
      scripts.push(res.url());
      jsBytes += (await res.body()).length;
    });
    await p.page.goto(`${url}/app/`, { waitUntil: 'load' });
    await visible(p.page.getByRole('button', { name: 'Sign in', exact: true }), 'the sign-in form');
    const firstPaint = await p.page.evaluate(() => performance.getEntriesByName('first-paint')[0]?.startTime);
    await sleep(100); // the response bodies are read
    console.log(`    web client: ${jsBytes} bytes of JavaScript (${scripts.length} file), first paint ${firstPaint?.toFixed(0)} ms (cold load of /app/)`);
    expect(scripts).to.have.length(1);
    expect(jsBytes).to.be.greaterThan(0).and.at.most(MAX_JS_BYTES);
    expect(firstPaint).to.be.a('number');
    expect(firstPaint!).to.be.at.most(MAX_FIRST_PAINT_MS);
  });
});
