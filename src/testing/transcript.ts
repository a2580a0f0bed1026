// The transcript format: one conversation with a UC AJAX API server, the requests each
// client sends and the answers it must get back. Documented in fixtures/README.md; its
// structure is schemas/transcript.schema.json, checked before the rules below.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import { defaultConfig, type GatewayConfig } from '../config.js';
import { schemaDir } from '../protocol/schema.js';
import type { XNode } from '../protocol/xml-tree.js';
import { parseXml } from './match.js';

/** The newest transcript format this package reads; a file without `format` is version 1. */
export const TRANSCRIPT_FORMAT = 2;
/** The format that added WebSocket steps (ws, send, ack, close, closed). */
export const WEBSOCKET_FORMAT = 2;

/** The transcript itself is wrong (unreadable, bad JSON, against the schema, unknown key …). */
export class TranscriptError extends Error {
  override name = 'TranscriptError';
}

// ---- shape ---------------------------------------------------------------------------

export interface Expectation {
  status: number;
  /** Header name -> value template, or null when the header must be absent. */
  headers: Record<string, string | null>;
  body?: XNode;
  events?: XNode[];
  envelope?: Record<string, string>;
  /** A `closed` step: the close code the server's close frame must carry. */
  code?: number;
}

export interface LogonAction { user?: string; password?: string; uri?: string; path?: string; body?: string }
export interface PollAction { ackId?: string; sid?: string; ua?: string; rawQuery?: string }
/** Poll with the client's cursor until the expected events arrived (or `timeoutMs` passed). */
export interface ReceiveAction { timeoutMs?: number }
/** Opens the client's data channel as a WebSocket. `url`: path and query (a template). */
export interface WsAction { url?: string; ticketHeader?: boolean }
/** An `<ack ackId="…"/>` frame on the client's socket; `ackId` defaults to the client's cursor. */
export interface AckAction { ackId?: string; ua?: string }
/** The client closes its socket (a no-op when the server closed it already). */
export interface CloseAction { code?: number }
/** The WebSocket data channel a `ws` step opens when it says no `url`. */
export const defaultWsUrl = (client: string) => `/cwa/AsyncDataChannel.ashx?Sid={sid.${client}}&AckId={ack.${client}}&UA=false`;

export type Step = { index: number; note?: string } & (
  | { kind: 'logon'; client: string; logon: LogonAction; expect: Expectation }
  | { kind: 'post'; client: string; post: string; expect: Expectation }
  | { kind: 'poll'; client: string; poll: PollAction; expect: Expectation }
  | { kind: 'receive'; client: string; receive: ReceiveAction; expect: Expectation }
  /** Opens the client's WebSocket data channel; expects 101, or the refusal (status and body). */
  | { kind: 'ws'; client: string; ws: WsAction; expect: Expectation }
  /** A text frame on the client's socket; with `expect.body`, the cwaResponses frame answering it. */
  | { kind: 'send'; client: string; send: string; expect?: Expectation }
  | { kind: 'ack'; client: string; ack: AckAction }
  | { kind: 'close'; client: string; close: CloseAction }
  /** Waits until the server closes the client's socket; `expect.code` is its close code. */
  | { kind: 'closed'; client: string; expect?: Expectation }
  | { kind: 'sleep'; ms: number }
  /** Moves the gateway's (manual) clock forward and runs its timers: idle, invitation and MPOP deadlines. */
  | { kind: 'advance'; ms: number }
);

export interface Transcript {
  /** The name failures are reported under (the path as given). */
  file: string;
  format: number;
  title: string;
  source?: string;
  gateway: Partial<GatewayConfig>;
  /** Client name -> login of the user it signs in as. */
  clients: Record<string, string>;
  steps: Step[];
}

// ---- loading -------------------------------------------------------------------------

