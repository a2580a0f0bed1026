// Turns the exchanges a recording proxy saw into a transcript: clients told apart by ticket
// and session and named from the signed-in user, server-chosen values made captures or
// wildcards, passwords left out, polls folded into what each client must receive.
import { canonicalLogonName } from '../users/directory.js';
import { defaultWsUrl, WEBSOCKET_FORMAT } from './transcript.js';

/** One request and its answer, as the proxy forwarded them. */
export interface Exchange {
  /**
   * `poll`: a data-channel answer, or an event frame of a WebSocket. `ticket`: a successor
   * ticket offered on a WebSocket (no step; the ticket is the client's). `wsOpen`: a
   * WebSocket attach (status 101, or the refusal); `wsSend`: a frame the client sent with
   * the frame that answered it (responseBody, '' when none came); `wsAck`: an ack frame;
   * `wsClose`: the socket closed, by `closedBy`.
   */
  kind: 'logon' | 'command' | 'poll' | 'ticket' | 'wsOpen' | 'wsSend' | 'wsAck' | 'wsClose';
  /** Path without the query. */
  path: string;
  query: string;
  ticketIn?: string;
  ticketOut?: string;
  requestBody: string;
  status: number;
  responseBody: string;
  /** wsOpen: the ticket came in the CWA-Ticket header (else in the query). */
  ticketInHeader?: boolean;
  closedBy?: 'client' | 'server';
  closeCode?: number;
}

/** A transcript as written to a file (the JSON document of fixtures/README.md). */
export interface TranscriptDocument {
  format: number;
  title: string;
  source?: string;
  clients: Record<string, string>;
  steps: Record<string, unknown>[];
}

interface ClientState {
  name: string;
  /** confIds the client chose (sent before the server ever named them): written as they are. */
  ownConfIds: Set<string>;
  /** confIds the server chose for this client -> capture name. */
  serverConfIds: Map<string, string>;
  /** Highest eid recorded for the current session: a repeated poll's events are not recorded twice. */
  maxEid: number;
  sid?: string;
}

const DEFAULT_LOGON_PATH = '/forms/logon.html';
/** What a failed logon is replayed with: never the password that was typed. */
export const WRONG_PASSWORD = 'not-the-recorded-password';
const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)/g;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
/** `{` and `}` in recorded text would read as placeholders. */
const hasBraces = (s: string) => /[{}]/.test(s);

/** Splits the children of a cwaEvents document (the server's output: elements only). */
export function splitEvents(body: string): string[] {
  const inner = body.replace(/^\s*<cwaEvents[^>]*?(\/>|>)/, '').replace(/<\/cwaEvents>\s*$/, '');
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (const m of inner.matchAll(/<(\/?)[^>]*?(\/?)>/g)) {
    if (depth === 0 && !m[1]) start = m.index!;
    if (m[1]) depth--;
    else if (!m[2]) depth++;
    if (depth === 0 && start >= 0) {
      out.push(inner.slice(start, m.index! + m[0].length));
      start = -1;
    }
  }
  return out;
}

export class TranscriptBuilder {
  private readonly clients = new Map<string, ClientState>();
  private readonly logins: Record<string, string> = {};
  private readonly byTicket = new Map<string, ClientState>();
  private readonly bySid = new Map<string, ClientState>();
  /** Server-chosen values anyone may send back (conversation ids, focus ids, signInData) -> capture name. */
  private readonly shared = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private readonly steps: Record<string, unknown>[] = [];
  /** The client whose receive step is last, so consecutive events of one client fold into it. */
  private lastReceive?: { client: string; events: string[] };

  constructor(private readonly meta: { title: string; source?: string }) {}

  add(x: Exchange): void {
    if (x.kind === 'logon') this.logon(x);
    else if (x.kind === 'ticket') this.clientOf(x);
    else if (x.kind === 'command') this.command(x);
    else if (x.kind === 'wsOpen') this.wsOpen(x);
    else if (x.kind === 'wsSend') this.wsSend(x);
    else if (x.kind === 'wsAck') this.wsAck(x);
    else if (x.kind === 'wsClose') this.wsClose(x);
    else this.poll(x);
  }

  build(): TranscriptDocument {
    // The oldest format that holds the steps, so an older replayer still reads a recording without WebSocket steps.
    const ws = this.steps.some((s) => ['ws', 'send', 'ack', 'close', 'closed'].some((k) => k in s));
    return { format: ws ? WEBSOCKET_FORMAT : 1, title: this.meta.title, ...(this.meta.source ? { source: this.meta.source } : {}), clients: { ...this.logins }, steps: this.steps };
  }

  private next(kind: string): string {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    return `${kind}${n}`;
  }

