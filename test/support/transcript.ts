// Transcript replay. A fixture (fixtures/<area>/<name>.json) is one recorded
// conversation: the requests each client sends and the answers it expects. Expected XML
// is compared with the real answer as a tree, with placeholders for what differs from run
// to run (tickets, sids, confIds). The format is documented in fixtures/README.md.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig, type GatewayConfig } from '../../src/config.js';
import type { XNode } from '../../src/protocol/xml-tree.js';
import { parse } from './client.js';
import { expectValidDocument } from './schemas.js';

/** The fixture file itself is wrong (bad JSON, unknown key, unparsable expected XML…). */
export class FixtureError extends Error {
  override name = 'FixtureError';
}

/** The gateway's answer differs from the transcript. */
export class TranscriptMismatch extends Error {
  override name = 'TranscriptMismatch';
}

/** A difference at one place of a document; the replay adds file and step. */
export class Mismatch extends Error {
  constructor(readonly path: string, readonly detail: string) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = 'Mismatch';
  }
}

// ---- fixture shape ------------------------------------------------------------------

export interface Expectation {
  status: number;
  /** Header name -> value template, or null when the header must be absent. */
  headers: Record<string, string | null>;
  body?: XNode;
  events?: XNode[];
  envelope?: Record<string, string>;
}

export interface LogonAction { user?: string; password?: string; uri?: string; path?: string; body?: string }
export interface PollAction { ackId?: string; sid?: string; ua?: string; rawQuery?: string }

export type Step = { index: number; note?: string } & (
  | { kind: 'logon'; client: string; logon: LogonAction; expect: Expectation }
  | { kind: 'post'; client: string; post: string; expect: Expectation }
  | { kind: 'poll'; client: string; poll: PollAction; expect: Expectation }
  | { kind: 'sleep'; ms: number }
  /** Moves the gateway's (manual) clock forward and runs its timers: idle, invitation and MPOP deadlines. */
  | { kind: 'advance'; ms: number }
);

export interface Fixture {
  file: string;
  title: string;
  source?: string;
  gateway: Partial<GatewayConfig>;
  /** Client name -> login of the user it signs in as. */
  clients: Record<string, string>;
  steps: Step[];
}

// ---- placeholders ---------------------------------------------------------------------

const TOKEN = /\{(\*\*|\*|[A-Za-z_][\w.-]*=?)\}/g;
const RESERVED = /^(sid|ticket|ack)\./;

/** Captured values. User names are single-assignment; sid.*, ticket.*, ack.* are kept by the harness. */
export class Bindings {
  private readonly values = new Map<string, { value: string; from: string }>();

  get(name: string): { value: string; from: string } | undefined {
    return this.values.get(name);
  }

  /** Harness-maintained names (sid.alice …) are simply updated. */
  update(name: string, value: string, from: string): void {
    this.values.set(name, { value, from });
  }

  capture(name: string, value: string, from: string): void {
    const old = this.values.get(name);
    if (old && !RESERVED.test(name) && old.value !== value) {
      throw new Mismatch('', `{${name}=} captured "${value}", but ${name} was already captured as "${old.value}" (${old.from}); use {${name}} to check a value, or a new name`);
    }
    this.values.set(name, { value, from });
  }

