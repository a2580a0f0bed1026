// The request documents the project holds: the schema samples and every request body in
// the fixtures (placeholders filled with plausible values). The fuzzers and the compiled
// schema's differential test start from them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder (tests run from dist/test/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Files below `dir` whose name `match` takes, at any depth (none when `dir` does not exist). */
export function files(dir: string, match: (name: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, match) : match(name) ? [p] : [];
  });
}

/** schemas/samples/requests-*.xml (the `.invalid` ones included), as text. */
export function requestSamples(): string[] {
  return files(join(ROOT, 'schemas', 'samples'), (n) => n.startsWith('requests-') && n.endsWith('.xml')).map((f) => readFileSync(f, 'utf8'));
}

/** Every string in a fixture transcript that `keep` takes, placeholders filled with plausible values. */
export function fixtureStrings(keep: (text: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (keep(v)) out.push(v.replace(/\{[^{}]*\}/g, '1'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const f of files(join(ROOT, 'fixtures'), (n) => n.endsWith('.json'))) {
    try {
      walk(JSON.parse(readFileSync(f, 'utf8')));
    } catch {
      // not a transcript
    }
  }
  return out;
}

/** Every string in a fixture that is a request document, placeholders filled with plausible values. */
export function fixtureRequestBodies(): string[] {
  return fixtureStrings((v) => v.trimStart().startsWith('<cwaRequests'));
}
