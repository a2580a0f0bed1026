// A DOM of the gateway's output as a client written against the original server walks
// it: child nodes by position (a real Java client casts childNodes.item(i) to an element
// and throws on a text node it did not expect). Shared by the layout and field-client tests.
import { expect } from 'chai';

export type DomNode = { type: 'text'; value: string } | { type: 'element'; name: string; attrs: Record<string, string>; childNodes: DomNode[] };
export type DomElement = Extract<DomNode, { type: 'element' }>;

/** A minimal DOM of the gateway's output: elements and text nodes, in document order. */
export function dom(xml: string): DomElement {
  const root: DomElement = { type: 'element', name: '#document', attrs: {}, childNodes: [] };
  const stack: DomElement[] = [root];
  const tokens = /<\/([\w:.-]+)\s*>|<([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*"[^"]*")*)\s*(\/?)>|<\?[^?]*\?>|([^<]+)/g;
  for (const m of xml.matchAll(tokens)) {
    const top = stack[stack.length - 1]!;
    if (m[1]) {
      expect(stack.pop()!.name).to.equal(m[1]);
    } else if (m[2]) {
      const attrs: Record<string, string> = {};
      for (const a of (m[3] ?? '').matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g)) attrs[a[1]!] = a[2]!;
      const el: DomElement = { type: 'element', name: m[2], attrs, childNodes: [] };
      top.childNodes.push(el);
      if (!m[4]) stack.push(el);
    } else if (m[5] !== undefined) {
      top.childNodes.push({ type: 'text', value: m[5] });
    }
  }
  expect(stack).to.have.length(1);
  return root.childNodes.find((n): n is DomElement => n.type === 'element')!;
}

/** childNodes.item(i) as an element, as the client casts it: anything else throws. */
export function elementAt(parent: DomElement, i: number): DomElement {
  const node = parent.childNodes[i];
  if (!node || node.type !== 'element') throw new TypeError(`<${parent.name}> child node ${i} is ${node ? `text ${JSON.stringify(node.value)}` : 'missing'}, not an element`);
  return node;
}

/** The client's walk: elements at the odd positions, whitespace text at the even ones. */
export function elementsByPosition(parent: DomElement): DomElement[] {
  const out: DomElement[] = [];
  for (let i = 0; i < parent.childNodes.length; i++) {
    const node = parent.childNodes[i]!;
    if (i % 2 === 0) {
      expect(node.type, `<${parent.name}> child node ${i}`).to.equal('text');
      expect((node as { value: string }).value.trim(), `<${parent.name}> child node ${i}`).to.equal('');
    } else out.push(elementAt(parent, i));
  }
  expect(parent.childNodes.length % 2, `<${parent.name}> ends with a text node`).to.equal(1);
  return out;
}
