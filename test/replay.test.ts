// cwa-gateway/testing and `cwa-gateway replay`: transcripts replayed from a library call and
// from the real command line, with structured results, reports and exit codes.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTranscript, parseXml, replay, startEmbeddedGateway, TranscriptError, type TranscriptResult } from '../src/testing/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/cwa-gateway.js');
const dir = mkdtempSync(join(tmpdir(), 'cwa-replay-'));

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

const oneToOne = () => JSON.parse(readFileSync(join(root, 'fixtures/im/one-to-one.json'), 'utf8')) as { steps: Record<string, unknown>[] } & Record<string, unknown>;

/** one-to-one.json with the first message's text changed where bob receives it (steps[8]). */
function changedMessage(): string {
  const text = readFileSync(join(root, 'fixtures/im/one-to-one.json'), 'utf8');
  const at = text.indexOf('<content>got a minute?</content>', text.indexOf('imSessionReceived'));
  expect(at).to.be.greaterThan(0);
  const file = join(dir, 'changed.json');
  writeFileSync(file, text.slice(0, at) + '<content>got an hour?</content>' + text.slice(at + '<content>got a minute?</content>'.length));
  return file;
}

const write = (name: string, doc: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return file;
};

describe('replay: cwa-gateway/testing', function () {
  this.timeout(30_000);

  it('replays a file against a fresh gateway with a result per step', async () => {
    const report = await replay('fixtures/im/one-to-one.json', { base: root });
    expect(report.passed).to.equal(true);
    expect(report.results).to.have.length(1);
    const r = report.results[0]!;
    expect(r.file).to.equal('fixtures/im/one-to-one.json');
    expect(r.steps.length).to.be.greaterThan(10);
    expect(r.steps.every((s) => s.status === 'passed')).to.equal(true);
  });

  it('a changed message fails at that step, naming client, place, expected and received; later steps skipped', async () => {
    const report = await replay(changedMessage());
    expect(report.passed).to.equal(false);
    const r: TranscriptResult = report.results[0]!;
    const failed = r.steps.filter((s) => s.status === 'failed');
    expect(failed).to.have.length(1);
    const f = failed[0]!.failure!;
    expect(f.step).to.equal(8);
    expect(f.client).to.equal('bob');
    expect(f.action).to.equal('poll');
    expect(f.place).to.equal('events[0]/conference/imSessionReceived/message/content/text()');
    expect(f.detail).to.match(/^expected "got an hour\?", got "got a minute\?"/);
    expect(f.expected).to.contain('<content>got an hour?</content>');
    expect(f.received).to.contain('<content>got a minute?</content>');
    expect(f.message).to.match(/changed\.json, steps\[8\] \(bob poll\)/);
    expect(r.steps.slice(9).every((s) => s.status === 'skipped')).to.equal(true);
  });

  it('reads formats 1 (written or absent) and 2, and refuses a newer format', () => {
    const doc = oneToOne();
    expect(loadTranscript(write('f1.json', { format: 1, ...doc })).format).to.equal(1);
    expect(loadTranscript(write('f0.json', doc)).format).to.equal(1);
    expect(loadTranscript(write('f2.json', { ...doc, format: 2 })).format).to.equal(2);
    expect(() => loadTranscript(write('f3.json', { ...doc, format: 3 }))).to.throw(TranscriptError, /format: version 3 is newer than this cwa-gateway reads \(2\)/);
  });

  it('WebSocket steps: format 2 only, each with what it may expect', () => {
    const wsDoc = () => JSON.parse(readFileSync(join(root, 'fixtures/delivery/websocket.json'), 'utf8')) as { format?: number; steps: Record<string, unknown>[] };
    const t = loadTranscript(join(root, 'fixtures/delivery/websocket.json'));
    expect(t.format).to.equal(2);
    expect([...new Set(t.steps.map((s) => s.kind))]).to.include.members(['ws', 'send', 'ack', 'closed', 'receive', 'poll']);
    const v1 = wsDoc();
    v1.format = 1;
    expect(() => loadTranscript(write('ws-v1.json', v1), 'ws-v1.json')).to.throw(TranscriptError, /^ws-v1\.json: steps\[4\]: a "ws" step \(WebSocket\) needs "format": 2 at the top of the transcript$/);
    const ackExpect = wsDoc();
    ackExpect.steps[6] = { client: 'alice', ack: {}, expect: { status: 200 } };
    expect(() => loadTranscript(write('ws-ack.json', ackExpect), 'ws-ack.json')).to.throw(TranscriptError, /steps\[6\]: an ack step has no expect/);
    const badUrl = wsDoc();
    badUrl.steps[4] = { client: 'alice', ws: { url: 'ws://elsewhere/' } };
    expect(() => loadTranscript(write('ws-url.json', badUrl), 'ws-url.json')).to.throw(TranscriptError, /steps\[4\]\.ws\.url: must match pattern/);
    const code = wsDoc();
    code.steps[4] = { client: 'alice', ws: {}, expect: { code: 4001 } };
    expect(() => loadTranscript(write('ws-code.json', code), 'ws-code.json')).to.throw(TranscriptError, /steps\[4\]\.expect\.code: only a closed step expects a close code/);
  });

  it('WebSocket steps: a differing close code, a frame with no socket, and an event that differs in a frame are named at their step', async () => {
    const wsDoc = () => JSON.parse(readFileSync(join(root, 'fixtures/delivery/websocket.json'), 'utf8')) as { steps: Record<string, unknown>[] };
    const last = wsDoc().steps.findIndex((s) => s.closed !== undefined && (s.expect as { code: number }).code === 4004);
    const code = wsDoc();
    (code.steps[last]!.expect as { code: number }).code = 4001;
    let f = (await replay(write('ws-4001.json', code))).results[0]!.steps[last]!.failure!;
    expect(f.place).to.equal('close code');
    expect(f.detail).to.equal('expected 4001, got 4004');
    const early = wsDoc();
    early.steps.splice(4, 0, { client: 'alice', ack: {} });
    f = (await replay(write('ws-early.json', early))).results[0]!.steps[4]!.failure!;
    expect(f.detail).to.equal('an ack step needs an open WebSocket: alice has none (a ws step opens one)');
    const changed = wsDoc();
    const recv = changed.steps[5]!.expect as { events: string[] };
    recv.events[3] = '<subscribers eid="5"/>';
    f = (await replay(write('ws-eid.json', changed))).results[0]!.steps[5]!.failure!;
    expect(f.message).to.match(/ws-eid\.json, steps\[5\] \(alice receive\) "the initial burst, in the socket's first frame": events\[3\]\/subscribers\/@eid: expected "5", got "4"/);
    expect(f.message).to.contain('request: WebSocket /cwa/AsyncDataChannel.ashx?Sid=');
  });

  it('checks the JSON Schema first, naming the place', () => {
    const doc = oneToOne();
    (doc.steps[0]!.expect as Record<string, unknown>).status = '200';
    expect(() => loadTranscript(write('schema.json', doc), 'schema.json')).to.throw(TranscriptError, /^schema\.json: steps\[0\]\.expect\.status: must be integer \(schemas\/transcript\.schema\.json\)$/);
    expect(() => loadTranscript(write('nojson.json', '{\n  "title": "x",\n  oops\n}'), 'nojson.json')).to.throw(TranscriptError, /^nojson\.json:3:3: not valid JSON/);
    expect(() => loadTranscript(join(dir, 'missing.json'), 'missing.json')).to.throw(TranscriptError, /^missing\.json: cannot read: ENOENT/);
  });

  it('a receive step takes the events it expects, whatever poll carried them; the rest wait for the next one', async () => {
    const doc = oneToOne();
    const invitation = doc.steps[8]!;
    const [received, state] = (invitation.expect as { events: string[] }).events;
    doc.steps = [
      ...doc.steps.slice(0, 8),
      { client: 'bob', receive: {}, expect: { events: [received] } },
      { client: 'bob', receive: { timeoutMs: 2000 }, expect: { events: [state] } },
    ];
    expect((await replay(write('receive.json', doc))).passed).to.equal(true);
    // One more event than the server sends: the step waits its timeout, then names the missing event.
    doc.steps[9] = { client: 'bob', receive: { timeoutMs: 300 }, expect: { events: [state, state] } };
    const late = (await replay(write('receive-missing.json', doc))).results[0]!;
    const f = late.steps[9]!.failure!;
    expect(f.place).to.equal('events[1]');
    expect(f.detail).to.match(/^missing event <conference eid="8"/);
    expect(late.steps[9]!.durationMs).to.be.at.least(250);
  });

  it('--credentials: recorded logons get their passwords from a users file, which the embedded gateway serves', async () => {
    const users = write('users.json', { users: [{ login: 'zed', uri: 'sip:zed@corp.example', displayName: 'Zed Zimmer', password: 'p{a}ss<&>' }] });
    const doc = {
      title: 'a real account',
      clients: { z: 'zed' },
      steps: [
        {
          client: 'z',
          logon: {},
          expect: { headers: { 'CWA-Ticket': '{*}' }, body: '<cwaResponses requestProcessed="1" unexpectedElement="0"><requestSucceeded eid="0" rid=""><uri>sip:zed@corp.example</uri><signInData>{*}</signInData></requestSucceeded></cwaResponses>' },
        },
      ],
    };
    const file = write('zed.json', doc);
    expect((await replay(file, { credentialsFile: users })).passed).to.equal(true);
    // Without it the demo users are served and asked for: no zed, and the step says what it got.
    const demo = (await replay(file)).results[0]!;
    expect(demo.steps[0]!.failure!.detail).to.equal('HTTP status: expected 200, got 401');
    expect(demo.steps[0]!.failure!.message).to.contain('<password>…</password>');
    expect(demo.steps[0]!.failure!.message).to.not.contain('zed-demo');
  });

  it('against a --target, a failed transcript names the serve flags its gateway block stands for', async () => {
    const gw = await startEmbeddedGateway({ holdMs: 0 });
    try {
      const r = await cli(['replay', 'fixtures/conference/failures-and-limits.json', '--target', gw.url, '--timeout-ms', '500']);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.contain('it was written for a server started with --hold-ms 0 --invite-timeout-s 3 --max-participants-per-conference 6');
    } finally {
      await gw.close();
    }
  });

  it('replays twice against one running server (fresh captures each time)', async () => {
    const gw = await startEmbeddedGateway({ holdMs: 0 });
    try {
      for (let i = 0; i < 2; i++) {
        const report = await replay('fixtures/im/one-to-one.json', { base: root, target: gw.url });
        expect(report.passed, report.results[0]!.steps.find((s) => s.failure)?.failure?.message).to.equal(true);
      }
    } finally {
      await gw.close();
    }
  });
});

