// Replays every transcript in fixtures/ against a fresh gateway with the package's own
// replayer (cwa-gateway/testing), and checks the matcher that compares them.
// Run only these: npx mocha dist/test/fixtures.test.js [--grep im/]
import { expect } from 'chai';
import { join } from 'node:path';
import {
  Bindings,
  compareEvents,
  compareNode,
  loadTranscript,
  matchTemplate,
  Mismatch,
  parseTranscript as parseFixture,
  replayTranscript,
  TranscriptError as FixtureError,
  transcriptFiles,
  usesManualClock,
  type Transcript as Fixture,
} from '../src/testing/index.js';
import { parse } from './support/client.js';
import { startTestGateway } from './support/gateway.js';
import { FIXTURES_DIR, replayFixture } from './support/transcript.js';


describe('fixtures: transcript replay', () => {
  const files = transcriptFiles([FIXTURES_DIR], join(FIXTURES_DIR, '..'));
  it('finds transcripts under fixtures/', () => {
    expect(files, `no *.json under ${FIXTURES_DIR}`).to.not.be.empty;
  });
  for (const { file, name } of files) {
    // Loaded up front for the test title; a malformed fixture still gets its own failing test.
    let fixture: Fixture | undefined;
    let loadError: unknown;
    try {
      fixture = loadTranscript(file, name);
    } catch (err) {
      loadError = err;
    }
    it(`${name}${fixture ? `: ${fixture.title}` : ''}`, async () => {
      if (!fixture) throw loadError;
      const manual = usesManualClock(fixture);
      const gw = await startTestGateway({ holdMs: 0, ...fixture.gateway }, { manualClock: manual });
      const advance = async (ms: number) => {
        gw.clock!.advance(ms);
        await gw.gateway.tick();
      };
      try {
        const result = await replayTranscript(fixture, { url: gw.url, advance: manual ? advance : undefined });
        const failure = result.steps.find((s) => s.failure)?.failure;
        if (failure) throw new Error(failure.message);
        expect(result.passed).to.equal(true);
        expect(result.steps.map((s) => s.status)).to.deep.equal(fixture.steps.map(() => 'passed'));
      } finally {
        await gw.close();
      }
    });
  }
});

