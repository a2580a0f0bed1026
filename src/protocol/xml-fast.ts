// The common case of reading a request document, in one pass over the text and without
// a general parser: ASCII names, at most one prefix per name, attributes in quotes, the
// five predefined entities and character references, no comment, CDATA section, PI or
// DOCTYPE, no carriage return. It builds exactly the tree the saxes path of xml-tree.ts
// builds (and checks the same limits), or gives up: `undefined` means "not decided here",
// and the caller hands the whole text to saxes, whose verdict and message then stand.
// It accepts only what saxes accepts with the identical tree; anything it does not fully
// understand (a construct above, a non-ASCII name, a duplicate or unbound name, a limit
// reached, malformed input of any kind) is left to saxes. test/xml-fast.test.ts holds it
// to the saxes path on the fixtures and thousands of generated and mutated documents.
import type { XmlDocumentFacts, XmlLimits, XNode } from './xml-node.js';

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const SLASH = 0x2f;
const COLON = 0x3a;
const EQUAL = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BRACKET = 0x5d;
const SPACE = 0x20;
const TAB = 0x09;
const NL = 0x0a;

/** 1: may start a name; 2: may continue one (ASCII only; the colon is handled apart). */
const NAME = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_]/.test(ch)) NAME[c] = 3;
  else if (/[0-9.-]/.test(ch)) NAME[c] = 2;
}
const isNameStart = (c: number): boolean => c < 128 && (NAME[c]! & 1) !== 0;
const isNameChar = (c: number): boolean => c < 128 && (NAME[c]! & 2) !== 0;
/** The white space the fast path takes (XML's S without the carriage return, which is normalized). */
const isSpace = (c: number): boolean => c === SPACE || c === NL || c === TAB;

/** The XML declaration in its ordinary form, version 1.0 (saxes switches to XML 1.1 rules for any other). */
const XML_DECL =
  /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.0"|'1\.0')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>/;

// Scratch state of one read (the reader is synchronous and calls nothing that could re-enter it).
/** Where the last scanned value or reference ended (the index of its closing quote, `<` or `;`). */
let scanEnd = 0;
const attrQName: string[] = [];
const attrPrefix: string[] = [];
const attrLocal: string[] = [];
const attrValue: string[] = [];
const attrUri: string[] = [];

