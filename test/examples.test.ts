// The README's SDK quick start and the files of examples/, run as a user runs them (node,
// importing `cwa-gateway/client` by the package's own name) against a fresh gateway.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { until, validatingClient } from './support/sdk.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/** Runs node asynchronously (the gateway answering it lives in this process). */
function node(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { child, stdout: '', stderr: '', exited: undefined as unknown as Promise<number | null> };
  child.stdout!.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (run.stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  run.exited = new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return run;
}

function quickStartBlock(): string {
  const readme = readFileSync(new URL('README.md', `file://${ROOT}`), 'utf8');
  const section = readme.slice(readme.indexOf('### SDK quick start'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  expect(m, 'the README has a js block under "SDK quick start"').to.not.equal(null);
  return m![1]!;
}

const EXPECTED_CHAT = ['bob got: hi bob (with the invitation)', 'bob got: lunch at noon?', 'alice got: you said "lunch at noon?"', ''].join('\n');

describe('the README SDK quick start and examples/', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
  });
  after(() => gw.close());

  it('the quick start is examples/two-users.mjs, and both run as printed: the invitation\'s message first', async function () {
    this.timeout(20_000);
    const block = quickStartBlock();
    expect(block).to.equal(readFileSync(new URL('examples/two-users.mjs', `file://${ROOT}`), 'utf8'));
    for (const args of [['--input-type=module', '-e', block], ['examples/two-users.mjs']]) {
      const run = node(args, { CWA_URL: gw.url });
      expect(await run.exited, run.stderr).to.equal(0);
      expect(run.stdout).to.equal(EXPECTED_CHAT);
    }
    expect(gw.gateway.engine.liveSessions(), 'both signed out').to.equal(0);
  });

  it('echo-bot answers send-one, including the invitation\'s message; send-one names a SIP failure; the bot signs out on SIGINT', async function () {
    this.timeout(30_000);
    const bot = node(['examples/echo-bot.mjs'], { CWA_URL: gw.url, CWA_USER: 'bob' });
    try {
      await until(() => bot.stdout.includes('echo-bot: signed in as sip:bob@example.com'), `the bot to sign in:\n${bot.stderr}`, 10_000);
      const one = node(['examples/send-one.mjs', 'sip:bob@example.com', 'are you there?'], { CWA_URL: gw.url, CWA_USER: 'alice' });
      expect(await one.exited, one.stderr).to.equal(0);
      expect(one.stdout).to.equal('sip:bob@example.com: echo: are you there?\n');
      expect(bot.stdout).to.include('echo-bot: sip:alice@example.com started a conversation');

      const nobody = node(['examples/send-one.mjs', 'sip:nobody@example.com'], { CWA_URL: gw.url, CWA_USER: 'carol' });
      expect(await nobody.exited).to.equal(1);
      expect(nobody.stderr).to.equal('sip:nobody@example.com: user not found (SIP 404 Not Found)\n');

      const usage = node(['examples/send-one.mjs'], { CWA_URL: gw.url });
      expect(await usage.exited).to.equal(2);
      expect(usage.stderr).to.match(/^usage:/);

      bot.child.kill('SIGINT');
      expect(await bot.exited, bot.stderr).to.equal(0);
      expect(bot.stdout).to.include('echo-bot: signed out');
      expect(gw.gateway.engine.liveSessions()).to.equal(0);
    } finally {
      bot.child.kill('SIGKILL');
    }
  });
  it('presence-dashboard lists the contacts with their presence, prints each change live, and signs out on SIGINT', async function () {
    this.timeout(30_000);
    // carol's contacts: bob and dave (the list is kept by the gateway).
    const setup = validatingClient(gw.url);
    await setup.signIn('carol', 'carol-demo');
    await setup.contacts.add('sip:bob@example.com', { name: 'Bob' });
    await setup.contacts.add('sip:dave@example.com', { name: 'Dave' });
    await setup.signOut();

    const board = node(['examples/presence-dashboard.mjs'], { CWA_URL: gw.url, CWA_USER: 'carol' });
    const bob = validatingClient(gw.url);
    try {
      await until(() => board.stdout.includes('Dave'), `the dashboard's list:\n${board.stdout}\n${board.stderr}`, 10_000);
      expect(board.stdout.split('\n').slice(0, 3)).to.deep.equal(['contacts of sip:carol@example.com:', 'Bob          Offline', 'Dave         Offline']);
      await bob.signIn('bob', 'bob-demo');
      await until(() => board.stdout.includes('Bob          Available'), `bob available:\n${board.stdout}`);
      await bob.presence.setNote('lunch');
      await until(() => board.stdout.includes('Bob          Available       "lunch"'), `bob's note:\n${board.stdout}`);
      await bob.presence.setAvailability('busy');
      await until(() => board.stdout.includes('Bob          Busy            "lunch"'), `bob busy:\n${board.stdout}`);
      await bob.signOut();
      // The note stays published while he is offline.
      await until(() => board.stdout.trimEnd().endsWith('Bob          Offline         "lunch"'), `bob offline:\n${board.stdout}`);
      // One line per change, no repeats.
      const lines = board.stdout.trimEnd().split('\n');
      expect(lines.slice(3)).to.deep.equal(['Bob          Available', 'Bob          Available       "lunch"', 'Bob          Busy            "lunch"', 'Bob          Offline         "lunch"']);
      board.child.kill('SIGINT');
      expect(await board.exited, board.stderr).to.equal(0);
      expect(board.stdout).to.include('presence-dashboard: signed out');
      expect(gw.gateway.engine.liveSessions()).to.equal(0);
    } finally {
      board.child.kill('SIGKILL');
      await bob.signOut().catch(() => undefined);
    }
  });
});
