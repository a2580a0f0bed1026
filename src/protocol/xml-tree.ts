// Well-formedness and hostile-input checks for incoming documents, applied while
// streaming through the text (saxes), before any schema work happens: a DOCTYPE,
// an entity reference, a processing instruction or a limit breach stops the scan
// at the offending byte. The result is a light tree the request decoder walks.
// The common case is read first by a one-pass reader (xml-fast.ts) that builds the
// same tree or leaves the document to saxes, whose verdicts and messages stand.
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { readXmlTreeFast } from './xml-fast.js';
import type { XmlDocumentFacts, XmlLimits, XNode } from './xml-node.js';

export type { XmlDocumentFacts, XmlLimits, XNode } from './xml-node.js';

export type XmlRejection =
  | 'malformed'
  | 'doctype'
  | 'entity'
  | 'processingInstruction'
  | 'depth'
  | 'elements'
  | 'attributes'
  | 'attributeLength';

export class XmlRejectedError extends Error {
  constructor(readonly kind: XmlRejection, message: string) {
    super(message);
    this.name = 'XmlRejectedError';
  }
}

/** The state of one document's scan; the parser's handlers read the current one. */
interface Scan {
  limits: XmlLimits;
  stack: XNode[];
  root: XNode | undefined;
  elements: number;
  tagName: string;
  attributes: number;
  doc: XmlDocumentFacts;
}

const reject = (kind: XmlRejection, message: string): never => {
  throw new XmlRejectedError(kind, message);
};

/** A parser whose handlers work on `holder.scan`: one parser serves document after document. */
function makeParser(holder: { scan: Scan }): SaxesParser {
  const parser = new SaxesParser({ xmlns: true, position: false });
  parser.on('error', (err) => {
    const msg = err.message;
    if (/undefined entity|entity/i.test(msg)) reject('entity', 'entity references are not accepted');
    reject('malformed', `malformed XML: ${msg.split('\n')[0]}`);
  });
  parser.on('doctype', () => reject('doctype', 'DOCTYPE declarations are not accepted'));
  parser.on('processinginstruction', (pi) =>
    reject('processingInstruction', `processing instructions are not accepted (<?${pi.target} ...?>)`),
  );
  // Attributes are counted and measured as each one is read, namespace declarations
  // included (they cost the parser as much as any attribute), so that an element with
  // 100,000 of them stops at the first one past the limit.
  parser.on('opentagstart', (tag) => {
    const s = holder.scan;
    s.tagName = tag.name;
    s.attributes = 0;
  });
  parser.on('attribute', (a) => {
    const s = holder.scan;
    s.attributes += 1;
    const declaration = a.name === 'xmlns' || a.name.startsWith('xmlns:');
    const what = declaration ? 'namespace declaration' : 'attribute';
    if (s.attributes > s.limits.maxAttributes) {
      reject('attributes', `more than ${s.limits.maxAttributes} attributes (namespace declarations included) on <${s.tagName}>`);
    }
    if (a.value.length > s.limits.maxAttributeLength) {
      reject('attributeLength', `${what} ${a.name} of <${s.tagName}> is longer than ${s.limits.maxAttributeLength} characters`);
    }
    if (declaration) s.doc.namespaces.push(a.value);
  });
  parser.on('xmldecl', (decl) => {
    holder.scan.doc.version = decl.version;
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    const s = holder.scan;
    const { stack, limits } = s;
    s.elements += 1;
    if (s.elements > limits.maxElements) reject('elements', `more than ${limits.maxElements} elements`);
    if (stack.length + 1 > limits.maxDepth) reject('depth', `nesting deeper than ${limits.maxDepth} levels`);
    const node: XNode = { name: tag.local, ns: tag.uri, attrs: {}, children: [], text: '' };
    for (const key in tag.attributes) {
      const a = tag.attributes[key]!;
      if (a.prefix === 'xmlns' || a.name === 'xmlns') {
        if (a.name === 'xmlns' && a.value === '') node.undeclaresDefault = true;
        continue;
      }
      node.attrs[a.local] = a.value;
      if (a.uri) (node.attrNs ??= {})[a.local] = a.uri;
    }
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(node);
    else s.root = node;
    if (stack.length + 1 > s.doc.depth) s.doc.depth = stack.length + 1;
    if (!tag.isSelfClosing) stack.push(node);
  });
  parser.on('closetag', (tag) => {
    if (!tag.isSelfClosing) holder.scan.stack.pop();
  });
  parser.on('text', (t) => {
    const { stack } = holder.scan;
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  });
  parser.on('cdata', (t) => {
    const { stack } = holder.scan;
    const top = stack[stack.length - 1];
    if (top) {
      top.text += t;
      top.cdata = true;
    }
  });
  return parser;
}

/** The parser reused for every document (its construction and ten handler closures cost per request otherwise). */
const shared = { scan: undefined as unknown as Scan, parser: undefined as SaxesParser | undefined, busy: false };

/** The tree of a document, or an XmlRejectedError: the fast reader when it can decide, saxes otherwise. */
export function parseXmlTree(text: string, limits: XmlLimits): XNode {
  return readXmlTreeFast(text, limits) ?? parseXmlTreeSaxes(text, limits);
}

/** The tree as saxes builds it (every document the fast reader does not decide; the reference in tests). */
export function parseXmlTreeSaxes(text: string, limits: XmlLimits): XNode {
  const scan: Scan = { limits, stack: [], root: undefined, elements: 0, tagName: '', attributes: 0, doc: { namespaces: [], depth: 0 } };
  // Parsing is synchronous, so the shared parser is free unless a handler parses (it does not);
  // a nested call still gets a parser of its own.
  const own = shared.busy;
  const holder = own ? { scan } : shared;
  holder.scan = scan;
  const parser = own ? makeParser(holder) : (shared.parser ??= makeParser(shared));
  if (!own) shared.busy = true;
  try {
    parser.write(text).close();
  } catch (err) {
    // A document refused mid-scan leaves the parser mid-state: start the next one clean
    // (close() resets it after a complete document with `_init`, the same call).
    if (!own) (parser as unknown as { _init(): void })._init();
    throw err;
  } finally {
    if (!own) {
      shared.busy = false;
      shared.scan = undefined as unknown as Scan;
    }
  }
  if (!scan.root) reject('malformed', 'malformed XML: no root element');
  scan.root!.doc = scan.doc;
  return scan.root!;
}

/** Attribute lookup by name, case-insensitively (clients send `confid` for `confId`). */
export function attr(node: XNode, name: string): string | undefined {
  const exact = node.attrs[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const key in node.attrs) if (key.toLowerCase() === lower) return node.attrs[key];
  return undefined;
}

/** First child element with this local name, case-insensitively (`Format` for `format`). */
export function child(node: XNode, name: string): XNode | undefined {
  const lower = name.toLowerCase();
  return node.children.find((c) => c.name.toLowerCase() === lower);
}

export function children(node: XNode, name: string): XNode[] {
  const lower = name.toLowerCase();
  return node.children.filter((c) => c.name.toLowerCase() === lower);
}

/** A boolean as clients write it (`true`, `True`, `1`; anything else is false); undefined when absent. */
export function boolValue(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  return v === 'true' || v === '1';
}

/** A safe integer, or undefined when absent, empty or not a number. */
export function intValue(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}