/** The character a predefined entity or character reference at `at` (the `&`) stands for; sets scanEnd to its `;`. */
function reference(text: string, at: number): string | undefined {
  const c = text.charCodeAt(at + 1);
  if (c === 0x23 /* # */) {
    let k = at + 2;
    const hex = text.charCodeAt(k) === 0x78; /* x (saxes takes no X) */
    if (hex) k += 1;
    const first = k;
    let cp = 0;
    for (;; k++) {
      const d = text.charCodeAt(k);
      let v: number;
      if (d >= 0x30 && d <= 0x39) v = d - 0x30;
      else if (hex && d >= 0x61 && d <= 0x66) v = d - 0x57;
      else if (hex && d >= 0x41 && d <= 0x46) v = d - 0x37;
      else break;
      cp = hex ? cp * 16 + v : cp * 10 + v;
      if (k - first >= 7) return undefined;
    }
    if (k === first || text.charCodeAt(k) !== 0x3b /* ; */) return undefined;
    // XML 1.0's Char production, as saxes checks it.
    if (!((cp >= 0x20 && cp <= 0xd7ff) || cp === NL || cp === 0x0d || cp === TAB || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) {
      return undefined;
    }
    scanEnd = k;
    return String.fromCodePoint(cp);
  }
  let name: string;
  let value: string;
  if (c === 0x61 /* a */) {
    if (text.charCodeAt(at + 2) === 0x6d /* m */) {
      name = 'amp;';
      value = '&';
    } else {
      name = 'apos;';
      value = "'";
    }
  } else if (c === 0x6c /* l */) {
    name = 'lt;';
    value = '<';
  } else if (c === 0x67 /* g */) {
    name = 'gt;';
    value = '>';
  } else if (c === 0x71 /* q */) {
    name = 'quot;';
    value = '"';
  } else return undefined;
  if (!text.startsWith(name, at + 1)) return undefined;
  scanEnd = at + name.length;
  return value;
}

/**
 * A character outside ASCII's printable range at `k` (past the checks for tab and newline):
 * how many UTF-16 units it takes when XML 1.0 allows it, 0 when it does not (control
 * characters, the carriage return, lone surrogates, U+FFFE and U+FFFF).
 */
function otherChar(text: string, k: number, c: number): number {
  if (c < 0x20) return 0;
  if (c < 0xd800 || (c >= 0xe000 && c <= 0xfffd)) return 1;
  if (c <= 0xdbff) {
    const d = text.charCodeAt(k + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 0;
}

/** Character data from `from` up to the next `<` (scanEnd), references decoded; undefined to give up. */
function scanText(text: string, from: number): string | undefined {
  let out = '';
  let seg = from;
  let k = from;
  for (;;) {
    const c = text.charCodeAt(k);
    if (c >= 0x20 && c < 0x7f) {
      if (c === LT) break;
      if (c === AMP) {
        const r = reference(text, k);
        if (r === undefined) return undefined;
        out += text.slice(seg, k) + r;
        k = scanEnd + 1;
        seg = k;
        continue;
      }
      // `]]>` may not stand in character data (a `]` from a reference does not count).
      if (c === GT && k >= from + 2 && text.charCodeAt(k - 1) === BRACKET && text.charCodeAt(k - 2) === BRACKET) return undefined;
      k += 1;
    } else if (c === NL || c === TAB) {
      k += 1;
    } else if (c !== c) {
      break; // the end of the text (NaN)
    } else {
      const w = otherChar(text, k, c);
      if (w === 0) return undefined;
      k += w;
    }
  }
  scanEnd = k;
  return seg === from ? text.slice(from, k) : out + text.slice(seg, k);
}

/** An attribute value from `from` to its closing `quote` (scanEnd), normalized and decoded; undefined to give up. */
function scanValue(text: string, from: number, quote: number): string | undefined {
  let out = '';
  let seg = from;
  let k = from;
  for (;;) {
    const c = text.charCodeAt(k);
    if (c >= 0x20 && c < 0x7f) {
      if (c === quote) break;
      if (c === LT) return undefined;
      if (c === AMP) {
        const r = reference(text, k);
        if (r === undefined) return undefined;
        out += text.slice(seg, k) + r;
        k = scanEnd + 1;
        seg = k;
        continue;
      }
      k += 1;
    } else if (c === NL || c === TAB) {
      // Attribute-value normalization: a literal tab or newline is read as a space.
      out += text.slice(seg, k) + ' ';
      k += 1;
      seg = k;
    } else {
      const w = c !== c ? 0 : otherChar(text, k, c);
      if (w === 0) return undefined; // includes the end of the text
      k += w;
    }
  }
  scanEnd = k;
  return seg === from ? text.slice(from, k) : out + text.slice(seg, k);
}

/**
 * The tree of `text` as the saxes path builds it, when the text is within the common case
 * described above and within `limits`; otherwise undefined (the caller then runs saxes).
 */
export function readXmlTreeFast(text: string, limits: XmlLimits): XNode | undefined {
  const n = text.length;
  const doc: XmlDocumentFacts = { namespaces: [], depth: 0 };
  let i = 0;
  if (text.startsWith('<?xml')) {
    const decl = XML_DECL.exec(text);
    if (!decl) return undefined;
    doc.version = '1.0';
    i = decl[0].length;
  }
  while (isSpace(text.charCodeAt(i))) i++;

  const stack: XNode[] = [];
  const qnames: string[] = [];
  /** The default namespace in scope inside each open element. */
  const defaults: string[] = [];
  /** Prefix bindings in scope, [prefix, uri, prefix, uri, ...], and how many each open element found. */
  const bindings: string[] = [];
  const bindingMarks: number[] = [];
  let root: XNode | undefined;
  let elements = 0;

  for (;;) {
    // Here text[i] should be `<`.
    if (text.charCodeAt(i) !== LT) return undefined;
    let c = text.charCodeAt(i + 1);
    if (c === SLASH) {
      // A closing tag: the open element's name, optional white space, `>`.
      const top = stack.length - 1;
      if (top < 0) return undefined;
      const qname = qnames[top]!;
      let k = i + 2;
      if (!text.startsWith(qname, k)) return undefined;
      k += qname.length;
      // `</ab>` for `<a>` stops at `b` here (neither `>` nor space): names match exactly.
      while (isSpace(text.charCodeAt(k))) k++;
      if (text.charCodeAt(k) !== GT) return undefined;
      stack.pop();
      qnames.pop();
      defaults.pop();
      bindings.length = bindingMarks.pop()!;
      i = k + 1;
    } else {
      // An opening tag.
      if (!isNameStart(c)) return undefined; // `<!`, `<?`, a non-ASCII name, anything else
      const nameStart = i + 1;
      let k = nameStart + 1;
      let colon = -1;
      for (;; k++) {
        c = text.charCodeAt(k);
        if (isNameChar(c)) continue;
        if (c === COLON && colon < 0 && isNameStart(text.charCodeAt(k + 1))) {
          colon = k;
          continue;
        }
        break;
      }
      const qname = text.slice(nameStart, k);
      const prefix = colon < 0 ? '' : text.slice(nameStart, colon);
      const local = colon < 0 ? qname : text.slice(colon + 1, k);
      // Attributes.
      let count = 0;
      let selfClosing = false;
      for (;;) {
        c = text.charCodeAt(k);
        if (c === GT) {
          k += 1;
          break;
        }
        if (c === SLASH) {
          if (text.charCodeAt(k + 1) !== GT) return undefined;
          selfClosing = true;
          k += 2;
          break;
        }
        if (!isSpace(c)) return undefined; // also a name character the fast path does not take, or the end
        do k++;
        while (isSpace((c = text.charCodeAt(k))));
        if (c === GT || c === SLASH) continue;
        if (!isNameStart(c)) return undefined;
        const aStart = k;
        let aColon = -1;
        for (k++; ; k++) {
          c = text.charCodeAt(k);
          if (isNameChar(c)) continue;
          if (c === COLON && aColon < 0 && isNameStart(text.charCodeAt(k + 1))) {
            aColon = k;
            continue;
          }
          break;
        }
        const aEnd = k;
        while (isSpace(c)) c = text.charCodeAt(++k);
        if (c !== EQUAL) return undefined;
        do c = text.charCodeAt(++k);
        while (isSpace(c));
        if (c !== DQUOTE && c !== SQUOTE) return undefined;
        const value = scanValue(text, k + 1, c);
        if (value === undefined) return undefined;
        k = scanEnd + 1;
        // The limits, as the saxes path applies them to each attribute read (declarations included).
        if (++count > limits.maxAttributes || value.length > limits.maxAttributeLength) return undefined;
        const j = count - 1;
        attrQName[j] = text.slice(aStart, aEnd);
        attrPrefix[j] = aColon < 0 ? '' : text.slice(aStart, aColon);
        attrLocal[j] = aColon < 0 ? attrQName[j]! : text.slice(aColon + 1, aEnd);
        attrValue[j] = value;
      }
      if (++elements > limits.maxElements || stack.length + 1 > limits.maxDepth) return undefined;
      // Namespace declarations of this element (each at most once; the reserved ones left to saxes).
      const mark = bindings.length;
      let defaultNs = stack.length ? defaults[stack.length - 1]! : '';
      for (let a = 0; a < count; a++) {
        const q = attrQName[a]!;
        const p = attrPrefix[a]!;
        const isDefault = q === 'xmlns';
        if (!isDefault && p !== 'xmlns') continue;
        const v = attrValue[a]!;
        for (let b = 0; b < a; b++) if (attrQName[b] === q) return undefined;
        const uri = v.trim();
        if (uri === XML_NAMESPACE || uri === XMLNS_NAMESPACE) return undefined;
        if (isDefault) defaultNs = uri;
        else {
          const declared = attrLocal[a]!;
          if (uri === '' || declared === 'xml' || declared === 'xmlns') return undefined;
          bindings.push(declared, uri);
        }
        doc.namespaces.push(v);
      }
      let ns: string;
      if (prefix === '') ns = defaultNs;
      else {
        if (prefix === 'xml' || prefix === 'xmlns') return undefined;
        const uri = resolve(bindings, prefix);
        if (uri === undefined) return undefined;
        ns = uri;
      }
      // Attributes: namespaces resolved; two with one local name are left to saxes (a duplicate, or one that hides another in the tree).
      for (let a = 0; a < count; a++) {
        const p = attrPrefix[a]!;
        if (p === 'xmlns' || attrQName[a] === 'xmlns') continue;
        const l = attrLocal[a]!;
        for (let b = 0; b < a; b++) if (attrLocal[b] === l && attrPrefix[b] !== 'xmlns' && attrQName[b] !== 'xmlns') return undefined;
        if (p === '') attrUri[a] = '';
        else if (p === 'xml') attrUri[a] = XML_NAMESPACE;
        else {
          const uri = resolve(bindings, p);
          if (uri === undefined) return undefined;
          attrUri[a] = uri;
        }
      }
      // The node, built as the saxes path builds it (same keys, same order).
      const node: XNode = { name: local, ns, attrs: {}, children: [], text: '' };
      for (let a = 0; a < count; a++) {
        const q = attrQName[a]!;
        if (attrPrefix[a] === 'xmlns' || q === 'xmlns') {
          if (q === 'xmlns' && attrValue[a] === '') node.undeclaresDefault = true;
          continue;
        }
        const l = attrLocal[a]!;
        node.attrs[l] = attrValue[a]!;
        const uri = attrUri[a]!;
        if (uri) (node.attrNs ??= {})[l] = uri;
      }
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(node);
      else root = node;
      if (stack.length + 1 > doc.depth) doc.depth = stack.length + 1;
      if (selfClosing) bindings.length = mark;
      else {
        stack.push(node);
        qnames.push(qname);
        defaults.push(defaultNs);
        bindingMarks.push(mark);
      }
      i = k;
    }
    if (stack.length === 0) {
      // The root is closed: only white space may follow.
      while (isSpace(text.charCodeAt(i))) i++;
      if (i !== n) return undefined;
      break;
    }
    // Character data up to the next tag.
    if (text.charCodeAt(i) !== LT) {
      const t = scanText(text, i);
      if (t === undefined) return undefined;
      stack[stack.length - 1]!.text += t;
      i = scanEnd;
      if (i >= n) return undefined; // the end inside the root
    }
  }
  root!.doc = doc;
  return root;
}

function resolve(bindings: string[], prefix: string): string | undefined {
  for (let b = bindings.length - 2; b >= 0; b -= 2) if (bindings[b] === prefix) return bindings[b + 1];
  return undefined;
}