describe('fixtures: transcript matcher', () => {
  const node = (xml: string) => parse(xml);
  const mismatch = (fn: () => void): Mismatch => {
    try {
      fn();
    } catch (err) {
      if (err instanceof Mismatch) return err;
      throw err;
    }
    throw new Error('expected a mismatch, but the documents matched');
  };

  it('matches placeholders: {*}, {name=} then {name}, {**}, attribute order', () => {
    const b = new Bindings();
    compareNode(
      node('<conference confId="{conf=}" eid="3"><initiateImSessionAccepted rid="{*}" confId="{conf}"/></conference>'),
      node('<conference eid="3" confId="7"><initiateImSessionAccepted confId="7" rid="2"/></conference>'),
      b,
      '/conference',
      'test',
    );
    expect(b.get('conf')?.value).to.equal('7');
    compareNode(node('<selfPresence eid="2">{**}</selfPresence>'), node('<selfPresence eid="2"><cwaCategory name="state"/></selfPresence>'), b, '/x', 'test');
    expect(matchTemplate('sip:{user=}@example.com', 'sip:bob@example.com', b, 'test')).to.equal(undefined);
    expect(b.get('user')?.value).to.equal('bob');
    // A capture can be checked again later in the same template.
    expect(matchTemplate('{n=}-{n}', '4-4', b, 'test')).to.equal(undefined);
    expect(matchTemplate('{m=}-{m}', '4-5', b, 'test')).to.match(/^expected "\{m=\}-\{m\}", got "4-5"$/);
  });

  it('fails on an attribute mismatch, naming the path and both values', () => {
    const m = mismatch(() =>
      compareNode(
        node('<conference eid="4" confId="1"><participant uri="sip:bob@example.com" role="attendee"/></conference>'),
        node('<conference eid="4" confId="1"><participant uri="sip:bob@example.com" role="presenter"/></conference>'),
        new Bindings(),
        '/conference',
        'test',
      ),
    );
    expect(m.path).to.equal('/conference/participant/@role');
    expect(m.detail).to.contain('"attendee"').and.contain('"presenter"');
    // An extra attribute, a different namespace and different text fail too.
    expect(mismatch(() => compareNode(node('<a/>'), node('<a x="1"/>'), new Bindings(), '/a', 't')).detail).to.contain('unexpected attribute');
    expect(mismatch(() => compareNode(node('<a xmlns="urn:x"/>'), node('<a/>'), new Bindings(), '/a', 't')).detail).to.contain('namespace');
    expect(mismatch(() => compareNode(node('<a>x</a>'), node('<a>y</a>'), new Bindings(), '/a', 't')).path).to.equal('/a/text()');
  });

  it('fails on a missing or an extra event, listing both sequences', () => {
    const expected = ['<conference eid="5" confId="1"><escalationMode>none</escalationMode></conference>', '<conference eid="6" confId="1"><inviteFailed uri="sip:carol@example.com"/></conference>'].map(node);
    const m = mismatch(() => compareEvents(expected, expected.slice(0, 1), new Bindings(), 'test'));
    expect(m.path).to.equal('events[1]');
    expect(m.detail).to.contain('missing event <conference eid="6"');
    expect(m.detail).to.contain('actual events:   [conference/escalationMode=none]');
    expect(mismatch(() => compareEvents(expected.slice(0, 1), expected, new Bindings(), 'test')).detail).to.contain('unexpected event');
  });

  it('fails when a captured value is reused where the answer differs, or captured again differently', () => {
    const b = new Bindings();
    b.capture('conf.alice', '1', 'steps[3]');
    const m = mismatch(() => compareNode(node('<conference eid="9" confId="{conf.alice}"/>'), node('<conference eid="9" confId="2"/>'), b, '/conference', 'steps[7]'));
    expect(m.path).to.equal('/conference/@confId');
    expect(m.detail).to.contain('expected "1", got "2"');
    const again = mismatch(() => compareNode(node('<conference confId="{conf.alice=}"/>'), node('<conference confId="2"/>'), b, '/conference', 'steps[8]'));
    expect(again.detail).to.contain('already captured as "1" (steps[3])');
    const unbound = mismatch(() => compareNode(node('<a x="{nope}"/>'), node('<a x="1"/>'), b, '/a', 't'));
    expect(unbound.detail).to.contain('{nope} is used before it was captured');
  });

  it('rejects a malformed fixture with a message naming the file and the place', () => {
    const base = { title: 't', clients: { alice: 'alice' } };
    const bad = (doc: unknown) => {
      try {
        parseFixture(doc, 'fixtures/x.json');
      } catch (err) {
        expect(err).to.be.instanceOf(FixtureError);
        return (err as Error).message;
      }
      throw new Error('expected a FixtureError');
    };
    expect(bad({ ...base, steps: [{ client: 'alice', logon: {}, expext: {} }] })).to.equal(
      'fixtures/x.json: steps[0]: unknown key "expext" (allowed: client, note, logon, post, poll, receive, ws, send, ack, close, closed, sleepMs, advanceMs, expect)',
    );
    expect(bad({ ...base, steps: [{ client: 'bob', poll: {}, expect: {} }] })).to.contain('steps[0].client: "bob" is not declared');
    expect(bad({ ...base, steps: [{ client: 'alice', poll: {}, expect: { events: ['<a>'] } }] })).to.contain('steps[0].expect.events[0]: expected XML is not well-formed');
    expect(bad({ ...base, gateway: { holdMS: 0 }, steps: [] })).to.contain('gateway.holdMS: unknown setting');
    expect(bad({ ...base, steps: [{ client: 'alice', post: '<x/>', poll: {}, expect: {} }] })).to.contain('needs exactly one of');
  });

  it('reports a replay difference with the fixture file, the step and the answer', async () => {
    const fx = parseFixture(
      {
        title: 'wrong status on purpose',
        clients: { alice: 'alice' },
        steps: [{ client: 'alice', logon: { password: 'wrong' }, note: 'bad password', expect: { status: 200 } }],
      },
      'fixtures/inline.json',
    );
    const gw = await startTestGateway({ holdMs: 0 });
    try {
      const err = await replayFixture(fx, gw.url).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/^fixtures\/inline\.json, steps\[0\] \(alice logon\) "bad password": HTTP status: expected 200, got 401/);
      expect(err?.message).to.contain('answer (HTTP 401): <cwaResponses');
    } finally {
      await gw.close();
    }
  });
});
