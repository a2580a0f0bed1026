// The request schema (schemas/cwa-requests.xsd) compiled, at startup, into checks that
// run on the tree the screener already built (xml-tree.ts), so that a valid batch is not
// parsed a second time. It decides the common case only: a request it finds valid is
// valid; anything else (an invalid request, or a construct it leaves alone: xsi:
// attributes, unusual dateTimes, namespace URIs libxml2 might refuse, ...) goes to
// libxml2 as before, which then gives the verdict and the message (schema.ts). The
// differential test (test/compiled-schema.test.ts) holds it to libxml2's verdicts.
//
// Only the XSD subset the schema uses is compiled; anything else fails at load, so a
// schema change that needs more cannot be silently misread.
import { parseXmlTree, type XNode } from './xml-tree.js';

const XS = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** true: valid; false: invalid; undefined: not decided here (libxml2 decides). */
export type Verdict = boolean | undefined;

type ValueCheck = (value: string) => Verdict;

interface AttributeUse {
  check: ValueCheck;
  required: boolean;
}

interface Wildcard {
  /** '##any', or '##other' (neither the target namespace nor none). */
  namespace: '##any' | '##other';
  process: 'skip' | 'lax' | 'strict';
}

type Particle =
  | { kind: 'element'; ns: string; name: string; decl: ElementDecl; min: number; max: number }
  | { kind: 'any'; wildcard: Wildcard; min: number; max: number };

type Content =
  | { kind: 'empty' }
  | { kind: 'simple'; check: ValueCheck }
  | { kind: 'sequence' | 'choice' | 'all'; mixed: boolean; items: Particle[]; min: number; max: number };

interface ComplexType {
  attributes: Map<string, AttributeUse>;
  required: string[];
  anyAttribute?: Wildcard;
  content: Content;
}

interface ElementDecl {
  /** Filled once the type is compiled (types may be referenced before their declaration). */
  type: ComplexType;
}

// ---------------------------------------------------------------- simple types

const isXmlSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const collapse = (v: string) => v.replace(/[ \t\n\r]+/g, ' ').replace(/^ | $/g, '');

/** An integer as libxml2 reads xs:int and xs:unsignedInt: optional sign, any leading zeros. */
function integer(v: string): number | undefined {
  const m = /^([+-]?)(\d+)$/.exec(v);
  if (!m) return undefined;
  const digits = m[2]!.replace(/^0+/, '');
  if (digits.length > 12) return Infinity; // out of every range used here
  const n = Number(digits || '0');
  return m[1] === '-' ? -n : n;
}

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** xs:dateTime in its common form (four-digit year); anything rarer is left to libxml2. */
function dateTime(v: string): Verdict {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-](\d\d):(\d\d))?$/.exec(v);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year === 0 || month < 1 || month > 12 || day < 1 || day > DAYS[month - 1]!) return undefined;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return undefined;
  if (minute > 59 || second > 59 || hour > 24 || (hour === 24 && (minute > 0 || second > 0 || (m[7] && /[1-9]/.test(m[7]))))) return undefined;
  if (m[9] !== undefined && (Number(m[9]) * 60 + Number(m[10]) > 840 || Number(m[10]) > 59)) return undefined;
  return true;
}

interface SimpleType {
  /** 'preserve' for xs:string and its restrictions, 'collapse' for everything else used here. */
  whitespace: 'preserve' | 'collapse';
  /** The built-in type's own check, on the normalized value. */
  base: (v: string) => Verdict;
  /** The numeric value, for min/maxInclusive. */
  number?: (v: string) => number | undefined;
  facets: ValueCheck[];
  list?: SimpleType;
}

const BUILT_IN: Record<string, () => SimpleType> = {
  string: () => ({ whitespace: 'preserve', base: () => true, facets: [] }),
  token: () => ({ whitespace: 'collapse', base: () => true, facets: [] }),
  int: () => ({
    whitespace: 'collapse',
    base: (v) => {
      const n = integer(v);
      return n !== undefined && n >= -2147483648 && n <= 2147483647;
    },
    number: integer,
    facets: [],
  }),
  unsignedInt: () => ({
    whitespace: 'collapse',
    base: (v) => {
      const n = integer(v);
      return n !== undefined && n >= 0 && n <= 4294967295;
    },
    number: integer,
    facets: [],
  }),
  // Used by cwaRequests/@sid only, which is not validated (children are); left to libxml2.
  nonNegativeInteger: () => ({ whitespace: 'collapse', base: () => undefined, facets: [] }),
  dateTime: () => ({ whitespace: 'collapse', base: dateTime, facets: [] }),
};

