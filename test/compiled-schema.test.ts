// The compiled request schema against libxml2, the reference: the same verdict for every
// request of every document the screener lets through, over the schema samples, every
// request body of fixtures/, and thousands of generated documents (text mutations and
// byte flips of those, random documents from the request vocabulary, and tree-level
// edits that stay close to valid requests: values near the edges of each simple type,
// children dropped, repeated, swapped or renamed, text, CDATA and whitespace where
// elements go, namespaces moved, xsi: attributes). Where the compiled schema leaves a
// request or a document to libxml2 (undefined), libxml2 decides in the gateway; those are
// counted and must stay a small share. CWA_DIFF_RUNS raises the count, CWA_FUZZ_SEED replays.
import { expect } from 'chai';
import fc from 'fast-check';
import { fixtureRequestBodies, requestSamples } from './support/request-corpus.js';
import { decodeBody } from '../src/protocol/charset.js';
import { RequestSchema } from '../src/protocol/schema.js';
import { parseXmlTree, XmlRejectedError, type XNode } from '../src/protocol/xml-tree.js';

const RUNS = Number(process.env.CWA_DIFF_RUNS ?? 4000);
const SEED = process.env.CWA_FUZZ_SEED === undefined ? undefined : Number(process.env.CWA_FUZZ_SEED);
const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const LIMITS = { maxDepth: 16, maxElements: 2000, maxAttributes: 32, maxAttributeLength: 4096 };