const TOP_KEYS = ['format', 'title', 'source', 'gateway', 'clients', 'steps'];
const ACTIONS = ['logon', 'post', 'poll', 'receive', 'ws', 'send', 'ack', 'close', 'closed', 'sleepMs', 'advanceMs'];
const WEBSOCKET_ACTIONS = ['ws', 'send', 'ack', 'close', 'closed'];
const STEP_KEYS = ['client', 'note', ...ACTIONS, 'expect'];
const EXPECT_KEYS = ['status', 'headers', 'body', 'events', 'envelope', 'code'];
/** The status of a step being recorded: any answer is taken. */
export const RECORD = -1;
const LOGON_KEYS = ['user', 'password', 'uri', 'path', 'body'];
const POLL_KEYS = ['ackId', 'sid', 'ua', 'rawQuery'];
const RECEIVE_KEYS = ['timeoutMs'];
const WS_KEYS = ['url', 'ticketHeader'];
const ACK_KEYS = ['ackId', 'ua'];
const CLOSE_KEYS = ['code'];
const HARNESS_OWNED: (keyof GatewayConfig)[] = ['port', 'host', 'usersFile', 'configFile', 'store', 'dataDir'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Line and column (from 1) of a character offset in a text. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** JSON.parse with the place of a syntax error as line and column. */
export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const place = at ? lineColumn(text, Number(at[1])) : /Unexpected end/.test(message) ? lineColumn(text, text.length) : undefined;
    throw new TranscriptError(`${name}${place ? `:${place.line}:${place.column}` : ''}: not valid JSON: ${message}`);
  }
}

type SchemaError = { instancePath: string; keyword: string; message?: string; params: Record<string, unknown> };
let schemaCheck: ((doc: unknown) => boolean) & { errors?: SchemaError[] | null } | undefined;

/** `/steps/3/expect` -> `steps[3].expect` */
function jsonPath(pointer: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out ? `${out}.${p}` : p), '') || 'top level';
}

/** Checks a parsed transcript against schemas/transcript.schema.json; throws a TranscriptError naming the place. */
export function checkTranscriptSchema(doc: unknown, name: string): void {
  if (!schemaCheck) {
    // ajv is CommonJS: its constructor is the module itself.
    const Ajv = createRequire(import.meta.url)('ajv') as new (opts: object) => { compile(schema: unknown): typeof schemaCheck };
    const schema = JSON.parse(readFileSync(join(schemaDir(), 'transcript.schema.json'), 'utf8'));
    schemaCheck = new Ajv({ allErrors: true, strict: false }).compile(schema)!;
  }
  if (schemaCheck(doc)) return;
  const errors = schemaCheck.errors ?? [];
  // The most telling error: an unknown key, else the deepest place (oneOf adds a summary at the step itself).
  const pick =
    errors.find((e) => e.keyword === 'additionalProperties') ??
    [...errors].filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'required').sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ??
    errors[0]!;
  const detail =
    pick.keyword === 'additionalProperties'
      ? `unknown key "${String(pick.params.additionalProperty)}"`
      : pick.keyword === 'oneOf' || pick.keyword === 'required'
        ? pick.instancePath.startsWith('/steps/')
          ? `needs exactly one of ${ACTIONS.join(', ')}`
          : (pick.message ?? pick.keyword)
        : (pick.message ?? pick.keyword);
  throw new TranscriptError(`${name}: ${jsonPath(pick.instancePath)}: ${detail} (schemas/transcript.schema.json)`);
}

/**
 * Reads a transcript file: JSON (syntax errors named with line and column), then the
 * JSON Schema, then the rules the schema cannot say (declared clients, well-formed expected
 * XML, known gateway settings). `name` is what failures call the file (default: the path).
 */