function checkOf(t: SimpleType): ValueCheck {
  return (raw) => {
    // libxml2 takes surrounding whitespace in a dateTime as an error; leave those to it.
    const v = t.whitespace === 'collapse' ? collapse(raw) : raw;
    if (t.list) {
      const item = checkOf(t.list);
      let verdict: Verdict = true;
      for (const part of v === '' ? [] : v.split(' ')) {
        const r = item(part);
        if (r === false) return false;
        if (r === undefined) verdict = undefined;
      }
      return verdict;
    }
    if (v !== raw && t.base === dateTime) return undefined;
    let verdict = t.base(v);
    if (verdict === false) return false;
    for (const facet of t.facets) {
      const r = facet(v);
      if (r === false) return false;
      if (r === undefined) verdict = undefined;
    }
    return verdict;
  };
}

// ---------------------------------------------------------------- compiler

function fail(what: string): never {
  throw new Error(`compiled request schema: ${what} is not supported (validate with libxml2 only, or extend compiled-schema.ts)`);
}

const xsChildren = (n: XNode) => n.children.filter((c) => c.ns === XS && c.name !== 'annotation');

function occurs(n: XNode): { min: number; max: number } {
  const min = n.attrs.minOccurs === undefined ? 1 : Number(n.attrs.minOccurs);
  const max = n.attrs.maxOccurs === undefined ? 1 : n.attrs.maxOccurs === 'unbounded' ? Infinity : Number(n.attrs.maxOccurs);
  return { min, max };
}

function wildcard(n: XNode): Wildcard {
  const namespace = n.attrs.namespace ?? '##any';
  if (namespace !== '##any' && namespace !== '##other') fail(`wildcard namespace="${namespace}"`);
  const process = (n.attrs.processContents ?? 'strict') as Wildcard['process'];
  return { namespace, process };
}

class Compiler {
  readonly target: string;
  private readonly prefixes = new Map<string, string>();
  private readonly simpleNodes = new Map<string, XNode>();
  private readonly complexNodes = new Map<string, XNode>();
  private readonly simple = new Map<string, SimpleType>();
  private readonly complex = new Map<string, ComplexType>();
  readonly globals = new Map<string, ElementDecl>();

  constructor(private readonly schema: XNode, xsdText: string) {
    if (schema.ns !== XS || schema.name !== 'schema') fail('a root other than xs:schema');
    this.target = schema.attrs.targetNamespace ?? '';
    if (schema.attrs.elementFormDefault !== 'qualified') fail('elementFormDefault other than qualified');
    if ((schema.attrs.attributeFormDefault ?? 'unqualified') !== 'unqualified') fail('attributeFormDefault qualified');
    // Prefixes of QName references (type="cwa:X"), read from the schema element's declarations.
    for (const m of /<xs:schema\b[^>]*>/.exec(xsdText)![0].matchAll(/xmlns:(\w+)="([^"]*)"/g)) this.prefixes.set(m[1]!, m[2]!);
    for (const n of xsChildren(schema)) {
      if (n.name === 'simpleType') this.simpleNodes.set(n.attrs.name!, n);
      else if (n.name === 'complexType') this.complexNodes.set(n.attrs.name!, n);
      else if (n.name !== 'element') fail(`top-level xs:${n.name}`);
    }
    for (const n of xsChildren(schema)) if (n.name === 'element') this.globals.set(n.attrs.name!, this.elementDecl(n));
  }

  private qname(ref: string): { ns: string; local: string } {
    const i = ref.indexOf(':');
    if (i < 0) fail(`unprefixed reference ${ref}`);
    const ns = this.prefixes.get(ref.slice(0, i));
    if (ns === undefined) fail(`undeclared prefix in ${ref}`);
    return { ns, local: ref.slice(i + 1) };
  }

  private simpleType(ref: string): SimpleType {
    const { ns, local } = this.qname(ref);
    if (ns === XS) return BUILT_IN[local]?.() ?? fail(`built-in type xs:${local}`);
    if (ns !== this.target) fail(`type ${ref}`);
    const known = this.simple.get(local);
    if (known) return known;
    const node = this.simpleNodes.get(local) ?? fail(`simple type ${ref} (undeclared or complex)`);
    const t = this.simpleTypeNode(node);
    this.simple.set(local, t);
    return t;
  }