const SAMPLES = requestSamples();
const FIXTURES = fixtureRequestBodies();
const SEEDS = [...SAMPLES, ...FIXTURES];
const VOCABULARY = [...new Set(SEEDS.flatMap((s) => [...s.matchAll(/<([A-Za-z][\w]*)/g)].map((m) => m[1]!)))];
const ATTRIBUTES = [...new Set(SEEDS.flatMap((s) => [...s.matchAll(/\s([A-Za-z]\w*)="/g)].map((m) => m[1]!)))].filter((a) => a !== 'xmlns');

/** Values at the edges of the schema's simple types (integers, enumerations, lists, dateTimes, strings). */
const VALUES = [
  '', ' ', '0', '1', '-0', '+1', '+0', '-1', '01', ' 7 ', '\t7\n', '4294967295', '4294967296', '2147483647', '32767', '32768', '1e3', '٣',
  'true', 'True', ' false ', 'FALSE', '1 ', 'yes', 'composing', 'Idle', ' idle', 'IDLE', 'and', 'Or', 'OR', 'uri', 'everyone', 'sameEnterprise',
  'federated', 'domain', 'static', 'time', 'user', 'public', 'private', 'busyhere', 'voicemail', 'declineeverywhere', '1 2 3', ' 1  2 ', '1,2',
  '1 -2', '1 +2', 'sip:bob@example.com', 'x', 'é', '\u{1F600}', '2024-05-01T09:00:00Z', '2024-02-29T00:00:00', '2023-02-29T00:00:00',
  '2024-05-01T24:00:00', '2024-05-01T24:00:01', '2024-05-01T09:00:00.123+01:00', '2024-05-01T09:00:00+14:30', '0000-01-01T00:00:00',
  '12024-05-01T09:00:00Z', ' 2024-05-01T09:00:00Z', '2024-05-01', '2024-13-01T00:00:00', '2024-04-31T00:00:00',
];
const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789+-: .TZtrueFals\t\n'), maxLength: 12 }) },
);
const NAMESPACES = ['', 'urn:other', NS, 'http://schemas.microsoft.com/2006/09/sip/state', 'urn:a b', 'http://a:b/', 'foo', 'urn:x:y', 'http://h:80/p?q'];

const esc = (s: string, quote: boolean) => {
  const t = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return quote ? t.replace(/"/g, '&quot;') : t;
};

interface GNode {
  name: string;
  ns: string;
  attrs: Array<[string, string, string?]>; // name, value, namespace
  children: GNode[];
  text: string;
  cdata?: string;
  comment?: boolean;
}

function fromTree(n: XNode): GNode {
  return {
    name: n.name,
    ns: n.ns,
    attrs: Object.entries(n.attrs).map(([k, v]) => [k, v, n.attrNs?.[k]]),
    children: n.children.map(fromTree),
    text: n.children.length ? n.text.replace(/[^\s]/g, '') : n.text,
  };
}

function serialize(n: GNode, parentNs: string): string {
  const prefixes = new Map<string, string>();
  let decls = n.ns !== parentNs ? ` xmlns="${esc(n.ns, true)}"` : '';
  const attrs = n.attrs
    .map(([k, v, ns]) => {
      if (!ns) return ` ${k}="${esc(v, true)}"`;
      let p = prefixes.get(ns);
      if (!p) {
        p = ns === XSI ? 'xsi' : `p${prefixes.size}`;
        prefixes.set(ns, p);
        decls += ` xmlns:${p}="${esc(ns, true)}"`;
      }
      return ` ${p}:${k}="${esc(v, true)}"`;
    })
    .join('');
  const inner = (n.comment ? '<!--c-->' : '') + esc(n.text, false) + (n.cdata !== undefined ? `<![CDATA[${n.cdata}]]>` : '') + n.children.map((c) => serialize(c, n.ns)).join('');
  return `<${n.name}${decls}${attrs}>${inner}</${n.name}>`;
}

/** Every node of a request tree, in document order. */
const nodes = (n: GNode): GNode[] => [n, ...n.children.flatMap(nodes)];

type Edit = { op: number; at: number; pick: number; value: string; ns: string };
const edit: fc.Arbitrary<Edit> = fc.record({
  op: fc.integer({ min: 0, max: 13 }),
  at: fc.nat(),
  pick: fc.nat(),
  value,
  ns: fc.constantFrom(...NAMESPACES),
});

function apply(req: GNode, e: Edit): void {
  const all = nodes(req);
  const n = all[e.at % all.length]!;
  const kids = n.children;
  switch (e.op) {
    case 0: // an attribute value
    case 1:
      if (n.attrs.length) n.attrs[e.pick % n.attrs.length]![1] = e.value;
      else n.text = e.value;
      break;
    case 2: // element text
      n.text = e.value;
      break;
    case 3:
      if (kids.length) kids.splice(e.pick % kids.length, 1);
      else n.attrs.splice(e.pick % Math.max(1, n.attrs.length), 1);
      break;
    case 4:
      if (kids.length) kids.push(structuredClone(kids[e.pick % kids.length]!));
      break;
    case 5:
      if (kids.length > 1) kids.reverse();
      break;
    case 6:
      n.name = VOCABULARY[e.pick % VOCABULARY.length]!;
      break;
    case 7:
      n.attrs.push([ATTRIBUTES[e.pick % ATTRIBUTES.length]!, e.value]);
      break;
    case 8:
      n.cdata = e.value;
      break;
    case 9:
      n.comment = true;
      n.text = n.text || (e.pick % 2 ? ' ' : '');
      break;
    case 10: // a namespace moved (xmlns="", another namespace, a URI libxml2 refuses)
      n.ns = e.ns;
      break;
    case 11:
      n.attrs.push([e.pick % 2 ? 'type' : 'nil', e.value, XSI]);
      break;
    case 12:
      n.attrs.push([ATTRIBUTES[e.pick % ATTRIBUTES.length]!, e.value, e.ns || 'urn:other']);
      break;
    case 13:
      kids.splice(e.pick % (kids.length + 1), 0, { name: VOCABULARY[e.pick % VOCABULARY.length]!, ns: e.ns, attrs: [], children: [], text: '' });
      break;
  }
}

const seedTrees = SEEDS.flatMap((s) => {
  try {
    return [parseXmlTree(s, LIMITS)];
  } catch {
    return []; // a malformed body on purpose
  }
});
const treeEdits = fc
  .record({ seed: fc.nat({ max: seedTrees.length - 1 }), edits: fc.array(edit, { minLength: 0, maxLength: 2 }), noNs: fc.boolean() })
  .map(({ seed, edits, noNs }) => {
    const t = seedTrees[seed]!;
    const rootNs = noNs && t.ns === '' ? '' : NS;
    const requests = t.children.map(fromTree);
    if (t.ns === '' && rootNs) for (const n of requests.flatMap(nodes)) if (n.ns === '') n.ns = NS;
    for (const e of edits) if (requests.length) apply(requests[e.pick % requests.length]!, e);
    const ns = rootNs ? ` xmlns="${rootNs}"` : '';
    return `<cwaRequests${ns} sid="1">${requests.map((r) => serialize(r, rootNs)).join('')}</cwaRequests>`;
  });

function mutate(doc: string, m: { op: number; p: number; q: number; text: string }): string {
  const at = Math.floor(m.p * doc.length);
  const len = Math.max(1, Math.floor(m.q * doc.length));
  switch (m.op) {
    case 0:
      return doc.slice(0, at) + doc.slice(at + len);
    case 1:
      return doc.slice(0, at) + m.text + doc.slice(at);
    case 2:
      return doc.slice(0, at + len) + doc.slice(at, at + len) + doc.slice(at + len);
    default:
      return doc.slice(0, at) + m.text + doc.slice(at + Math.min(len, m.text.length || 1));
  }
}
const TOKENS = ['<', '>', '&amp;', ']]>', '<![CDATA[x]]>', '<![CDATA[]]>', '<!-- c -->', ' xmlns=""', ' xmlns="urn:o"', ' xmlns:a="urn:a"', ' a:b="1"', ' rid="1"', ' confId="-0"', ' ', '\n', '<x/>', '<uri>sip:a</uri>', '<content/>', `<?xml version="1.1"?>`];
const textMutations = fc
  .record({
    seed: fc.constantFrom(...SEEDS),
    ms: fc.array(fc.record({ op: fc.integer({ min: 0, max: 3 }), p: fc.double({ min: 0, max: 1, noNaN: true }), q: fc.double({ min: 0, max: 0.2, noNaN: true }), text: fc.oneof(fc.constantFrom(...TOKENS), fc.constantFrom(...VALUES)) }), { minLength: 1, maxLength: 3 }),
  })
  .map(({ seed, ms }) => ms.reduce(mutate, seed));
const byteFlips = fc
  .record({ seed: fc.constantFrom(...SEEDS), flips: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }) })
  .map(({ seed, flips }) => {
    const buf = Buffer.from(seed, 'utf8');
    for (const [p, byte] of flips) buf[Math.floor(p * (buf.length - 1))] = byte;
    return new TextDecoder().decode(buf);
  });
const element: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc
    .record({
      name: fc.constantFrom(...VOCABULARY),
      attrs: fc.array(fc.tuple(fc.constantFrom(...ATTRIBUTES), value), { maxLength: 3 }),
      children: fc.oneof({ depthSize: 'small' }, fc.constant([] as string[]), fc.array(tie('node'), { maxLength: 3 })),
      text: fc.oneof(fc.constant(''), value),
    })
    .map(({ name, attrs, children, text }) => {
      const a = [...new Map(attrs)].map(([k, v]) => ` ${k}="${esc(v, true)}"`).join('');
      return `<${name}${a}>${esc(text, false)}${children.join('')}</${name}>`;
    }),
})).node;
const structured = fc.array(element, { minLength: 1, maxLength: 4 }).map((els) => `<cwaRequests xmlns="${NS}" sid="1">${els.join('')}</cwaRequests>`);

