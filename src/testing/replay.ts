// Replays a transcript against a UC AJAX API server, step by step, and reports per step
// whether the answer matched, with the first differing place when it did not. The
// WebSocket steps are in replay-ws.ts, the checks every answer must pass in checks.ts.
import type { XNode } from '../protocol/xml-tree.js';
import { Bindings, compareAttributes, compareEvents, compareNode, fill, Mismatch, parseXml, render, xmlEscape } from './match.js';
import { checkDeliveryContract, compareStatusAndHeaders, documentErrors, type Exchange } from './checks.js';
import { receiveFrames, runWebSocketStep, type ClientChannel, type ReplaySocket } from './replay-ws.js';
import type { Step, Transcript } from './transcript.js';

/** Where a step's answer differed from the transcript. */
export interface Difference {
  file: string;
  /** Index in `steps`. */
  step: number;
  client?: string;
  action: string;
  note?: string;
  /** The first differing place: `events[1]/conference/participant/@role`, `header cwa-ticket`, '' for the status. */
  place: string;
  /** What differs there: `expected "presenter", got "attendee"`. */
  detail: string;
  /** The expected document (body, or the events one a line), when the step expected one. */
  expected?: string;
  /** What came back (the answer body, or the events received). */
  received?: string;
  request?: string;
  /** All of the above as one readable text (file, step, place, request, answer). */
  message: string;
}

export interface StepResult {
  index: number;
  client?: string;
  action: Step['kind'];
  note?: string;
  /** Steps after the first failed one are skipped: the conversation's state is unknown from there. */
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  failure?: Difference;
}

export interface TranscriptResult {
  file: string;
  title: string;
  passed: boolean;
  durationMs: number;
  steps: StepResult[];
  /** Set when the transcript could not be run at all (unreadable, gateway did not start). */
  error?: string;
  /** The transcript file could not be read or is not a valid transcript. */
  unreadable?: boolean;
  /**
   * Replayed against a --target: the `cwa-gateway serve` flags its `gateway` block stands for
   * (with `--hold-ms 0`, the replay's default), which that server does not know of.
   */
  serverFlags?: string[];
}

/** Passwords of recorded logons, by login (case-insensitive). */
export type Credentials = (login: string) => string | undefined;

/** The demo users' passwords: the login followed by "-demo". */
export const demoCredentials: Credentials = (login) => `${login}-demo`;

export interface ReplayTarget {
  /** Base URL of the server, without a trailing slash. */
  url: string;
  /** Moves the server's clock (only a gateway replay started itself on a manual clock can). */
  advance?: (ms: number) => Promise<void>;
  credentials?: Credentials;
  /** How long a client waits for expected events before the step fails (default 10000). */
  timeoutMs?: number;
  /** Sees every answer (the fixture recorder fills expectations in from them). */
  onAnswer?: (stepIndex: number, answer: RecordedAnswer, bindings: Bindings) => void;
}

export interface RecordedAnswer { status: number; ticket: string | null; body: string; root: XNode }

const LOGON_PATH = '/forms/logon.html';
const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
const DATA_PATH = '/cwa/AsyncDataChannel.ashx';
/** Between two polls that came back empty at once (a server that does not hold polls). */
const REPOLL_PAUSE_MS = 50;

interface Answer { status: number; headers: Headers; body: string; root: XNode }

async function send(url: string, method: 'GET' | 'POST', path: string, body: string | undefined, ticket: string | undefined, ex: Exchange, signal?: AbortSignal): Promise<Answer> {
  ex.request = `${method} ${path}${body !== undefined ? `\n  ${body}` : ''}`;
  ex.raw = undefined;
  const headers: Record<string, string> = { 'Content-Type': 'text/xml' };
  if (ticket) headers['CWA-Ticket'] = ticket;
  const res = await fetch(url + path, { method, body, headers, signal });
  const text = await res.text();
  ex.raw = { status: res.status, body: text };
  const type = res.headers.get('content-type') ?? '';
  if (!/^text\/xml/.test(type)) throw new Mismatch('', `content type must be text/xml, got "${type}"`);
  const errors = documentErrors(text);
  if (errors.length) throw new Mismatch('', `the answer does not validate against schemas/: ${errors.join('; ')}`);
  return { status: res.status, headers: res.headers, body: text, root: parseXml(text) };
}

