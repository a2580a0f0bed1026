// The transcript matcher: expected XML is compared with the real answer as a tree, with
// placeholders for what differs from run to run ({*}, {**}, {name=} captures, {name} uses).
import { parseXmlTree, type XNode } from '../protocol/xml-tree.js';

const READ_LIMITS = { maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxAttributeLength: 1_000_000 };

/** Parses a document (an answer or an expectation) into the tree the matcher compares. */
export function parseXml(xml: string): XNode {
  return parseXmlTree(xml, READ_LIMITS);
}

/** A difference at one place of a document; the replay adds file and step. */
export class Mismatch extends Error {
  constructor(readonly path: string, readonly detail: string) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = 'Mismatch';
  }
}

// ---- placeholders ---------------------------------------------------------------------

const TOKEN = /\{(\*\*|\*|[A-Za-z_][\w.-]*=?)\}/g;
const RESERVED = /^(sid|ticket|ack)\./;

/** Captured values. User names are single-assignment; sid.*, ticket.*, ack.* are kept by the harness. */
export class Bindings {
  private readonly values = new Map<string, { value: string; from: string }>();

  /** A copy, for trying a comparison without keeping its captures. */
  clone(): Bindings {
    const copy = new Bindings();
    for (const [k, v] of this.values) copy.values.set(k, v);
    return copy;
  }

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

export const xmlEscape = (s: string) =>
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
