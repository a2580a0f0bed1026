// The fast reader (src/protocol/xml-fast.ts) against the saxes path, the reference: for
// every document the fast reader decides, saxes accepts it and builds the identical tree
// (deep-equal, same keys in the same order, the document facts included); for every other
// document parseXmlTree gives saxes' verdict. Fed with every XML document of fixtures/ and
// schemas/samples, then thousands of generated ones: text mutations and byte flips of
// those (dropped, duplicated and inserted characters, entity and character references,
// odd white space, namespaces and prefixes, CDATA, comments, PIs, DOCTYPEs, deep nests,
// non-ASCII), and random trees (prefixes, declarations, references, white space inside
// tags) under random limits, so that every limit is met exactly and passed. The documents
// the fast reader decides are also read by libxml2, whose tree must agree. Each property
// counts what the fast reader decided, so a reader that leaves everything to saxes fails.
// CWA_FAST_RUNS raises the number of cases (and prints the tally), CWA_FUZZ_SEED replays a run.
import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseOption, XmlDocument, XmlElement, XmlText, XmlCData, type XmlTreeNode } from 'libxml2-wasm';
import { readXmlTreeFast } from '../src/protocol/xml-fast.js';
import { files, fixtureStrings, ROOT } from './support/request-corpus.js';
import { parseXmlTree, parseXmlTreeSaxes, XmlRejectedError, type XmlLimits, type XNode } from '../src/protocol/xml-tree.js';

const RUNS = Number(process.env.CWA_FAST_RUNS ?? 3000);
const SEED = process.env.CWA_FUZZ_SEED === undefined ? undefined : Number(process.env.CWA_FUZZ_SEED);
const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
/** The gateway's defaults for a request body, and a generous set for emitted documents. */
const LIMITS: XmlLimits = { maxDepth: 16, maxElements: 2000, maxAttributes: 32, maxAttributeLength: 4096 };
const WIDE: XmlLimits = { maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxAttributeLength: 100_000 };

// ------------------------------------------------------------------ the corpus

/** Every string of a fixture transcript that is an XML document (requests, answers, events; placeholders filled). */
function fixtureDocuments(): string[] {
  return fixtureStrings((v) => /^\s*<[A-Za-z?]/.test(v) && v.trimEnd().endsWith('>'));
}
const FIXTURES = fixtureDocuments();
const SAMPLES = files(join(ROOT, 'schemas', 'samples'), (n) => n.endsWith('.xml')).map((f) => readFileSync(f, 'utf8'));
/** The samples start with a comment (left to saxes): without it too, as most requests come. */
const CORPUS = [...FIXTURES, ...SAMPLES, ...SAMPLES.map((s) => s.replace(/<!--(?:[^-]|-(?!-))*-->\s*/g, ''))];

// ------------------------------------------------------------------ comparing

type Outcome = { tree: XNode } | { kind: string; message: string };

function saxes(text: string, limits: XmlLimits): Outcome {
  try {
    return { tree: parseXmlTreeSaxes(text, limits) };
  } catch (err) {
    if (err instanceof XmlRejectedError) return { kind: err.kind, message: err.message };
    throw err;
  }
}

const tally = { documents: 0, fast: 0, saxesAccepted: 0, libxml2Agreed: 0, libxml2Refused: 0 };

/** Compares the fast reader and parseXmlTree with the saxes path on one document; true when the fast reader decided it. */
function compare(text: string, limits: XmlLimits): boolean {
  tally.documents += 1;
  const reference = saxes(text, limits);
  if ('tree' in reference) tally.saxesAccepted += 1;
  const fast = readXmlTreeFast(text, limits);
  // What the gateway runs: the fast reader's tree, or saxes' verdict.
  let outcome: Outcome;
  try {
    outcome = { tree: parseXmlTree(text, limits) };
  } catch (err) {
    if (!(err instanceof XmlRejectedError)) throw err;
    outcome = { kind: err.kind, message: err.message };
  }
  expect(outcome, `parseXmlTree and saxes differ on ${JSON.stringify(text)}`).to.deep.equal(reference);
  if (fast === undefined) {
    // DEBUG_FAST=1 lists what saxes accepted and the fast reader left to it.
    if (process.env.DEBUG_FAST && 'tree' in reference) console.log('left:', JSON.stringify(text).slice(0, 300), JSON.stringify(limits));
    return false;
  }
  tally.fast += 1;
  expect('tree' in reference, `the fast reader accepts what saxes refuses (${JSON.stringify(reference)}): ${JSON.stringify(text)}`).to.equal(true);
  const tree = (reference as { tree: XNode }).tree;
  expect(fast, `trees differ: ${JSON.stringify(text)}`).to.deep.equal(tree);
  // Same keys in the same order (what JSON.stringify and for..in see).
  expect(JSON.stringify(fast), JSON.stringify(text)).to.equal(JSON.stringify(tree));
  againstLibxml2(text, fast);
  return true;
}