  use(name: string): string {
    const v = this.values.get(name);
    if (!v) throw new Mismatch('', `{${name}} is used before it was captured (capture it first with {${name}=})`);
    return v.value;
  }
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Matches `actual` against a template with {*}, {name=} and {name}. Returns undefined on
 * success (captures recorded in `b`), else a description of the difference.
 */
export function matchTemplate(template: string, actual: string, b: Bindings, from: string): string | undefined {
  try {
    return matchOrThrow(template, actual, b, from);
  } catch (err) {
    if (err instanceof Mismatch) return err.detail;
    throw err;
  }
}

function matchOrThrow(template: string, actual: string, b: Bindings, from: string): string | undefined {
  if (!template.includes('{')) return template === actual ? undefined : `expected ${JSON.stringify(template)}, got ${JSON.stringify(actual)}`;
  let source = '';
  const captures: string[] = [];
  let last = 0;
  for (const m of template.matchAll(TOKEN)) {
    source += escapeRegex(template.slice(last, m.index));
    last = m.index! + m[0].length;
    const tok = m[1]!;
    if (tok === '**') throw new Mismatch('', '{**} may only be the whole content of an element');
    if (tok === '*') source += '[\\s\\S]*?';
    else if (tok.endsWith('=')) {
      const name = tok.slice(0, -1);
      const seen = captures.indexOf(name);
      if (seen >= 0) source += `\\${seen + 1}`;
      else {
        captures.push(name);
        source += '([\\s\\S]*?)';
      }
    } else if (captures.includes(tok)) source += `\\${captures.indexOf(tok) + 1}`;
    else source += escapeRegex(b.use(tok));
  }
  source += escapeRegex(template.slice(last));
  const found = new RegExp(`^${source}$`).exec(actual);
  if (!found) return `expected ${JSON.stringify(fill(template, b, (s) => s, true))}, got ${JSON.stringify(actual)}`;
  captures.forEach((name, i) => b.capture(name, found[i + 1]!, from));
  return undefined;
}

/** Substitutes {name} in request text. Wildcards and captures belong in expectations only. */
export function fill(template: string, b: Bindings, escape: (s: string) => string, lenient = false): string {
  return template.replace(TOKEN, (whole, tok: string) => {
    if (tok === '*' || tok === '**' || tok.endsWith('=')) {
      if (lenient) return whole;
      throw new Mismatch('', `${whole} can only be used in an expectation, not in a request`);
    }
    return lenient && !b.get(tok) ? whole : escape(b.use(tok));
  });
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

// ---- tree comparison -------------------------------------------------------------------

/** A short rendering of a node for messages. */
export function render(n: XNode, parentNs = '', max = 400): string {
  const ns = n.ns !== parentNs ? ` xmlns="${n.ns}"` : '';
  const attrs = Object.entries(n.attrs).map(([k, v]) => ` ${k}="${v}"`).join('');
  const inner = n.children.map((c) => render(c, n.ns, Infinity)).join('') + (n.children.length ? '' : n.text.trim());
  const out = inner === '' ? `<${n.name}${ns}${attrs}/>` : `<${n.name}${ns}${attrs}>${inner}</${n.name}>`;
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** `conference/imSessionState=connected` style summary of an event. */
export function summarize(e: XNode): string {
  const inner = e.name === 'conference' ? e.children[0] : undefined;
  if (!inner) return e.name;
  const text = inner.children.length === 0 ? inner.text.trim() : '';
  return `conference/${inner.name}${text ? `=${text}` : ''}`;
}

export function compareAttributes(expected: Record<string, string>, actual: Record<string, string>, b: Bindings, path: string, from: string): void {
  for (const [name, template] of Object.entries(expected)) {
    if (!(name in actual)) throw new Mismatch(`${path}/@${name}`, `attribute missing (expected ${JSON.stringify(template)})`);
    const diff = matchTemplate(template, actual[name]!, b, from);
    if (diff) throw new Mismatch(`${path}/@${name}`, diff);
  }
  for (const name of Object.keys(actual)) {
    if (!(name in expected)) throw new Mismatch(`${path}/@${name}`, `unexpected attribute ${name}="${actual[name]}"`);
  }
}

/** Compares element name, namespace, attributes, trimmed text and children in order. */
export function compareNode(e: XNode, a: XNode, b: Bindings, path: string, from: string): void {
  if (e.name !== a.name) throw new Mismatch(path, `expected <${e.name}>, got ${render(a)}`);
  if (e.ns !== a.ns) throw new Mismatch(path, `namespace: expected "${e.ns}", got "${a.ns}"`);
  compareAttributes(e.attrs, a.attrs, b, path, from);
  if (e.children.length === 0 && e.text.trim() === '{**}') return;
  const diff = matchTemplate(e.text.trim(), a.text.trim(), b, from);
  if (diff) throw new Mismatch(`${path}/text()`, diff);
  const n = Math.max(e.children.length, a.children.length);
  for (let i = 0; i < n; i++) {
    const ec = e.children[i];
    const ac = a.children[i];
    if (!ac) throw new Mismatch(path, `missing child ${render(ec!)} (expected ${e.children.length} children, got ${a.children.length})`);
    if (!ec) throw new Mismatch(path, `unexpected child ${render(ac)} (expected ${e.children.length} children, got ${a.children.length})`);
    const same = e.children.filter((c) => c.name === ec.name).length;
    const k = e.children.slice(0, i + 1).filter((c) => c.name === ec.name).length;
    compareNode(ec, ac, b, `${path}/${ec.name}${same > 1 ? `[${k}]` : ''}`, from);
  }
}

/** Compares the children of cwaEvents with the expected events, in order. */
export function compareEvents(expected: XNode[], actual: XNode[], b: Bindings, from: string): void {
  try {
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      const e = expected[i];
      const a = actual[i];
      if (!a) throw new Mismatch(`events[${i}]`, `missing event ${render(e!)}`);
      if (!e) throw new Mismatch(`events[${i}]`, `unexpected event ${render(a)}`);
      compareNode(e, a, b, `events[${i}]/${e.name}`, from);
    }
  } catch (err) {
    if (!(err instanceof Mismatch)) throw err;
    const list = (l: XNode[]) => `[${l.map(summarize).join(', ')}]`;
    throw new Mismatch(err.path, `${err.detail}\n  expected events: ${list(expected)}\n  actual events:   ${list(actual)}`);
  }
}

// ---- loading -------------------------------------------------------------------------

const TOP_KEYS = ['title', 'source', 'gateway', 'clients', 'steps'];
const STEP_KEYS = ['client', 'note', 'logon', 'post', 'poll', 'sleepMs', 'advanceMs', 'expect'];
const EXPECT_KEYS = ['status', 'headers', 'body', 'events', 'envelope'];
/** The status of a step being recorded: any answer is taken. */
export const RECORD = -1;
const LOGON_KEYS = ['user', 'password', 'uri', 'path', 'body'];
const POLL_KEYS = ['ackId', 'sid', 'ua', 'rawQuery'];
const HARNESS_OWNED: (keyof GatewayConfig)[] = ['port', 'host', 'usersFile', 'configFile', 'store', 'dataDir'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function loadFixtureFile(path: string, name: string): Fixture {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FixtureError(`${name}: not valid JSON: ${(err as Error).message}`);
  }
  return parseFixture(doc, name);
}

/** `recording`: steps may omit `expect` (the recorder fills it in from the gateway's answers). */
export function parseFixture(doc: unknown, file: string, opts: { recording?: boolean } = {}): Fixture {
  const fail = (where: string, msg: string): never => {
    throw new FixtureError(`${file}: ${where}: ${msg}`);
  };
  const keys = (o: Record<string, unknown>, allowed: string[], where: string) => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(where, `unknown key "${k}" (allowed: ${allowed.join(', ')})`);
  };
  const str = (v: unknown, where: string): string => (typeof v === 'string' ? v : fail(where, 'must be a string'));
  /** Long XML may be written as an array of strings, concatenated. */
  const text = (v: unknown, where: string): string =>
    Array.isArray(v) ? v.map((s, i) => str(s, `${where}[${i}]`)).join('') : typeof v === 'string' ? v : fail(where, 'must be a string or an array of strings');
  const scalar = (v: unknown, where: string): string =>
    typeof v === 'string' ? v : typeof v === 'number' && Number.isInteger(v) ? String(v) : fail(where, 'must be a string or an integer');
  const xml = (v: unknown, where: string): XNode => {
    const source = text(v, where);
    let node: XNode;
    try {
      node = parse(source);
    } catch (err) {
      return fail(where, `expected XML is not well-formed: ${(err as Error).message}`);
    }
    const misplaced = (n: XNode): boolean =>
      Object.values(n.attrs).some((v) => v.includes('{**}')) ||
      (n.text.includes('{**}') && (n.children.length > 0 || n.text.trim() !== '{**}')) ||
      n.children.some(misplaced);
    if (misplaced(node)) fail(where, '{**} may only be the whole content of an element');
    return node;
  };

  if (!isObject(doc)) return fail('top level', 'must be an object');
  keys(doc, TOP_KEYS, 'top level');
  const title = str(doc.title, 'title');
  const source = doc.source === undefined ? undefined : str(doc.source, 'source');

  const gateway: Record<string, unknown> = {};
  if (doc.gateway !== undefined) {
    if (!isObject(doc.gateway)) fail('gateway', 'must be an object of gateway settings');
    const defaults = defaultConfig() as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(doc.gateway as Record<string, unknown>)) {
      if (HARNESS_OWNED.includes(k as keyof GatewayConfig)) fail(`gateway.${k}`, 'is chosen by the test harness');
      if (!(k in defaults)) fail(`gateway.${k}`, `unknown setting (known: ${Object.keys(defaults).join(', ')})`);
      if (typeof v !== typeof defaults[k]) fail(`gateway.${k}`, `must be a ${typeof defaults[k]}`);
      gateway[k] = v;
    }
  }

