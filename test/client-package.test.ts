// The two packages of the repository as users install them. @cwa-gateway/client (packages/client):
// `npm pack` builds it (prepack) into a tarball that holds the client library only — no gateway
// code, no dependency — which installs offline into an empty project, whose types resolve under
// TypeScript, and with which the README's two-user chat runs against a gateway. The gateway
// package's tarball carries the built gateway, the web client and the browser bundle.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT = join(ROOT, 'packages', 'client');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** The bound for what installing the client adds to a project. */
const MAX_INSTALLED_BYTES = 5 * 1024 * 1024;
const EXPECTED_CHAT = ['bob got: hi bob (with the invitation)', 'bob got: lunch at noon?', 'alice got: you said "lunch at noon?"', ''].join('\n');

/** The environment without what an enclosing `npm test` sets for its own package. */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_registry']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())) env[k] = v;
  delete env.INIT_CWD;
  return env;
}

function npm(args: string[], cwd: string): { stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync('npm', args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: 120_000 });
  const ms = Date.now() - started;
  expect(r.status, `npm ${args.join(' ')} in ${cwd}:\n${r.stderr}`).to.equal(0);
  return { stdout: r.stdout, stderr: r.stderr, ms };
}

async function sizeOf(path: string): Promise<{ bytes: number; files: string[] }> {
  const st = await stat(path);
  if (!st.isDirectory()) return { bytes: st.size, files: [path] };
  let bytes = 0;
  const files: string[] = [];
  for (const e of await readdir(path)) {
    const s = await sizeOf(join(path, e));
    bytes += s.bytes;
    files.push(...s.files);
  }
  return { bytes, files };
}

/** Module specifiers a built file imports (static and dynamic). */
function importsOf(js: string): string[] {
  const specs = [...js.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm)];
  return specs.map((m) => m[1] ?? m[2] ?? m[3]!);
}

interface PackedFile {
  path: string;
}

describe('the packages: @cwa-gateway/client alone, and the gateway', function () {
  this.timeout(180_000);
  let gw: TestGateway;
  let work: string;

  before(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
    work = await mkdtemp(join(tmpdir(), 'cwa-client-pkg-'));
  });
  after(async () => {
    await gw.close();
    await rm(work, { recursive: true, force: true });
  });

  it('npm pack builds a client tarball with the library only, which installs offline into an empty project and chats', async () => {
    // Packing builds the package (prepack: tsc over src/client, esbuild for the browser bundle).
    const packed = npm(['pack', '--json', '--pack-destination', work], CLIENT);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; size: number; unpackedSize: number; files: PackedFile[] }>;
    const tarball = join(work, basename(info!.filename));
    const files = info!.files.map((f) => f.path).sort();
    const sources = (await readdir(join(ROOT, 'src', 'client'))).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    const expected = [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/browser/cwa-gateway-client.js',
      'dist/browser/cwa-gateway-client.js.map',
      ...sources.flatMap((s) => [`dist/${s}.js`, `dist/${s}.d.ts`]),
    ].sort();
    // Exactly the client library's modules (one per file of src/client), nothing of the gateway.
    expect(files).to.deep.equal(expected);

    // Install it into an empty project, offline: it has no dependency to fetch.
    const project = join(work, 'project');
    await rm(project, { recursive: true, force: true });
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'chat-app', private: true, type: 'module' }, null, 2));
    const install = npm(['install', '--offline', '--no-audit', '--no-fund', tarball], project);
    const installed = join(project, 'node_modules', '@cwa-gateway', 'client');
    const modules = await readdir(join(project, 'node_modules'));
    expect(modules.filter((m) => !m.startsWith('.'))).to.deep.equal(['@cwa-gateway']);
    const size = await sizeOf(join(project, 'node_modules'));
    expect(size.files.filter((f) => f.endsWith('.node')), 'no native module').to.deep.equal([]);
    expect(size.bytes).to.be.at.most(MAX_INSTALLED_BYTES);
    console.log(
      `    @cwa-gateway/client: tarball ${info!.size} bytes, installed ${size.bytes} bytes (1 package) in ${install.ms} ms (npm install --offline)`,
    );

    // Its manifest: ESM with types, no side effects, no dependency, no install script.
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.type).to.equal('module');
    expect(manifest.sideEffects).to.equal(false);
    for (const field of ['dependencies', 'optionalDependencies', 'bundleDependencies', 'bundledDependencies']) expect(manifest[field], field).to.equal(undefined);
    const scripts = (manifest.scripts ?? {}) as Record<string, string>;
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts[hook], `scripts.${hook}`).to.equal(undefined);
    expect((manifest.peerDependenciesMeta as Record<string, { optional?: boolean }>).ws?.optional, 'ws is an optional peer').to.equal(true);
    // The code imports nothing but its own modules — and `ws`, only where there is no WebSocket.
    for (const f of size.files.filter((p) => p.endsWith('.js'))) {
      const outside = importsOf(await readFile(f, 'utf8')).filter((s) => !s.startsWith('./') && s !== 'ws');
      expect(outside, `${f} imports`).to.deep.equal([]);
    }

    // The types resolve for a TypeScript user of the package.
    await writeFile(
      join(project, 'check.ts'),
      [
        "import { CwaClient, SipError, type PresenceInfo } from '@cwa-gateway/client';",
        "import * as bundle from '@cwa-gateway/client/browser';",
        "const c: CwaClient = new CwaClient({ baseUrl: 'http://127.0.0.1:1', signInAgain: true });",
        'const p: PresenceInfo | undefined = c.presence.self;',
        'export const used = [c, p, SipError, bundle.CwaClient];',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022', 'DOM'], types: [] }, files: ['check.ts'] }),
    );
    const tsc = spawnSync(process.execPath, [TSC, '-p', project], { encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).to.equal(0);

    // The README's two-user chat, importing the package instead of cwa-gateway/client; and the
    // browser bundle loads in Node too (one ES module).
    const example = (await readFile(join(ROOT, 'examples', 'two-users.mjs'), 'utf8')).replace("from 'cwa-gateway/client'", "from '@cwa-gateway/client'");
    expect(example).to.include("from '@cwa-gateway/client'");
    await writeFile(join(project, 'chat.mjs'), example);
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['chat.mjs'], { cwd: project, env: { ...process.env, CWA_URL: gw.url }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
    });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal(EXPECTED_CHAT);
    expect(gw.gateway.engine.liveSessions(), 'both signed out').to.equal(0);
    const loaded = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('@cwa-gateway/client/browser'); console.log(typeof m.CwaClient, typeof m.availabilityOf);"], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(loaded.stdout.trim(), loaded.stderr).to.equal('function function');
  });

  it('the gateway package carries the built gateway, the web client and the browser bundle, not the client package', () => {
    // --ignore-scripts: the build (prepare) has run already; this looks at what would be packed.
    const packed = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
    const [info] = JSON.parse(packed.stdout) as Array<{ name: string; files: PackedFile[] }>;
    expect(info!.name).to.equal('cwa-gateway');
    const files = info!.files.map((f) => f.path);
    for (const needed of ['bin/cwa-gateway.js', 'dist/src/cli.js', 'dist/src/client/index.js', 'dist/src/client/index.d.ts', 'dist/web/index.html', 'dist/browser/cwa-gateway-client.js', 'LICENSE']) {
      expect(files, needed).to.include(needed);
    }
    expect(files.filter((f) => f.startsWith('packages/') || f.startsWith('dist/test/') || f.startsWith('src/'))).to.deep.equal([]);
  });
});
