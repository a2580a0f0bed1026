// The limits of issue 6 not covered by hostile.test.ts: sessions per user, conferences per
// session, one held poll per session, the hold bound, clients that vanish mid-poll, slow
// clients (headers, bodies, idle keep-alive), and that every limit can be set from flags,
// environment and the config file.
import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfig, describeOptionsMarkdown, loadConfig, OPTIONS, type GatewayConfig } from '../src/config.js';
import type { MemoryEventLog } from '../src/delivery/event-log.js';
import type { MeteredEventLog } from '../src/ops/metered-log.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

function invite(c: LegacyClient, uri: string) {
  return c.command(`<conference rid="${c.nextRid()}" confId="0"><initiateImSession><uris><uri>${uri}</uri></uris><message><content>hello</content></message></initiateImSession></conference>`);
}

describe('limits: sessions per user and conferences per session', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('refuses initiateSession past --max-sessions-per-user with requestFailed 18102, and accepts again once one ends', async () => {
    gw = await startTestGateway({ holdMs: 0, maxSessionsPerUser: 2 });
    const first = await new LegacyClient(gw.url, 'alice').signIn();
    await new LegacyClient(gw.url, 'alice').signIn();
    const third = new LegacyClient(gw.url, 'alice');
    await third.logon();
    const refused = await third.command(`<initiateSession rid="1"/>`, 0);
    const answer = refused.root.children[0]!;
    expect(answer.name).to.equal('requestFailed');
    expect(answer.attrs.rid).to.equal('1');
    expect(answer.children[0]!.attrs.code).to.equal('18102');
    expect(answer.children[0]!.attrs.detail).to.match(/already has 2 sessions/);
    // Another user is not affected.
    await new LegacyClient(gw.url, 'bob').signIn();
    await first.terminate();
    const again = await third.command(`<initiateSession rid="2"/>`, 0);
    expect(again.root.children[0]!.name).to.equal('requestAccepted');
  });

  it('refuses initiateImSession past --max-conferences-per-session with requestFailed 18102, and accepts again once one ends', async () => {
    gw = await startTestGateway({ holdMs: 0, maxConferencesPerSession: 2 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await new LegacyClient(gw.url, 'bob').signIn();
    await new LegacyClient(gw.url, 'carol').signIn();
    const a = await invite(alice, 'sip:bob@example.com');
    expect(a.root.children[0]!.name).to.equal('initiateImSessionAccepted');
    const b = await invite(alice, 'sip:carol@example.com');
    expect(b.root.children[0]!.name).to.equal('initiateImSessionAccepted');
    const c = await invite(alice, 'sip:dave@example.com');
    expect(c.root.children[0]!.name).to.equal('requestFailed');
    expect(c.root.children[0]!.children[0]!.attrs.code).to.equal('18102');
    expect(c.root.children[0]!.children[0]!.attrs.detail).to.match(/already takes part in 2 conversations/);
    const confId = a.root.children[0]!.attrs.confId!;
    await alice.command(`<conference rid="${alice.nextRid()}" confId="${confId}"><terminateImSession/></conference>`);
    const d = await invite(alice, 'sip:dave@example.com');
    expect(d.root.children[0]!.name).to.equal('initiateImSessionAccepted');
  });
});

describe('limits: the document and message limits take their configured values', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());
  const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

  async function post(c: LegacyClient, body: string) {
    const res = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml', 'CWA-Ticket': c.ticket! },
      body,
    });
    const text = await res.text();
    return { status: res.status, text };
  }

  it('applies --max-body-bytes, --max-xml-depth, --max-xml-elements, --max-attributes, --max-attribute-length and --max-requests-per-batch', async () => {
    gw = await startTestGateway({
      holdMs: 0, maxBodyBytes: 400, maxXmlDepth: 4, maxXmlElements: 6, maxAttributes: 4, maxAttributeLength: 64, maxRequestsPerBatch: 2,
    });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const batch = (inner: string, rootAttrs = '') => `<cwaRequests xmlns="${NS}" sid="${alice.sid}"${rootAttrs}>${inner}</cwaRequests>`;
    const accept = (rid: string, extra = '') => `<conference rid="${rid}" confId="9"${extra}><acceptImSession/></conference>`;
    const cases: Array<[string, string, number, RegExp]> = [
      ['at every limit', batch(accept('1') + accept('2')), 200, /requestFailed/],
      ['a body over 400 bytes', batch(accept('1') + `<!--${'x'.repeat(400)}-->`), 413, /larger than 400 bytes/],
      ['depth 5', batch(`<conference rid="1" confId="9"><sendMessage><content><b/></content></sendMessage></conference>`), 400, /deeper than 4/],
      ['7 elements', batch(accept('1') + accept('2') + '<x/><y/>'), 400, /more than 6 elements/],
      ['5 attributes', batch(accept('1', ' a="1" b="2" c="3"')), 400, /more than 4 attributes/],
      ['a 65-character attribute', batch(accept('9'.repeat(65))), 400, /longer than 64 characters/],
      ['3 requests', batch(accept('1') + accept('2') + '<terminateSession rid="3"/>'), 400, /at most 2 requests/],
    ];
    for (const [what, body, status, detail] of cases) {
      const r = await post(alice, body);
      expect(r.status, what).to.equal(status);
      expect(r.text, what).to.match(detail);
    }
  });

  it('applies --max-message-length to the first message and to every message', async () => {
    gw = await startTestGateway({ holdMs: 0, maxMessageLength: 10 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await bob.poll();
    const start = (text: string) => alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>${text}</content></message></initiateImSession></conference>`);
    const long = await start('12345678901');
    expect(long.root.children[0]!.name).to.equal('requestFailed');
    expect(long.root.children[0]!.children[0]!.attrs).to.include({ code: '18001' });
    expect(long.root.children[0]!.children[0]!.attrs.detail).to.match(/longer than 10 characters/);
    const ok = await start('1234567890');
    expect(ok.root.children[0]!.name).to.equal('initiateImSessionAccepted');
    const confId = ok.root.children[0]!.attrs.confId!;
    const invitation = await bob.pollUntil((e) => e.children[0]?.name === 'imSessionReceived');
    const bobConf = invitation.find((e) => e.children[0]?.name === 'imSessionReceived')!.attrs.confId!;
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
    const send = await alice.command(`<conference rid="${alice.nextRid()}" confId="${confId}"><sendMessage><content>${'é'.repeat(11)}</content></sendMessage></conference>`);
    expect(send.root.children[0]!.name).to.equal('requestFailed');
    expect(send.root.children[0]!.children[0]!.attrs.detail).to.match(/longer than 10 characters/);
  });

  it('applies --log-max-bytes: a session whose first events do not fit ends with eventLogOverflow', async () => {
    gw = await startTestGateway({ holdMs: 0, logMaxBytes: 100 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const { events } = await alice.poll();
    expect(events.map((e) => e.name)).to.deep.equal(['sessionTerminated']);
    expect(events[0]!.attrs.reason).to.equal('eventLogOverflow');
  });
});

describe('limits: held polls', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('holds at most one poll per session: a second releases the first', async () => {
    gw = await startTestGateway({ holdMs: 10_000 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    const polls = gw.gateway.context.ops.polls;
    const first = alice.poll();
    await until(() => polls.size === 1);
    const second = alice.poll(alice.ackId);
    const released = await first;
    expect(released.reply.status).to.equal(200);
    expect(released.events).to.have.length(0);
    expect(polls.size).to.equal(1);
    expect(await gw.gateway.metrics.value('cwa_held_polls')).to.equal(1);
    await alice.command(`<terminateSession rid="${alice.nextRid()}"/>`);
    await second;
    expect(polls.size).to.equal(0);
  });

  it('keeps the default hold below common 30 s proxy cuts, and answers a held poll when --hold-ms passes', async () => {
    expect(defaultConfig().holdMs).to.be.lessThan(30_000);
    gw = await startTestGateway({ holdMs: 400 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    const started = Date.now();
    const { reply, events } = await alice.poll();
    const took = Date.now() - started;
    expect(reply.status).to.equal(200);
    expect(events).to.have.length(0);
    expect(took).to.be.within(350, 1400);
  });

  it('leaves nothing behind when a client vanishes mid-poll but its unacknowledged events', async () => {
    gw = await startTestGateway({ holdMs: 20_000 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await alice.poll();
    await bob.poll();
    const log = (gw.gateway.context.log as MeteredEventLog).underlying as MemoryEventLog;
    const polls = gw.gateway.context.ops.polls;
    const abort = new AbortController();
    const vanished = fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=${bob.sid}&AckId=${bob.ackId}`, {
      headers: { 'CWA-Ticket': bob.ticket! },
      signal: abort.signal,
    }).catch(() => 'aborted');
    await until(() => log.waiting() === 1 && polls.size === 1);
    expect(await gw.gateway.metrics.value('cwa_held_polls')).to.equal(1);
    abort.abort();
    expect(await vanished).to.equal('aborted');
    await until(async () => log.waiting() === 0 && polls.size === 0 && (await gw.gateway.metrics.value('cwa_held_polls')) === 0);
    // What was queued for bob meanwhile is still there for his next poll.
    await invite(alice, 'sip:bob@example.com');
    const { events } = await bob.poll();
    expect(events.map((e) => e.children[0]?.name)).to.include('imSessionReceived');
  });
});