  private simpleTypeNode(node: XNode): SimpleType {
    const [def, ...rest] = xsChildren(node);
    if (!def || rest.length) fail('a simple type without exactly one restriction or list');
    if (def.name === 'list') {
      return { whitespace: 'collapse', base: () => true, facets: [], list: this.simpleType(def.attrs.itemType ?? fail('xs:list without itemType')) };
    }
    if (def.name !== 'restriction') fail(`xs:${def.name} in a simple type`);
    const base = this.simpleType(def.attrs.base ?? fail('xs:restriction without base'));
    if (base.list) fail('a restriction of a list');
    const t: SimpleType = { ...base, facets: [...base.facets] };
    const enums: string[] = [];
    for (const f of xsChildren(def)) {
      const value = f.attrs.value ?? fail(`xs:${f.name} without value`);
      switch (f.name) {
        case 'enumeration':
          enums.push(value);
          break;
        case 'minLength': {
          const min = Number(value);
          t.facets.push((v) => [...v].length >= min); // characters, not UTF-16 units
          break;
        }
        case 'minInclusive':
        case 'maxInclusive': {
          const number = base.number ?? fail(`xs:${f.name} on a non-numeric type`);
          const bound = Number(value);
          t.facets.push(f.name === 'minInclusive' ? (v) => number(v)! >= bound : (v) => number(v)! <= bound);
          break;
        }
        default:
          fail(`facet xs:${f.name}`);
      }
    }
    if (enums.length) {
      const allowed = new Set(enums);
      t.facets.push((v) => allowed.has(v));
    }
    return t;
  }

  private complexType(ref: string): ComplexType {
    const { ns, local } = this.qname(ref);
    if (ns === XS) return { attributes: new Map(), required: [], content: { kind: 'simple', check: checkOf(this.simpleType(ref)) } };
    if (ns !== this.target) fail(`complex type ${ref}`);
    const known = this.complex.get(local);
    if (known) return known;
    const node = this.complexNodes.get(local);
    if (!node) {
      // An element of a simple type: simple content, no attributes.
      const check = checkOf(this.simpleType(ref));
      const t: ComplexType = { attributes: new Map(), required: [], content: { kind: 'simple', check } };
      this.complex.set(local, t);
      return t;
    }
    const t = this.complexTypeNode(node);
    this.complex.set(local, t);
    return t;
  }

  private complexTypeNode(node: XNode): ComplexType {
    const t: ComplexType = { attributes: new Map(), required: [], content: { kind: 'empty' } };
    const mixed = node.attrs.mixed === 'true';
    for (const n of xsChildren(node)) {
      switch (n.name) {
        case 'attribute': {
          const name = n.attrs.name ?? fail('an attribute reference');
          if (n.attrs.form || n.attrs.default !== undefined || n.attrs.fixed !== undefined) fail('attribute form/default/fixed');
          const use = n.attrs.use ?? 'optional';
          if (use === 'prohibited') fail('use="prohibited"');
          t.attributes.set(name, { check: checkOf(this.simpleType(n.attrs.type ?? fail('an attribute without type'))), required: use === 'required' });
          if (use === 'required') t.required.push(name);
          break;
        }
        case 'anyAttribute':
          t.anyAttribute = wildcard(n);
          break;
        case 'sequence':
        case 'choice':
        case 'all': {
          const items = xsChildren(n).map((p): Particle => {
            const o = occurs(p);
            if (p.name === 'any') return { kind: 'any', wildcard: wildcard(p), ...o };
            if (p.name !== 'element') fail(`xs:${p.name} inside xs:${n.name}`);
            return { kind: 'element', ns: this.target, name: p.attrs.name ?? fail('an element reference'), decl: this.elementDecl(p), ...o };
          });
          const o = occurs(n);
          if (n.name !== 'choice' && (o.min !== 1 || o.max !== 1)) fail(`min/maxOccurs on xs:${n.name}`);
          if (n.name === 'all' && items.some((i) => i.kind !== 'element' || i.max !== 1)) fail('xs:all with a wildcard or maxOccurs > 1');
          t.content = { kind: n.name, mixed, items, ...o };
          break;
        }
        default:
          fail(`xs:${n.name} in a complex type`);
      }
    }
    if (mixed && t.content.kind === 'empty') fail('a mixed complex type without particles');
    return t;
  }