/** Runs one transcript against `target`; never throws for a difference (see the result). */
export async function replayTranscript(t: Transcript, target: ReplayTarget): Promise<TranscriptResult> {
  const started = Date.now();
  const credentials = target.credentials ?? demoCredentials;
  const timeoutMs = target.timeoutMs ?? 10_000;
  const b = new Bindings();
  /** Events a receive step polled beyond what it expected: the client's next receive starts with them. */
  const pending = new Map<string, XNode[]>();
  /** Each client's WebSocket data channel, from its ws step to its close (or closed) step. */
  const sockets = new Map<string, ReplaySocket>();
  /** The highest eid each client received in its session: a socket re-attached further back sends those again. */
  const seen = new Map<string, number>();
  for (const c of Object.keys(t.clients)) {
    b.update(`sid.${c}`, '0', 'start');
    b.update(`ack.${c}`, '0', 'start');
    pending.set(c, []);
    seen.set(c, 0);
  }
  const receivedUpTo = (c: string, ackId: string, from: string) => {
    b.update(`ack.${c}`, ackId, from);
    seen.set(c, Math.max(seen.get(c)!, Number(ackId)));
  };
  const steps: StepResult[] = [];
  let failed = false;
  try {
    for (const step of t.steps) {
      const base = { index: step.index, action: step.kind, note: step.note, ...('client' in step ? { client: step.client } : {}) };
      if (failed) {
        steps.push({ ...base, status: 'skipped', durationMs: 0 });
        continue;
      }
      const stepStarted = Date.now();
      const ex: Exchange = { request: '' };
      let received: string | undefined;
      try {
        received = await runStep(step);
        steps.push({ ...base, status: 'passed', durationMs: Date.now() - stepStarted });
      } catch (err) {
        failed = true;
        steps.push({ ...base, status: 'failed', durationMs: Date.now() - stepStarted, failure: difference(t, step, err, ex, received) });
      }

      async function runStep(step: Step): Promise<string | undefined> {
        const from = `steps[${step.index}]`;
        if (step.kind === 'sleep') {
          await new Promise((r) => setTimeout(r, step.ms));
          return;
        }
        if (step.kind === 'advance') {
          if (!target.advance) throw new Mismatch('', 'advanceMs needs a gateway that replay starts itself (on a manual clock), not a --target server');
          await target.advance(step.ms);
          return;
        }
        const c = step.client;
        const ticket = () => b.get(`ticket.${c}`)?.value;
        const keepTicket = (a: Answer) => {
          const newTicket = a.headers.get('cwa-ticket');
          if (newTicket) b.update(`ticket.${c}`, newTicket, from);
        };
        const poll = async (query: string, signal?: AbortSignal): Promise<Answer> => {
          const a = await send(target.url, 'GET', `${DATA_PATH}?${query}`, undefined, ticket(), ex, signal);
          if (a.status === 200) checkDeliveryContract(a.root, query);
          keepTicket(a);
          return a;
        };
        const cursorQuery = (ack = b.use(`ack.${c}`)) => `Sid=${encodeURIComponent(b.use(`sid.${c}`))}&AckId=${encodeURIComponent(ack)}&UA=false`;

        const client: ClientChannel = { name: c, b, from, ex, timeoutMs, baseUrl: target.url, sockets, pending: pending.get(c)!, seen: () => seen.get(c)!, receivedUpTo: (ackId) => receivedUpTo(c, ackId, from), ticket };
        if (step.kind === 'ws' || step.kind === 'send' || step.kind === 'ack' || step.kind === 'close' || step.kind === 'closed') {
          await runWebSocketStep(step, client);
          return undefined;
        }

        const expectation = step.expect;

        if (step.kind === 'receive') {
          // Whatever frames or polls carry them: read the socket, or poll with the cursor, until enough events arrived.
          const queue = pending.get(c)!;
          const want = expectation.events!.length;
          const deadline = Date.now() + (step.receive.timeoutMs ?? timeoutMs);
          const s = sockets.get(c);
          if (s) await receiveFrames(s, client, want, deadline);
          while (!s && queue.length < want && Date.now() < deadline) {
            const asked = Date.now();
            let a: Answer | undefined;
            try {
              a = await poll(cursorQuery(), AbortSignal.timeout(Math.max(1, deadline - Date.now())));
            } catch (err) {
              if ((err as Error).name !== 'TimeoutError') throw err;
            }
            if (a && a.status !== 200) throw new Mismatch('', `HTTP status: expected 200 while waiting for events, got ${a.status}`);
            if (a) {
              queue.push(...a.root.children);
              receivedUpTo(c, a.root.attrs.ackId!, from);
            }
            if (a && a.root.children.length === 0 && Date.now() - asked < REPOLL_PAUSE_MS) await new Promise((r) => setTimeout(r, REPOLL_PAUSE_MS));
          }
          const got = queue.splice(0, want);
          received = got.map((e) => render(e, '', Infinity)).join('\n');
          compareEvents(expectation.events!, got, b, from);
          return received;
        }

        let answer: Answer;
        let query = '';
        if (step.kind === 'logon') {
          const l = step.logon;
          const login = t.clients[c]!;
          const field = (name: string, v: string | undefined) => (v === undefined ? '' : `<${name}>${fill(v, b, xmlEscape)}</${name}>`);
          // No password in the step: the user's credential (taken as it is, not as a template).
          let password = l.password === undefined ? undefined : field('password', l.password);
          if (password === undefined && l.body === undefined) {
            const known = credentials(login);
            if (known === undefined) throw new Mismatch('', `no password for "${login}" in the credentials (a users file entry with "password")`);
            password = `<password>${xmlEscape(known)}</password>`;
          }
          const body =
            l.body !== undefined
              ? fill(l.body, b, xmlEscape)
              : `<cwaRequests><logon>${field('user', l.user ?? login)}${password}${field('uri', l.uri)}</logon></cwaRequests>`;
          answer = await send(target.url, 'POST', l.path ?? LOGON_PATH, body, undefined, ex);
          // The password is not shown in a failure message.
          if (l.password === undefined && l.body === undefined) ex.request = ex.request.replace(/<password>[\s\S]*<\/password>/, '<password>…</password>');
        } else if (step.kind === 'post') {
          answer = await send(target.url, 'POST', COMMAND_PATH, fill(step.post, b, xmlEscape), ticket(), ex);
        } else {
          const p = step.poll;
          query =
            p.rawQuery !== undefined
              ? fill(p.rawQuery, b, (s) => s)
              : `Sid=${fill(p.sid ?? `{sid.${c}}`, b, encodeURIComponent)}&AckId=${fill(p.ackId ?? `{ack.${c}}`, b, encodeURIComponent)}&UA=${fill(p.ua ?? 'false', b, encodeURIComponent)}`;
          // In an expectation {ack.<client>} is the cursor before the poll: it moves at the end of the step.
          answer = await poll(query);
        }
        target.onAnswer?.(step.index, { status: answer.status, ticket: answer.headers.get('cwa-ticket'), body: answer.body, root: answer.root }, b);
        compareStatusAndHeaders(expectation, answer.status, answer.headers, b, from);
        let events = answer.root.children;
        if (step.kind === 'poll' && answer.status === 200 && expectation.events && events.length < expectation.events.length) {
          // Fewer events than expected so far: the rest may be on their way (another node, a
          // busy server). Poll on from the new cursor until they arrived or the timeout passed.
          events = [...events];
          let cursor = answer.root.attrs.ackId!;
          const deadline = Date.now() + timeoutMs;
          while (events.length < expectation.events.length && Date.now() < deadline) {
            const probe = b.clone();
            try {
              compareEvents(expectation.events.slice(0, events.length), events, probe, from);
            } catch {
              break; // differs already: report it as it is
            }
            const next = await poll(cursorQuery(cursor), AbortSignal.timeout(Math.max(1, deadline - Date.now()))).catch((err: Error) => {
              if (err.name === 'TimeoutError') return undefined;
              throw err;
            });
            if (!next || next.status !== 200) break;
            events.push(...next.root.children);
            cursor = next.root.attrs.ackId!;
            answer = next;
            if (next.root.children.length === 0) await new Promise((r) => setTimeout(r, REPOLL_PAUSE_MS));
          }
        }
        if (expectation.body) compareNode(expectation.body, answer.root, b, `/${expectation.body.name}`, from);
        if (expectation.envelope || expectation.events) {
          if (answer.root.name !== 'cwaEvents') throw new Mismatch('/', `expected a cwaEvents answer, got <${answer.root.name}>`);
          if (expectation.envelope) compareAttributes(expectation.envelope, answer.root.attrs, b, '/cwaEvents', from);
          if (expectation.events) compareEvents(expectation.events, events, b, from);
        }

        // What the replay keeps for the client: newest ticket, session, cursor.
        keepTicket(answer);
        if (step.kind === 'post') {
          const sid = answer.root.children.find((r) => r.name === 'requestAccepted')?.children.find((x) => x.name === 'sid');
          if (sid) {
            b.update(`sid.${c}`, sid.text.trim(), from);
            b.update(`ack.${c}`, '0', from);
            pending.set(c, []);
            seen.set(c, 0);
          }
        }
        if (step.kind === 'poll' && answer.status === 200) receivedUpTo(c, answer.root.attrs.ackId!, from);
        return undefined;
      }
    }
  } finally {
    for (const s of sockets.values()) s.terminate();
  }
  return { file: t.file, title: t.title, passed: !failed, durationMs: Date.now() - started, steps };
}