const documents = fc.oneof(
  { weight: 6, arbitrary: treeEdits },
  { weight: 2, arbitrary: textMutations },
  { weight: 1, arbitrary: byteFlips },
  { weight: 2, arbitrary: structured },
);

describe('compiled request schema: same verdicts as libxml2', function () {
  this.timeout(120_000);
  const schema = RequestSchema.load();
  const tally = { documents: 0, decided: 0, valid: 0, invalid: 0, leftToLibxml2: 0, documentsLeft: 0 };

  /**
   * Compares both on one document as the gateway would see it (after the charset stage, which
   * refuses an unknown encoding and drops the declaration's); returns false when the charset
   * stage or the screener refuses it (nothing to compare).
   */
  function compare(body: string): boolean {
    const decoded = decodeBody(Buffer.from(body, 'utf8'), undefined, undefined);
    if (!decoded.ok) return false;
    const text = decoded.text;
    let tree: XNode;
    try {
      tree = parseXmlTree(text, LIMITS);
    } catch (err) {
      if (err instanceof XmlRejectedError) return false;
      throw err;
    }
    tally.documents += 1;
    const compiled = schema.compiled.validateBatch(tree, text);
    let reference: boolean[] | 'refused';
    try {
      reference = schema.validateRequests(text, tree.ns === '').map((v) => v.valid);
    } catch (err) {
      if (!(err instanceof XmlRejectedError)) throw err;
      reference = 'refused';
    }
    if (compiled === undefined) {
      tally.documentsLeft += 1;
      return true;
    }
    expect(reference, `libxml2 refuses a document the compiled schema decides on:\n${text}`).to.not.equal('refused');
    const lib = reference as boolean[];
    expect(compiled.length, text).to.equal(lib.length);
    compiled.forEach((v, i) => {
      if (v === undefined) tally.leftToLibxml2 += 1;
      else {
        tally.decided += 1;
        tally[v ? 'valid' : 'invalid'] += 1;
        expect(v, `request ${i} of:\n${text}\nlibxml2 says ${lib[i] ? 'valid' : 'invalid'}`).to.equal(lib[i]);
      }
    });
    return true;
  }

  after(() => {
    if (process.env.CWA_DIFF_RUNS) console.log(`      ${JSON.stringify(tally)}`);
  });

  it('serializes the seeds unchanged in meaning (the generator starts from valid requests)', () => {
    const before = tally.valid;
    expect(seedTrees.length).to.be.greaterThan(SEEDS.length * 0.9);
    for (const t of seedTrees) {
      const text = `<cwaRequests xmlns="${NS}">${t.children.map(fromTree).map((r) => serialize(r, t.ns || NS)).join('')}</cwaRequests>`;
      if (process.env.DEBUG_DIFF) console.log(text, schema.compiled.validateBatch(parseXmlTree(text, LIMITS), text));
      compare(text);
    }
    expect(tally.valid - before).to.be.greaterThan(seedTrees.length / 2);
  });

  it('agrees on the edges of content: text, whitespace, CDATA and comments in empty, element-only, simple and mixed content; namespaces', () => {
    const edges = [
      '<terminateSession rid="1"/>', '<terminateSession rid="1"> </terminateSession>', '<terminateSession rid="1"><![CDATA[]]></terminateSession>',
      '<terminateSession rid="1"><!--c--></terminateSession>', '<terminateSession rid="1">&#10;</terminateSession>',
      '<deleteContact rid="1"> <uri>x</uri>\n</deleteContact>', '<deleteContact rid="1"><![CDATA[ ]]><uri>x</uri></deleteContact>',
      '<deleteContact rid="1"><![CDATA[]]><uri>x</uri></deleteContact>', '<deleteContact rid="1">x<uri>x</uri></deleteContact>',
      '<deleteContact rid="1"><uri><![CDATA[]]></uri></deleteContact>', '<deleteContact rid="1"><uri> </uri></deleteContact>',
      '<deleteContact rid="1"><uri>a<!--c-->b</uri></deleteContact>', '<deleteContact rid="1"><uri a="1">x</uri></deleteContact>',
      '<conference><notifyComposing><![CDATA[idle]]></notifyComposing></conference>', '<conference><notifyComposing>id<!--c-->le</notifyComposing></conference>',
      '<initiateSession rid="1"><categoryEventFilter>text<x/><logon rid="1"/><logon><bad/></logon></categoryEventFilter></initiateSession>',
      '<initiateSession rid="1"><categoryEventFilter a="1" xmlns:p="urn:p" p:b="2" rawCategories="x"/></initiateSession>',
      '<initiateSession rid="1"><foo xmlns=""/></initiateSession>', '<initiateSession rid="1"><foo xmlns="urn:o"><bar/></foo></initiateSession>',
      `<initiateSession rid="1"><foo xmlns="${NS}"/></initiateSession>`, '<terminateSession xmlns="" rid="1"/>', '<foo rid="1"/>',
      '<terminateSession rid="1" xmlns:p="urn:p" p:rid="2"/>', '<terminateSession xmlns:p="urn:p" p:rid="2"/>', '<terminateSession rid="1" xml:lang="en"/>',
      `<conference xmlns:xsi="${XSI}"><sendMessage xsi:type="SendMessage"><content/></sendMessage></conference>`,
      `<terminateSession rid="1" xmlns:xsi="${XSI}" xsi:nil="true"/>`, '<terminateSession rid="1" xmlns:a="foo"/>',
      '<addContact rid="1"><contact uri="sip:a" groups=""/><contact uri="sip:b" groups=" "/></addContact>', '<acknowledgeSubscriber rid="1"/>',
      '<conference/>', '<conference><acceptImSession/><terminateImSession/></conference>', '<search rid="1"/>', '<addGroup rid="1"/>',
      '<conference><sendMessage><content/><content/></sendMessage></conference>', '<conference><sendMessage><format/><Format/><content/></sendMessage></conference>',
    ];
    const before = { ...tally };
    for (const e of edges) {
      compare(`<cwaRequests xmlns="${NS}">${e}</cwaRequests>`);
      compare(`<cwaRequests>${e}</cwaRequests>`);
      compare(`<?xml version="1.0"?><!-- <cwaRequests> --><cwaRequests>${e}</cwaRequests>`);
    }
    expect(tally.valid - before.valid).to.be.greaterThan(15);
    expect(tally.invalid - before.invalid).to.be.greaterThan(40);
  });

  it('decides only on namespace URIs that libxml2 parses (it refuses a document declaring one it cannot)', () => {
    const uri = fc
      .tuple(fc.constantFrom('', 'urn:', 'http://', 'http:', 'a+b:', '1a:', 'x://h:'), fc.string({ unit: fc.constantFrom(...'az09:/.-_~@!$&()*+,;=?#%[] '), maxLength: 16 }))
      .map(([a, b]) => a + b);
    const before = { ...tally };
    fc.assert(
      fc.property(uri, (u) => {
        compare(`<cwaRequests xmlns="${NS}"><terminateSession rid="1" xmlns:a="${esc(u, true)}"/></cwaRequests>`);
      }),
      { numRuns: RUNS / 4, seed: SEED, endOnFailure: true },
    );
    expect(tally.decided - before.decided, 'namespace URIs decided on').to.be.greaterThan(RUNS / 40);
  });

  it(`agrees on every request sample (${SAMPLES.length}) and fixture body (${FIXTURES.length}), deciding all of them`, () => {
    const before = { ...tally };
    for (const text of SEEDS) compare(text);
    expect(tally.leftToLibxml2 + tally.documentsLeft - before.leftToLibxml2 - before.documentsLeft, 'samples left to libxml2').to.equal(0);
    expect(tally.valid - before.valid).to.be.greaterThan(SEEDS.length / 2);
    expect(tally.invalid - before.invalid, 'the .invalid samples').to.be.greaterThan(5);
  });

  it(`agrees on ${RUNS} generated documents, and decides most requests itself`, () => {
    const before = { ...tally };
    fc.assert(
      fc.property(documents, (text) => {
        compare(text);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const decided = tally.decided - before.decided;
    const left = tally.leftToLibxml2 - before.leftToLibxml2;
    expect(tally.documents - before.documents, 'documents the screener let through').to.be.greaterThan(RUNS / 2);
    expect(tally.valid - before.valid, 'valid verdicts').to.be.greaterThan(RUNS / 8);
    expect(tally.invalid - before.invalid, 'invalid verdicts').to.be.greaterThan(RUNS / 10);
    expect(left, 'requests left to libxml2').to.be.lessThan(decided / 10);
  });

  it('agrees on every value of every simple type the schema uses (attributes and element text)', () => {
    const holders = [
      (v: string) => `<deleteGroup rid="1"><group id="${v}"/></deleteGroup>`, // xs:unsignedInt
      (v: string) => `<updateContainer rid="1"><container id="${v}"/></updateContainer>`, // xs:int 1..32767
      (v: string) => `<addContact rid="1"><contact uri="sip:a" groups="${v}" tag="${v}"/></addContact>`, // list, CwaBoolean
      (v: string) => `<conference rid="1" confId="${v}"><notifyComposing>${v}</notifyComposing></conference>`, // unsignedInt, token enumeration
      (v: string) => `<conference><lock>${v}</lock></conference>`,
      (v: string) => `<search rid="1"><function>${v}</function></search>`,
      (v: string) => `<updateContainer rid="1"><container id="1"><addMember type="${v}"/></container></updateContainer>`,
      (v: string) => `<deleteContact rid="1"><uri>${v}</uri></deleteContact>`, // minLength 1
      (v: string) => `<addGroup rid="1"><group name="${v}"/></addGroup>`,
      (v: string) => `<initiateSession rid="1"><securityMode>${v}</securityMode><localeId>${v}</localeId></initiateSession>`,
      (v: string) =>
        `<publishRawCategories rid="1"><rawCategory name="a" nameSpace="x" instanceMask="0" container="2" expireType="static" publishTime="${v}"><x xmlns="urn:x"/></rawCategory></publishRawCategories>`,
    ];
    const decidedBefore = tally.decided;
    for (const holder of holders) {
      for (const v of [...VALUES, ...VALUES.map((x) => `&#9;${x}&#10;`)]) {
        compare(`<cwaRequests xmlns="${NS}">${holder(v.includes('&#') ? v : esc(v, true))}</cwaRequests>`);
      }
    }
    fc.assert(
      fc.property(fc.nat({ max: holders.length - 1 }), value, (h, v) => {
        compare(`<cwaRequests xmlns="${NS}">${holders[h]!(esc(v, true))}</cwaRequests>`);
      }),
      { numRuns: RUNS / 2, seed: SEED, endOnFailure: true },
    );
    expect(tally.decided - decidedBefore).to.be.greaterThan(holders.length * VALUES.length);
  });
});