  private elementDecl(n: XNode): ElementDecl {
    if (n.attrs.ref || n.attrs.nillable || n.attrs.abstract || n.attrs.substitutionGroup || n.attrs.default !== undefined || n.attrs.fixed !== undefined) {
      fail('element ref/nillable/abstract/substitutionGroup/default/fixed');
    }
    const inline = xsChildren(n);
    if (n.attrs.type) {
      if (inline.length) fail('an element with both a type and an inline type');
      return { type: this.complexType(n.attrs.type) };
    }
    if (inline.length === 0) fail('an element of xs:anyType');
    if (inline.length > 1) fail('an element with several inline types');
    if (inline[0]!.name === 'complexType') return { type: this.complexTypeNode(inline[0]!) };
    if (inline[0]!.name === 'simpleType') {
      const check = checkOf(this.simpleTypeNode(inline[0]!));
      return { type: { attributes: new Map(), required: [], content: { kind: 'simple', check } } };
    }
    return fail(`xs:${inline[0]!.name} in an element`);
  }
}

// ---------------------------------------------------------------- validation

/**
 * Namespace URIs that libxml2 surely parses (it refuses a declaration whose URI it cannot
 * parse, a case the screener lets through): scheme, then an authority of plain host
 * characters and digits for the port, or a path of plain characters. Anything else sends
 * the document to libxml2.
 */
const SAFE_NAMESPACE =
  /^[A-Za-z][A-Za-z0-9+.-]*:(?:\/\/[A-Za-z0-9\-._~]*(?::\d+)?(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@]*)*|(?:[A-Za-z0-9\-._~!$&'()*+,;=:@][A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?)$/;
const RESERVED_NAMESPACES = new Set(['http://www.w3.org/XML/1998/namespace', 'http://www.w3.org/2000/xmlns/']);
/** libxml2 is handed a root without a namespace with one added at the first `<cwaRequests`. */
const ROOT_FIRST = /^\uFEFF?(?:<\?xml[^>]*\?>)?(?:[ \t\r\n]*<!--(?:[^<-]|-(?!-))*-->)*[ \t\r\n]*<cwaRequests[ \t\r\n>/]/;
/** Beyond these, libxml2's own parser limits (name length, depth) may come into play. */
const MAX_TEXT = 50_000;
const MAX_DEPTH = 100;

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isXmlSpace(text.charCodeAt(i))) return false;
  return true;
}

function hasXsiAttribute(node: XNode): boolean {
  if (!node.attrNs) return false;
  for (const key in node.attrNs) if (node.attrNs[key] === XSI) return true;
  return false;
}

/** The worse of two verdicts: invalid beats undecided beats valid. */
const and = (a: Verdict, b: Verdict): Verdict => (a === false || b === false ? false : a === undefined || b === undefined ? undefined : true);

export class CompiledRequestSchema {
  private constructor(
    private readonly target: string,
    private readonly globals: Map<string, ElementDecl>,
  ) {}

  static fromText(xsdText: string): CompiledRequestSchema {
    const tree = parseXmlTree(xsdText, { maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxAttributeLength: 100_000 });
    const c = new Compiler(tree, xsdText);
    return new CompiledRequestSchema(c.target, c.globals);
  }

  /**
   * One verdict per child element of the <cwaRequests> root, as libxml2 would give it when
   * validating each child on its own, or undefined when the document is left to libxml2
   * as a whole. `text` is the document the tree was built from.
   */
  validateBatch(root: XNode, text: string): Verdict[] | undefined {
    const doc = root.doc;
    if (!doc || text.length > MAX_TEXT || doc.depth > MAX_DEPTH) return undefined;
    if (doc.version !== undefined && doc.version !== '1.0') return undefined;
    for (const ns of doc.namespaces) if (ns !== '' && (!SAFE_NAMESPACE.test(ns) || RESERVED_NAMESPACES.has(ns))) return undefined;
    const addNamespace = root.ns === '';
    if (addNamespace && (root.undeclaresDefault || !ROOT_FIRST.test(text))) return undefined;
    return root.children.map((request) => this.request(request, addNamespace));
  }

  private request(node: XNode, noNamespaceIsTarget: boolean): Verdict {
    const inScope = noNamespaceIsTarget && !node.undeclaresDefault;
    const decl = this.global(node, inScope);
    return decl ? this.element(node, decl.type, inScope) : false;
  }