  if (!isObject(doc.clients) || Object.keys(doc.clients).length === 0) return fail('clients', 'must map client names to logins, e.g. { "alice": "alice" }');
  const clients: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.clients)) {
    if (!/^[A-Za-z_][\w-]*$/.test(k)) fail(`clients.${k}`, 'a client name is letters, digits, _ and -');
    clients[k] = str(v, `clients.${k}`);
  }

  if (!Array.isArray(doc.steps) || doc.steps.length === 0) return fail('steps', 'must be a non-empty array');
  const steps = doc.steps.map((raw: unknown, index: number): Step => {
    const at = `steps[${index}]`;
    if (!isObject(raw)) return fail(at, 'must be an object');
    keys(raw, STEP_KEYS, at);
    const actions = ['logon', 'post', 'poll', 'sleepMs', 'advanceMs'].filter((k) => raw[k] !== undefined);
    if (actions.length !== 1) fail(at, `needs exactly one of logon, post, poll, sleepMs, advanceMs (found ${actions.join(', ') || 'none'})`);
    const note = raw.note === undefined ? undefined : str(raw.note, `${at}.note`);
    if (raw.sleepMs !== undefined) {
      if (typeof raw.sleepMs !== 'number' || raw.sleepMs < 0) fail(`${at}.sleepMs`, 'must be a non-negative number');
      if (raw.client !== undefined || raw.expect !== undefined) fail(at, 'a sleepMs step has no client and no expect');
      return { index, note, kind: 'sleep', ms: raw.sleepMs as number };
    }
    if (raw.advanceMs !== undefined) {
      if (typeof raw.advanceMs !== 'number' || raw.advanceMs < 0) fail(`${at}.advanceMs`, 'must be a non-negative number');
      if (raw.client !== undefined || raw.expect !== undefined) fail(at, 'an advanceMs step has no client and no expect');
      return { index, note, kind: 'advance', ms: raw.advanceMs as number };
    }
    const client = str(raw.client, `${at}.client`);
    if (!(client in clients)) fail(`${at}.client`, `"${client}" is not declared in "clients"`);
    if (raw.expect === undefined && opts.recording) raw.expect = { status: RECORD };
    if (!isObject(raw.expect)) return fail(`${at}.expect`, 'is required (an object; at least { "status": 200 })');
    const ex = raw.expect;
    keys(ex, EXPECT_KEYS, `${at}.expect`);
    if (ex.body !== undefined && (ex.events !== undefined || ex.envelope !== undefined)) fail(`${at}.expect`, 'use either body, or events/envelope');
    const headers: Record<string, string | null> = {};
    if (ex.headers !== undefined) {
      if (!isObject(ex.headers)) fail(`${at}.expect.headers`, 'must be an object');
      for (const [h, v] of Object.entries(ex.headers as Record<string, unknown>)) {
        headers[h.toLowerCase()] = v === null ? null : str(v, `${at}.expect.headers.${h}`);
      }
    }
    let envelope: Record<string, string> | undefined;
    if (ex.envelope !== undefined) {
      if (!isObject(ex.envelope)) fail(`${at}.expect.envelope`, 'must be an object of cwaEvents attributes');
      envelope = {};
      for (const [k, v] of Object.entries(ex.envelope as Record<string, unknown>)) envelope[k] = scalar(v, `${at}.expect.envelope.${k}`);
    }
    if (ex.events !== undefined && !Array.isArray(ex.events)) fail(`${at}.expect.events`, 'must be an array of XML strings');
    if (ex.status !== undefined && (typeof ex.status !== 'number' || !Number.isInteger(ex.status))) fail(`${at}.expect.status`, 'must be an integer');
    const expect: Expectation = {
      status: (ex.status as number | undefined) ?? 200,
      headers,
      body: ex.body === undefined ? undefined : xml(ex.body, `${at}.expect.body`),
      events: (ex.events as unknown[] | undefined)?.map((e, i) => xml(e, `${at}.expect.events[${i}]`)),
      envelope,
    };
    if (raw.logon !== undefined) {
      if (!isObject(raw.logon)) return fail(`${at}.logon`, 'must be an object (may be empty)');
      keys(raw.logon, LOGON_KEYS, `${at}.logon`);
      const logon: LogonAction = {};
      for (const k of LOGON_KEYS) if (raw.logon[k] !== undefined) logon[k as keyof LogonAction] = str(raw.logon[k], `${at}.logon.${k}`);
      if (logon.body !== undefined && (logon.user ?? logon.password ?? logon.uri) !== undefined) fail(`${at}.logon`, 'body replaces user/password/uri');
      return { index, note, kind: 'logon', client, logon, expect };
    }
    if (raw.post !== undefined) return { index, note, kind: 'post', client, post: text(raw.post, `${at}.post`), expect };
    if (!isObject(raw.poll)) return fail(`${at}.poll`, 'must be an object (may be empty)');
    keys(raw.poll, POLL_KEYS, `${at}.poll`);
    const poll: PollAction = {};
    for (const k of POLL_KEYS) if (raw.poll[k] !== undefined) poll[k as keyof PollAction] = scalar(raw.poll[k], `${at}.poll.${k}`);
    if (poll.rawQuery !== undefined && (poll.ackId ?? poll.sid ?? poll.ua) !== undefined) fail(`${at}.poll`, 'rawQuery replaces ackId/sid/ua');
    return { index, note, kind: 'poll', client, poll, expect };
  });
  return { file, title, source, gateway: gateway as Partial<GatewayConfig>, clients, steps };
}

