// The UCWA resource model and its two representations (ucwa-messaging.md §1): a
// resource is a type (`rel`), a self href, ordered properties, links and embedded
// resources. JSON is HAL-like (`_links`, `_embedded`, `rel` as a property); XML is
// `<resource rel href>` with `<link>`, `<property>`, `<propertyList>` children in the
// UCWA namespace. Events (§4.2/§4.3) are rendered here too, once per representation.
import { escapeAttr, escapeText } from '../xml.js';

export const UCWA_NS = 'http://schemas.microsoft.com/rtc/2012/03/ucwa';

export type Scalar = string | number | boolean | null;
export type Value = Scalar | string[] | { date: number };

export interface Link {
  href: string;
  title?: string;
}

export interface Resource {
  /** The resource type (`participant` for a `localParticipant` or `from`). */
  rel: string;
  href: string;
  props?: [string, Value][];
  links?: [string, Link | Link[]][];
  embedded?: [string, Resource | Resource[]][];
}

export type EventType = 'added' | 'updated' | 'deleted' | 'started' | 'completed';

export interface ErrorBody {
  code: string;
  subcode?: string;
  message?: string;
}

export interface UcwaEvent {
  sender: { rel: string; href: string };
  type: EventType;
  link: { rel: string; href: string; title?: string };
  in?: { rel: string; href: string; title?: string };
  status?: 'Success' | 'Failure';
  reason?: ErrorBody;
  /** Embedded under `link.rel`. */
  resource?: Resource;
}

// ---- JSON --------------------------------------------------------------------------

function jsonValue(v: Value): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return `/Date(${v.date})/`;
  return v;
}

export function resourceJson(r: Resource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of r.props ?? []) out[name] = jsonValue(v);
  const links: Record<string, unknown> = { self: { href: r.href } };
  for (const [rel, l] of r.links ?? []) links[rel] = Array.isArray(l) ? l.map(linkJson) : linkJson(l);
  out._links = links;
  if (r.embedded && r.embedded.length > 0) {
    const emb: Record<string, unknown> = {};
    for (const [rel, e] of r.embedded) emb[rel] = Array.isArray(e) ? e.map(resourceJson) : resourceJson(e);
    out._embedded = emb;
  }
  out.rel = r.rel;
  return out;
}

function linkJson(l: Link): Record<string, string> {
  return l.title === undefined ? { href: l.href } : { href: l.href, title: l.title };
}

export function eventJson(e: UcwaEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { link: { rel: e.link.rel, ...linkJson(e.link) } };
  if (e.in) out.in = { rel: e.in.rel, ...linkJson(e.in) };
  if (e.status) out.status = e.status;
  if (e.reason) out.reason = e.reason;
  if (e.resource) out._embedded = { [e.link.rel]: resourceJson(e.resource) };
  out.type = e.type;
  return out;
}

// ---- XML ---------------------------------------------------------------------------

// Characters XML 1.0 cannot carry at all are dropped (message text may hold them).
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;
const text = (s: string) => escapeText(s.replace(NOT_XML, ''));
const attr = (s: string) => escapeAttr(s.replace(NOT_XML, ''));

function xmlScalar(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'object' && !Array.isArray(v)) return new Date(v.date).toISOString();
  return String(v); // booleans: lower-case true/false (XML Schema canonical form)
}

function linkXml(rel: string, l: Link): string {
  return `<link rel="${attr(rel)}" href="${attr(l.href)}"${l.title === undefined ? '' : ` title="${attr(l.title)}"`}/>`;
}

/** `<resource rel=… href=…>`; `as` is the link rel it is embedded under (the rel attribute). */
export function resourceXml(r: Resource, as = r.rel, root = false): string {
  let inner = '';
  for (const [rel, l] of r.links ?? []) for (const one of Array.isArray(l) ? l : [l]) inner += linkXml(rel, one);
  if (as !== r.rel) inner += `<property name="rel">${text(r.rel)}</property>`;
  for (const [name, v] of r.props ?? []) {
    if (v === null || v === '') continue;
    if (Array.isArray(v)) {
      inner += `<propertyList name="${attr(name)}">${v.map((i) => `<item>${text(i)}</item>`).join('')}</propertyList>`;
    } else {
      inner += `<property name="${attr(name)}">${text(xmlScalar(v))}</property>`;
    }
  }
  for (const [rel, e] of r.embedded ?? []) for (const one of Array.isArray(e) ? e : [e]) inner += resourceXml(one, rel);
  const ns = root ? ` xmlns="${UCWA_NS}"` : '';
  return `<resource rel="${attr(as)}" href="${attr(r.href)}"${ns}>${inner}</resource>`;
}