export function loadTranscript(path: string, name = path): Transcript {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TranscriptError(`${name}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const doc = parseJson(text.replace(/^\uFEFF/, ''), name);
  checkTranscriptSchema(doc, name);
  return parseTranscript(doc, name);
}

/**
 * The transcript files named by `paths`: a file as it is, a folder searched for *.json
 * (recursively, in a stable order). `name` is the path as given (a folder's files under
 * it), or relative to `base` when one is given; with forward slashes. A folder named `ucwa`
 * holds UCWA scenarios (fixtures/ucwa/README.md, another format) and is not searched.
 */
export function transcriptFiles(paths: readonly string[], base?: string): { file: string; name: string }[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((e) => (e.isDirectory() ? (e.name === 'ucwa' ? [] : walk(join(d, e.name))) : e.name.endsWith('.json') ? [join(d, e.name)] : []));
  const slashes = (p: string) => p.split(sep).join('/');
  const out: { file: string; name: string }[] = [];
  for (const p of paths) {
    const abs = resolve(base ?? '.', p);
    let dir = false;
    try {
      dir = statSync(abs).isDirectory();
    } catch {
      // A missing file is reported when it is loaded, with the others still run.
    }
    for (const file of dir ? walk(abs) : [abs]) {
      out.push({ file, name: slashes(base !== undefined ? relative(base, file) : dir ? join(p, relative(abs, file)) : p) });
    }
  }
  return out;
}

/** True when the transcript moves time itself (a gateway replay starts then runs on a manual clock). */
export function usesManualClock(t: Transcript): boolean {
  return t.steps.some((s) => s.kind === 'advance');
}

/** `recording`: steps may omit `expect` (the recorder fills it in from the gateway's answers). */
export function parseTranscript(doc: unknown, file: string, opts: { recording?: boolean } = {}): Transcript {
  const fail = (where: string, msg: string): never => {
    throw new TranscriptError(`${file}: ${where}: ${msg}`);
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
      node = parseXml(source);
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
  let format = 1;
  if (doc.format !== undefined) {
    if (typeof doc.format !== 'number' || !Number.isInteger(doc.format) || doc.format < 1) fail('format', 'must be a positive integer');
    format = doc.format as number;
    if (format > TRANSCRIPT_FORMAT) fail('format', `version ${format} is newer than this cwa-gateway reads (${TRANSCRIPT_FORMAT}): upgrade cwa-gateway`);
  }
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
    const actions = ACTIONS.filter((k) => raw[k] !== undefined);
    if (actions.length !== 1) fail(at, `needs exactly one of ${ACTIONS.join(', ')} (found ${actions.join(', ') || 'none'})`);
    const note = raw.note === undefined ? undefined : str(raw.note, `${at}.note`);
    if (WEBSOCKET_ACTIONS.includes(actions[0]!) && format < WEBSOCKET_FORMAT) {
      fail(at, `a "${actions[0]}" step (WebSocket) needs "format": ${WEBSOCKET_FORMAT} at the top of the transcript`);
    }
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
    if (raw.ack !== undefined || raw.close !== undefined) {
      if (raw.expect !== undefined) fail(at, `an ${raw.ack !== undefined ? 'ack' : 'close'} step has no expect (nothing comes back)`);
      if (raw.ack !== undefined) {
        if (!isObject(raw.ack)) return fail(`${at}.ack`, 'must be an object (may be empty)');
        keys(raw.ack, ACK_KEYS, `${at}.ack`);
        const ack: AckAction = {};
        for (const k of ACK_KEYS) if (raw.ack[k] !== undefined) ack[k as keyof AckAction] = scalar(raw.ack[k], `${at}.ack.${k}`);
        return { index, note, kind: 'ack', client, ack };
      }
      if (!isObject(raw.close)) return fail(`${at}.close`, 'must be an object (may be empty)');
      keys(raw.close, CLOSE_KEYS, `${at}.close`);
      const code = raw.close.code;
      if (code !== undefined && (typeof code !== 'number' || !Number.isInteger(code) || !(code === 1000 || (code >= 3000 && code <= 4999)))) {
        fail(`${at}.close.code`, 'must be 1000 or a code from 3000 to 4999 (RFC 6455 §7.4)');
      }
      return { index, note, kind: 'close', client, close: { code: code as number | undefined } };
    }
    // A socket is expected to open (101); a frame need not be answered; a close need not have a given code.
    const rawExpect =
      raw.expect ??
      (raw.ws !== undefined ? { status: 101 } : raw.send !== undefined || raw.closed !== undefined ? {} : opts.recording ? { status: RECORD } : undefined);
    if (!isObject(rawExpect)) return fail(`${at}.expect`, 'is required (an object; at least { "status": 200 })');
    const ex = rawExpect;
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
    if (ex.code !== undefined && raw.closed === undefined) fail(`${at}.expect.code`, 'only a closed step expects a close code');
    if (ex.code !== undefined && (typeof ex.code !== 'number' || !Number.isInteger(ex.code))) fail(`${at}.expect.code`, 'must be an integer');
    const expect: Expectation = {
      status: (ex.status as number | undefined) ?? (raw.ws !== undefined ? 101 : 200),
      code: ex.code as number | undefined,
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
    if (raw.receive !== undefined) {
      if (!isObject(raw.receive)) return fail(`${at}.receive`, 'must be an object (may be empty)');
      keys(raw.receive, RECEIVE_KEYS, `${at}.receive`);
      const t = raw.receive.timeoutMs;
      if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 0)) fail(`${at}.receive.timeoutMs`, 'must be a non-negative integer');
      if (ex.body !== undefined || ex.envelope !== undefined || ex.events === undefined) fail(`${at}.expect`, 'a receive step expects events (and no body or envelope)');
      return { index, note, kind: 'receive', client, receive: { timeoutMs: t as number | undefined }, expect };
    }
    if (raw.post !== undefined) return { index, note, kind: 'post', client, post: text(raw.post, `${at}.post`), expect };
    if (raw.ws !== undefined) {
      if (!isObject(raw.ws)) return fail(`${at}.ws`, 'must be an object (may be empty)');
      keys(raw.ws, WS_KEYS, `${at}.ws`);
      const ws: WsAction = {};
      if (raw.ws.url !== undefined) {
        ws.url = str(raw.ws.url, `${at}.ws.url`);
        if (!ws.url.startsWith('/')) fail(`${at}.ws.url`, 'is a path and query on the server, starting with "/" (e.g. "/cwa/AsyncDataChannel.ashx?Sid={sid.alice}&AckId={ack.alice}")');
      }
      if (raw.ws.ticketHeader !== undefined) {
        if (typeof raw.ws.ticketHeader !== 'boolean') fail(`${at}.ws.ticketHeader`, 'must be true or false');
        ws.ticketHeader = raw.ws.ticketHeader as boolean;
      }
      if (ex.events !== undefined || ex.envelope !== undefined) fail(`${at}.expect`, 'a ws step expects a status (101, or a refusal with its body); events come in receive steps');
      return { index, note, kind: 'ws', client, ws, expect };
    }
    if (raw.send !== undefined) {
      if (ex.events !== undefined || ex.envelope !== undefined || ex.status !== undefined || ex.headers !== undefined) {
        fail(`${at}.expect`, 'a send step expects only body: the frame that answers it');
      }
      return { index, note, kind: 'send', client, send: text(raw.send, `${at}.send`), expect: ex.body === undefined ? undefined : expect };
    }
    if (raw.closed !== undefined) {
      if (!isObject(raw.closed) || Object.keys(raw.closed).length > 0) fail(`${at}.closed`, 'must be {} (the close code goes in expect.code)');
      if (Object.keys(ex).some((k) => k !== 'code')) fail(`${at}.expect`, 'a closed step expects only code');
      return { index, note, kind: 'closed', client, expect: ex.code === undefined ? undefined : expect };
    }
    if (!isObject(raw.poll)) return fail(`${at}.poll`, 'must be an object (may be empty)');
    keys(raw.poll, POLL_KEYS, `${at}.poll`);
    const poll: PollAction = {};
    for (const k of POLL_KEYS) if (raw.poll[k] !== undefined) poll[k as keyof PollAction] = scalar(raw.poll[k], `${at}.poll.${k}`);
    if (poll.rawQuery !== undefined && (poll.ackId ?? poll.sid ?? poll.ua) !== undefined) fail(`${at}.poll`, 'rawQuery replaces ackId/sid/ua');
    return { index, note, kind: 'poll', client, poll, expect };
  });
  return { file, format, title, source, gateway: gateway as Partial<GatewayConfig>, clients, steps };
}
