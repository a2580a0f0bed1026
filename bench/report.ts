// Turns the medians into the printed tables (Markdown) and the JSON summary.
import type { BenchResults } from './run.js';

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;
const check = (ok: boolean) => (ok ? 'met' : 'NOT met');

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const PEER_OF: Record<string, { peer: string; label: string; minRatio: number }> = {
  cwa: { peer: 'bosh', label: 'long-poll (CWA data channel / BOSH)', minRatio: 3 },
  'cwa-ws': { peer: 'ws', label: 'WebSocket (CWA data channel / RFC 7395)', minRatio: 1.5 },
};

/**
 * CPU per message of each run, server and driver, and the driver's ceiling: at `d` µs of driver
 * CPU per message one core of driver delivers at most 1e6 / d messages a second, so a ratio to
 * Prosody above (1e6 / d) ÷ Prosody's msgs/s cannot be shown by this driver on this machine.
 */
export function driverCeilings(p: NonNullable<BenchResults['peer']>): string[] {
  const out: string[] = [];
  const perMsg = (pct: number, rate: number) => (rate > 0 ? (pct / 100) * 1e6 / rate : Number.NaN);
  for (const [ours, spec] of Object.entries(PEER_OF)) {
    const g = p.runs.find((x) => x.transport === ours);
    if (!g) continue;
    const q = p.runs.find((x) => x.transport === spec.peer);
    const d = perMsg(g.driverCpu, g.msgsPerSec);
    const ceiling = 1e6 / d;
    const vs = q ? `, ${(ceiling / q.msgsPerSec).toFixed(1)}× Prosody` : '';
    const peerPart = q ? `; ${spec.peer} ${int(perMsg(q.serverCpu, q.msgsPerSec))} / ${int(perMsg(q.driverCpu, q.msgsPerSec))}` : '';
    out.push(`${ours} ${int(perMsg(g.serverCpu, g.msgsPerSec))} / ${int(d)} (ceiling ${int(ceiling)} msgs/s${vs})${peerPart}`);
  }
  return out;
}

