// Records a transcript: replays a fixture whose steps have no `expect` against a fresh
// gateway and writes the answers in as expectations, with the values that differ from run
// to run (tickets, signInData, publish times) as wildcards and conversation ids and focus
// URIs as captures (so the replay checks they stay the same where they should).
// Usage: node dist/test/support/record-fixture.js SCRIPT.json OUT.json
// A recorded transcript is only as right as the gateway was: read it against the
// reference before committing it.
import { readFileSync, writeFileSync } from 'node:fs';
import { startTestGateway } from './gateway.js';
import { parseFixture, replayFixture, usesManualClock, type Bindings, type RecordedAnswer } from './transcript.js';

/** Names values on first sight (conversation1, focus1 …) and binds them, so later requests can use {focus1}. */
function generalizer(bind: (name: string, value: string) => void) {
  const names = new Map<string, string>();
  const capture = (kind: string, value: string) => {
    const known = names.get(value);
    if (known) return `{${known}}`;
    const name = `${kind}${[...names.values()].filter((n) => n.startsWith(kind)).length + 1}`;
    names.set(value, name);
    bind(name, value);
    return `{${name}=}`;
  };
  return (xml: string) =>
    xml
      .replace(/conversationId="([^"]+)"/g, (_m, v: string) => `conversationId="${capture('conversation', v)}"`)
      .replace(/opaque=app:conf:focus:id:([0-9A-F]+)/g, (_m, v: string) => `opaque=app:conf:focus:id:${capture('focus', v)}`)
      .replace(/publishTime="[^"]*"/g, 'publishTime="{*}"')
      .replace(/<signInData>[^<]*<\/signInData>/g, '<signInData>{*}</signInData>')
      .replace(/<pollWaitTime>\d+<\/pollWaitTime>/g, '<pollWaitTime>{*}</pollWaitTime>')
      .replace(/<sid>\d+<\/sid>/g, '<sid>{*}</sid>');
}

async function main(script: string, outFile: string): Promise<void> {
  const doc = JSON.parse(readFileSync(script, 'utf8'));
  const fixture = parseFixture(structuredClone(doc), script, { recording: true });
  const manual = usesManualClock(fixture);
  const gw = await startTestGateway({ holdMs: 0, ...fixture.gateway }, { manualClock: manual });
  const expectations = new Map<number, Record<string, unknown>>();
  let bindings: Bindings | undefined;
  const general = generalizer((name, value) => bindings!.capture(name, value, 'recorded'));
  const record = (i: number, a: RecordedAnswer, b: Bindings) => {
    bindings = b;
    const step = doc.steps[i] as Record<string, unknown>;
    if (step.expect !== undefined) return;
    const expect: Record<string, unknown> = { status: a.status };
    if (step.logon !== undefined) expect.headers = { 'CWA-Ticket': a.ticket === null ? null : '{*}' };
    if (a.root.name === 'cwaEvents') {
      const inner = a.body.replace(/^<cwaEvents[^>]*?(\/>|>)/, '').replace(/<\/cwaEvents>$/, '');
      expect.events = splitTopLevel(inner).map(general);
    } else {
      expect.body = general(a.body);
    }
    expectations.set(i, expect);
  };
  try {
    await replayFixture(
      fixture,
      gw.url,
      async (ms) => {
        gw.clock!.advance(ms);
        await gw.gateway.tick();
      },
      record,
    );
  } finally {
    await gw.close();
    // Written even when a step failed, to show what was recorded up to there.
    for (const [i, expect] of expectations) doc.steps[i].expect = expect;
    writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

/** Splits a sequence of sibling elements (the gateway's own output: no comments, no text). */
function splitTopLevel(xml: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (const m of xml.matchAll(/<(\/?)[^>]*?(\/?)>/g)) {
    if (m[1]) depth--;
    else if (!m[2]) depth++;
    if (depth === 0) {
      out.push(xml.slice(start, m.index! + m[0].length));
      start = m.index! + m[0].length;
    }
  }
  return out;
}

const [script, out] = process.argv.slice(2);
if (!script || !out) {
  console.error('usage: node dist/test/support/record-fixture.js SCRIPT.json OUT.json');
  process.exitCode = 2;
} else {
  await main(script, out);
}
