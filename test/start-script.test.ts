// `npm start` (scripts/start.mjs) in a package folder of its own: it builds only when the
// sources are newer than the build, then runs the gateway's bin with `serve` and the
// arguments given. A stand-in tsc and bin record what was run.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/start.mjs', import.meta.url));

describe('npm start (scripts/start.mjs)', () => {
  let root: string;
  const at = (root: string, p: string) => join(root, p);
  const setTime = (p: string, s: number) => utimes(at(root, p), s, s);
  const start = (...args: string[]) => spawnSync(process.execPath, [at(root, 'scripts/start.mjs'), ...args], { encoding: 'utf8', cwd: tmpdir() });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cwa-start-'));
    for (const d of ['scripts', 'bin', 'src/client', 'dist/src', 'node_modules/typescript/bin']) await mkdir(at(root, d), { recursive: true });
    await copyFile(SCRIPT, at(root, 'scripts/start.mjs'));
    await writeFile(at(root, 'bin/cwa-gateway.js'), 'console.log("bin " + JSON.stringify(process.argv.slice(2)));\n');
    // A stand-in for tsc: it "builds" dist/src/cli.js and says so.
    await writeFile(
      at(root, 'node_modules/typescript/bin/tsc'),
      `require('fs').writeFileSync(${JSON.stringify(at(root, 'dist/src/cli.js'))}, '// built'); console.log('tsc ' + process.argv.slice(2).join(' '));\n`,
    );
    await writeFile(at(root, 'src/client/a.ts'), 'export {};\n');
    await writeFile(at(root, 'tsconfig.json'), '{}\n');
    await writeFile(at(root, 'dist/src/cli.js'), '// built\n');
    await setTime('src/client/a.ts', 1_000_000);
    await setTime('tsconfig.json', 1_000_000);
    await setTime('dist/src/cli.js', 2_000_000);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('runs the built gateway with serve and the arguments, without building, when the build is newer', () => {
    const r = start('--port', '9000');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('bin ["serve","--port","9000"]\n');
    expect(r.stderr).to.equal('');
  });

  it('builds first when a source (deep in src/, or tsconfig.json) is newer than the build, or the build is missing', async () => {
    await setTime('src/client/a.ts', 3_000_000);
    let r = start();
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`tsc -p ${at(root, 'tsconfig.json')}\nbin ["serve"]\n`);
    expect(r.stderr).to.include('the sources changed since the last build: building');
    // Built now: the next start does not build.
    r = start();
    expect(r.stdout).to.equal('bin ["serve"]\n');

    await utimes(at(root, 'tsconfig.json'), new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    expect(start().stdout).to.match(/^tsc /);

    await rm(at(root, 'dist/src/cli.js'));
    r = start();
    expect(r.stderr).to.include('dist/src/cli.js is missing: building');
    expect(r.stdout).to.match(/^tsc [^\n]+\nbin \["serve"\]\n$/);
  });

  it('without TypeScript (a production install) runs the existing build, and says why it cannot build', async () => {
    await rm(at(root, 'node_modules'), { recursive: true });
    await setTime('src/client/a.ts', 3_000_000);
    let r = start();
    expect(r.status).to.equal(0);
    expect(r.stdout).to.equal('bin ["serve"]\n');
    expect(r.stderr).to.include('TypeScript is not installed: running the existing build');
    await rm(at(root, 'dist'), { recursive: true });
    r = start();
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.include('TypeScript is not installed: run `npm ci`');
  });
});