describe('limits: slow and idle clients', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  /** Opens a raw connection, sends `chunks` one every `everyMs`, and reports how it ended. */
  function dribble(url: string, chunks: string[], everyMs: number): Promise<{ ms: number; reply: string; sent: number }> {
    const { port } = new URL(url);
    return new Promise((resolve) => {
      const started = Date.now();
      const socket = net.connect(Number(port), '127.0.0.1');
      let reply = '';
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < chunks.length && !socket.destroyed) socket.write(chunks[sent++]!);
      }, everyMs);
      socket.on('data', (d) => (reply += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ ms: Date.now() - started, reply, sent });
      });
    });
  }

  it('cuts a client that sends its headers byte by byte (slowloris) after --headers-timeout-ms, with 408', async () => {
    gw = await startTestGateway({ headersTimeoutMs: 500, requestTimeoutMs: 5000 });
    const headers = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(500)}\r\n\r\n`;
    const r = await dribble(gw.url, headers.split(''), 20);
    expect(r.reply).to.match(/^HTTP\/1\.1 408/);
    expect(r.ms).to.be.within(400, 1500);
    expect(r.sent).to.be.lessThan(headers.length);
    // The gateway still serves.
    expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);
  });

  it('cuts a client that sends its body byte by byte after --request-timeout-ms', async () => {
    gw = await startTestGateway({ headersTimeoutMs: 400, requestTimeoutMs: 800 });
    const body = '<cwaRequests><logon><user>alice</user><password>alice-demo</password></logon></cwaRequests>';
    const head = `POST /forms/logon.html HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await dribble(gw.url, [head, ...body.split('')], 25);
    expect(r.reply).to.match(/^HTTP\/1\.1 408/);
    expect(r.ms).to.be.within(700, 2000);
    expect(r.sent).to.be.lessThan(body.length + 1);
  });

  it('does not cut a held poll, which has been received whole, at --request-timeout-ms', async () => {
    gw = await startTestGateway({ holdMs: 1200, headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await alice.poll();
    const started = Date.now();
    const { reply } = await alice.poll();
    expect(reply.status).to.equal(200);
    expect(Date.now() - started).to.be.at.least(1100);
  });

  it('closes an idle keep-alive connection after --keep-alive-timeout-ms', async () => {
    gw = await startTestGateway({ keepAliveTimeoutMs: 300 });
    const r = await dribble(gw.url, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], 1);
    expect(r.reply).to.match(/^HTTP\/1\.1 200/);
    expect(r.ms).to.be.within(250, 1500);
  });

  it('refuses --headers-timeout-ms above --request-timeout-ms', async () => {
    let err: unknown;
    try {
      await loadConfig(['--headers-timeout-ms', '5000', '--request-timeout-ms', '1000'], {});
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.include('--headers-timeout-ms').and.include('--request-timeout-ms');
  });
});

