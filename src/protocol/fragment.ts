// Writes a passed-through XML fragment (a published category payload) back out as text:
// namespaces are declared where an element's differs from its parent's, and attributes in
// a namespace get a prefix (xsi for XML Schema instance, generated ones otherwise).
import type { XmlFragment } from '../engine/user-data-types.js';
import { escapeAttr, escapeText } from './xml.js';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const WELL_KNOWN_PREFIXES: Record<string, string> = { 'http://www.w3.org/2001/XMLSchema-instance': 'xsi' };

/** `node` as XML text, inside a parent whose default namespace is `inheritedNs`. */
export function serializeFragment(node: XmlFragment, inheritedNs = '', prefixes: ReadonlyMap<string, string> = new Map()): string {
  let decl = node.ns !== inheritedNs ? ` xmlns="${escapeAttr(node.ns)}"` : '';
  let scope = prefixes;
  let attrText = '';
  for (const [name, value] of Object.entries(node.attrs)) {
    const ns = node.attrNs?.[name];
    if (!ns) {
      attrText += ` ${name}="${escapeAttr(value)}"`;
      continue;
    }
    let prefix = ns === XML_NS ? 'xml' : scope.get(ns);
    if (prefix === undefined) {
      const used = new Set(scope.values());
      prefix = WELL_KNOWN_PREFIXES[ns] ?? 'ns';
      for (let i = 1; used.has(prefix); i++) prefix = `ns${i}`;
      if (scope === prefixes) scope = new Map(prefixes);
      (scope as Map<string, string>).set(ns, prefix);
      decl += ` xmlns:${prefix}="${escapeAttr(ns)}"`;
    }
    attrText += ` ${prefix}:${name}="${escapeAttr(value)}"`;
  }
  const text = node.children.length > 0 && node.text.trim() === '' ? '' : escapeText(node.text);
  const inner = text + node.children.map((c) => serializeFragment(c, node.ns, scope)).join('');
  return inner === '' ? `<${node.name}${decl}${attrText}/>` : `<${node.name}${decl}${attrText}>${inner}</${node.name}>`;
}
