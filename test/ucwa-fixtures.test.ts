// Replays the UCWA scenarios of fixtures/ucwa/ (format: fixtures/ucwa/README.md) against a
// fresh gateway, once per representation the file names. UCWA clients are the test client
// (every document checked against schemas/ucwa.xsd or ucwa.schema.json), CWA clients the
// legacy test client (every document checked against the CWA schemas). Server-chosen values
// (hrefs, Location, confIds) are captured into placeholders `{name}`; `{rid}` is the CWA
// client's next rid.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { XNode } from '../src/protocol/xml-tree.js';
import { conferenceChild, drainEvents, LegacyClient, messageTexts } from './support/client.js';
import { startTestGateway } from './support/gateway.js';
import { dataText, describe as describeEvent, link, UcwaClient, type Ev, type Mode } from './support/ucwa-client.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test: the repository root is two folders up.
export const UCWA_FIXTURES_DIR = join(here, '..', '..', 'fixtures', 'ucwa');

interface Scenario {
  name: string;
  modes: Mode[];
  clients: Record<string, { door: 'ucwa'; password: string } | { door: 'cwa' }>;
  steps: Step[];
}

interface Step {
  client: string;
  note?: string;
  signIn?: true;
  drain?: true;
  until?: string;
  post?: string;
  props?: Record<string, unknown>;
  links?: Record<string, string>;
  text?: string;
  contentType?: string;
  status?: number;
  command?: string;
  expect?: string[];
  hrefs?: Record<string, string>;
  texts?: string[];
  reason?: Record<string, string>;
  capture?: Record<string, string>;
}

const STEP_KEYS = ['client', 'note', 'signIn', 'drain', 'until', 'post', 'props', 'links', 'text', 'contentType', 'status', 'command', 'expect', 'hrefs', 'texts', 'reason', 'capture'];
const ACTIONS = ['signIn', 'drain', 'until', 'post', 'command'];

