// A small summariser of V8 .cpuprofile files (what `node --cpu-prof` writes): self time per
// function and per file or package, as shares of the busy time (everything but "(idle)"),
// optionally over the last S seconds of the profile only (the measured window of a bench
// run, which ends just before the server exits).
//   node dist/bench/cpuprofile.js FILE.cpuprofile [--window S] [--top N]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  ms: number;
  /** Share of the busy time, in %. */
  pct: number;
}

export interface ProfileSummary {
  /** The time summarised, and the part of it the thread was not idle. */
  totalMs: number;
  busyMs: number;
  functions: Entry[];
  files: Entry[];
  areas: Entry[];
}

const EXPRESS_STACK = new Set(['express', 'router', 'parseurl', 'body-parser', 'raw-body', 'helmet', 'cors', 'finalhandler', 'on-finished', 'type-is',
  'content-type', 'media-typer', 'mime-types', 'depd', 'http-errors', 'statuses', 'iconv-lite', 'bytes', 'path-to-regexp', 'vary', 'object-assign',
  'encodeurl', 'escape-html', 'proxy-addr', 'forwarded', 'fresh', 'range-parser', 'accepts', 'negotiator', 'merge-descriptors', 'utils-merge',
  'setprototypeof', 'inherits', 'unpipe', 'ee-first', 'is-promise', 'debug', 'ms', 'content-disposition', 'cookie', 'cookie-signature', 'send', 'serve-static', 'etag']);

/** A coarse area of the gateway's work, to read a profile at a glance. */
export function areaOf(file: string): string {
  if (file === '(garbage collector)') return 'GC';
  if (file === '(native)' || file === '(program)') return 'V8 native / runtime (socket writes, hashing, string work)';
  if (EXPRESS_STACK.has(file)) return 'Express and its middleware';
  if (file === 'saxes' || file === 'libxml2-wasm' || file.startsWith('wasm://') || /^src\/protocol\/(xml-tree|xml-fast|codec|schema|compiled-schema|charset|xml)\.js$/.test(file)) return 'request parsing and validation';
  if (file.startsWith('node:_http') || file.startsWith('node:net') || file.includes('stream') || file === 'node:events' || file === 'node:internal/timers') return 'node:http, streams, events';
  if (file.startsWith('src/transport/')) return 'gateway transports (HTTP, WebSocket)';
  if (file.startsWith('src/protocol/')) return 'rendering (events, responses)';
  if (file.startsWith('src/engine/') || file.startsWith('src/delivery/') || file.startsWith('src/cluster/')) return 'engine, event logs, duplicate cache';
  if (file.startsWith('src/ops/') || file === 'prom-client' || file === 'pino') return 'metrics and logs';
  if (file === 'ws') return 'ws';
  if (file.startsWith('node:')) return 'node: other (crypto, abort signals, timers …)';
  return 'other';
}

/** Where a function lives: a package of node_modules, a node: module, a file of the project, or V8 itself. */
export function fileOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const dist = url.lastIndexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url.replace(/^file:\/\//, '');
}

function functionOf(frame: CallFrame): string {
  const where = fileOf(frame);
  if (frame.url === '') return where === '(native)' ? `${frame.functionName} (native)` : where;
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

function ranked(map: Map<string, number>, busy: number, top: number): Entry[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000, pct: (us / busy) * 100 }));
}

export function summarise(profile: CpuProfile, opts: { windowS?: number; top?: number } = {}): ProfileSummary {
  const top = opts.top ?? 25;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Sample i stands for the time until sample i+1 (as DevTools counts it).
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) times.push((t += d));
  const from = opts.windowS === undefined ? -Infinity : profile.endTime - opts.windowS * 1e6;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i]! < from) continue;
    const us = (i + 1 < times.length ? times[i + 1]! : profile.endTime) - times[i]!;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const fn = functionOf(frame);
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    const file = fileOf(frame);
    files.set(file, (files.get(file) ?? 0) + us);
    const area = areaOf(file);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  return { totalMs: total / 1000, busyMs: busy / 1000, functions: ranked(fns, busy, top), files: ranked(files, busy, top), areas: ranked(areas, busy, top) };
}

export function renderSummary(title: string, s: ProfileSummary): string {
  const table = (head: string, rows: Entry[]) =>
    [`| ${head} | self ms | % of busy |`, '|---|---:|---:|', ...rows.map((r) => `| ${r.name.replace(/\|/g, '\\|')} | ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} |`)].join('\n');
  return [
    `### ${title}`,
    '',
    `${s.totalMs.toFixed(0)} ms profiled, ${s.busyMs.toFixed(0)} ms busy (${((s.busyMs / s.totalMs) * 100).toFixed(0)} %)`,
    '',
    table('area', s.areas),
    '',
    table('file or package', s.files),
    '',
    table('function', s.functions),
    '',
  ].join('\n');
}

function main(argv: string[]): void {
  const file = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1]!.startsWith('--')));
  if (!file) throw new Error('usage: cpuprofile.js FILE.cpuprofile [--window S] [--top N]');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : undefined;
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(renderSummary(file, summarise(profile, { windowS: value('--window'), top: value('--top') })));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
