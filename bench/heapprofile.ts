// A summariser of V8 sampling heap profiles (.heapprofile, as bench/alloc-sampler.ts writes them):
// bytes allocated per function and per file or package, as shares of all sampled bytes.
//   node dist/bench/heapprofile.js FILE.heapprofile [--top N]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { areaOf, fileOf } from './cpuprofile.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

export interface HeapProfile {
  head: HeapNode;
}

export interface AllocEntry {
  name: string;
  mb: number;
  /** Share of all sampled bytes, in %. */
  pct: number;
}

export interface AllocSummary {
  totalMb: number;
  areas: AllocEntry[];
  files: AllocEntry[];
  functions: AllocEntry[];
}

export function summariseAllocations(profile: HeapProfile, top = 25): AllocSummary {
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const stack: HeapNode[] = [profile.head];
  while (stack.length > 0) {
    const n = stack.pop()!;
    stack.push(...n.children);
    if (n.selfSize === 0) continue;
    total += n.selfSize;
    const file = fileOf(n.callFrame);
    const fn = n.callFrame.url === '' ? `${n.callFrame.functionName || '(anonymous)'} (native)` : `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
    add(fns, fn, n.selfSize);
    add(files, file, n.selfSize);
    add(areas, areaOf(file), n.selfSize);
  }
  const ranked = (m: Map<string, number>): AllocEntry[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, bytes]) => ({ name, mb: bytes / 1e6, pct: (bytes / Math.max(1, total)) * 100 }));
  return { totalMb: total / 1e6, areas: ranked(areas), files: ranked(files), functions: ranked(fns) };
}

export function renderAllocations(title: string, s: AllocSummary): string {
  const table = (head: string, rows: AllocEntry[]) =>
    [`| ${head} | MB allocated | % |`, '|---|---:|---:|', ...rows.map((r) => `| ${r.name.replace(/\|/g, '\\|')} | ${r.mb.toFixed(1)} | ${r.pct.toFixed(1)} |`)].join('\n');
  return [`### ${title}`, '', `${s.totalMb.toFixed(0)} MB allocated over the child's life (sampled)`, '', table('area', s.areas), '', table('file or package', s.files), '', table('function', s.functions), ''].join('\n');
}

function main(argv: string[]): void {
  const file = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1]!.startsWith('--')));
  if (!file) throw new Error('usage: heapprofile.js FILE.heapprofile [--top N]');
  const i = argv.indexOf('--top');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile;
  console.log(renderAllocations(file, summariseAllocations(profile, i >= 0 ? Number(argv[i + 1]) : 25)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