/**
 * The tree libxml2 reads: it must agree with the fast reader's. libxml2 refuses some namespace URIs saxes takes,
 * and encodings it does not know (the gateway's charset stage judges the declared encoding before either reads it).
 */
function againstLibxml2(text: string, fast: XNode): void {
  let doc: XmlDocument;
  try {
    doc = XmlDocument.fromString(text, { option: ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE });
  } catch (err) {
    expect((err as Error).message, `libxml2 refuses a document the fast reader took: ${JSON.stringify(text)}`).to.match(/URI|Unsupported encoding/);
    tally.libxml2Refused += 1;
    return;
  }
  try {
    expect(shape(fast), JSON.stringify(text)).to.deep.equal(libxml2Shape(doc.root));
    tally.libxml2Agreed += 1;
  } finally {
    doc.dispose();
  }
}

type Shape = [string, string, Array<[string, string, string]>, string, Shape[]];
function shape(n: XNode): Shape {
  const attrs = Object.entries(n.attrs).map(([k, v]): [string, string, string] => [k, n.attrNs?.[k] ?? '', v]);
  return [n.name, n.ns, attrs.sort(), n.text, n.children.map(shape)];
}
function libxml2Shape(e: XmlElement): Shape {
  // An attribute named __proto__ is not in either reader's tree (attrs is a plain object, whose __proto__ setter ignores a string).
  const attrs = e.attrs.filter((a) => a.name !== '__proto__').map((a): [string, string, string] => [a.name, a.namespaceUri ?? '', a.value]);
  let text = '';
  const kids: Shape[] = [];
  for (let c: XmlTreeNode | null = e.firstChild; c; c = c.next) {
    if (c instanceof XmlElement) kids.push(libxml2Shape(c));
    else if (c instanceof XmlText || c instanceof XmlCData) text += c.content;
  }
  return [e.name, e.namespaceUri ?? '', attrs.sort(), text, kids];
}

// ------------------------------------------------------------------ generators