// ---- replay ----------------------------------------------------------------------------

const LOGON_PATH = '/forms/logon.html';
const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
const DATA_PATH = '/cwa/AsyncDataChannel.ashx';

interface Answer { status: number; headers: Headers; body: string; root: XNode }

/** Data-channel parameters the way the gateway reads them: names without case, empty pairs skipped. */
function queryValue(query: string, name: string): string | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).toLowerCase() === name) return decodeURIComponent(pair.slice(eq + 1));
  }
  return undefined;
}

/** The delivery contract every 200 poll answer must keep, whatever the fixture expects. */
function checkDeliveryContract(root: XNode, query: string): void {
  if (root.name !== 'cwaEvents') throw new Mismatch('/', `a 200 data-channel answer must be cwaEvents, got ${render(root)}`);
  const sid = queryValue(query, 'sid');
  if (sid !== undefined && root.attrs.sid !== sid.trim()) throw new Mismatch('/cwaEvents/@sid', `delivery contract: polled Sid ${sid}, answered sid="${root.attrs.sid}"`);
  if (root.children.length === 0) return;
  const eids = root.children.map((c) => Number(c.attrs.eid));
  const asked = Number(queryValue(query, 'ackid')?.trim() || 0);
  eids.forEach((eid, i) => {
    const want = asked + 1 + i;
    if (eid !== want) throw new Mismatch(`events[${i}]/@eid`, `delivery contract: AckId=${asked} must be answered with eids ${asked + 1}, ${asked + 2}, … in order; got ${eids.join(', ')}`);
  });
  if (root.attrs.ackId !== String(eids[eids.length - 1])) {
    throw new Mismatch('/cwaEvents/@ackId', `delivery contract: ackId must be the last eid (${eids[eids.length - 1]}), got "${root.attrs.ackId}"`);
  }
}

