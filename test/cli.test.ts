import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../src/cli.js';
import { OPTIONS, type GatewayConfig } from '../src/config.js';
import { verifyPassword } from '../src/users/password.js';
import type { UserDirectory } from '../src/users/directory.js';
import { listeningUrl } from './support/node-process.js';

interface Run { code: number; stdout: string; stderr: string; exits: number[] }

async function run(argv: string[], io: Partial<CliIo> = {}, during?: () => void): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const exits: number[] = [];
  const pending = main(argv, {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    stdin: Readable.from([]),
    env: {},
    exit: (code) => { exits.push(code); },
    ...io,
  });
  during?.();
  const code = await pending;
  return { code, stdout: out.join(''), stderr: err.join(''), exits };
}

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('cli', () => {
  it('hash-password hashes its argument', async () => {
    const r = await run(['hash-password', 'p@ss word']);
    expect(r.code).to.equal(0);
    const stored = r.stdout.trim();
    expect(stored).to.match(/^scrypt\$/);
    expect(await verifyPassword('p@ss word', stored)).to.equal(true);
    expect(await verifyPassword('p@ss', stored)).to.equal(false);
  });

  it('hash-password reads one line from stdin, stripping the line ending', async () => {
    // a multi-byte character split across chunks, CRLF, and a second line that must be ignored
    const bytes = Buffer.from('pässwörd\r\nnext line\n', 'utf8');
    const r = await run(['hash-password'], { stdin: Readable.from([bytes.subarray(0, 2), bytes.subarray(2)]) });
    expect(r.code).to.equal(0);
    expect(await verifyPassword('pässwörd', r.stdout.trim())).to.equal(true);

    const noNewline = await run(['hash-password'], { stdin: Readable.from(['secret']) });
    expect(await verifyPassword('secret', noNewline.stdout.trim())).to.equal(true);
  });

  it('hash-password refuses an empty password or extra arguments', async () => {
    expect((await run(['hash-password'], { stdin: Readable.from(['\n']) })).code).to.equal(2);
    const extra = await run(['hash-password', 'a', 'b']);
    expect(extra.code).to.equal(2);
    expect(extra.stdout).to.equal('');
  });

  it('--help lists every option of the table', async () => {
    for (const argv of [['--help'], ['help'], ['serve', '--help']]) {
      const r = await run(argv);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.include('hash-password');
      for (const o of OPTIONS) {
        expect(r.stdout, o.flag).to.include(o.flag);
        expect(r.stdout, o.env).to.include(o.env);
      }
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('package.json', `file://${root}`), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal(pkg.version);
  });

  it('exits 2 with a one-line message, no stack, on bad flags, values, users files and commands', async () => {
    const cases: Array<[string[], string]> = [
      [['--bogus'], '--bogus'],
      [['serve', '--port', '70000'], '0..65535'],
      [['--hold-ms=abc'], '--hold-ms'],
      [['serve', '--users', '/nonexistent/users.json'], '/nonexistent/users.json'],
      [['frobnicate'], 'frobnicate'],
    ];
    for (const [argv, fragment] of cases) {
      let started = false;
      const r = await run(argv, { startGateway: async () => { started = true; throw new Error('must not start'); } });
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(r.stderr).to.include(fragment);
      expect(r.stderr).not.to.match(/\n\s+at /);
      expect(started).to.equal(false);
    }
    const env = await run([], { env: { CWA_SESSION_TIMEOUT_S: '5' } });
    expect(env.code).to.equal(2);
    expect(env.stderr).to.include('CWA_SESSION_TIMEOUT_S').and.include('10..86400');
  });

  it('serve starts with the demo users, warns, and closes on SIGTERM', async () => {
    let seen: { config: GatewayConfig; users: UserDirectory } | undefined;
    let closed = 0;
    const startGateway = async (config: GatewayConfig, deps: { users: UserDirectory }) => {
      seen = { config, users: deps.users };
      setImmediate(() => process.emit('SIGTERM'));
      return { url: `http://${config.host}:${config.port}`, close: async () => { closed++; } };
    };
    const r = await run(['--port', '9123'], { startGateway, env: { HOST: '127.0.0.2' } });
    expect(r.code).to.equal(0);
    expect(r.exits).to.deep.equal([0]);
    expect(closed).to.equal(1);
    expect(seen!.config.port).to.equal(9123);
    expect(seen!.config.host).to.equal('127.0.0.2');
    expect(seen!.users.isDemo).to.equal(true);
    // Standard output is for JSON log lines (the gateway's own); no plain-text line there, nor on a non-terminal stderr.
    expect(r.stdout).to.equal('');
    expect(r.stderr).not.to.include('listening');
    expect(r.stderr).to.match(/WARNING.*demo/i);
    for (const { login, password } of seen!.users.demoCredentials()) {
      expect(r.stderr).to.include(login).and.include(password);
    }
    expect(process.listenerCount('SIGTERM')).to.equal(0);
  });

  it('serve writes a readable listening line on stderr only when stderr is a terminal', async () => {
    const startGateway = async (config: GatewayConfig) => {
      setImmediate(() => process.emit('SIGTERM'));
      return { url: `http://${config.host}:${config.port}`, close: async () => undefined };
    };
    const err: string[] = [];
    const r = await run(['--port', '9124'], { startGateway, stderr: { isTTY: true, write: (s: string) => err.push(s) } });
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('');
    expect(err.join('')).to.include('cwa-gateway listening on http://127.0.0.1:9124\n');
  });

  it('a real gateway writes JSON lines only on stdout, the URL in its "listening" line even at --log-level warn', async function () {
    this.timeout(15_000);
    const dataDir = await mkdtemp(join(tmpdir(), 'cwa-cli-log-'));
    const child = spawn(process.execPath, [join(root, 'bin/cwa-gateway.js'), '--port', '0', '--log-level', 'warn', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 10_000;
      while (listeningUrl(out) === undefined) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no listening line:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const url = listeningUrl(out)!;
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/healthz`)).status).to.equal(200);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      const records = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: string; msg: string; dataDir?: string });
      const listening = records.find((r) => r.msg === 'listening')!;
      expect(listening.level).to.equal('info');
      expect(listening.dataDir).to.equal(dataDir);
      // At warn, the other info lines (shutdown steps) stay out.
      expect(records.filter((r) => r.level === 'info').map((r) => r.msg)).to.deep.equal(['listening']);
      expect(err).not.to.include('listening on'); // stderr is a pipe here, not a terminal
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a real gateway with --log-format pretty (what a terminal gets) writes readable lines, no JSON', async function () {
    this.timeout(15_000);
    const dataDir = await mkdtemp(join(tmpdir(), 'cwa-cli-pretty-'));
    const child = spawn(process.execPath, [join(root, 'bin/cwa-gateway.js'), '--port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CWA_LOG_FORMAT: 'pretty' },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 10_000;
      while (!/ INFO  listening url=/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no listening line:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      const lines = out.split('\n').filter((l) => l !== '');
      expect(lines.length).to.be.greaterThan(1);
      for (const line of lines) {
        expect(line).to.match(/^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR|DEBUG) \S/);
        expect(() => JSON.parse(line), line).to.throw();
      }
      expect(lines.find((l) => l.includes(' listening '))).to.include(`dataDir=${dataDir}`);
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('serve reports a failure to start with exit code 1', async () => {
    const r = await run(['serve'], { startGateway: async () => { throw new Error('EADDRINUSE 127.0.0.1:8080'); } });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('EADDRINUSE');
  });

  describe('bin/cwa-gateway.js', () => {
    const bin = `${root}bin/cwa-gateway.js`;
    const exec = (args: string[], input?: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH } }, (error, stdout, stderr) => {
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      });
      child.stdin!.end(input ?? '');
    });

    it('exits 2 on a bad flag', async () => {
      const r = await exec(['--port', 'eighty']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--port');
    });

    it('hashes a password read from stdin', async () => {
      const r = await exec(['hash-password'], 'from-stdin\n');
      expect(r.code).to.equal(0);
      expect(await verifyPassword('from-stdin', r.stdout.trim())).to.equal(true);
    });
  });
});