describe('limits: every option is settable by flag, environment and config file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cwa-limits-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads each integer option from each source', async () => {
    const ints = OPTIONS.filter((o) => o.type === 'int');
    expect(ints.map((o) => o.key)).to.include.members([
      'maxBodyBytes', 'maxXmlDepth', 'maxXmlElements', 'maxAttributes', 'maxAttributeLength', 'maxRequestsPerBatch',
      'maxMessageLength', 'logMaxEvents', 'logMaxBytes', 'maxSessionsPerUser', 'maxConferencesPerSession',
      'rateAddress', 'rateAddressBurst', 'rateTicket', 'rateTicketBurst', 'rateLogonAddress', 'rateLogonFailures',
      'rateLogonFailuresAddress', 'logonBackoffAfter', 'logonBackoffMaxS', 'logonFailureHoldMs',
      'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'shutdownTimeoutMs', 'holdMs',
    ]);
    for (const o of ints) {
      // A value in range, different from the default, that keeps headers <= request timeout.
      const value = o.key === 'headersTimeoutMs' ? 200 : o.key === 'requestTimeoutMs' ? 20_000 : o.default === o.min ? o.min! + 1 : o.min!;
      const key = o.key as keyof GatewayConfig;
      const file = join(dir, `${o.key}.json`);
      await writeFile(file, JSON.stringify({ [o.key]: value }));
      expect((await loadConfig([o.flag, String(value)], {}))[key], o.flag).to.equal(value);
      expect((await loadConfig([], { [o.env]: String(value) }))[key], o.env).to.equal(value);
      expect((await loadConfig(['--config', file], {}))[key], `${o.key} in a file`).to.equal(value);
    }
  });

  it('names every option in the README, in the table generated from the option list', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const table = describeOptionsMarkdown();
    // To regenerate: node -e "import('./dist/src/config.js').then((m) => console.log(m.describeOptionsMarkdown()))"
    expect(readme.includes(table), `README.md must contain the options table exactly as generated:\n${table}`).to.equal(true);
  });
});
