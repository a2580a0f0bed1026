// Graceful shutdown: ordered phases within a bound; held polls answered (with what is
// queued, or empty); requests in flight finish; stores flush after the engine stops;
// and the real command exits 0 on SIGTERM within --shutdown-timeout-ms.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShutdownRegistry } from '../src/ops/shutdown.js';
import { conferenceChild, LegacyClient } from './support/client.js';
import { listeningUrl } from './support/node-process.js';
import { kids, only, signedIn } from './support/presence.js';
import { startTestGateway } from './support/gateway.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ShutdownRegistry', () => {
  it('runs phases in order, hooks of one phase together, once', async () => {
    const reg = new ShutdownRegistry();
    const seen: string[] = [];
    const step = (name: string, ms = 0) => async () => {
      seen.push(`${name}>`);
      await sleep(ms);
      seen.push(`<${name}`);
    };
    reg.register('flush-db', 'flush', step('flush'));
    reg.register('ws', 'release', step('ws', 30));
    reg.register('polls', 'release', step('polls', 10));
    reg.register('engine', 'engine', step('engine'));
    reg.register('final', 'final', step('final'));
    const remove = reg.register('gone', 'drain', step('gone'));
    remove();
    expect(reg.shuttingDown).to.equal(false);
    const a = reg.run(1000);
    expect(reg.shuttingDown).to.equal(true);
    const b = reg.run(1000);
    expect(await a).to.equal(await b);
    expect(seen).to.deep.equal(['ws>', 'polls>', '<polls', '<ws', 'engine>', '<engine', 'flush>', '<flush', 'final>', '<final']);
    expect((await a).ok).to.equal(true);
  });

  it('keeps going past a failed or overrunning step, reports it, and stays within the bound', async () => {
    const reg = new ShutdownRegistry();
    let flushed = false;
    reg.register('stuck connection', 'drain', () => new Promise(() => undefined));
    reg.register('store', 'flush', () => {
      flushed = true;
    });
    const started = Date.now();
    const report = await reg.run(300);
    expect(Date.now() - started).to.be.lessThan(1500);
    expect(flushed).to.equal(true);
    expect(report.timedOut).to.deep.equal(['stuck connection']);
    expect(report.ok).to.equal(true); // cutting connections is expected; losing a flush is not

    const bad = new ShutdownRegistry();
    bad.register('store', 'flush', () => {
      throw new Error('disk full');
    });
    const r2 = await bad.run(300);
    expect(r2.ok).to.equal(false);
    expect(r2.failed).to.deep.equal(['store']);
  });
});

