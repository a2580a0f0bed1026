// Builds the browser side after tsc (npm run build): the web client into dist/web (index.html
// and assets named by their content hash) and the client library as one ES module for pages
// of their own, dist/browser/cwa-gateway-client.js (the gateway package's `cwa-gateway/client/browser`;
// @cwa-gateway/client carries the same file, built by packages/client/build.mjs). Both from the
// TypeScript sources, by esbuild.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserTargets as common, bundleClient } from '../packages/client/build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');

await rm(out, { recursive: true, force: true });
const app = await build({
  ...common,
  entryPoints: { app: join(root, 'src/web/main.ts') },
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  minify: true,
  sourcemap: false,
  metafile: true,
});
const outputs = Object.keys(app.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith('.js'));
const style = outputs.find((f) => f.endsWith('.css'));
if (!script || !style) throw new Error(`the web client build made no script or no style sheet: ${outputs.join(', ')}`);
const template = await readFile(join(root, 'src/web/index.html'), 'utf8');
await writeFile(join(out, 'index.html'), template.replace('%SCRIPT%', `assets/${script}`).replace('%STYLE%', `assets/${style}`));

const browser = join(root, 'dist', 'browser');
await mkdir(browser, { recursive: true });
await bundleClient(join(browser, 'cwa-gateway-client.js'));