describe('replay: the cwa-gateway replay command', function () {
  this.timeout(60_000);

  it('replays every fixture: exit 0', async () => {
    const r = await cli(['replay', 'fixtures/']);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/ok {4}fixtures\/im\/one-to-one\.json: /);
    expect(r.stdout).to.match(/\d+ transcript\(s\): \d+ passed, 0 failed\n$/);
  });

  it('a changed message: exit 1 and a diff naming file, step, client, place, expected and received', async () => {
    const file = changedMessage();
    const r = await cli(['replay', file]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain(`FAIL  ${file}`);
    expect(r.stdout).to.contain('steps[8] (bob poll)');
    expect(r.stdout).to.contain('events[0]/conference/imSessionReceived/message/content/text(): expected "got an hour?", got "got a minute?"');
    expect(r.stdout).to.contain('expected document:');
    expect(r.stdout).to.contain('answer (HTTP 200): <cwaEvents');
  });

  it('--reporter junit --out writes well-formed JUnit XML naming every file and step', async () => {
    const out = join(dir, 'report.xml');
    const r = await cli(['replay', 'fixtures/im/', changedMessage(), '--reporter', 'junit', '--out', out]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain('FAIL'); // spec goes to the terminal too
    const xml = parseXml(readFileSync(out, 'utf8').replace(/^<\?xml[^>]*\?>\s*/, ''));
    expect(xml.name).to.equal('testsuites');
    const suites = xml.children.filter((c) => c.name === 'testsuite');
    expect(suites.map((s) => s.attrs.name)).to.include.members(['fixtures/im/one-to-one.json', 'fixtures/im/decline.json']);
    const changed = suites.find((s) => s.attrs.name!.endsWith('changed.json'))!;
    expect(changed.attrs.failures).to.equal('1');
    const cases = changed.children.filter((c) => c.name === 'testcase');
    expect(cases[0]!.attrs.name).to.equal('steps[0] (alice logon)');
    const failure = cases[8]!.children.find((c) => c.name === 'failure')!;
    expect(cases[8]!.attrs.name).to.match(/^steps\[8\] \(bob poll\)/);
    expect(failure.attrs.message).to.contain('content/text(): expected "got an hour?"');
    expect(cases[9]!.children[0]!.name).to.equal('skipped');
    expect(xml.attrs.failures).to.equal('1');
  });

  it('--reporter tap prints TAP', async () => {
    const r = await cli(['replay', 'fixtures/im/decline.json', changedMessage(), '--reporter', 'tap']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^TAP version 13\n1\.\.2\nok 1 - fixtures\/im\/decline\.json: /);
    expect(r.stdout).to.match(/\nnot ok 2 - .*changed\.json: .*\n {2}---\n {2}step: "steps\[8\] \(bob poll\) /);
  });

  it('an unreadable transcript: exit 2, named with line and column', async () => {
    const bad = write('bad.json', '{\n  "title": "x",\n  "clients": { "a": "alice" },\n  "steps": [ { "client": "a", } ]\n}\n');
    const r = await cli(['replay', bad]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`${bad}:4:31: not valid JSON`);
  });

  it('bad usage: exit 2', async () => {
    expect((await cli(['replay'])).code).to.equal(2);
    expect((await cli(['replay', 'fixtures/', '--reporter', 'xml'])).stderr).to.contain('--reporter: one of spec, tap, junit');
    expect((await cli(['replay', join(dir, 'nothing-here')])).code).to.equal(2);
    expect((await cli(['replay', 'fixtures/', '--timeout-ms', 'soon'])).code).to.equal(2);
  });
});
