// Fuzzing the command channel (and, more briefly, logon and the data channel) with random
// and mutated documents. Seeds: every request sample of schemas/samples, and the request
// bodies of fixtures/ when that directory exists. For every case: no crash, no 500, no
// hang, a well-formed answer valid against cwa-responses.xsd, and the next valid request
// still works. CWA_FUZZ_RUNS raises the number of cases (default keeps `npm test` fast);
// CWA_FUZZ_SEED replays a run.
import { expect } from 'chai';
import fc from 'fast-check';
import { fixtureRequestBodies, requestSamples } from './support/request-corpus.js';
import { LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidDocument, expectValidResponses } from './support/schemas.js';

const RUNS = Number(process.env.CWA_FUZZ_RUNS ?? 1000);
const SEED = process.env.CWA_FUZZ_SEED === undefined ? undefined : Number(process.env.CWA_FUZZ_SEED);
const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

const samples = requestSamples();
const SEEDS = [...samples, ...fixtureRequestBodies()];
const LOGON_SEEDS = SEEDS.filter((s) => s.includes('<logon'));
const VOCABULARY = [...new Set(SEEDS.flatMap((s) => [...s.matchAll(/<([A-Za-z][\w]*)/g)].map((m) => m[1]!)))];
const ATTRIBUTES = ['rid', 'sid', 'confId', 'confid', 'eid', 'uri', 'name', 'type', 'id', 'value', 'xmlns'];

const HOSTILE_TOKENS = [
  '<', '>', '&', '"', "'", '&amp;', '&lol;', '&#0;', '&#x1F600;', '&#xD800;', '&#65;', ']]>', '<![CDATA[x]]>', '<!-- c -->',
  '<!DOCTYPE x [<!ENTITY a "b">]>', '<!ENTITY a SYSTEM "file:///etc/passwd">', '<?xml-stylesheet href="x"?>', '<?xml version="1.0"?>',
  '</cwaRequests>', '<cwaRequests>', ' xmlns="urn:other"', ' xmlns:a="urn:a"', ' a:b="1"', ' rid="1"', ' rid=""', ' sid="-1"',
  ' sid="99999999999999999999"', ' confId="0"', ' confId="-5"', ' confId="1e3"', '\u0000', '\u0001', '\uFFFE', '\uFEFF', '\uD800',
  '<a>'.repeat(40), '</a>'.repeat(3), '<x/>'.repeat(50), 'x'.repeat(5000), `<content>${'é'.repeat(300)}</content>`,
  '<initiateSession rid="7"/>', '<terminateSession rid="8"/>', '<sendMessage><content>m</content></sendMessage>',
];

type Mutation =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'replace'; at: number; text: string }
  | { op: 'truncate'; at: number }
  | { op: 'wrap'; at: number; len: number; depth: number };

const position = fc.double({ min: 0, max: 1, noNaN: true });
const insertion = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_TOKENS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
const mutation: fc.Arbitrary<{ op: Mutation['op']; p: number; q: number; text: string; depth: number }> = fc.record({
  op: fc.constantFrom('delete', 'insert', 'insert', 'duplicate', 'replace', 'truncate', 'wrap'),
  p: position,
  q: fc.double({ min: 0, max: 0.3, noNaN: true }),
  text: insertion,
  depth: fc.integer({ min: 1, max: 30 }),
});

function mutate(doc: string, m: { op: Mutation['op']; p: number; q: number; text: string; depth: number }): string {
  const at = Math.floor(m.p * doc.length);
  const len = Math.max(1, Math.floor(m.q * doc.length));
  switch (m.op) {
    case 'delete':
      return doc.slice(0, at) + doc.slice(at + len);
    case 'insert':
      return doc.slice(0, at) + m.text + doc.slice(at);
    case 'duplicate':
      return doc.slice(0, at + len) + doc.slice(at, at + len) + doc.slice(at + len);
    case 'replace':
      return doc.slice(0, at) + m.text + doc.slice(at + Math.min(len, m.text.length || 1));
    case 'truncate':
      return doc.slice(0, at);
    case 'wrap':
      return doc.slice(0, at) + '<w>'.repeat(m.depth) + doc.slice(at, at + len) + '</w>'.repeat(m.depth) + doc.slice(at + len);
  }
}

/** A body: bytes (so that invalid UTF-8 is reachable) and a content type. */
interface Case {
  body: Buffer;
  contentType: string | undefined;
}