const HOSTILE = [
  '<', '>', '&', '"', "'", '=', '/', ':', ' ', '\t', '\n', '\r', '\r\n', '\u00a0', '\u0085', '\u2028', '\u0000', '\u0001', '\u007f', '\uFFFE', '\uFFFF',
  '\uFEFF', '\uD800', '\uDC00', '\uD83D\uDE00', 'é', '日本', 'ÿ', '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&amp', '&;', '&#;', '&#65;', '&#x41;',
  '&#X41;', '&#x1F600;', '&#0;', '&#9;', '&#10;', '&#13;', '&#xD800;', '&#xFFFE;', '&#1114111;', '&#1114112;', '&#00000065;', '&lol;', '&AMP;',
  ']]>', ']]', ']', '<![CDATA[x]]>', '<![CDATA[]]>', '<!-- c -->', '<!---->', '<!DOCTYPE r>', '<!DOCTYPE x [<!ENTITY a "b">]>', '<?pi x?>',
  '<?xml version="1.0"?>', '<?xml version="1.1"?>', ' xmlns=""', ' xmlns=" "', ' xmlns="urn:a"', ' xmlns:a="urn:a"', ' xmlns:a=""', ' xmlns:a=" urn:a "',
  ' xmlns:xml="http://www.w3.org/XML/1998/namespace"', ' xmlns:xmlns="http://www.w3.org/2000/xmlns/"', ' xmlns="http://www.w3.org/2000/xmlns/"',
  ' xmlns:b="http://www.w3.org/XML/1998/namespace"', ' a:b="1"', ' xml:lang="en"', ' xmlns:a:b="u"', ' a="1"', " a='1'", ' a = "1"', ' a="1"a="2"', ' a',
  ' a=1', ' __proto__="x"', ' constructor="y"', '/>', '</x>', '<x>', '<x/>', '<a:x/>', '<:x/>', '<x:/>', '<a:b:c/>', '<1x/>', '<xml:x/>', '<xmlns:x/>',
  '</ >', '</>', '<a>'.repeat(20), '</a>'.repeat(3), '<x/>'.repeat(40), 'x'.repeat(300), ` rid="${'9'.repeat(5000)}"`,
];
/** Anywhere in the document (fc.double draws mostly tiny numbers, and biased integers small ones: both keep hitting the first bytes). */
const position = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);
const insertion = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
const mutation = fc.record({ op: fc.integer({ min: 0, max: 5 }), p: position, q: fc.noBias(fc.integer({ min: 0, max: 200_000 })).map((n) => n / 1_000_000), text: insertion, depth: fc.integer({ min: 1, max: 20 }) });
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(doc: string, m: Mutation): string {
  const at = Math.floor(m.p * doc.length);
  const len = Math.max(1, Math.floor(m.q * doc.length));
  switch (m.op) {
    case 0: // a character (or a few) dropped
      return doc.slice(0, at) + doc.slice(at + (m.q < 0.05 ? 1 : len));
    case 1:
      return doc.slice(0, at) + m.text + doc.slice(at);
    case 2: // duplicated
      return doc.slice(0, at + len) + doc.slice(at, at + len) + doc.slice(at + len);
    case 3:
      return doc.slice(0, at) + m.text + doc.slice(at + Math.min(len, m.text.length || 1));
    case 4:
      return doc.slice(0, at);
    default: // wrapped in a deep nest
      return doc.slice(0, at) + '<w>'.repeat(m.depth) + doc.slice(at, at + len) + '</w>'.repeat(m.depth) + doc.slice(at + len);
  }
}

/** Limits near what the documents hold, so that each is met exactly and passed. */
const limits: fc.Arbitrary<XmlLimits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(LIMITS) },
  {
    weight: 2,
    arbitrary: fc.record({
      maxDepth: fc.integer({ min: 1, max: 8 }),
      maxElements: fc.integer({ min: 1, max: 30 }),
      maxAttributes: fc.integer({ min: 0, max: 6 }),
      maxAttributeLength: fc.integer({ min: 0, max: 60 }), // the CWA namespace URI is 43 characters
    }),
  },
);

const mutated = fc
  .record({ seed: fc.constantFrom(...CORPUS), ms: fc.array(mutation, { minLength: 1, maxLength: 3 }) })
  .map(({ seed, ms }) => ms.reduce(mutate, seed));
const byteFlips = fc
  .record({ seed: fc.constantFrom(...CORPUS), flips: fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }) })
  .map(({ seed, flips }) => {
    const buf = Buffer.from(seed, 'utf8');
    for (const [p, byte] of flips) buf[Math.floor(p * (buf.length - 1))] = byte;
    return buf.toString('utf8');
  });

