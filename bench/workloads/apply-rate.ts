// The cluster's ceiling: every node applies every command of the shared stream, so one
// replica's apply rate bounds the whole cluster however many nodes serve HTTP. This
// workload records a command stream of the long-poll conversation mix (logons, session
// starts, invitations, then per message a `sendMessage` batch, the acknowledgements of
// both sides' polls grouped as a node groups them, paced touches and a tick a second),
// then replays it into fresh replicas the way a follower node applies what it reads from
// Redis (JSON text -> envelope -> applyStream), without HTTP or Redis. Runs in-process: it
// measures one thread's CPU, which is what bounds a follower.
import { randomBytes } from 'node:crypto';
import { applyStream, streamedBatch, type Replica } from '../../src/cluster/redis-coordinator.js';
import type { Command, Envelope } from '../../src/cluster/commands.js';
import { ticketScope } from '../../src/cluster/state.js';
import { loadConfig } from '../../src/config.js';
import { newTicket, ticketHash } from '../../src/engine/tickets.js';
import { decodeBatch } from '../../src/protocol/codec.js';
import { RequestSchema } from '../../src/protocol/schema.js';
import { replicaFactory } from '../../src/server.js';
import { UserDirectory } from '../../src/users/directory.js';
import { CWA_NS } from '../client.js';
import { benchLogin, benchUsers } from '../users.js';

export interface ApplyRateRun {
  pairs: number;
  /** Commands in the recorded stream, by type. */
  mix: Record<string, number>;
  commands: number;
  /** Messages (sendMessage batches) in the stream. */
  messages: number;
  /** Replay: commands per second of wall time and µs of CPU per command (one thread). */
  commandsPerSec: number;
  cpuUsPerCommand: number;
  /** The same stream as messages: messages per second one replica keeps up with. */
  messagesPerSec: number;
}

const LIMITS = { maxBodyBytes: 1 << 20, maxDepth: 32, maxElements: 1000, maxAttributes: 64, maxAttributeLength: 8192, maxRequestsPerBatch: 32 };

/** Records the stream: `pairs` conversations, `rounds` rounds of one message per pair, `roundMs` of proposer time per round. */
export async function recordStream(pairs: number, rounds: number, roundMs = 25): Promise<{ stream: string[]; makeReplica: () => Replica; mix: Record<string, number>; messages: number; recorder: Replica }> {
  const config = await loadConfig(['--store', 'redis://127.0.0.1:6379/14'], {});
  const users = UserDirectory.fromRecords(benchUsers(2 * pairs));
  const makeReplica = replicaFactory(config, users);
  const schema = RequestSchema.load();
  const recorder = makeReplica();
  const stream: string[] = [];
  const mix: Record<string, number> = {};
  let now = Date.UTC(2025, 0, 1);
  let n = 0;
  const propose = async (c: Command): Promise<unknown> => {
    const env: Envelope = { c, o: `recorder:${++n}`, now, seed: randomBytes(16).toString('hex') };
    const text = JSON.stringify(env);
    stream.push(text);
    mix[c.t] = (mix[c.t] ?? 0) + 1;
    let result: unknown;
    await applyStream(recorder, [JSON.parse(text) as Envelope], (_env, r) => {
      if (r.error !== undefined) throw r.error;
      result = r.result;
    });
    return result;
  };
  // A batch as the CWA door builds its command from a POST body (command-runner.ts).
  const batch = async (login: string, ticket: string, body: string): Promise<string> => {
    const decoded = decodeBatch(body, LIMITS, schema);
    const rids = decoded.items.map((i) => (i.status === 'ok' ? (i.request.rid ?? '') : i.rid));
    const scope = decoded.sid ? `s:${decoded.sid}:${login}` : ticketScope(ticketHash(ticket));
    const res = (await propose(streamedBatch({ login, batch: decoded, scope, key: rids.join('\u0000'), body }))) as { body: string };
    return res.body;
  };
  const logins = Array.from({ length: 2 * pairs }, (_, i) => benchLogin(i));
  const tickets = new Map<string, string>();
  const sids = new Map<string, number>();
  for (const login of logins) {
    const ticket = newTicket();
    tickets.set(login, ticket);
    await propose({ t: 'logon', login, ticketHash: ticketHash(ticket) });
    const body = await batch(login, ticket, `<cwaRequests sid="0" xmlns="${CWA_NS}"><initiateSession rid="1"/></cwaRequests>`);
    sids.set(login, Number(/<sid>(\d+)<\/sid>/.exec(body)![1]));
  }
  const conv: { a: string; b: string; aConf: number; rid: number }[] = [];
  for (let k = 0; k < pairs; k++) {
    const a = logins[2 * k]!;
    const b = logins[2 * k + 1]!;
    const req = (login: string, inner: string) => `<cwaRequests sid="${sids.get(login)}" xmlns="${CWA_NS}">${inner}</cwaRequests>`;
    const invited = await batch(a, tickets.get(a)!, req(a, `<conference rid="2" confId="0"><initiateImSession><uris><uri>sip:${b}@example.com</uri></uris><message><content>hello</content></message></initiateImSession></conference>`));
    const aConf = Number(/<initiateImSessionAccepted[^>]*confId="(\d+)"/.exec(invited)![1]);
    const read = await recorder.logs.peek(sids.get(b)!, 0, 100);
    const text = read.status === 'ok' ? read.events.map((e) => e.xml).join('') : '';
    const at = text.indexOf('<imSessionReceived');
    const bConf = Number(/confId="(\d+)"/.exec(text.slice(text.lastIndexOf('<conference', at), at))![1]);
    await batch(b, tickets.get(b)!, req(b, `<conference rid="2" confId="${bConf}"><acceptImSession/></conference>`));
    conv.push({ a, b, aConf, rid: 3 });
  }
  // The conversations: one message per pair per round; each side's poll acknowledges what it got,
  // the acknowledgements of one turn in one command (replicated-log.ts), ten sessions a turn.
  const touchEveryMs = Math.min(5000, (config.sessionTimeoutS * 1000) / 20);
  let lastTick = now;
  let lastTouch = now;
  let messages = 0;
  for (let r = 0; r < rounds; r++) {
    now += roundMs;
    for (const c of conv) {
      const rid = c.rid++;
      await batch(c.a, tickets.get(c.a)!, `<cwaRequests sid="${sids.get(c.a)}" xmlns="${CWA_NS}"><conference rid="${rid}" confId="${c.aConf}"><sendMessage><content>message ${rid} of ${c.a}</content></sendMessage></conference></cwaRequests>`);
      messages += 1;
    }
    const acks: [number, number][] = [];
    for (const login of logins) {
      const sid = sids.get(login)!;
      const pos = recorder.logs.position(sid);
      if (pos && pos.head > pos.acked) acks.push([sid, pos.head]);
    }
    for (let i = 0; i < acks.length; i += 10) await propose({ t: 'ack', acks: acks.slice(i, i + 10) });
    if (now - lastTouch >= touchEveryMs) {
      lastTouch = now;
      for (const login of logins) await propose({ t: 'touch', login, sid: sids.get(login)!, ua: true });
    }
    if (now - lastTick >= 1000) {
      lastTick = now;
      await propose({ t: 'tick' });
    }
  }
  return { stream, makeReplica, mix, messages, recorder };
}

