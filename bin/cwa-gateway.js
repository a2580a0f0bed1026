#!/usr/bin/env node
// The command line. The TypeScript sources are built into dist/ by `npm run build`
// (run by `npm ci`/`npm install` in a clone through the `prepare` script, and before packing).
let cli;
try {
  cli = await import('../dist/src/cli.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/src/cli.js')) throw err;
  process.stderr.write('cwa-gateway: the gateway is not built (dist/src/cli.js is missing): run `npm run build` in the package folder first.\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));