/** Reads and checks a scenario file. */
export function loadScenario(file: string): Scenario {
  return checkScenario(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** The format's rules: a name, representations, clients of a known door, steps of known keys with exactly one action and a known client. */
export function checkScenario(doc: unknown, file: string): Scenario {
  const s = doc as Scenario;
  const where = (i: number) => `${file}: steps[${i}]`;
  expect(s.name, `${file}: name`).to.be.a('string');
  expect(s.modes, `${file}: modes`).to.be.an('array').that.is.not.empty;
  for (const m of s.modes) expect(['json', 'xml'], `${file}: mode ${m}`).to.include(m);
  for (const [name, c] of Object.entries(s.clients)) expect(['ucwa', 'cwa'], `${file}: client ${name}`).to.include(c.door);
  for (const [i, step] of s.steps.entries()) {
    for (const k of Object.keys(step)) expect(STEP_KEYS, `${where(i)}: unknown key "${k}"`).to.include(k);
    expect(s.clients[step.client], `${where(i)}: unknown client "${step.client}"`).to.not.equal(undefined);
    const actions = ACTIONS.filter((a) => (step as unknown as Record<string, unknown>)[a] !== undefined);
    expect(actions, `${where(i)}: exactly one of ${ACTIONS.join(', ')}`).to.have.length(1);
  }
  return s;
}

/** The key a UCWA event is named by in scenarios: `sender:type:rel(status)`, plus ` in <in>` when it has one. */
const keyOf = (e: Ev) => describeEvent(e) + (e.in ? ` in ${e.in}` : '');

/** `name` or `name=text`: a conference event whose child `name` (with that text) is present. */
function cwaMatches(e: XNode, pattern: string): boolean {
  const [name, text] = pattern.split('=');
  const child = conferenceChild(e, name!);
  return Boolean(child) && (text === undefined || child!.text === text);
}

async function replayScenario(s: Scenario, mode: Mode): Promise<void> {
  const gw = await startTestGateway({ holdMs: 0 });
  const vars = new Map<string, string>();
  const ucwa = new Map<string, UcwaClient>();
  const cwa = new Map<string, LegacyClient>();
  /** Per UCWA client: how many of its received events earlier steps read. */
  const cursor = new Map<string, number>();
  const subst = (t: string, c?: LegacyClient) =>
    t.replace(/\{([A-Za-z0-9_.]+)\}/g, (_, name: string) => {
      if (name === 'rid' && c) return String(c.nextRid());
      const v = vars.get(name);
      if (v === undefined) throw new Error(`placeholder {${name}} was never captured`);
      return v;
    });
  try {
    for (const [i, step] of s.steps.entries()) {
      const at = `${s.name} [${mode}] steps[${i}]${step.note ? ` (${step.note})` : ''}`;
      const kind = s.clients[step.client]!;
      if (kind.door === 'ucwa') {
        if (step.signIn) {
          const c = await new UcwaClient(gw.url, step.client, kind.password, mode).signIn();
          ucwa.set(step.client, c);
          vars.set(`${step.client}.startMessaging`, link(c.communication(), 'startMessaging'));
          vars.set(`${step.client}.app`, c.app!.href);
          continue;
        }
        const c = ucwa.get(step.client)!;
        if (step.post !== undefined) {
          const href = subst(step.post);
          const reply = step.text !== undefined
            ? await c.request('POST', href, step.text, { 'Content-Type': step.contentType ?? 'text/plain' })
            : await c.post(href, (step.props ?? {}) as Record<string, string | string[] | null>, step.links ?? {});
          if (step.status !== undefined) expect(reply.status, `${at}: ${reply.text}`).to.equal(step.status);
          for (const [name, from] of Object.entries(step.capture ?? {})) {
            expect(from, `${at}: a POST captures only "location"`).to.equal('location');
            const location = reply.headers.get('location');
            expect(location, `${at}: no Location`).to.be.a('string');
            vars.set(name, location!);
          }
          continue;
        }
        // drain / until: the events not yet read by an earlier step, up to (until) the first match, or all of them (drain).
        const before = cursor.get(step.client) ?? 0;
        const match = () => c.received.findIndex((e, k) => k >= before && keyOf(e) === step.until);
        if (step.drain) await c.drain();
        else if (match() < 0) await c.until((e) => keyOf(e) === step.until, 15).catch((err: Error) => expect.fail(`${at}: ${err.message}`));
        const end = step.drain ? c.received.length : match() + 1;
        cursor.set(step.client, end);
        const events = c.received.slice(before, end);
        const keys = events.map(keyOf);
        const find = (key: string) => {
          const e = events.find((x) => keyOf(x) === key);
          expect(e, `${at}: no ${key} among ${keys.join(', ')}`).to.not.equal(undefined);
          return e!;
        };
        let from = 0;
        for (const want of step.expect ?? []) {
          const k = keys.indexOf(want, from);
          expect(k, `${at}: ${want} (in this order) among ${keys.join(', ')}`).to.be.at.least(0);
          from = k + 1;
        }
        for (const [key, props] of Object.entries(step.props ?? {})) {
          const e = find(key);
          for (const [p, v] of Object.entries(props as Record<string, unknown>)) expect(e.resource?.props[p], `${at}: ${key} ${p}`).to.equal(v);
        }
        for (const [key, href] of Object.entries(step.hrefs ?? {})) expect(find(key).href, `${at}: ${key} href`).to.equal(subst(href));
        for (const [key, reason] of Object.entries(step.reason ?? {})) {
          const e = find(key);
          expect(`${e.reason?.code}/${e.reason?.subcode}`, `${at}: ${key} reason`).to.equal(reason);
        }
        if (step.texts) {
          const texts = events.filter((e) => e.rel === 'message' && e.resource?.props.direction === 'Incoming').map((e) => dataText(link(e.resource!, 'plainMessage')));
          expect(texts, `${at}: incoming texts`).to.deep.equal(step.texts);
        }
        for (const [name, spec] of Object.entries(step.capture ?? {})) {
          const cut = spec.lastIndexOf(' ');
          const e = find(spec.slice(0, cut));
          const rel = spec.slice(cut + 1);
          vars.set(name, rel === 'self' ? e.href : link(e.resource!, rel));
        }
        continue;
      }
      // A CWA client.
      if (step.signIn) {
        const c = await new LegacyClient(gw.url, step.client).signIn();
        await drainEvents(c);
        cwa.set(step.client, c);
        continue;
      }
      const c = cwa.get(step.client)!;
      if (step.command !== undefined) {
        const reply = await c.command(subst(step.command, c));
        expect(reply.status, `${at}: ${reply.body}`).to.equal(200);
        expect(reply.body, at).to.not.contain('requestFailed');
        for (const [name, from] of Object.entries(step.capture ?? {})) {
          expect(from, `${at}: a command captures only "confId"`).to.equal('confId');
          const answer = reply.root.children[0]!;
          const confId = answer.attrs.confId ?? answer.children.find((x) => x.name === 'confId')?.text ?? /confId="(\d+)"/.exec(reply.body)?.[1];
          expect(confId, `${at}: no confId in ${reply.body}`).to.be.a('string');
          vars.set(name, confId!);
        }
        continue;
      }
      const events = await c.pollUntil((e) => cwaMatches(e, step.until!), 15).catch((err: Error) => expect.fail(`${at}: ${err.message}`));
      if (step.texts) {
        const invited = events.flatMap((e) => {
          const r = conferenceChild(e, 'imSessionReceived');
          const content = r?.children.find((x) => x.name === 'message')?.children.find((x) => x.name === 'content');
          return content ? [content.text] : [];
        });
        expect([...invited, ...messageTexts(events)], `${at}: texts`).to.deep.equal(step.texts);
      }
      for (const [name, from] of Object.entries(step.capture ?? {})) {
        expect(from, `${at}: a poll captures only "confId"`).to.equal('confId');
        vars.set(name, events.find((e) => cwaMatches(e, step.until!))!.attrs.confId!);
      }
    }
  } finally {
    await gw.close();
  }
}

describe('UCWA scenarios (fixtures/ucwa)', () => {
  const files = readdirSync(UCWA_FIXTURES_DIR).filter((f) => f.endsWith('.json')).sort();
  it('finds the seed scenario: outgoing IM, incoming IM, decline', () => {
    expect(files).to.include.members(['outgoing-im.json', 'incoming-im.json', 'decline.json']);
  });
  it('refuses a scenario step with an unknown key, two actions or an unknown client, naming the step', () => {
    const doc = { name: 'x', modes: ['json'], clients: { a: { door: 'cwa' } }, steps: [{ client: 'a', signIn: true, drain: true }] };
    expect(() => checkScenario(doc, 'x.json')).to.throw(/x\.json: steps\[0\]: exactly one of/);
    expect(() => checkScenario({ ...doc, steps: [{ client: 'a', signIn: true, expext: [] }] }, 'x.json')).to.throw(/steps\[0\]: unknown key "expext"/);
    expect(() => checkScenario({ ...doc, steps: [{ client: 'b', signIn: true }] }, 'x.json')).to.throw(/unknown client "b"/);
  });
  for (const f of files) {
    const s = loadScenario(join(UCWA_FIXTURES_DIR, f));
    for (const mode of s.modes) {
      it(`${f} [${mode}]: ${s.name}`, async () => replayScenario(s, mode));
    }
  }
});