function cases(seeds: string[], sid: () => number): fc.Arbitrary<Case> {
  const seeded = fc
    .record({ seed: fc.constantFrom(...seeds), liveSid: fc.boolean(), mutations: fc.array(mutation, { minLength: 0, maxLength: 4 }) })
    .map(({ seed, liveSid, mutations }) => {
      let doc = liveSid ? seed.replace(/(<cwaRequests\b[^>]*?\ssid=")[^"]*"/, `$1${sid()}"`) : seed;
      for (const m of mutations) doc = mutate(doc, m);
      return Buffer.from(doc, 'utf8');
    });
  const byteFlips = fc
    .record({ seed: fc.constantFrom(...seeds), flips: fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }) })
    .map(({ seed, flips }) => {
      const buf = Buffer.from(seed, 'utf8');
      for (const [p, byte] of flips) buf[Math.floor(p * (buf.length - 1))] = byte;
      return buf;
    });
  const element: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
    node: fc
      .record({
        name: fc.constantFrom(...VOCABULARY),
        attrs: fc.array(fc.tuple(fc.constantFrom(...ATTRIBUTES), fc.oneof(fc.nat().map(String), fc.string({ maxLength: 8 }))), { maxLength: 3 }),
        children: fc.oneof({ depthSize: 'small' }, fc.constant([] as string[]), fc.array(tie('node'), { maxLength: 3 })),
        text: fc.oneof(fc.constant(''), fc.string({ maxLength: 12 }).map((t) => t.replace(/[<&]/g, ' '))),
      })
      .map(({ name, attrs, children, text }) => {
        const a = attrs.map(([k, v]) => ` ${k}="${v.replace(/[<&"]/g, ' ')}"`).join('');
        return `<${name}${a}>${text}${children.join('')}</${name}>`;
      }),
  })).node;
  const structured = fc
    .array(element, { minLength: 1, maxLength: 4 })
    .map((els) => Buffer.from(`<cwaRequests xmlns="${NS}" sid="${sid()}">${els.join('')}</cwaRequests>`, 'utf8'));
  const random = fc.oneof(
    fc.string({ maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  );
  // Around the body limit (8192 bytes in this suite): some just under, some over (413).
  const big = fc
    .record({ seed: fc.constantFrom(...seeds), size: fc.integer({ min: 6000, max: 12_000 }) })
    .map(({ seed, size }) => Buffer.from(seed.replace(/<\/cwaRequests>\s*$/, `<!--${'y'.repeat(size)}--></cwaRequests>`), 'utf8'));
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('text/xml') },
    { weight: 1, arbitrary: fc.constantFrom(undefined, 'application/xml', 'text/plain;charset=UTF-8', 'application/json', 'text/xml; charset=utf-16', 'multipart/form-data; boundary=x', '') },
  );
  return fc.record({
    body: fc.oneof(
      { weight: 10, arbitrary: seeded },
      { weight: 4, arbitrary: byteFlips },
      { weight: 4, arbitrary: structured },
      { weight: 2, arbitrary: random },
      { weight: 1, arbitrary: big },
    ),
    contentType,
  });
}

describe('fuzz', function () {
  this.timeout(Math.max(60_000, RUNS * 200));
  let gw: TestGateway;
  let alice: LegacyClient;
  const statuses = new Map<number, number>();

  before(async () => {
    expect(SEEDS.length, 'request samples found').to.be.greaterThan(20);
    // Rate limits off: the fuzzer is one client sending as fast as it can.
    // A small body limit so that grown mutants reach 413 too.
    gw = await startTestGateway({ holdMs: 0, maxBodyBytes: 8192, rateAddress: 0, rateTicket: 0, rateLogonAddress: 0, rateLogonFailures: 0 });
    alice = await new LegacyClient(gw.url, 'alice').signIn();
  });
  after(async () => {
    if (process.env.CWA_FUZZ_RUNS) console.log(`      statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    await gw.close();
  });

  async function send(path: string, { body, contentType }: Case, ticket: string | undefined) {
    const started = Date.now();
    const res = await fetch(gw.url + path, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: { ...(contentType !== undefined ? { 'Content-Type': contentType } : {}), ...(ticket ? { 'CWA-Ticket': ticket } : {}) },
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    return { status: res.status, text, type: res.headers.get('content-type'), ms: Date.now() - started };
  }

  /** The gateway still carries out a valid request (whatever the fuzzed one did to alice's session). */
  async function stillWorks(): Promise<void> {
    const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="999999"><acceptImSession/></conference>`);
    expect(r.status).to.equal(200);
    expect(r.root.children[0]!.name).to.equal('requestFailed');
    expect(r.root.children[0]!.children[0]!.attrs.code).to.match(/^18(100|102)$/);
  }

  it(`answers ${RUNS} random and mutated command batches with a valid document, never 500, never hanging`, async () => {
    await fc.assert(
      fc.asyncProperty(cases(SEEDS, () => alice.sid), async (c) => {
        const r = await send('/cwa/MainCommandHandler.ashx', c, alice.ticket);
        expect([200, 400, 413, 415], r.text).to.include(r.status);
        expect(r.type).to.equal('text/xml; charset=utf-8');
        expectValidResponses(r.text);
        const top = parse(r.text);
        if (r.status !== 200) expect(top.children.map((e) => e.name)).to.deep.equal(['error']);
        expect(r.ms).to.be.lessThan(2000);
        await stillWorks();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`answers ${Math.ceil(RUNS / 5)} random and mutated logons with a valid document, never 500`, async () => {
    await fc.assert(
      fc.asyncProperty(cases(LOGON_SEEDS, () => 0), async (c) => {
        const r = await send('/forms/logon.html', c, undefined);
        expect([200, 400, 401, 413, 415], r.text).to.include(r.status);
        expectValidResponses(r.text);
        expect(r.ms).to.be.lessThan(2000);
      }),
      { numRuns: Math.ceil(RUNS / 5), seed: SEED, endOnFailure: true },
    );
    await stillWorks();
  });

  it(`answers ${Math.ceil(RUNS / 5)} random data-channel queries at once with a valid document`, async () => {
    const value = fc.oneof(fc.constant(String(alice.sid)), fc.nat().map(String), fc.string({ maxLength: 10 }), fc.constantFrom('-1', '1e9', '999999999999999999999', '%00', '%', ''));
    // Raw values: a stray `%` or `#` is part of the fuzz (the URL parser and the query reader must cope).
    const query = fc
      .tuple(fc.array(fc.tuple(fc.constantFrom('Sid', 'sid', 'AckId', 'ACKID', 'UA', 'x', ''), value), { maxLength: 5 }), fc.constantFrom('&', '&&'))
      .map(([pairs, sep]) => pairs.map(([k, v]) => `${k}=${v}`).join(sep));
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const res = await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?${q}`, { headers: { 'CWA-Ticket': alice.ticket! }, signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        expect([200, 400, 404, 409], `${q}: ${text}`).to.include(res.status);
        expectValidDocument(text);
      }),
      { numRuns: Math.ceil(RUNS / 5), seed: SEED, endOnFailure: true },
    );
  });
});
