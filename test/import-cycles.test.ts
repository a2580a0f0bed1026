// No import cycles in src/: every file's imports (type-only ones, re-exports, dynamic
// imports and module augmentations included) form a graph without a cycle, so each layer
// and each engine module can be read, tested and replaced on its own.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

interface ImportGraph {
  edges: Map<string, string[]>;
  /** Relative imports that name no file (the check could not follow them). */
  unresolved: string[];
}

/** The graph of relative imports between the .ts files under `root`. */
function importGraph(root: string): ImportGraph {
  const files = sourceFiles(root);
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package
      const base = path.resolve(path.dirname(file), fileName);
      const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')];
      const target = candidates.find((c) => known.has(c));
      if (target) targets.push(target);
      else if (!/\.(json|css|html)$/.test(fileName)) unresolved.push(`${path.relative(root, file)}: ${fileName}`);
    }
    edges.set(file, targets);
  }
  return { edges, unresolved };
}

/** Strongly connected components with more than one file (or a file importing itself): the cycles (Tarjan). */
function cycles(edges: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** One concrete loop through a component, for the message: a.ts → b.ts → a.ts. */
function loopThrough(component: string[], edges: Map<string, string[]>): string[] {
  const inside = new Set(component);
  const start = [...component].sort()[0]!;
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const loop = [v];
        while (loop[0] !== start) loop.unshift(from.get(loop[0]!)!);
        return [...loop, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

function describeCycles(root: string): string[] {
  const { edges } = importGraph(root);
  return cycles(edges).map((c) => {
    const files = c.map((f) => path.relative(root, f)).sort();
    const loop = loopThrough(c, edges).map((f) => path.relative(root, f));
    return `${files.join(', ')} (e.g. ${loop.join(' → ')})`;
  });
}

describe('import cycles', () => {
  it('src/ has none, counting type-only imports, re-exports, dynamic imports and module augmentations', () => {
    const found = describeCycles(SRC);
    expect(found, `import cycles in src/:\n  ${found.join('\n  ')}`).to.deep.equal([]);
  });

  it('every relative import in src/ names a file the check follows', () => {
    const { edges, unresolved } = importGraph(SRC);
    expect(edges.size, 'the check found the sources').to.be.greaterThan(100);
    expect(unresolved).to.deep.equal([]);
  });

  it('the check finds a cycle and names its files (a type-only import and a dynamic one)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cycles-'));
    try {
      mkdirSync(path.join(dir, 'engine'));
      writeFileSync(path.join(dir, 'engine', 'a.ts'), "import type { B } from './b.js';\nexport interface A { b: B }\n");
      writeFileSync(path.join(dir, 'engine', 'b.ts'), "export interface B { n: number }\nexport const load = () => import('../c.js');\n");
      writeFileSync(path.join(dir, 'c.ts'), "export { type A } from './engine/a.js';\n");
      writeFileSync(path.join(dir, 'd.ts'), "import { load } from './engine/b.js';\nexport const d = load;\n");
      const found = describeCycles(dir);
      expect(found).to.have.length(1);
      expect(found[0]).to.equal(`c.ts, engine/a.ts, engine/b.ts (e.g. c.ts → engine/a.ts → engine/b.ts → c.ts)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
