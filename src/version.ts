// The gateway's version, from package.json (two levels up from dist/src/, one from src/).
import { readFileSync } from 'node:fs';

function readVersion(): string | undefined {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cwa-gateway' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

/** Undefined when package.json cannot be found next to the code. */
export const PACKAGE_VERSION = readVersion();