/** Replays `stream` into a fresh replica as a follower does; CPU and wall time of the replay. */
export async function replay(stream: string[], makeReplica: () => Replica, chunk = 512): Promise<{ cpuUs: number; wallMs: number; replica: Replica; errors: number }> {
  const replica = makeReplica();
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // As the follower reads the stream: up to `chunk` entries per XREAD, each parsed from its JSON text.
  for (let i = 0; i < stream.length; i += chunk) {
    const envs = stream.slice(i, i + chunk).map((raw) => JSON.parse(raw) as Envelope);
    await applyStream(replica, envs, (_env, r) => {
      if (r.error !== undefined) errors += 1;
    });
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: cpu.user + cpu.system, wallMs, replica, errors };
}

/** Records once, then replays `reps` times (the first replay warms the JIT and is not counted); the median run. */
export async function applyRate(opts: { pairs: number; rounds: number; reps: number }): Promise<ApplyRateRun> {
  const { stream, makeReplica, mix, messages, recorder } = await recordStream(opts.pairs, opts.rounds);
  const first = await replay(stream, makeReplica);
  if (first.errors > 0) throw new Error(`apply-rate: ${first.errors} commands failed on replay`);
  // A follower ends where the node that proposed the commands is: same logs, same rid-cache answers.
  const same = (r: Replica) => JSON.stringify([r.logs.exportState(), r.state.ridCache.exportState(), r.state.engine.exportState()]);
  if (same(first.replica) !== same(recorder)) throw new Error('apply-rate: the replayed replica differs from the recording one');
  const runs: { cpuUs: number; wallMs: number }[] = [];
  for (let i = 0; i < opts.reps; i++) runs.push(await replay(stream, makeReplica));
  runs.sort((x, y) => x.cpuUs - y.cpuUs);
  const mid = runs[Math.floor(runs.length / 2)]!;
  const commands = stream.length;
  return {
    pairs: opts.pairs,
    mix,
    commands,
    messages,
    commandsPerSec: commands / (mid.wallMs / 1000),
    cpuUsPerCommand: mid.cpuUs / commands,
    messagesPerSec: messages / (mid.wallMs / 1000),
  };
}
