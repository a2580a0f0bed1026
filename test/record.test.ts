// `cwa-gateway record`: a scripted conversation through the recording proxy in front of a
// gateway, replayed with `cwa-gateway replay` against a fresh gateway.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TranscriptBuilder, WRONG_PASSWORD } from '../src/testing/record-transcript.js';
import { CwaClient } from '../src/client/index.js';
import { loadTranscript, record, replay, startEmbeddedGateway } from '../src/testing/index.js';
import { conferenceChild, LegacyClient } from './support/client.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/cwa-gateway.js');
const dir = mkdtempSync(join(tmpdir(), 'cwa-record-'));
const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** Starts `cwa-gateway record` on a free port; resolves with its address and a stop that waits for the file. */
async function startRecorder(target: string, out: string): Promise<{ url: string; stop(): Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  const child = spawn(process.execPath, [bin, 'record', '--target', target, '--port', '0', '--out', out, '--title', 'a scripted conversation'], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /recording on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`record exited: ${stderr}`)));
  });
  return {
    url,
    async stop() {
      child.kill('SIGINT');
      const code = await exited;
      return { code, stdout, stderr };
    },
  };
}

const confOf = (events: { name: string; attrs: Record<string, string>; children: { name: string }[] }[], inner: string) =>
  events.find((e) => e.name === 'conference' && e.children[0]?.name === inner)?.attrs.confId;