/** The peer workload: ratios first, then each server's figures, all from this run. */
function peerSection(r: BenchResults): string[] {
  const p = r.peer!;
  const out: string[] = [];
  const runsOf = (t: string) => p.runs.find((x) => x.transport === t);
  out.push(`## 0. Beside Prosody 0.12: one load driver (shared/peer-bench), ${p.pairs} pairs, one message in flight per pair, same sitting`, '');
  if (p.prosodySkipped) out.push(`Prosody's runs were skipped: ${p.prosodySkipped}.`, '');
  const rows: string[][] = [];
  for (const [ours, spec] of Object.entries(PEER_OF)) {
    const g = runsOf(ours);
    const q = runsOf(spec.peer);
    if (!g) continue;
    const ratio = q ? g.msgsPerSec / q.msgsPerSec : Number.NaN;
    const met = q ? check(ratio >= spec.minRatio && g.p99 <= q.p99) : 'n/a';
    rows.push([spec.label, q ? `**${ratio.toFixed(2)}×**` : 'n/a', int(g.msgsPerSec), `${ms(g.p50)} / ${ms(g.p99)}`, q ? int(q.msgsPerSec) : 'n/a',
      q ? `${ms(q.p50)} / ${ms(q.p99)}` : 'n/a', `≥ ${spec.minRatio}× and p99 ≤ Prosody's: ${met}`,
      `${g.allOk ? '' : 'gateway run NOT ok; '}${q && !q.allOk ? 'Prosody run NOT ok; ' : ''}${g.runs.map(int).join(' / ')}${q ? ` vs ${q.runs.map(int).join(' / ')}` : ''}`]);
  }
  out.push(table(['transport', 'msgs/s gateway ÷ Prosody', 'gateway msgs/s', 'gateway p50 / p99 ms', 'Prosody msgs/s', 'Prosody p50 / p99 ms', 'target', 'msgs/s per run'], rows));
  if (p.idle.length > 0) {
    out.push('');
    const idleRows: string[][] = [];
    for (const [ours, spec] of Object.entries(PEER_OF)) {
      const g = p.idle.find((x) => x.server === 'gateway' && x.transport === ours);
      const q = p.idle.find((x) => x.server === 'prosody' && x.transport === spec.peer);
      const b = p.idle.find((x) => x.server === 'bare' && x.transport === ours);
      if (!g) continue;
      const ratio = q ? g.kBPerSession / q.kBPerSession : Number.NaN;
      // The issue's target is for the held long-poll: no more than Prosody's BOSH (goal a third of it).
      const target = ours === 'cwa' ? (q ? `≤ Prosody's: ${check(ratio <= 1)}; goal ≤ ⅓: ${check(ratio <= 1 / 3)}` : 'n/a') : '';
      const kbRuns = (x: { runs: number[] }) => x.runs.map((k) => k.toFixed(1)).join(' / ');
      const notOk = [[g, 'gateway'], [q, 'Prosody'], [b, 'bare']].filter(([x]) => x && !(x as { allOk: boolean }).allOk).map(([, n]) => `${n} run NOT ok; `).join('');
      idleRows.push([`${spec.label.split(' (')[0]}, ${int(g.sessions)} idle sessions`, q ? `**${ratio.toFixed(2)}×**` : 'n/a',
        `${g.kBPerSession.toFixed(1)} kB`, q ? `${q.kBPerSession.toFixed(1)} kB` : 'n/a', b ? `${b.kBPerSession.toFixed(1)} kB` : 'n/a', target,
        [g, q, b].map((x) => (x ? `${x.loginS.toFixed(1)} s` : 'n/a')).join(' / '),
        `${notOk}${[g, q, b].map((x) => (x ? kbRuns(x) : 'n/a')).join(' vs ')}`]);
    }
    out.push(table(['idle sessions (RSS growth ÷ sessions)', 'gateway ÷ Prosody', 'gateway', 'Prosody', 'bare Node', 'target', 'sign-in burst gateway / Prosody / bare', 'kB per run gateway vs Prosody vs bare'], idleRows));
    out.push('', 'RSS of the server process after all sessions signed in (20 at a time) and 2 s of quiet, minus its RSS before, ' +
      'divided by the sessions; no forced collection. With thousands of sessions the one-off growth of a fresh process ' +
      '(V8\'s young generation, compiled code) is spread thin; with a few hundred it is most of the figure. ' +
      'Bare Node: `bench/peer-bare.ts`, Node\'s `http` and `ws` holding the same clients with no gateway behind them (its young generation grows in the burst too).');
  }
  out.push('', 'Each run on a freshly started server (the gateway as `cwa-gateway serve`, no rate limits, as Prosody runs none), ' +
    `after ${p.warmup} unmeasured messages per pair (the driver's \`--warmup\`, both servers alike: the figures are of the steady state, not of a fresh process's first second of unoptimized code); ` +
    'server and driver share the machine\'s cores. Driver CPU: ' +
    p.runs.map((x) => `${x.transport} ${x.driverCpu.toFixed(0)} %`).join(', ') + '; server CPU: ' + p.runs.map((x) => `${x.transport} ${x.serverCpu.toFixed(0)} %`).join(', ') + ' (of one core).');
  if (p.bare) {
    const poll = p.runs.find((x) => x.transport === 'cwa');
    const bosh = p.runs.find((x) => x.transport === 'bosh');
    const perMsg = (x: { httpPerSec: number; msgsPerSec: number }) => (x.httpPerSec / x.msgsPerSec).toFixed(2);
    out.push('', `Bare \`node:http\` under the driver's own HTTP client (driver/bare.js, 50 connections, a tiny POST answered): ` +
      `${int(p.bare.reqPerSec)} req/s (p50 ${ms(p.bare.p50)} / p99 ${ms(p.bare.p99)} ms; server ${p.bare.serverCpu.toFixed(0)} %, driver ${p.bare.driverCpu.toFixed(0)} %)` +
      (poll && Number.isFinite(poll.httpPerSec) ? `; the gateway's long-poll run made ${int(poll.httpPerSec)} req/s (${perMsg(poll)} per message): **${(poll.httpPerSec / p.bare.reqPerSec).toFixed(2)}** of bare` : '') +
      (bosh && Number.isFinite(bosh.httpPerSec) ? `; Prosody's BOSH ${int(bosh.httpPerSec)} req/s (${perMsg(bosh)} per message): ${(bosh.httpPerSec / p.bare.reqPerSec).toFixed(2)} of bare` : '') + '.');
  }
  const ceilings = driverCeilings(p);
  if (ceilings.length > 0) {
    out.push('', 'CPU per delivered message (µs, server / driver) and the driver\'s ceiling — the rate at which the driver alone would fill ' +
      'one core, whatever the server, and that rate ÷ Prosody\'s: ' + ceilings.join('; ') + '.');
  }
  return out;
}

