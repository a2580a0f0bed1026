// The README's curl walk-through, run as it is printed (bash and curl) against a fresh
// gateway: alice and bob sign in, chat and sign out, with the sids and confIds the gateway
// returns, twice in a row (the second pair of sessions gets other sids).
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** Runs bash asynchronously: the gateway answering the script lives in this process. */
function bash(script: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function curlBlock(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### A session with curl'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  expect(m, 'the README has a sh block under "A session with curl"').to.not.equal(null);
  return m![1]!;
}

describe('the README curl walk-through', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ holdMs: 0 });
  });
  after(() => gw.close());

  it('runs as printed, twice, with the sids and confIds the gateway returns', async function () {
    this.timeout(20_000);
    const script = curlBlock();
    for (const curl of ['curl', 'bash']) {
      const found = spawnSync('sh', ['-c', `command -v ${curl}`]);
      expect(found.status, `${curl} must be installed to run the README's curl walk-through`).to.equal(0);
    }
    const runs = [await bash(script, { B: gw.url }), await bash(script, { B: gw.url })];
    const sids: string[] = [];
    for (const r of runs) {
      expect(r.status, r.stderr + r.stdout).to.equal(0);
      expect(r.stdout).to.include('<content>hi alice</content>');
      expect(r.stdout).to.include('<searchResult');
      expect(r.stdout).not.to.match(/requestFailed|<error /);
      sids.push(...[...r.stdout.matchAll(/<cwaEvents sid="(\d+)"/g)].map((m) => m[1]!));
    }
    expect(new Set(sids).size, 'four sessions, four sids').to.equal(4);
    expect(gw.gateway.engine.liveSessions(), 'everyone signed out').to.equal(0);
  });
});