// Random trees: prefixed and plain names, declarations (bound, unbound, repeated, reserved),
// attribute values and text with references, white space of every kind, now and then a
// construct the fast reader leaves to saxes.
const PREFIXES = ['', '', '', '', '', '', 'a', 'a', 'b', 'xsi', 'xml', 'xmlns'];
const NAMES = ['r', 'x', 'cwaRequests', 'conference', 'sendMessage', 'content', 'uri', 'Aa', 'a-b', 'a.b', '_c', 'x1', 'é', 'b7'];
const URIS = ['urn:a', 'urn:b', NS, XSI, ' urn:a ', 'http://h/p?q', 'd 45Z'];
const SPACE = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', ' \n ') }, { weight: 1, arbitrary: fc.constantFrom('\r\n', '\r') });
const chars = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom(...'abc xyz 019 -_.:;/'.split(''), '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#65;', '&#x263A;', '&#10;', '&#9;', '\t', '\n', 'é', '€', '\uD83D\uDE00', ']', '>', "'", '"') },
  { weight: 1, arbitrary: fc.constantFrom('<', '&', '&x;', '\r', '\u0001', '\uFFFE', '\uDC00', ']]>', '&#0;', '&#X41;') },
);
const value = fc.array(chars, { maxLength: 8 }).map((cs) => cs.join(''));
const qname = fc.tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...NAMES)).map(([p, n]) => (p ? `${p}:${n}` : n));
const attribute = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(qname, value) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('xmlns:a', 'xmlns:b', 'xmlns:xsi', 'xmlns'), fc.constantFrom(...URIS)) },
  { weight: 1, arbitrary: fc.constant<[string, string]>(['xmlns', '']) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('xmlns:xml', 'xmlns:xmlns', 'xmlns:a', 'xmlns'), fc.constantFrom('', ' ', 'http://www.w3.org/XML/1998/namespace', 'http://www.w3.org/2000/xmlns/')) },
);
const tree: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc
    .record({
      name: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...NAMES) }, { weight: 2, arbitrary: qname }),
      attrs: fc.array(fc.tuple(SPACE, attribute, fc.constantFrom('"', "'"), fc.constantFrom('=', '=', ' = ')), { maxLength: 4 }),
      tail: fc.constantFrom('', '', ' ', '\n', '\t'),
      children: fc.oneof({ depthSize: 'small' }, fc.constant([] as string[]), fc.array(tie('node'), { maxLength: 3 })),
      text: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 6, arbitrary: value }, { weight: 1, arbitrary: fc.constantFrom(...HOSTILE) }),
      close: fc.constantFrom('', '', '', ' ', '\n'),
      selfClose: fc.boolean(),
    })
    .map(({ name, attrs, tail, children, text, close, selfClose }) => {
      const a = attrs.map(([s, [k, v], q, eq]) => `${s}${k}${eq}${q}${v.replaceAll(q, q === '"' ? '&quot;' : '&apos;')}${q}`).join('');
      if (selfClose && !children.length && !text) return `<${name}${a}${tail}/>`;
      return `<${name}${a}${tail}>${text}${children.join(text)}</${name}${close}>`;
    }),
})).node;
const documentOf = fc
  .record({ bind: fc.boolean(), decl: fc.constantFrom('', '', '', '<?xml version="1.0"?>', "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n", '<?xml version="1.1"?>', ' '), root: tree, after: fc.constantFrom('', '', '\n', ' \t\n', 'x', '<!--c-->') })
  // Most documents bind the prefixes the trees use, at the root.
  .map(({ bind, decl, root, after }) => `${decl}${bind ? `<r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="${XSI}">${root}</r>` : root}${after}`);

// ------------------------------------------------------------------ the tests

