// Well-formedness and hostile-input checks for incoming documents, applied while
// streaming through the text (saxes), before any schema work happens: a DOCTYPE,
// an entity reference, a processing instruction or a limit breach stops the scan
// at the offending byte. The result is a light tree the request decoder walks.
import { SaxesParser, type SaxesTagNS } from 'saxes';

export interface XmlLimits {
  maxDepth: number;
  maxElements: number;
  maxAttributes: number;
  maxAttributeLength: number;
}

export interface XNode {
  /** Local name, as written (case preserved). */
  name: string;
  /** Namespace URI ('' for none). */
  ns: string;
  /** Attributes by local name; namespace declarations are not included. */
  attrs: Record<string, string>;
  /** Namespace URI of the attributes that have one (`xsi:type` -> type: XSI namespace). */
  attrNs?: Record<string, string>;
  children: XNode[];
  /** Concatenated character data directly inside this element. */
  text: string;
  /** A CDATA section stands directly inside (the schema tells it from text: even an empty one is content). */
  cdata?: true;
  /** The element carries xmlns="" (its unprefixed descendants are in no namespace). */
  undeclaresDefault?: true;
  /** On the root only: facts about the whole document that the tree does not show. */
  doc?: XmlDocumentFacts;
}

export interface XmlDocumentFacts {
  /** Every namespace URI declared in the document, in order (repeats kept). */
  namespaces: string[];
  /** The XML declaration's version, when there is one. */
  version?: string;
  /** Deepest element nesting. */
  depth: number;
}

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

export function parseXmlTree(text: string, limits: XmlLimits): XNode {
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: XNode[] = [];
  let root: XNode | undefined;
  let elements = 0;
  let tagName = '';
  let attributes = 0;
  const doc: XmlDocumentFacts = { namespaces: [], depth: 0 };

  const reject = (kind: XmlRejection, message: string): never => {
    throw new XmlRejectedError(kind, message);
  };

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
    tagName = tag.name;
    attributes = 0;
  });
  parser.on('attribute', (a) => {
    attributes += 1;
    const declaration = a.name === 'xmlns' || a.name.startsWith('xmlns:');
    const what = declaration ? 'namespace declaration' : 'attribute';
    if (attributes > limits.maxAttributes) {
      reject('attributes', `more than ${limits.maxAttributes} attributes (namespace declarations included) on <${tagName}>`);
    }
    if (a.value.length > limits.maxAttributeLength) {
      reject('attributeLength', `${what} ${a.name} of <${tagName}> is longer than ${limits.maxAttributeLength} characters`);
    }
    if (declaration) doc.namespaces.push(a.value);
  });
  parser.on('xmldecl', (decl) => {
    doc.version = decl.version;
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    elements += 1;
    if (elements > limits.maxElements) reject('elements', `more than ${limits.maxElements} elements`);
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
    else root = node;
    if (stack.length + 1 > doc.depth) doc.depth = stack.length + 1;
    if (!tag.isSelfClosing) stack.push(node);
  });
  parser.on('closetag', (tag) => {
    if (!tag.isSelfClosing) stack.pop();
  });
  parser.on('text', (t) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  });
  parser.on('cdata', (t) => {
    const top = stack[stack.length - 1];
    if (top) {
      top.text += t;
      top.cdata = true;
    }
  });

  parser.write(text).close();
  if (!root) reject('malformed', 'malformed XML: no root element');
  root!.doc = doc;
  return root!;
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
