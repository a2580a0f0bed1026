#!/usr/bin/env node
// `npm start`: builds (tsc) only when the gateway's sources are newer than the build, then
// runs the built gateway in this process: `npm start -- --port 9000` = `cwa-gateway serve --port 9000`.
// Where TypeScript is not installed (a production install) the build is used as it is.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BUILT = join('dist', 'src', 'cli.js');
const SOURCES = ['src', 'tsconfig.json'];

/** The newest modification time (ms) under `path` (a file or a folder); 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

/** Whether `root` needs a build before the gateway runs, and why. */
export function buildNeeded(root) {
  const built = join(root, BUILT);
  if (!existsSync(built)) return { needed: true, why: `${BUILT} is missing` };
  const sources = Math.max(...SOURCES.map((s) => newest(join(root, s))));
  if (sources > statSync(built).mtimeMs) return { needed: true, why: 'the sources changed since the last build' };
  return { needed: false, why: 'the build is up to date' };
}

async function main(args) {
  const { needed, why } = buildNeeded(ROOT);
  if (needed) {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc)) {
      if (!existsSync(join(ROOT, BUILT))) {
        process.stderr.write(`cwa-gateway: ${why} and TypeScript is not installed: run \`npm ci\` (with dev dependencies) first\n`);
        process.exit(1);
      }
      process.stderr.write(`cwa-gateway: ${why}, but TypeScript is not installed: running the existing build\n`);
    } else {
      process.stderr.write(`cwa-gateway: ${why}: building (tsc)…\n`);
      const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
      if (r.status !== 0) {
        process.stderr.write('cwa-gateway: the build failed\n');
        process.exit(r.status ?? 1);
      }
    }
  }
  // The bin reads its arguments from process.argv.
  process.argv = [process.argv[0], join(ROOT, 'bin', 'cwa-gateway.js'), 'serve', ...args];
  await import(pathToFileURL(join(ROOT, 'bin', 'cwa-gateway.js')).href);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) await main(process.argv.slice(2));