  private namespaceOf(node: XNode, noNamespaceIsTarget: boolean): string {
    return node.ns === '' && noNamespaceIsTarget ? this.target : node.ns;
  }

  private global(node: XNode, inScope: boolean): ElementDecl | undefined {
    return this.namespaceOf(node, inScope) === this.target ? this.globals.get(node.name) : undefined;
  }

  private element(node: XNode, type: ComplexType, inScope: boolean): Verdict {
    if (hasXsiAttribute(node)) return undefined; // xsi:type, xsi:nil... change what the element is checked against
    let verdict: Verdict = true;
    for (const key in node.attrs) {
      const ns = node.attrNs?.[key];
      const use = ns === undefined ? type.attributes.get(key) : undefined;
      if (use) verdict = and(verdict, use.check(node.attrs[key]!));
      // No global attribute declarations: a wildcard lets the attribute through unless it is strict.
      else if (!type.anyAttribute || !this.matches(type.anyAttribute, ns ?? '') || type.anyAttribute.process === 'strict') return false;
      if (verdict === false) return false;
    }
    for (const name of type.required) if (node.attrs[name] === undefined || node.attrNs?.[name] !== undefined) return false;
    const content = type.content;
    const kids = node.children;
    switch (content.kind) {
      case 'empty':
        return kids.length || node.text !== '' || node.cdata ? false : verdict;
      case 'simple':
        return kids.length ? false : and(verdict, content.check(node.text));
    }
    if (!content.mixed && (node.cdata || !isBlank(node.text))) return false;
    let i = 0;
    const take = (p: Particle): boolean => {
      let n = 0;
      while (n < p.max && i < kids.length && this.test(p, kids[i]!, inScope)) {
        verdict = and(verdict, this.particle(p, kids[i]!, inScope));
        if (verdict === false) return false;
        i += 1;
        n += 1;
      }
      return n >= p.min;
    };
    switch (content.kind) {
      case 'sequence':
        for (const p of content.items) if (!take(p)) return false;
        break;
      case 'choice': {
        let count = 0;
        while (i < kids.length && count < content.max) {
          const p = content.items.find((q) => this.test(q, kids[i]!, inScope));
          if (!p || !take(p)) break;
          count += 1;
        }
        if ((verdict as Verdict) === false || (count < content.min && !content.items.some((p) => p.min === 0))) return false;
        break;
      }
      case 'all': {
        const seen = new Set<Particle>();
        for (; i < kids.length; i++) {
          const p = content.items.find((q) => this.test(q, kids[i]!, inScope));
          if (!p || seen.has(p)) return false;
          seen.add(p);
          verdict = and(verdict, this.particle(p, kids[i]!, inScope));
          if (verdict === false) return false;
        }
        for (const p of content.items) if (p.min > 0 && !seen.has(p)) return false;
        break;
      }
    }
    return i < kids.length ? false : verdict;
  }

  private matches(w: Wildcard, ns: string): boolean {
    return w.namespace === '##any' || (ns !== '' && ns !== this.target);
  }

  /** Whether the child is the particle's (by name and namespace only, as the content model sees it). */
  private test(p: Particle, kid: XNode, parentScope: boolean): boolean {
    const ns = this.namespaceOf(kid, parentScope && !kid.undeclaresDefault);
    return p.kind === 'element' ? kid.name === p.name && ns === p.ns : this.matches(p.wildcard, ns);
  }

  private particle(p: Particle, kid: XNode, parentScope: boolean): Verdict {
    const inScope = parentScope && !kid.undeclaresDefault;
    if (p.kind === 'element') return this.element(kid, p.decl.type, inScope);
    if (p.wildcard.process === 'skip') return true;
    const decl = this.global(kid, inScope);
    if (decl) return this.element(kid, decl.type, inScope);
    return p.wildcard.process === 'strict' ? false : this.lax(kid, inScope);
  }

  /** Lax assessment of an element without a declaration: its descendants that have one are checked. */
  private lax(node: XNode, inScope: boolean): Verdict {
    if (hasXsiAttribute(node)) return undefined;
    let verdict: Verdict = true;
    for (const kid of node.children) {
      const scope = inScope && !kid.undeclaresDefault;
      const decl = this.global(kid, scope);
      verdict = and(verdict, decl ? this.element(kid, decl.type, scope) : this.lax(kid, scope));
      if (verdict === false) return false;
    }
    return verdict;
  }
}
