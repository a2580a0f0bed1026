// The API reference (TypeDoc, `npm run docs` into docs/api; CI runs it, it takes ~30 s): its
// configuration covers every entry point the packages export, fails on warnings (a type the
// API uses but does not export among them), and the generated pages stay out of git and of the
// package tarball.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const json = (file: string) => JSON.parse(readFileSync(ROOT + file, 'utf8')) as Record<string, unknown>;

describe('API reference (typedoc.json, npm run docs)', () => {
  const pkg = json('package.json') as { scripts: Record<string, string>; devDependencies: Record<string, string>; exports: Record<string, unknown>; files: string[] };
  const config = json('typedoc.json') as { entryPoints: string[]; out: string; treatWarningsAsErrors: boolean; validation: Record<string, boolean>; intentionallyNotExported?: string[] };

  it('typedoc is a pinned dev dependency run by npm run docs, and CI runs it', () => {
    expect(pkg.devDependencies.typedoc).to.match(/^\d+\.\d+\.\d+$/);
    expect(pkg.scripts.docs).to.equal('typedoc');
    expect(readFileSync(ROOT + '.ci/run', 'utf8')).to.match(/^npm run docs$/m);
  });

  it('documents every entry point of the gateway package (library, client, testing), which the client package is built from', () => {
    const sources = Object.values(pkg.exports)
      .map((e) => (typeof e === 'object' && e !== null ? (e as { types?: string }).types : undefined))
      .filter((t): t is string => t !== undefined)
      .map((t) => t.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts'));
    expect(sources).to.include.members(['src/index.ts', 'src/client/index.ts', 'src/testing/index.ts']);
    expect([...new Set(sources)].sort()).to.deep.equal([...config.entryPoints].sort());
    for (const entry of config.entryPoints) expect(existsSync(ROOT + entry), entry).to.equal(true);
    const client = json('packages/client/package.json') as { exports: Record<string, { types?: string }> };
    expect(client.exports['.']!.types, 'the client package has the client entry point').to.match(/index\.d\.ts$/);
  });

  it('fails on warnings, missing exports included; only internals reached through Gateway are left out on purpose', () => {
    expect(config.treatWarningsAsErrors).to.equal(true);
    expect(config.validation.notExported).to.equal(true);
    expect(config.intentionallyNotExported ?? []).to.have.length.below(12);
  });

  it('the generated pages stay out of git and of the package', () => {
    expect(config.out).to.equal('docs/api');
    expect(readFileSync(ROOT + '.gitignore', 'utf8')).to.match(/^docs\/api\/$/m);
    expect(pkg.files).to.include('!docs/api');
  });
});