  private newClient(login: string): ClientState {
    const base = login.replace(/[^\w-]/g, '_').replace(/^[^A-Za-z_]/, '_$&') || 'client';
    let name = base;
    for (let i = 2; this.clients.has(name); i++) name = `${base}${i}`;
    const c: ClientState = { name, ownConfIds: new Set(), serverConfIds: new Map(), maxEid: 0 };
    this.clients.set(name, c);
    this.logins[name] = login;
    return c;
  }

  private clientOf(x: Exchange): ClientState {
    const sid = /(?:^|&)sid=([^&]*)/i.exec(x.query)?.[1] ?? /<cwaRequests[^>]*\ssid="([^"]*)"/.exec(x.requestBody)?.[1];
    const known = (x.ticketIn && this.byTicket.get(x.ticketIn)) || (sid && this.bySid.get(sid));
    const c = known || this.newClient('anonymous');
    if (x.ticketIn) this.byTicket.set(x.ticketIn, c);
    if (x.ticketOut) this.byTicket.set(x.ticketOut, c);
    return c;
  }

  private push(step: Record<string, unknown>): void {
    this.steps.push(step);
    this.lastReceive = undefined;
  }

  private logon(x: Exchange): void {
    const field = (name: string) => {
      const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(x.requestBody);
      return m ? unescapeXml(m[1]!) : undefined;
    };
    const user = field('user') ?? '';
    const uri = field('uri');
    const c = this.newClient(canonicalLogonName(user) || 'anonymous');
    if (x.ticketOut) this.byTicket.set(x.ticketOut, c);
    const logon: Record<string, string> = {};
    if (user !== this.logins[c.name] && !hasBraces(user)) logon.user = user;
    if (uri !== undefined && !hasBraces(uri)) logon.uri = uri;
    if (x.path.toLowerCase() !== DEFAULT_LOGON_PATH) logon.path = x.path.toLowerCase();
    // A successful logon is replayed with the user's credential; a failed one with a wrong password.
    if (x.status !== 200) logon.password = WRONG_PASSWORD;
    this.push({
      client: c.name,
      logon,
      expect: { status: x.status, headers: { 'CWA-Ticket': x.ticketOut ? '{*}' : null }, body: this.answer(c, x.responseBody) },
    });
  }

  private command(x: Exchange): void {
    const c = this.clientOf(x);
    const post = this.request(c, x.requestBody);
    const body = this.answer(c, x.responseBody);
    const sid = /<requestAccepted[^>]*>[\s\S]*?<sid>([^<]*)<\/sid>/.exec(x.responseBody)?.[1];
    if (sid !== undefined) {
      c.sid = sid.trim();
      c.maxEid = 0;
      this.bySid.set(c.sid, c);
    }
    this.push({ client: c.name, post, expect: { status: x.status, body } });
  }

  /** A WebSocket attach: its URL with the client's sid, cursor and ticket as placeholders. */
  private wsOpen(x: Exchange): void {
    const c = this.clientOf(x);
    const query = x.query
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        if (eq <= 0) return pair;
        const name = pair.slice(0, eq);
        let value = pair.slice(eq + 1);
        try {
          value = decodeURIComponent(value);
        } catch {
          // Kept as it was sent.
        }
        const key = name.toLowerCase();
        if (key === 'sid' && value.trim() === c.sid) return `${name}={sid.${c.name}}`;
        if (key === 'ackid' && value.trim() === String(c.maxEid)) return `${name}={ack.${c.name}}`;
        if (key === 'ticket' || key === 'cwa-ticket') return `${name}={ticket.${c.name}}`;
        return hasBraces(pair) ? pair.replace(/[{}]/g, encodeURIComponent) : pair;
      })
      .join('&');
    const url = `${x.path}${query ? `?${query}` : ''}`;
    const ws: Record<string, unknown> = {};
    if (url !== defaultWsUrl(c.name)) ws.url = url;
    if (x.ticketInHeader === false) ws.ticketHeader = false;
    const step: Record<string, unknown> = { client: c.name, ws };
    if (x.status !== 101) step.expect = { status: x.status, body: this.answer(c, x.responseBody) };
    this.push(step);
  }

  /** A frame the client sent on its socket, with the frame that answered it. */
  private wsSend(x: Exchange): void {
    const c = this.clientOf(x);
    const step: Record<string, unknown> = { client: c.name, send: this.request(c, x.requestBody) };
    if (x.responseBody) step.expect = { body: this.answer(c, x.responseBody) };
    this.push(step);
  }

  /**
   * An ack of events the client had received is written as an ack of its cursor: a client
   * acknowledges later than events arrive, and the replayed client has received at least as
   * much by then. Only an ack beyond what it had received keeps its number.
   */
  private wsAck(x: Exchange): void {
    const c = this.clientOf(x);
    const ackId = /ackId="(\d+)"/.exec(x.requestBody)?.[1] ?? '0';
    const ua = /\sua="([^"]*)"/.exec(x.requestBody)?.[1];
    const ack: Record<string, unknown> = {};
    if (Number(ackId) > c.maxEid) ack.ackId = Number(ackId);
    if (ua !== undefined && !hasBraces(ua)) ack.ua = ua;
    this.push({ client: c.name, ack });
  }

  private wsClose(x: Exchange): void {
    const c = this.clientOf(x);
    const code = x.closeCode ?? 1005;
    if (x.closedBy === 'server') {
      // 1005/1006: the server sent no close code (or no close frame): any close will do.
      this.push({ client: c.name, closed: {}, ...(code !== 1005 && code !== 1006 ? { expect: { code } } : {}) });
      return;
    }
    this.push({ client: c.name, close: code === 1000 || (code >= 3000 && code <= 4999) ? (code === 1000 ? {} : { code }) : {} });
  }

  private poll(x: Exchange): void {
    const c = this.clientOf(x);
    if (x.status !== 200) {
      this.push({ client: c.name, poll: {}, expect: { status: x.status, body: this.answer(c, x.responseBody) } });
      return;
    }
    // Only events not recorded yet: a repeated AckId (a lost answer repaired) brings old ones again.
    const fresh = splitEvents(x.responseBody).filter((e) => Number(/\seid="(\d+)"/.exec(e)?.[1] ?? 0) > c.maxEid);
    if (fresh.length === 0) return;
    c.maxEid = Math.max(c.maxEid, ...fresh.map((e) => Number(/\seid="(\d+)"/.exec(e)?.[1] ?? 0)));
    const events = fresh.map((e) => this.answer(c, e).replace(/^(<\w+[^>]*?\s)eid="\d+"/, '$1eid="{*}"'));
    if (this.lastReceive?.client === c.name) {
      this.lastReceive.events.push(...events);
      return;
    }
    const step = { client: c.name, receive: {}, expect: { events } };
    this.push(step);
    this.lastReceive = { client: c.name, events };
  }

  /** A request as the client sent it, with the values the server chose replaced by their names. */
  private request(c: ClientState, body: string): string {
    let out = body.replace(/(<cwaRequests\b[^>]*\ssid=")[^"]*"/, `$1{sid.${c.name}}"`);
    out = out.replace(/(\sconfId=")([^"]*)"/gi, (_m, pre: string, v: string) => {
      const name = c.serverConfIds.get(v);
      if (name) return `${pre}{${name}}"`;
      c.ownConfIds.add(v);
      return `${pre}${v}"`;
    });
    // Short values could match unrelated text: only ids long enough to be unmistakable are sent back by name.
    for (const [value, name] of this.shared) if (value.length >= 6) out = out.replace(new RegExp(escapeRegex(value), 'g'), `{${name}}`);
    return out;
  }

  /** An answer with every value the server chooses turned into a capture or a wildcard. */
  private answer(c: ClientState, xml: string): string {
    const capture = (kind: string, value: string, map: Map<string, string>) => {
      const known = map.get(value);
      if (known) return `{${known}}`;
      const name = this.next(kind);
      map.set(value, name);
      return `{${name}=}`;
    };
    // Literal braces are not placeholders: kept aside, then matched by {*}.
    return xml
      .replace(/\{/g, '\uE000')
      .replace(/\}/g, '\uE001')
      .replace(/(\sconfId=")([^"]*)"/gi, (_m, pre: string, v: string) => `${pre}${c.ownConfIds.has(v) ? v : capture(`conf.${c.name}.`, v, c.serverConfIds)}"`)
      .replace(/(\sconversationId=")([^"]+)"/g, (_m, pre: string, v: string) => `${pre}${capture('conversation', v, this.shared)}"`)
      .replace(/(opaque=app:conf:focus:id:)([0-9A-Za-z]+)/g, (_m, pre: string, v: string) => `${pre}${capture('focus', v, this.shared)}`)
      .replace(/<signInData>([^<]*)<\/signInData>/g, (_m, v: string) => `<signInData>${v.length >= 8 && !hasBraces(v) ? capture('signInData', v, this.shared) : '{*}'}</signInData>`)
      .replace(/(\s(?:messageId|publishTime|endpointId|detail)=")[^"]*"/g, '$1{*}"')
      .replace(/<pollWaitTime>[^<]*<\/pollWaitTime>/g, '<pollWaitTime>{*}</pollWaitTime>')
      .replace(/<sid>[^<]*<\/sid>/g, '<sid>{*}</sid>')
      .replace(ISO_TIME, '{*}')
      .replace(/[\uE000\uE001]+/g, '{*}');
  }
}