/** True when the fixture moves time itself (its gateway then runs on a manual clock). */
export function usesManualClock(fx: Fixture): boolean {
  return fx.steps.some((s) => s.kind === 'advance');
}

export interface RecordedAnswer { status: number; ticket: string | null; body: string; root: XNode }

export async function replayFixture(
  fx: Fixture,
  baseUrl: string,
  advance?: (ms: number) => Promise<void>,
  onAnswer?: (stepIndex: number, answer: RecordedAnswer, bindings: Bindings) => void,
): Promise<void> {
  const b = new Bindings();
  for (const c of Object.keys(fx.clients)) {
    b.update(`sid.${c}`, '0', 'start');
    b.update(`ack.${c}`, '0', 'start');
  }
  for (const step of fx.steps) {
    const from = `steps[${step.index}]`;
    const where = `${fx.file}, ${from}${step.kind === 'sleep' || step.kind === 'advance' ? ` (${step.kind})` : ` (${step.client} ${step.kind})`}${step.note ? ` "${step.note}"` : ''}`;
    if (step.kind === 'sleep') {
      await new Promise((r) => setTimeout(r, step.ms));
      continue;
    }
    if (step.kind === 'advance') {
      if (!advance) throw new Error(`${where}: advanceMs needs a gateway on a manual clock`);
      await advance(step.ms);
      continue;
    }
    let request = '';
    let raw: { status: number; body: string } | undefined;
    try {
      const c = step.client;
      const ticket = b.get(`ticket.${c}`)?.value;
      let method: 'GET' | 'POST' = 'POST';
      let path: string;
      let body: string | undefined;
      let query = '';
      if (step.kind === 'logon') {
        const l = step.logon;
        const login = fx.clients[c]!;
        const field = (name: string, v: string | undefined) => (v === undefined ? '' : `<${name}>${fill(v, b, xmlEscape)}</${name}>`);
        path = l.path ?? LOGON_PATH;
        body =
          l.body !== undefined
            ? fill(l.body, b, xmlEscape)
            : `<cwaRequests><logon>${field('user', l.user ?? login)}${field('password', l.password ?? `${login}-demo`)}${field('uri', l.uri)}</logon></cwaRequests>`;
      } else if (step.kind === 'post') {
        path = COMMAND_PATH;
        body = fill(step.post, b, xmlEscape);
      } else {
        method = 'GET';
        const p = step.poll;
        query =
          p.rawQuery !== undefined
            ? fill(p.rawQuery, b, (s) => s)
            : `Sid=${fill(p.sid ?? `{sid.${c}}`, b, encodeURIComponent)}&AckId=${fill(p.ackId ?? `{ack.${c}}`, b, encodeURIComponent)}&UA=${fill(p.ua ?? 'false', b, encodeURIComponent)}`;
        path = `${DATA_PATH}?${query}`;
      }
      request = `${method} ${path}${body !== undefined ? `\n  ${body}` : ''}`;
      const headers: Record<string, string> = { 'Content-Type': 'text/xml' };
      if (ticket && step.kind !== 'logon') headers['CWA-Ticket'] = ticket;
      const res = await fetch(baseUrl + path, { method, body, headers });
      const text = await res.text();
      raw = { status: res.status, body: text };
      const type = res.headers.get('content-type') ?? '';
      if (!/^text\/xml/.test(type)) throw new Mismatch('', `content type must be text/xml, got "${type}"`);
      try {
        expectValidDocument(text);
      } catch (err) {
        throw new Mismatch('', `the answer does not validate against schemas/: ${(err as Error).message}`);
      }
      const answer: Answer = { status: res.status, headers: res.headers, body: text, root: parse(text) };

      const ex = step.expect;
      onAnswer?.(step.index, { status: answer.status, ticket: answer.headers.get('cwa-ticket'), body: answer.body, root: answer.root }, b);
      if (ex.status !== RECORD && answer.status !== ex.status) throw new Mismatch('', `HTTP status: expected ${ex.status}, got ${answer.status}`);
      for (const [h, template] of Object.entries(ex.headers)) {
        const actual = answer.headers.get(h);
        if (template === null) {
          if (actual !== null) throw new Mismatch(`header ${h}`, `must be absent, got "${actual}"`);
          continue;
        }
        if (actual === null) throw new Mismatch(`header ${h}`, `missing (expected ${JSON.stringify(template)})`);
        const diff = matchTemplate(template, actual, b, from);
        if (diff) throw new Mismatch(`header ${h}`, diff);
      }
      if (step.kind === 'poll' && answer.status === 200) checkDeliveryContract(answer.root, query);
      if (ex.body) compareNode(ex.body, answer.root, b, `/${ex.body.name}`, from);
      if (ex.envelope || ex.events) {
        if (answer.root.name !== 'cwaEvents') throw new Mismatch('/', `expected a cwaEvents answer, got <${answer.root.name}>`);
        if (ex.envelope) compareAttributes(ex.envelope, answer.root.attrs, b, '/cwaEvents', from);
        if (ex.events) compareEvents(ex.events, answer.root.children, b, from);
      }

      // What the harness keeps for the client: newest ticket, session, cursor.
      const newTicket = answer.headers.get('cwa-ticket');
      if (newTicket) b.update(`ticket.${c}`, newTicket, from);
      if (step.kind === 'post') {
        const sid = answer.root.children.find((r) => r.name === 'requestAccepted')?.children.find((x) => x.name === 'sid');
        if (sid) {
          b.update(`sid.${c}`, sid.text.trim(), from);
          b.update(`ack.${c}`, '0', from);
        }
      }
      if (step.kind === 'poll' && answer.status === 200) b.update(`ack.${c}`, answer.root.attrs.ackId!, from);
    } catch (err) {
      // Every failure names the fixture and the step; anything unexpected (a gateway that
      // stopped answering, a body that is not XML) keeps its own error as the cause.
      const got = raw ? `\n  answer (HTTP ${raw.status}): ${raw.body.length > 3000 ? `${raw.body.slice(0, 3000)}…` : raw.body}` : '';
      const message = err instanceof Mismatch ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
      throw new TranscriptMismatch(`${where}: ${message}\n  request: ${request}${got}`, { cause: err });
    }
  }
}

/** The repository's fixtures/ folder (dist/test/support/ -> the repository root). */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures', import.meta.url));

/** Every transcript under fixtures/, in a stable order, with its name relative to the repository (none when the folder is missing). */
export function fixtureFiles(dir = FIXTURES_DIR): { file: string; name: string }[] {
  const root = join(FIXTURES_DIR, '..');
  const walk = (d: string): string[] => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return [];
    }
    return entries
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.json') ? [join(d, e.name)] : []));
  };
  return walk(dir).map((file) => ({ file, name: relative(root, file).split(sep).join('/') }));
}
