// A small XML reader for the documents the gateway sends (cwaEvents, cwaResponses,
// WebSocket frames): elements, attributes, text, CDATA, comments, the XML
// declaration, the five predefined entities and character references. No DTDs and
// no other entities (the gateway never sends them). Dependency-free so the client
// runs unchanged in browsers and in Node.

export interface XmlElement {
  /** Local name (any prefix removed). */
  name: string;
  /** Attributes by local name; namespace declarations are left out. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Character data directly inside this element. */
  text: string;
}

export class XmlSyntaxError extends Error {
  override name = 'XmlSyntaxError';
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    const ch = ENTITIES[ref];
    if (ch === undefined) throw new XmlSyntaxError(`unknown entity ${whole}`);
    return ch;
  });
}

const localName = (qname: string): string => {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
};

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTR = /\s+([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/y;
const TAG_END = /\s*(\/?)>/y;

export function parseXml(text: string): XmlElement {
  let i = 0;
  let root: XmlElement | undefined;
  const stack: XmlElement[] = [];
  const fail = (why: string): never => {
    throw new XmlSyntaxError(`${why} at offset ${i}`);
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length > 0) {
      const top = stack[stack.length - 1];
      if (top) top.text += decodeEntities(chunk);
      else if (chunk.trim() !== '') fail('text outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i);
      if (end < 0) fail('unterminated declaration');
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i);
      if (end < 0) fail('unterminated CDATA section');
      const top = stack[stack.length - 1];
      if (!top) fail('CDATA outside the root element');
      top!.text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('<!', i)) {
      fail('DOCTYPE and declarations are not supported');
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(text);
      if (!m) fail('bad closing tag');
      const open = stack.pop();
      if (!open || open.name !== localName(m![0])) fail(`mismatched closing tag </${m![0]}>`);
      const close = text.indexOf('>', NAME.lastIndex);
      if (close < 0 || text.slice(NAME.lastIndex, close).trim() !== '') fail('bad closing tag');
      i = close + 1;
    } else {
      NAME.lastIndex = i + 1;
      const m = NAME.exec(text);
      if (!m) fail('bad tag');
      const el: XmlElement = { name: localName(m![0]), attrs: {}, children: [], text: '' };
      let pos = NAME.lastIndex;
      for (;;) {
        ATTR.lastIndex = pos;
        const a = ATTR.exec(text);
        if (!a) break;
        pos = ATTR.lastIndex;
        const qname = a[1]!;
        if (qname === 'xmlns' || qname.startsWith('xmlns:')) continue;
        el.attrs[localName(qname)] = decodeEntities(a[3] ?? a[4] ?? '');
      }
      TAG_END.lastIndex = pos;
      const end = TAG_END.exec(text);
      if (!end) fail(`bad tag <${m![0]}>`);
      i = TAG_END.lastIndex;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) fail('a second root element');
      else root = el;
      if (end![1] !== '/') stack.push(el);
    }
  }
  if (stack.length > 0) fail(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) fail('no root element');
  return root!;
}

/** First child with this local name. */
export function childOf(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

export function escapeXmlText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

export function escapeXmlAttr(s: string): string {
  return s.replace(/[&<>"\n\r\t]/g, (c) => `&#${c.charCodeAt(0)};`);
}
