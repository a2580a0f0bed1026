// node dist/bench/codec.js [--ms 300] [--reps 5] [--candidates DIR]
// What reading a request body costs, per body, on the requests the gateway sees most: a
// sendMessage batch, an initiateImSession, a publishSelfPresence, a logon and a WebSocket
// command frame (a sendMessage batch as the WebSocket client writes it). Prints the median
// of `reps` timed windows (µs per body) for: decodeBatch as the gateway runs it, its parts
// (parseXmlTree: the fast reader, saxes for what it leaves; each of them alone; libxml2's
// parse, libxml2's parse + XSD validation, the compiled validator on a built tree), and,
// when --candidates names a folder whose
// node_modules holds them, other parsers (@rgrove/parse-xml, txml, fast-xml-parser) as
// a floor for "parse only". The candidates are not dependencies of the gateway.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { XmlDocument, ParseOption } from 'libxml2-wasm';
import { decodeBatch, type CodecLimits } from '../src/protocol/codec.js';
import { RequestSchema } from '../src/protocol/schema.js';
import { readXmlTreeFast } from '../src/protocol/xml-fast.js';
import { parseXmlTree, parseXmlTreeSaxes } from '../src/protocol/xml-tree.js';

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const WINDOW_MS = Number(arg('--ms', '300'));
const REPS = Number(arg('--reps', '5'));
const CANDIDATES = arg('--candidates');

const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
const LIMITS: CodecLimits = { maxDepth: 16, maxElements: 2000, maxAttributes: 32, maxAttributeLength: 4096, maxRequestsPerBatch: 32 };

export const BODIES: Record<string, string> = {
  sendMessage:
    `<cwaRequests xmlns="${NS}" sid="412"><conference rid="17" confId="3">` +
    `<sendMessage><content>bench message 17</content></sendMessage></conference></cwaRequests>`,
  initiateImSession:
    `<cwaRequests xmlns="${NS}" sid="412"><conference rid="5" confId="0"><initiateImSession>` +
    `<uris><uri>sip:bob@example.com</uri></uris><message><format>X-MMS-IM-Format: FN=Arial; EF=; CO=000000; CS=1; PF=00</format>` +
    `<content>got a minute?</content></message><subject>Budget review</subject></initiateImSession></conference></cwaRequests>`,
  publishSelfPresence:
    `<cwaRequests xmlns="${NS}" sid="123"><publishSelfPresence rid="2">` +
    `<cwaCategory name="state" instanceMask="0"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" ` +
    `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="true" xsi:type="userState"><availability>6500</availability></state></cwaCategory>` +
    `<cwaCategory name="note" instanceMask="0" expires="-1"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note">` +
    `<body type="personal">Working from home today</body></note></cwaCategory></publishSelfPresence></cwaRequests>`,
  logon: '<cwaRequests><logon><user>alice</user><password>alice-demo</password></logon></cwaRequests>',
  wsCommandFrame:
    `<cwaRequests sid="412" xmlns="${NS}"><conference rid="18" confId="3">` +
    `<sendMessage><content>m1842</content></sendMessage></conference></cwaRequests>`,
};

/** Median µs per call of `fn` over `REPS` windows of `WINDOW_MS`. */
function measure(fn: () => unknown): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up: JIT, WebAssembly tier-up
  const runs: number[] = [];
  for (let r = 0; r < REPS; r++) {
    // CPU time of this process, not wall time: the machine is shared, preemption is not our cost.
    let n = 0;
    const cpu = () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    };
    const start = cpu();
    let now = start;
    while (now - start < WINDOW_MS * 1000) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      now = cpu();
    }
    runs.push((now - start) / n);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)]!;
}

async function candidates(): Promise<Record<string, (text: string) => unknown>> {
  if (!CANDIDATES) return {};
  const req = createRequire(path.join(path.resolve(CANDIDATES), 'package.json'));
  const load = async (name: string): Promise<any> => import(pathToFileURL(req.resolve(name)).href);
  const out: Record<string, (text: string) => unknown> = {};
  const rgrove = await load('@rgrove/parse-xml');
  out['@rgrove/parse-xml (parse)'] = (t) => rgrove.parseXml(t);
  const txml = await load('txml');
  out['txml (parse, no checks)'] = (t) => (txml.parse ?? txml.default.parse)(t);
  const fxpModule = await load('fast-xml-parser');
  const fxp = fxpModule.XMLParser ? fxpModule : fxpModule.default;
  const parser = new fxp.XMLParser({ ignoreAttributes: false, processEntities: false });
  out['fast-xml-parser (parse)'] = (t) => parser.parse(t);
  out['fast-xml-parser (validate + parse)'] = (t) => {
    if (fxp.XMLValidator.validate(t) !== true) throw new Error('invalid');
    return parser.parse(t);
  };
  return out;
}

const schema = RequestSchema.load();
const SAFE = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE;
const WAYS: Record<string, (text: string) => unknown> = {
  'decodeBatch (as the gateway runs it)': (t) => decodeBatch(t, LIMITS, schema),
  'parseXmlTree (fast reader, saxes for the rest)': (t) => parseXmlTree(t, LIMITS),
  'fast reader alone (readXmlTreeFast)': (t) => {
    if (!readXmlTreeFast(t, LIMITS)) throw new Error('left to saxes');
  },
  'saxes screen + tree alone (parseXmlTreeSaxes)': (t) => parseXmlTreeSaxes(t, LIMITS),
  'libxml2 parse only': (t) => XmlDocument.fromString(t, { option: SAFE }).dispose(),
  'libxml2 parse + XSD per request (the second parse before)': (t) => schema.validateRequests(t, !t.includes('xmlns=')),
  'saxes tree + compiled validator': (t) => schema.compiled.validateBatch(parseXmlTreeSaxes(t, LIMITS), t),
  'parseXmlTree + compiled validator': (t) => schema.compiled.validateBatch(parseXmlTree(t, LIMITS), t),
  'compiled validator alone (tree built once)': (() => {
    const trees = new Map<string, ReturnType<typeof parseXmlTree>>();
    return (t: string) => {
      let tree = trees.get(t);
      if (!tree) trees.set(t, (tree = parseXmlTree(t, LIMITS)));
      return schema.compiled.validateBatch(tree, t);
    };
  })(),
};

async function main(): Promise<void> {
  const ways = { ...WAYS, ...(await candidates()) };
  const names = Object.keys(BODIES);
  console.log(`# decodeBatch and candidates, µs of CPU per body (median of ${REPS} × ${WINDOW_MS} ms), node ${process.version}\n`);
  console.log(`| way | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '---:').join('|')}|`);
  for (const [way, fn] of Object.entries(ways)) {
    const cells = names.map((n) => {
      try {
        return measure(() => fn(BODIES[n]!)).toFixed(1);
      } catch (err) {
        return `fails: ${(err as Error).message.slice(0, 40)}`;
      }
    });
    console.log(`| ${way} | ${cells.join(' | ')} |`);
  }
}

await main();