/** The difference a failed step reports. */
function difference(t: Transcript, step: Step, err: unknown, ex: Exchange, received: string | undefined): Difference {
  const client = 'client' in step ? step.client : undefined;
  const where = `${t.file}, steps[${step.index}]${client ? ` (${client} ${step.kind})` : ` (${step.kind})`}${step.note ? ` "${step.note}"` : ''}`;
  const mismatch = err instanceof Mismatch ? err : undefined;
  // Anything unexpected (a server that stopped answering, a body that is not XML) keeps its own text.
  const detail = mismatch ? mismatch.detail : `${(err as Error).name}: ${(err as Error).message}`;
  const place = mismatch?.path ?? '';
  const e = 'expect' in step ? step.expect : undefined;
  const expected = e?.body ? render(e.body, '', Infinity) : e?.events ? e.events.map((n) => render(n, '', Infinity)).join('\n') : undefined;
  const got = ex.raw ? `\n  answer (HTTP ${ex.raw.status}): ${ex.raw.body.length > 3000 ? `${ex.raw.body.slice(0, 3000)}…` : ex.raw.body}` : '';
  const frame = ex.frame ? `\n  frame: ${ex.frame.length > 3000 ? `${ex.frame.slice(0, 3000)}…` : ex.frame}` : '';
  const message = `${where}: ${mismatch ? mismatch.message : detail}${ex.request ? `\n  request: ${ex.request}` : ''}${frame || got}`;
  return {
    file: t.file,
    step: step.index,
    client,
    action: step.kind,
    note: step.note,
    place,
    detail,
    expected,
    received: received ?? ex.frame ?? ex.raw?.body,
    request: ex.request || undefined,
    message,
  };
}