describe('gateway shutdown (in process)', () => {
  it('answers held polls empty at once, lets a command in flight finish, then stops the engine and flushes', async () => {
    const gw = await startTestGateway({ holdMs: 20_000, shutdownTimeoutMs: 3000 });
    try {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      const bob = await new LegacyClient(gw.url, 'bob').signIn();
      await alice.poll();
      await bob.poll();
      const order: string[] = [];
      gw.gateway.shutdown.register('websockets (1001)', 'release', () => void order.push('ws'));
      gw.gateway.shutdown.register('durable store', 'flush', () => {
        order.push(`flush(sessions=${gw.gateway.engine.liveSessions()})`);
      });
      const heldAgain = alice.poll(); // nothing queued: held
      await sleep(100);
      // A body still arriving when shutdown starts: the request is in flight.
      const { port } = new URL(gw.url);
      const slow = net.connect(Number(port), '127.0.0.1');
      const body = `<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${bob.sid}"><conference rid="1" confId="55"><acceptImSession/></conference></cwaRequests>`;
      let slowReply = '';
      slow.on('data', (d) => (slowReply += d.toString()));
      const slowClosed = new Promise((resolve) => slow.on('close', resolve));
      slow.write(`POST /cwa/MainCommandHandler.ashx HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${bob.ticket}\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`);
      await sleep(50);

      const started = Date.now();
      const stopping = gw.gateway.stop();
      const released = await heldAgain;
      expect(Date.now() - started).to.be.lessThan(500);
      expect(released.reply.status).to.equal(200);
      expect(released.events).to.have.length(0);
      // The request in flight completes after shutdown started, and is answered.
      slow.write(body.slice(20));
      const report = await stopping;
      expect(report.ok).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(3000);
      await slowClosed; // the gateway closed the connection after answering
      expect(slowReply).to.match(/^HTTP\/1\.1 200/);
      expect(slowReply).to.match(/Connection: close/i);
      expect(slowReply).to.include('<requestFailed rid="1">');
      // A single gateway ends its sessions; a cluster node leaves them to the other nodes.
      expect(order).to.deep.equal(['ws', `flush(sessions=${gw.gateway.cluster ? 2 : 0})`]);
      expect(gw.gateway.context.ops.polls.size).to.equal(0);
    } finally {
      await gw.close();
    }
  });

  it('a request arriving on an idle keep-alive connection once shutdown began is not run: 503, Retry-After, an error body, Connection: close', async () => {
    const gw = await startTestGateway({ holdMs: 0, shutdownTimeoutMs: 3000 });
    try {
      const alice = await new LegacyClient(gw.url, 'alice').signIn();
      const { port } = new URL(gw.url);
      // A keep-alive connection that served one poll and is idle.
      const idle = net.connect(Number(port), '127.0.0.1');
      let idleReply = '';
      idle.on('data', (d) => (idleReply += d.toString()));
      const idleClosed = new Promise((resolve) => idle.on('close', resolve));
      idle.write(`GET /cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=0 HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${alice.ticket}\r\n\r\n`);
      while (!idleReply.includes('</cwaEvents>')) await sleep(5);
      expect(idleReply).to.match(/^HTTP\/1\.1 200/).and.to.match(/Connection: keep-alive/i);
      idleReply = '';
      // A request in flight (its body still arriving) keeps the drain going.
      const slow = net.connect(Number(port), '127.0.0.1');
      let slowReply = '';
      slow.on('data', (d) => (slowReply += d.toString()));
      const slowClosed = new Promise((resolve) => slow.on('close', resolve));
      const query = `<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${alice.sid}"><queryPresence rid="50"><uris><uri>sip:bob@example.com</uri></uris></queryPresence></cwaRequests>`;
      slow.write(`POST /cwa/MainCommandHandler.ashx HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${alice.ticket}\r\nContent-Type: text/xml\r\nContent-Length: ${query.length}\r\n\r\n${query.slice(0, 10)}`);
      await sleep(50);

      const stopping = gw.gateway.stop();
      await sleep(20);
      const add = `<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${alice.sid}"><addContact rid="51"><contact uri="sip:late@example.com" name="Late" subscribed="false" tag="false"/></addContact></cwaRequests>`;
      idle.write(`POST /cwa/MainCommandHandler.ashx HTTP/1.1\r\nHost: x\r\nCWA-Ticket: ${alice.ticket}\r\nContent-Type: text/xml\r\nContent-Length: ${add.length}\r\n\r\n${add}`);
      await idleClosed;
      expect(idleReply).to.match(/^HTTP\/1\.1 503/);
      expect(idleReply).to.match(/\r\nRetry-After: 1\r\n/i).and.to.match(/\r\nConnection: close\r\n/i);
      expect(idleReply).to.match(/<error code="18400"[^>]*shutting down/);
      // The request in flight is still answered.
      slow.write(query.slice(10));
      const report = await stopping;
      await slowClosed;
      expect(report.ok).to.equal(true);
      expect(slowReply).to.match(/^HTTP\/1\.1 200/).and.to.match(/<request(Accepted|Succeeded) rid="50"/);
      // The refused request did not run.
      expect(JSON.stringify(await gw.gateway.store.contactList('alice'))).to.not.contain('sip:late@example.com');
    } finally {
      await gw.close();
    }
  });

  it('cuts requests still in flight when the bound comes, and still runs the later phases', async () => {
    const gw = await startTestGateway({ shutdownTimeoutMs: 600, requestTimeoutMs: 60_000 });
    try {
      const { port } = new URL(gw.url);
      const stuck = net.connect(Number(port), '127.0.0.1');
      let closed = false;
      stuck.on('close', () => (closed = true));
      stuck.on('error', () => undefined);
      stuck.write('POST /forms/logon.html HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<cwa');
      await sleep(50);
      let flushed = false;
      gw.gateway.shutdown.register('store', 'flush', () => void (flushed = true));
      const started = Date.now();
      const report = await gw.gateway.stop();
      expect(Date.now() - started).to.be.within(200, 900);
      expect(report.ok).to.equal(true);
      expect(flushed).to.equal(true);
      await sleep(20);
      expect(closed).to.equal(true);
    } finally {
      await gw.close();
    }
  });
});