/** Two users, IM both ways, composing, escalation to a third, presence, a lost poll answer repaired. */
async function conversation(url: string): Promise<void> {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((login) => new LegacyClient(url, login));
  for (const c of [alice!, bob!, carol!]) {
    await c.signIn();
    await c.poll();
  }
  const a = alice!;
  const b = bob!;
  const c = carol!;
  await c.command(
    `<publishSelfPresence rid="${c.nextRid()}"><cwaCategory name="state" instanceMask="805306368"><state xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="machineState" manual="false"><availability>5000</availability></state></cwaCategory></publishSelfPresence>`,
  );
  await c.poll();
  await a.command(`<conference rid="${a.nextRid()}" confId="1"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>got a minute?</content></message></initiateImSession></conference>`);
  const invited = await b.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
  const bobConf = confOf(invited, 'imSessionReceived')!;
  await b.command(`<conference rid="${b.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
  await a.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  await b.command(`<conference rid="${b.nextRid()}" confId="${bobConf}"><notifyComposing>Composing</notifyComposing></conference>`);
  await a.pollUntil((e) => !!conferenceChild(e, 'composingState'));
  await b.command(`<conference rid="${b.nextRid()}" confId="${bobConf}"><sendMessage><format>text/plain</format><content>sure, 5 &lt; 6</content></sendMessage></conference>`);
  await a.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
  await a.command(`<conference rid="${a.nextRid()}" confId="1"><sendMessage><content>great</content></sendMessage></conference>`);
  // bob's answer is "lost": he polls again with the same AckId and gets the same events.
  const before = b.ackId;
  await b.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
  const again = await b.poll(before);
  expect(again.events.length).to.be.greaterThan(0);
  // Escalation: alice invites carol.
  await a.command(`<conference rid="${a.nextRid()}" confId="1"><inviteParticipants><uris><uri>sip:carol@example.com</uri></uris></inviteParticipants></conference>`);
  const carolInvited = await c.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
  const carolConf = confOf(carolInvited, 'imSessionReceived')!;
  await c.command(`<conference rid="${c.nextRid()}" confId="${carolConf}"><acceptImSession/></conference>`);
  await c.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  await a.pollUntil((e) => !!conferenceChild(e, 'participant'));
  await c.command(`<conference rid="${c.nextRid()}" confId="${carolConf}"><sendMessage><content>hi all</content></sendMessage></conference>`);
  await a.pollUntil((e) => !!conferenceChild(e, 'messageReceived'));
  await b.pollUntil((e) => conferenceChild(e, 'messageReceived') !== undefined);
  for (const x of [a, b, c]) await x.terminate();
}

describe('record: the recording proxy', function () {
  this.timeout(60_000);
  const recording = join(dir, 'conversation.json');

  before(async () => {
    const gw = await startEmbeddedGateway({ holdMs: 0 });
    try {
      const recorder = await startRecorder(gw.url, recording);
      await conversation(recorder.url);
      const stopped = await recorder.stop();
      expect(stopped.code, stopped.stderr).to.equal(0);
      expect(stopped.stdout).to.match(/SIGINT: wrote \d+ steps of alice, bob, carol to /);
    } finally {
      await gw.close();
    }
  });

  it('writes a valid transcript: clients named from the users, no passwords, no tickets, no empty polls', () => {
    const text = readFileSync(recording, 'utf8');
    const t = loadTranscript(recording);
    expect(t.clients).to.deep.equal({ alice: 'alice', bob: 'bob', carol: 'carol' });
    expect(text).to.not.match(/-demo/);
    expect(t.steps.filter((s) => s.kind === 'logon')).to.have.length(3);
    expect(t.steps.some((s) => s.kind === 'poll')).to.equal(false);
    const receives = t.steps.filter((s) => s.kind === 'receive');
    expect(receives.length).to.be.greaterThan(5);
    // Server-chosen confIds are captures, client-chosen ones literal; the sid is the harness's.
    expect(text).to.match(/confId=\\"\{conf\.bob\.\d+=\}\\"/);
    expect(text).to.contain('sid=\\"{sid.alice}\\"');
    expect(text).to.contain('confId=\\"1\\"');
    // The repeated poll's events were not recorded twice: every message bob received appears once.
    expect(text.match(/<content>great<\/content>/g)).to.have.length(2); // alice's request and bob's event
  });

  it('replays against a fresh gateway: exit 0', async () => {
    const r = await cli(['replay', recording]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
  });

  it('with one message text changed in the recording: exit 1, naming that step', async () => {
    const doc = JSON.parse(readFileSync(recording, 'utf8')) as { steps: { client?: string; receive?: object; expect?: { events?: string[] } }[] };
    const index = doc.steps.findIndex((s) => s.receive && s.client === 'bob' && s.expect!.events!.some((e) => e.includes('<content>great</content>')));
    expect(index).to.be.greaterThan(0);
    const step = doc.steps[index]!;
    step.expect!.events = step.expect!.events!.map((e) => e.replace('<content>great</content>', '<content>grand</content>'));
    const changed = join(dir, 'changed.json');
    writeFileSync(changed, JSON.stringify(doc, null, 2));
    const r = await cli(['replay', changed]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain(`steps[${index}] (bob receive)`);
    expect(r.stdout).to.match(/content\/text\(\): expected "grand", got "great"/);
  });

  it('against a gateway with a lower participant limit: fails where the behaviour differs (the escalation)', async () => {
    const gw = await startEmbeddedGateway({ holdMs: 0, maxParticipantsPerConference: 2 });
    try {
      const r = await cli(['replay', recording, '--target', gw.url]);
      expect(r.code).to.equal(1);
      const doc = JSON.parse(readFileSync(recording, 'utf8')) as { steps: { client?: string; post?: string }[] };
      const escalation = doc.steps.findIndex((s) => s.post?.includes('inviteParticipants'));
      expect(r.stdout).to.contain(`steps[${escalation}] (alice post): /cwaResponses/requestAccepted: expected <requestAccepted>, got <requestFailed`);
      expect(r.stdout).to.contain('at most 2 participants');
    } finally {
      await gw.close();
    }
  });
});

describe('record: WebSocket data channels and the command line', function () {
  this.timeout(60_000);

  it('records a WebSocket client (events and command frames) beside a polling one; the recording replays', async () => {
    const gw = await startEmbeddedGateway({ holdMs: 500 });
    const rec = await record({ target: gw.url, port: 0 });
    let doc;
    try {
      const alice = new CwaClient({ baseUrl: rec.url, transport: 'websocket' });
      const bob = new CwaClient({ baseUrl: rec.url, transport: 'polling' });
      const heard: string[] = [];
      const got = new Promise<string>((resolve) =>
        bob.sessions.onIncomingSession(async (s) => {
          s.onMessage((m) => {
            heard.push(m.content);
            if (!m.fromInvitation) resolve(m.content);
          });
          await s.accept();
        }),
      );
      const transports: string[] = [];
      alice.onTransportChanged((t) => transports.push(t));
      await alice.signIn('alice', 'alice-demo');
      await bob.signIn('bob', 'bob-demo');
      const chat = await alice.sessions.startImSession('sip:bob@example.com', 'hi bob');
      await chat.connected();
      await chat.sendMessage('lunch?');
      expect(await got).to.equal('lunch?');
      expect(heard, 'the invitation\'s message first, through the same onMessage').to.deep.equal(['hi bob', 'lunch?']);
      expect(transports).to.include('websocket');
      await alice.signOut();
      await bob.signOut();
    } finally {
      doc = await rec.stop();
      await gw.close();
    }
    const file = join(dir, 'ws.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const text = JSON.stringify(doc);
    // alice's events came only over her socket: recorded as what she must receive.
    const aliceEvents = doc.steps.filter((s) => s.client === 'alice' && s.receive).flatMap((s) => (s.expect as { events: string[] }).events);
    expect(aliceEvents.some((e) => e.includes('<messageIdReceived'))).to.equal(true);
    expect(text).to.contain('<content>lunch?</content>');
    const report = await replay(file);
    expect(report.passed, report.results[0]!.steps.find((s) => s.failure)?.failure?.message).to.equal(true);
  });

  it('--max-seconds stops the recording; nothing recorded: exit 1 and no file', async () => {
    const out = join(dir, 'nothing.json');
    const r = await cli(['record', '--target', 'http://127.0.0.1:9', '--port', '0', '--out', out, '--max-seconds', '1']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('1 s passed; nothing was recorded, no file written');
    expect(() => readFileSync(out)).to.throw();
  });

  it('bad usage: exit 2', async () => {
    expect((await cli(['record', '--port', '0', '--out', join(dir, 'x.json')])).stderr).to.contain('--target');
    expect((await cli(['record', '--target', 'http://127.0.0.1:1', '--out', join(dir, 'x.json')])).code).to.equal(2);
    expect((await cli(['record', '--target', 'http://127.0.0.1:1', '--port', '0'])).code).to.equal(2);
  });
});

describe('record: turning exchanges into a transcript', () => {
  it('a failed logon is replayed with a wrong password, never the typed one; a repeated poll is recorded once', () => {
    const t = new TranscriptBuilder({ title: 't' });
    t.add({ kind: 'logon', path: '/forms/logon.html', query: '', requestBody: '<cwaRequests><logon><user>CORP\\Zed</user><password>s3cret!</password></logon></cwaRequests>', status: 401, responseBody: '<cwaResponses requestProcessed="1" unexpectedElement="0"><error/></cwaResponses>' });
    t.add({ kind: 'logon', path: '/forms/logon.html', query: '', ticketOut: 'T1', requestBody: '<cwaRequests><logon><user>CORP\\Zed</user><password>s3cret</password></logon></cwaRequests>', status: 200, responseBody: '<cwaResponses><requestSucceeded eid="0" rid=""><uri>sip:zed@corp</uri><signInData>abcdefgh12</signInData></requestSucceeded></cwaResponses>' });
    t.add({ kind: 'command', path: '/cwa/MainCommandHandler.ashx', query: '', ticketIn: 'T1', requestBody: `<cwaRequests xmlns="${NS}" sid="0"><initiateSession rid="1"><signInData>abcdefgh12</signInData></initiateSession></cwaRequests>`, status: 200, responseBody: '<cwaResponses><requestAccepted rid="1"><sid>7</sid></requestAccepted></cwaResponses>' });
    const events = '<cwaEvents sid="7" ackId="2"><a eid="1" publishTime="2026-01-01T00:00:00Z"/><b eid="2">{x}</b></cwaEvents>';
    t.add({ kind: 'poll', path: '/cwa/AsyncDataChannel.ashx', query: 'Sid=7&AckId=0&UA=false', ticketIn: 'T1', requestBody: '', status: 200, responseBody: events });
    t.add({ kind: 'poll', path: '/cwa/AsyncDataChannel.ashx', query: 'Sid=7&AckId=0&UA=false', ticketIn: 'T1', requestBody: '', status: 200, responseBody: events });
    const doc = t.build();
    const text = JSON.stringify(doc);
    expect(text).to.not.contain('s3cret');
    expect(doc.clients).to.deep.equal({ zed: 'zed', zed2: 'zed' });
    expect(doc.steps[0]).to.deep.include({ client: 'zed', logon: { user: 'CORP\\Zed', password: WRONG_PASSWORD } });
    expect(doc.steps[1]).to.deep.include({ client: 'zed2', logon: { user: 'CORP\\Zed' } });
    // signInData captured from the answer and sent back by name.
    expect((doc.steps[1]!.expect as { body: string }).body).to.contain('<signInData>{signInData1=}</signInData>');
    expect(doc.steps[2]!.post).to.contain('sid="{sid.zed2}"').and.contain('<signInData>{signInData1}</signInData>');
    expect(doc.steps.slice(3)).to.deep.equal([{ client: 'zed2', receive: {}, expect: { events: ['<a eid="{*}" publishTime="{*}"/>', '<b eid="{*}">{*}x{*}</b>'] } }]);
  });
});