export function reasonXml(e: ErrorBody, root = false): string {
  const ns = root ? ` xmlns="${UCWA_NS}"` : '';
  return `<reason${ns}><code>${text(e.code)}</code><subcode>${text(e.subcode ?? 'None')}</subcode>${e.message !== undefined ? `<message>${text(e.message)}</message>` : ''}</reason>`;
}

export function eventXml(e: UcwaEvent): string {
  let inner = '';
  if (e.in) inner += linkXml('in', e.in);
  if (e.status) inner += `<property name="status">${e.status}</property>`;
  if (e.reason) inner += reasonXml(e.reason);
  if (e.resource) inner += resourceXml(e.resource, e.link.rel);
  const title = e.link.title === undefined ? '' : ` title="${attr(e.link.title)}"`;
  return `<${e.type} rel="${attr(e.link.rel)}" href="${attr(e.link.href)}"${title}>${inner}</${e.type}>`;
}

export const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n';

export function documentXml(r: Resource): string {
  return XML_DECL + resourceXml(r, r.rel, true);
}

// ---- event-channel responses ---------------------------------------------------------

/** One stored event: its sender and its two renderings. */
export interface RenderedEvent {
  senderRel: string;
  senderHref: string;
  json: string;
  xml: string;
}

export interface EventsPage {
  self: string;
  next?: string;
  resync?: string;
  resume?: string;
  events: RenderedEvent[];
}

function groups(events: RenderedEvent[]): { rel: string; href: string; items: RenderedEvent[] }[] {
  const out: { rel: string; href: string; items: RenderedEvent[] }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.rel === e.senderRel && last.href === e.senderHref) last.items.push(e);
    else out.push({ rel: e.senderRel, href: e.senderHref, items: [e] });
  }
  return out;
}

export function eventsPageJson(p: EventsPage): string {
  const links: string[] = [`"self":${JSON.stringify({ href: p.self })}`];
  if (p.next) links.push(`"next":${JSON.stringify({ href: p.next })}`);
  if (p.resume) links.push(`"resume":${JSON.stringify({ href: p.resume })}`);
  if (p.resync) links.push(`"resync":${JSON.stringify({ href: p.resync })}`);
  if (p.resync) return `{"_links":{${links.join(',')}}}`;
  const senders = groups(p.events).map((g) => `{"rel":${JSON.stringify(g.rel)},"href":${JSON.stringify(g.href)},"events":[${g.items.map((i) => i.json).join(',')}]}`);
  return `{"_links":{${links.join(',')}},"sender":[${senders.join(',')}]}`;
}

export function eventsPageXml(p: EventsPage): string {
  let inner = '';
  if (p.next) inner += linkXml('next', { href: p.next });
  if (p.resume) inner += linkXml('resume', { href: p.resume });
  if (p.resync) inner += linkXml('resync', { href: p.resync });
  if (!p.resync) {
    for (const g of groups(p.events)) inner += `<sender rel="${attr(g.rel)}" href="${attr(g.href)}">${g.items.map((i) => i.xml).join('')}</sender>`;
  }
  return `${XML_DECL}<events href="${attr(p.self)}" xmlns="${UCWA_NS}">${inner}</events>`;
}

// ---- data: URIs (§1.4) -----------------------------------------------------------------

/** Form-URL-encoding as the real server wrote it: space as `+`, everything else reserved as lower-case `%xx` (`,` and `+` included). */
export function formEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)
    .replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
    .replace(/%20/g, '+');
}

export function dataUri(type: 'text/plain' | 'text/html', s: string): string {
  return `data:${type};charset=utf-8,${formEncode(s)}`;
}

/** Decodes a data: URI given as input (plain, `;charset=`, `;base64`); undefined when it is not one. */
export function parseDataUri(href: string): { type: string; text: string } | undefined {
  const m = /^data:([^,]*),(.*)$/is.exec(href);
  if (!m) return undefined;
  const params = m[1]!.split(';').map((p) => p.trim());
  const type = (params[0] || 'text/plain').toLowerCase();
  const base64 = params.slice(1).some((p) => p.toLowerCase() === 'base64');
  const payload = percentDecode(m[2]!); // RFC 2397: `+` is itself
  return { type, text: base64 ? Buffer.from(payload, 'base64').toString('utf8') : payload };
}

/**
 * Percent-decoding that keeps what is not an escape: clients put typed text into data URIs
 * unencoded (the Windows Store sample sends `data:text/plain,` + the text), so `100%` or a
 * lone `%zz` is text, not an error, and the message is never dropped.
 */
function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    // Decode runs of valid UTF-8 escapes; anything else stays as sent.
    return s.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return Buffer.from(run.replace(/%/g, ''), 'hex').toString('latin1');
      }
    });
  }
}