describe('cwa-gateway serve: SIGTERM under load', function () {
  this.timeout(20_000);
  const bin = fileURLToPath(new URL('../../bin/cwa-gateway.js', import.meta.url));

  function start(args: string[]): Promise<{ child: ChildProcess; url: string; stdout: () => string; exit: Promise<number | null> }> {
    const child = spawn(process.execPath, [bin, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
    let out = '';
    child.stdout!.on('data', (d) => (out += d.toString()));
    child.stderr!.resume();
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 10_000);
      child.stdout!.on('data', () => {
        const url = listeningUrl(out);
        if (url) {
          clearTimeout(timer);
          resolve({ child, url, stdout: () => out, exit });
        }
      });
    });
  }

  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cwa-shutdown-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('answers every held poll, finishes what is in flight, flushes the store, exits 0 within --shutdown-timeout-ms, and loses nothing acknowledged', async () => {
    const bound = 4000;
    const flags = ['--data-dir', dataDir, '--hold-ms', '20000', '--shutdown-timeout-ms', String(bound), '--log-level', 'info', '--rate-ticket', '0', '--rate-address', '0'];
    const gw = await start(flags);
    const users = ['alice', 'bob', 'carol', 'dave'];
    const clients = await Promise.all(users.map((u) => new LegacyClient(gw.url, u).signIn()));
    for (const c of clients) await c.poll();
    // alice and bob in a conversation; bob reads everything so his poll is held.
    const [alice, bob, carol, dave] = clients as [LegacyClient, LegacyClient, LegacyClient, LegacyClient];
    const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
    expect(r.root.children[0]!.name).to.equal('initiateImSessionAccepted');
    const inv = await bob.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
    const bobConf = inv.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
    await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
    await bob.poll();
    await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');

    // bob, carol and dave keep polling (held when nothing is queued); alice sends commands and
    // dave adds contacts (durable data) without pause. What matters is the poll in flight at SIGTERM.
    let signalled = false;
    const lastPoll = (c: LegacyClient) =>
      (async () => {
        for (;;) {
          const p = await c.poll();
          if (signalled) return p;
        }
      })();
    const held = [lastPoll(bob), lastPoll(carol), lastPoll(dave)];
    let stop = false;
    const answers: number[] = [];
    const added: string[] = [];
    const loop = async (step: () => Promise<void>) => {
      while (!stop) {
        try {
          await step();
        } catch (err) {
          if (err instanceof TypeError) break; // fetch failed: the listener is closed
          throw err;
        }
      }
    };
    let n = 0;
    const load = Promise.all([
      loop(async () => {
        const a = await alice.command(`<conference rid="${alice.nextRid()}" confId="99"><acceptImSession/></conference>`);
        answers.push(a.status);
      }),
      loop(async () => {
        const uri = `sip:contact${++n}@example.com`;
        const a = await dave.command(`<addContact rid="${dave.nextRid()}"><contact uri="${uri}" name="C${n}" subscribed="false" tag="false"/></addContact>`);
        answers.push(a.status);
        if (a.status === 200 && a.root.children[0]!.name === 'requestAccepted') added.push(uri); // acknowledged
      }),
    ]);
    await sleep(300);
    const started = Date.now();
    signalled = true;
    gw.child.kill('SIGTERM');
    const polls = await Promise.all(held);
    const answeredIn = Date.now() - started;
    const code = await gw.exit;
    const exitedIn = Date.now() - started;
    stop = true;
    await load;

    expect(code).to.equal(0);
    expect(exitedIn).to.be.lessThan(bound);
    expect(answeredIn).to.be.lessThan(1000);
    for (const p of polls) {
      expect(p.reply.status).to.equal(200);
      expect(p.reply.root.name).to.equal('cwaEvents');
    }
    // bob and carol had nothing queued: their held polls were released empty (dave's may carry his contact updates).
    expect(polls[0]!.events).to.have.length(0);
    expect(polls[1]!.events).to.have.length(0);
    expect(answers.length).to.be.greaterThan(0);
    // Answered, or — arriving after SIGTERM on a keep-alive connection — refused with 503 (not run).
    expect(answers.every((s) => s === 200 || s === 503), answers.join(' ')).to.equal(true);
    // Standard output is JSON lines only.
    const lines = gw.stdout().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; level: string; ok?: boolean; polls?: number });
    expect(lines.length).to.be.greaterThan(3);
    expect(lines.filter((l) => l.level === 'debug'), '--log-level info').to.deep.equal([]);
    expect(lines.find((l) => l.msg === 'shutdown: held polls answered')?.polls).to.be.within(2, 3); // dave's may be between two polls
    expect(lines.find((l) => l.msg === 'shutdown complete')?.ok).to.equal(true);
    // The store was closed cleanly (its write-ahead log checkpointed and removed)...
    const wal = join(dataDir, 'cwa-gateway.sqlite-wal');
    expect(!existsSync(wal) || (await stat(wal)).size === 0, 'WAL left behind').to.equal(true);

    // ...and every contact the gateway acknowledged is there after a restart.
    expect(added.length).to.be.greaterThan(0);
    const again = await start(flags);
    try {
      const burst = await signedIn(new LegacyClient(again.url, 'dave'));
      const stored = kids(only(burst, 'contactGroup'), 'contact').map((c) => c.attrs.uri);
      expect(stored).to.include.members(added);
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exit).to.equal(0);
    }
  });

  it('20 requests in flight on busy keep-alive connections all get an answer (200, or 503 with Retry-After once shutdown began), none a reset', async () => {
    const gw = await start(['--data-dir', dataDir, '--shutdown-timeout-ms', '4000', '--rate-ticket', '0', '--rate-address', '0', '--rate-logon-address', '0']);
    const { hostname, port } = new URL(gw.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    type Outcome = { status?: number; retryAfter?: string; connection?: string; body?: string; err?: string; reused: boolean };
    const request = (path: string, body: string, headers: Record<string, string> = {}) =>
      new Promise<Outcome>((resolve) => {
        const req = http.request({ host: hostname, port, method: 'POST', path, agent, headers: { 'Content-Type': 'text/xml', ...headers } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], connection: res.headers.connection, body: text, reused: req.reusedSocket }),
          );
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ err: err.code ?? err.message, reused: req.reusedSocket }));
        req.end(body);
      });
    const sessions: { ticket: string; sid: string; rid: number }[] = [];
    for (const u of ['alice', 'bob', 'carol', 'dave']) {
      const logon = await new LegacyClient(gw.url, u).signIn();
      sessions.push({ ticket: logon.ticket!, sid: String(logon.sid), rid: 100 });
    }
    // 20 clients, each sending its next request as soon as it has an answer (after a 503, once
    // Retry-After has passed, as a client should).
    let signalled = false;
    const afterSignal: Outcome[][] = Array.from({ length: 20 }, () => []);
    const loops = afterSignal.map((mine, i) =>
      (async () => {
        const s = sessions[i % 4]!;
        for (;;) {
          const o = await request(
            '/cwa/MainCommandHandler.ashx',
            `<cwaRequests xmlns="http://schemas.microsoft.com/2006/09/rtc/cwa" sid="${s.sid}"><queryPresence rid="${s.rid++}"><uris><uri>sip:alice@example.com</uri></uris></queryPresence></cwaRequests>`,
            { 'CWA-Ticket': s.ticket },
          );
          if (signalled) mine.push(o);
          if (o.err) return;
          if (o.status === 503) await sleep(Number(o.retryAfter) * 1000);
        }
      })(),
    );
    await sleep(400);
    signalled = true;
    gw.child.kill('SIGTERM');
    expect(await gw.exit).to.equal(0);
    await Promise.all(loops);
    agent.destroy();

    const after = afterSignal.flat();
    const answered = after.filter((o) => o.status !== undefined);
    const failed = after.filter((o) => o.err !== undefined);
    // Each client's request in flight when the signal came was answered.
    for (const mine of afterSignal) expect(mine[0]?.status, JSON.stringify(mine[0])).to.be.oneOf([200, 503]);
    for (const o of answered) {
      expect([200, 503], o.body).to.include(o.status);
      expect(o.body).to.not.contain('No active session');
      if (o.status === 503) {
        expect(o.retryAfter).to.equal('1');
        expect(o.body).to.match(/<error code="18400"[^>]*shutting down/);
        expect(o.connection).to.equal('close');
      }
    }
    expect(answered.some((o) => o.status === 503), 'requests that arrived after SIGTERM were refused').to.equal(true);
    // Nothing was reset: the only failures are new connections refused once the gateway had gone.
    expect(failed.length).to.equal(20);
    for (const o of failed) {
      expect(o.err).to.equal('ECONNREFUSED');
      expect(o.reused).to.equal(false);
    }
  });
});