describe('fast XML reader: the saxes path\'s trees and verdicts', function () {
  this.timeout(120_000);

  after(() => {
    if (process.env.CWA_FAST_RUNS) console.log(`      ${JSON.stringify(tally)}`);
  });

  it(`decides every ordinary document of fixtures/ and schemas/samples (${CORPUS.length}) itself, with saxes' tree`, () => {
    expect(FIXTURES.length, 'fixture documents').to.be.greaterThan(100);
    expect(SAMPLES.length, 'schema samples').to.be.greaterThan(100);
    const before = tally.fast;
    const left: string[] = [];
    for (const text of CORPUS) {
      for (const l of [LIMITS, WIDE]) {
        const decided = compare(text, l);
        const ordinary = !/<!|<\?(?!xml )|\r|&(?!amp;|lt;|gt;|quot;|apos;|#)/.test(text) && 'tree' in saxes(text, l);
        if (ordinary && !decided) left.push(text);
      }
    }
    expect(left, 'ordinary documents left to saxes').to.deep.equal([]);
    expect(tally.fast - before, 'documents decided').to.be.greaterThan(CORPUS.length);
  });

  it('decides the documents the gateway reads most (requests, WebSocket frames), and leaves the rest to saxes', () => {
    const decided = [
      `<cwaRequests xmlns="${NS}" sid="412"><conference rid="17" confId="3"><sendMessage><content>hi &amp; bye &#x263A; é</content></sendMessage></conference></cwaRequests>`,
      `<?xml version="1.0" encoding="utf-8"?>\n<cwaRequests sid="1" xmlns="${NS}">\n  <logon><user>EXAMPLE\\alice</user><password>p&lt;w&quot;d</password></logon>\n</cwaRequests>\n`,
      `<cwaRequests xmlns="${NS}"><publishSelfPresence rid="2"><cwaCategory name="state"><state xmlns="urn:s" xmlns:xsi="${XSI}" xsi:type="userState" manual="true"/></cwaCategory></publishSelfPresence></cwaRequests>`,
      '<ack ackId="17" ua="true"/>',
      "<r a='\"' b=\"'\" c=\"a&#9;b\tc\nd\" xml:lang='en'>]] > ]&gt; \uD83D\uDE00</r>",
      '<p:r xmlns:p="urn:p" xmlns="urn:d"><p:s p:b="1" a="2"/><t xmlns=""/></p:r>',
    ];
    for (const text of decided) expect(compare(text, LIMITS), text).to.equal(true);
    const left = [
      '<r><![CDATA[x]]></r>', '<r><!--c--></r>', '<?xml version="1.1"?><r/>', '<r>\r\n</r>', '<é/>', '<r a="1" b:a="2" xmlns:b="u"/>', '<r>&#X41;</r>',
      '<r xmlns:xml="http://www.w3.org/XML/1998/namespace"/>', '<r a="<"/>', '<r>]]></r>', '<r/><!--c-->', '\uFEFF<r/>', '<r/>x', '<a><b></a></b>', '<r>&lol;</r>',
      '<!DOCTYPE r><r/>', '<r><?pi?></r>', '<p:r/>', '<r xmlns:p=""/>', '<r a="1" a="2"/>', '<r a="1"b="2"/>', '<r a=1/>',
    ];
    for (const text of left) expect(compare(text, LIMITS), text).to.equal(false);
    // Limits: exactly at each one decided, one past it left to saxes (which refuses with its message).
    const tight: XmlLimits = { maxDepth: 3, maxElements: 4, maxAttributes: 2, maxAttributeLength: 5 };
    expect(compare('<a><b><c/></b><d/></a>', tight)).to.equal(true);
    expect(compare('<a><b><c><d/></c></b></a>', tight)).to.equal(false);
    expect(compare('<a><b/><c/><d/><e/></a>', tight)).to.equal(false);
    expect(compare('<a xmlns="urn:x" b="12345"/>', tight)).to.equal(true);
    expect(compare('<a xmlns="urn:x" b="1" c="2"/>', tight)).to.equal(false);
    expect(compare('<a b="123456"/>', tight)).to.equal(false);
    expect(compare('<a b="&amp;&amp;&amp;&amp;&amp;"/>', tight)).to.equal(true); // five characters once decoded
  });

  it(`agrees on ${RUNS} mutated fixture and sample documents`, () => {
    const before = { ...tally };
    fc.assert(fc.property(mutated, limits, (text, l) => void compare(text, l)), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    // Most mutants are malformed (then saxes refuses them and the fast reader must leave them alone).
    expect(tally.fast - before.fast, 'documents the fast reader decided').to.be.greaterThan(RUNS / 60);
  });

  it(`agrees on ${Math.ceil(RUNS / 3)} documents with flipped bytes`, () => {
    const before = { ...tally };
    fc.assert(fc.property(byteFlips, limits, (text, l) => void compare(text, l)), { numRuns: Math.ceil(RUNS / 3), seed: SEED, endOnFailure: true });
    expect(tally.fast - before.fast, 'documents the fast reader decided').to.be.greaterThan(RUNS / 90);
  });

  it(`agrees on ${RUNS} random trees (prefixes, declarations, references, white space) under random limits`, () => {
    const before = { ...tally };
    fc.assert(fc.property(documentOf, limits, (text, l) => void compare(text, l)), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    const fast = tally.fast - before.fast;
    expect(fast, 'documents the fast reader decided').to.be.greaterThan(RUNS / 20);
    expect(tally.saxesAccepted - before.saxesAccepted, 'documents saxes accepted').to.be.greaterThan(fast);
    expect(tally.libxml2Agreed - before.libxml2Agreed, 'trees libxml2 read alike').to.be.greaterThan(fast / 2);
  });
});
