#!/usr/bin/env node
// Builds @cwa-gateway/client from the library's sources (src/client of the repository) into dist/:
// the ES modules and their type declarations by tsc (tsconfig.json here), and the whole library as
// one ES module for pages without a bundler, dist/browser/cwa-gateway-client.js, by esbuild.
// `npm run build` in the repository runs it; so does `npm pack` here (prepack).
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', '..', 'src', 'client', 'index.ts');

/** esbuild settings shared with the web client's build (scripts/build-web.mjs). */
export const browserTargets = {
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  // The client loads the `ws` package only where there is no WebSocket (Node 20): never in a browser.
  external: ['ws'],
  legalComments: 'none',
  logLevel: 'warning',
};

/** Writes the library as one ES module (with its source map) to `outfile`. */
export async function bundleClient(outfile) {
  const { build } = await import('esbuild');
  await build({ ...browserTargets, entryPoints: [source], outfile, minify: false, sourcemap: true });
}

async function main() {
  const dist = join(here, 'dist');
  await rm(dist, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  await bundleClient(join(dist, 'browser', 'cwa-gateway-client.js'));
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) await main();