export function renderReport(r: BenchResults): string {
  const out: string[] = [];
  const { env, settings } = r;
  out.push('# cwa-gateway benchmark', '');
  const load = (l: number[] | undefined) => (l ? l.map((x) => x.toFixed(2)).join(' ') : 'n/a');
  out.push(`Node ${env.node}, ${env.cpu}, ${env.cores} cores, ${env.platform}; gateway in a child process, load in the parent, loopback.`);
  out.push(`Load average at start ${load(env.loadAvgStart)}, at end ${load(env.loadAvgEnd)} (other work on the machine makes runs noisy).`);
  out.push(`${settings.reps} run(s) per figure, medians shown${settings.quick ? ' (--quick: short smoke run, not for comparison)' : ''}.`, '');
  if (settings.store !== 'embedded') out.push(`Gateway store: ${settings.store.replace(/\/\/[^@/]*@/, '//***@')} (event logs and durable data on Redis).`, '');
  if (r.peer) out.push(...peerSection(r), '');
  if (r.peerSkipped) out.push(`## 0. Beside Prosody: not run (${r.peerSkipped})`, '');

  if (r.command) {
    const c = r.command;
    out.push(`## 1. Command channel: one sendMessage per POST, ${settings.connections} connections, ${settings.commandS} s (autocannon)`, '');
    out.push(table(['server', 'req/s', 'p50 ms', 'p99 ms', 'req/s per run'], [
      ['gateway', int(c.gateway.reqPerSec), ms(c.gateway.p50), ms(c.gateway.p99), c.gateway.runs.map(int).join(' / ')],
      ['bare node:http', int(c.bare.reqPerSec), ms(c.bare.p50), ms(c.bare.p99), c.bare.runs.map(int).join(' / ')],
    ]));
    out.push('', `Ratio gateway/bare (medians): **${c.ratio.toFixed(2)}**, per run ${c.runRatios.map((x) => x.toFixed(2)).join(' / ')} ` +
      `(target ≥ 0.35: ${check(c.ratio >= 0.35)}; goal ≥ 0.5: ${check(c.ratio >= 0.5)}).`);
    out.push('Both sides\' event logs are drained by a poller during the run (default log bounds); the delivered count is checked against the answered POSTs. ' +
      'Latency resolution is 1 ms (autocannon).', '');
  }

  if (r.endToEnd) {
    out.push(`## 2. End-to-end over long-poll: one message in flight per pair, ${settings.endToEndS} s per size`, '');
    out.push('Latency = receiver\'s poll returned the message - sender started its POST. Senders and receivers both long-poll, ' +
      'so each message costs the gateway one POST, the receiver\'s poll answer and a share of the sender\'s (its confirmations, a batch per answer: --confirmation-batch-ms). CPU is % of one core over the measured window.', '');
    out.push(table(['pairs', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU', 'load CPU', 'msgs/s per run'], r.endToEnd.map((e) => [
      String(e.pairs), int(e.msgsPerSec), ms(e.p50), ms(e.p95), ms(e.p99), `${e.serverCpu.toFixed(0)} %`, `${e.clientCpu.toFixed(0)} %`, e.runs.map(int).join(' / '),
    ])));
    const at50 = r.endToEnd.find((e) => e.pairs === 50);
    if (!r.peer) out.push('', 'Prosody beside it, same driver and sitting: `npm run bench -- --peer` (section 0).');
    if (at50) out.push(`Target at 50 pairs: >= 3,700 msgs/s with p99 <= 40 ms: ${check(at50.msgsPerSec >= 3700 && at50.p99 <= 40)}.`);
    out.push('');
  }

  if (r.endToEndWs) {
    out.push(`## 2b. End-to-end over WebSocket: one message in flight per pair, ${settings.endToEndS} s per size`, '');
    out.push('Every client attaches a WebSocket after signing in: sendMessage goes as a command frame, the message arrives as a pushed frame, ' +
      'acks go as frames (one per 10 ms). Latency = receiver\'s frame arrived - sender sent its command frame.', '');
    out.push(table(['pairs', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU', 'load CPU', 'msgs/s per run'], r.endToEndWs.map((e) => [
      String(e.pairs), int(e.msgsPerSec), ms(e.p50), ms(e.p95), ms(e.p99), `${e.serverCpu.toFixed(0)} %`, `${e.clientCpu.toFixed(0)} %`, e.runs.map(int).join(' / '),
    ])));
    const at50 = r.endToEndWs.find((e) => e.pairs === 50);
    if (!r.peer) out.push('', 'Prosody beside it, same driver and sitting: `npm run bench -- --peer` (section 0).');
    if (at50) out.push(`Target at 50 pairs: >= 5,000 msgs/s with p99 <= 13 ms: ${check(at50.msgsPerSec >= 5000 && at50.p99 <= 13)}.`);
    out.push('Fan-out to many subscribers and memory per idle WebSocket: `npm run bench:ws` (beside a bare `ws` server).', '');
  }

  if (r.ucwa) {
    out.push(`## 5. UCWA end to end: pairs of UCWA applications (JSON), one message in flight per pair, ${settings.endToEndS} s per size`, '');
    out.push('Latency = receiver\'s P-GET returned the `message` event - sender started its sendMessage POST. Senders and receivers both keep a P-GET parked, ' +
      'so each message costs the gateway one POST, two event-channel answers and their acknowledgements. CPU is % of one core over the measured window.', '');
    out.push(table(['pairs', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU', 'gateway CPU µs/msg', 'load CPU', 'msgs/s per run'], r.ucwa.map((e) => [
      String(e.pairs), int(e.msgsPerSec), ms(e.p50), ms(e.p95), ms(e.p99), `${e.serverCpu.toFixed(0)} %`, int((e.serverCpu / 100) * 1e6 / e.msgsPerSec), `${e.clientCpu.toFixed(0)} %`, e.runs.map(int).join(' / '),
    ])));
    out.push('');
  }

  if (r.memory) {
    const m = r.memory;
    out.push(`## 3. Memory per idle session: N = ${int(m.sessions)} sessions added to ${int(m.warm)} already held; (after - before) / N, after gc`, '');
    out.push(table(['what', 'heap / session', 'RSS / session'], [
      ['gateway: session + idle keep-alive connection', kb(m.gatewayIdle.heap), kb(m.gatewayIdle.rss)],
      ['gateway: session + held long-poll', kb(m.gatewayHeld.heap), kb(m.gatewayHeld.rss)],
      ['bare node:http: idle keep-alive connection', kb(m.bareIdle.heap), kb(m.bareIdle.rss)],
      ['bare node:http: held GET', kb(m.bareHeld.heap), kb(m.bareHeld.rss)],
      ['gateway - bare (held long-poll)', kb(m.gatewayHeld.heap - m.bareHeld.heap), kb(m.gatewayHeld.rss - m.bareHeld.rss)],
    ]));
    out.push('', `Target <= 12 kB per idle session: with a held long-poll (RSS) ${check(m.gatewayHeld.rss <= 12_000)}; ` +
      `session + idle connection (RSS) ${check(m.gatewayIdle.rss <= 12_000)}. Prosody BOSH: 33 kB.`, '');
  }
  if (r.cluster) {
    out.push(`## 4. Several nodes on one Redis: end to end over long-poll, one message in flight per pair, ${settings.endToEndS} s per size`, '');
    out.push('With --store redis://…, every change is a command on one Redis stream that every node applies; polls first catch up with it. ' +
      'With three nodes each request (POSTs and polls alike) goes to the next node. All nodes, Redis and the load share this machine\'s cores, ' +
      'so the figures show the cost of the shared state, not the gain of more machines. CPU: all gateway nodes together.', '');
    const rows: string[][] = [];
    for (const c of r.cluster) {
      for (const e of c.rows) {
        rows.push([c.setup, String(e.pairs), int(e.msgsPerSec), ms(e.p50), ms(e.p95), ms(e.p99), `${e.serverCpu.toFixed(0)} %`, e.runs.map(int).join(' / ')]);
      }
    }
    out.push(table(['setup', 'pairs', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU', 'msgs/s per run'], rows));
    const base = r.cluster[0];
    if (base) {
      const ratios = r.cluster.slice(1).flatMap((c) => c.rows.map((e) => {
        const b = base.rows.find((x) => x.pairs === e.pairs);
        return b ? `${c.setup}, ${e.pairs} pairs: ${(e.msgsPerSec / b.msgsPerSec).toFixed(2)}` : '';
      })).filter(Boolean);
      out.push('', `Throughput beside one embedded gateway: ${ratios.join('; ')}.`, '');
    }
  }
  if (r.clusterSkipped) out.push(`## 4. Several nodes on one Redis: not run (${r.clusterSkipped})`, '');
  if (r.apply) {
    const a = r.apply;
    out.push(`## 5. The cluster's ceiling: one replica applying a recorded command stream (no HTTP, no Redis), ${a.pairs} pairs`, '');
    out.push('Every node of a cluster applies every command of the shared stream, so this rate bounds the cluster however many nodes serve HTTP. ' +
      `The stream: ${Object.entries(a.mix).map(([t, n]) => `${int(n)} ${t}`).join(', ')} (${(a.commands / a.messages).toFixed(2)} commands per message); ` +
      'each entry is parsed from its JSON text and applied as a follower does. One thread, median of the replays.', '');
    const single = r.peer?.runs.find((x) => x.transport === 'cwa')?.msgsPerSec ?? r.endToEnd?.find((e) => e.pairs === 50)?.msgsPerSec;
    out.push(table(['what', 'commands/s', 'µs CPU / command', 'commands per CPU second', 'messages/s'], [
      ['one replica applying the stream', int(a.commandsPerSec), a.cpuUsPerCommand.toFixed(1), int(1e6 / a.cpuUsPerCommand), int(a.messagesPerSec)],
      ...(single !== undefined ? [['one gateway, long-poll end to end, 50 pairs (this run)', int(single * (a.commands / a.messages)), '', '', int(single)]] : []),
    ]));
    out.push('', `Load average during the replays: ${a.loadAvg.map((x) => x.toFixed(2)).join(' ')} (wall-clock rates fall with it; CPU per command holds). ` +
      `Target >= 20,000 commands/s: ${check(a.commandsPerSec >= 20_000)}.`, '');
  }
  out.push(`Total bench time ${(r.elapsedS).toFixed(0)} s.`);
  return out.join('\n');
}
