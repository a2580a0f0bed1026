// HTTPS and WSS on the gateway's port, as an operator runs it: the real command with
// throwaway certificates made by openssl at test time. Sign-in, session and polls over
// HTTPS; the WebSocket data channel over WSS; SIGHUP serving a renewed certificate to new
// connections while open ones keep theirs; a broken renewal that changes nothing; shutdown
// with polls held and a connection stuck in the handshake; configuration errors.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureVersion, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../src/config.js';
import { LegacyClient, parse, type Reply } from './support/client.js';
import { startNodeProcess, type NodeProcess } from './support/node-process.js';
import { expectValidDocument } from './support/schemas.js';

const BIN = fileURLToPath(new URL('../../bin/cwa-gateway.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs openssl; its absence fails the test (a skipped HTTPS test would prove nothing). */
function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) {
    throw new Error(`the HTTPS tests make throwaway certificates with the openssl command, which could not be run (${r.error.message}): install OpenSSL`);
  }
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

interface Pair {
  cert: string;
  key: string;
  pem: string;
  fingerprint: string;
}

function pairOf(dir: string, name: string): Pair {
  const cert = join(dir, `${name}.pem`);
  const pem = readFileSync(cert, 'utf8');
  return { cert, key: join(dir, `${name}.key`), pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

/** A self-signed certificate for localhost and 127.0.0.1, valid for a day. */
function selfSigned(dir: string, name: string, cn: string): Pair {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-days', '1', '-keyout', `${name}.key`, '-out', `${name}.pem`]);
  return pairOf(dir, name);
}

/** A certificate for `cn` signed by `issuer`, with the extensions in `ext` (openssl extfile syntax). */
function signed(dir: string, name: string, cn: string, issuer: Pair, serial: number, ext: string): Pair {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', String(serial),
    '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return pairOf(dir, name);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The certificate the server presented on this connection. */
  fingerprint: string;
  localPort: number;
}

/** One HTTPS request trusting `ca`; `agent: false` makes a new connection. */
function request(url: string, o: { ca: string[]; agent?: https.Agent | false; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: o.method ?? 'GET', headers: o.headers, ca: o.ca, agent: o.agent ?? false }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const localPort = socket.localPort ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint, localPort }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** The test client, speaking HTTPS and trusting the test certificates. */
class HttpsClient extends LegacyClient {
  constructor(baseUrl: string, login: string, private readonly ca: string[]) {
    super(baseUrl, login);
  }

  override async http(method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const a = await request(this.baseUrl + path, {
      ca: this.ca,
      method,
      ...(body !== undefined ? { body } : {}),
      headers: { 'Content-Type': 'text/xml', ...(this.ticket ? { 'CWA-Ticket': this.ticket } : {}), ...headers },
    });
    expect(a.headers['content-type'], `content type of ${method} ${path}`).to.match(/^text\/xml/);
    expectValidDocument(a.body);
    const ticket = typeof a.headers['cwa-ticket'] === 'string' ? a.headers['cwa-ticket'] : null;
    if (ticket) this.ticket = ticket;
    return { status: a.status, body: a.body, root: parse(a.body), ticket };
  }
}

/** A WSS data channel: every frame checked against the schemas, kept in order. */
interface Wss {
  socket: WebSocket;
  frames: string[];
  fingerprint: string;
  until(pred: (frame: string) => boolean, what: string): Promise<string>;
}

function attachWss(baseUrl: string, client: LegacyClient, ca: string[]): Promise<Wss> {
  const url = `${baseUrl.replace(/^https:/, 'wss:')}/cwa/AsyncDataChannel.ashx?Sid=${client.sid}&AckId=0`;
  const socket = new WebSocket(url, { headers: { 'CWA-Ticket': client.ticket! }, ca });
  const frames: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (data) => {
    const text = data.toString();
    expectValidDocument(text);
    frames.push(text);
    for (const w of [...waiters]) w();
  });
  const until = (pred: (frame: string) => boolean, what: string) =>
    new Promise<string>((resolve, reject) => {
      const look = () => {
        const hit = frames.find(pred);
        if (hit === undefined) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(look), 1);
        resolve(hit);
      };
      const timer = setTimeout(() => reject(new Error(`no frame with ${what}; frames:\n${frames.join('\n')}`)), 5000);
      waiters.push(look);
      look();
    });
  return new Promise((resolve, reject) => {
    let fingerprint = '';
    socket.once('upgrade', (res) => (fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256));
    socket.once('open', () => resolve({ socket, frames, fingerprint, until }));
    socket.once('error', reject);
  });
}

/** Waits until the node's output holds `text` `count` times (log lines of a reload, say). */
async function logged(node: NodeProcess, text: string, count: number): Promise<string> {
  for (let waited = 0; waited < 5000; waited += 20) {
    const lines = node.output().split('\n').filter((l) => l.includes(text));
    if (lines.length >= count) return lines[count - 1]!;
    await sleep(20);
  }
  throw new Error(`"${text}" not logged ${count} time(s):\n${node.output()}`);
}

const searchFor = (c: LegacyClient, name: string) => c.command(`<search rid="${c.nextRid()}"><displayName>${name}</displayName></search>`);

describe('HTTPS and WSS on the gateway port (cwa-gateway serve --tls-cert --tls-key)', function () {
  this.timeout(60_000);
  let dir: string;
  let first: Pair;
  let renewed: Pair;
  let served: { cert: string; key: string };
  let ca: string[];
  let node: NodeProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cwa-https-'));
    first = selfSigned(dir, 'first', 'localhost');
    renewed = selfSigned(dir, 'renewed', 'localhost renewed');
    ca = [first.pem, renewed.pem];
    // The files the gateway reads: renewals are copied over them, as certbot would.
    served = { cert: join(dir, 'served.pem'), key: join(dir, 'served.key') };
    copyFileSync(first.cert, served.cert);
    copyFileSync(first.key, served.key);
    mkdirSync(join(dir, 'data'));
    node = await startNodeProcess(['--tls-cert', served.cert, '--tls-key', served.key, '--data-dir', join(dir, 'data'), '--hold-ms', '1000',
      '--public-url', 'https://lyncdiscover.example.com/']);
  });
  after(async () => {
    await node?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the certificate: the root page names the public URL; health, readiness and metrics answer; plain HTTP is not served', async () => {
    expect(node.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const root = await request(`${node.url}/`, { ca, headers: { Accept: 'text/plain' } });
    expect(root.status).to.equal(200);
    expect(root.fingerprint).to.equal(first.fingerprint);
    expect(root.body).to.include('Public address: https://lyncdiscover.example.com\n');
    expect((await request(`${node.url}/healthz`, { ca })).body).to.equal('ok');
    expect((await request(`${node.url}/readyz`, { ca })).body).to.equal('ready');
    const metrics = await request(`${node.url}/metrics`, { ca });
    const notAfter = Math.floor(Date.parse(new X509Certificate(first.pem).validTo) / 1000);
    expect(metrics.body).to.include(`cwa_tls_certificate_not_after_seconds ${notAfter}`);
    // A client that does not trust the certificate is refused by itself, not served in clear.
    const untrusted = await request(`${node.url}/healthz`, { ca: [] }).catch((err: NodeJS.ErrnoException) => err);
    expect((untrusted as NodeJS.ErrnoException).code).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
    const clear = await fetch(node.url.replace(/^https:/, 'http:') + '/healthz').catch((err: Error) => err);
    expect(clear).to.be.instanceOf(Error);
  });

  it("speaks TLS 1.2 and 1.3 (Node's defaults) and refuses older versions with a protocol_version alert", async () => {
    const { port } = new URL(node.url);
    // The client's own floor is lowered, so that a refusal can only be the gateway's.
    const handshake = (version: SecureVersion) =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca, minVersion: 'TLSv1', maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
          resolve(socket.getProtocol() ?? '');
          socket.end();
        });
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
    expect(await handshake('TLSv1.3')).to.equal('TLSv1.3');
    expect(await handshake('TLSv1.2')).to.equal('TLSv1.2');
    expect(await handshake('TLSv1.1')).to.equal('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('signs in, starts a session and polls over HTTPS', async () => {
    const alice = await new HttpsClient(node.url, 'alice', ca).signIn();
    expect(alice.sid).to.be.greaterThan(0);
    const { reply, events } = await alice.poll();
    expect(reply.status).to.equal(200);
    expect(events.map((e) => e.name)).to.include('configuration');
    await searchFor(alice, 'bob');
    const seen = await alice.pollUntil((e) => e.name === 'searchResult');
    expect(seen.some((e) => e.name === 'searchResult')).to.equal(true);
  });

  it('attaches the WebSocket data channel over WSS on the same port and receives the first cwaEvents frame', async () => {
    const bob = await new HttpsClient(node.url, 'bob', ca).signIn();
    const wss = await attachWss(node.url, bob, ca);
    try {
      const frame = await wss.until((f) => f.includes('<cwaEvents'), 'cwaEvents');
      expect(parse(frame).children.map((e) => e.name)).to.include('configuration');
    } finally {
      wss.socket.terminate();
    }
  });

  it('on SIGHUP serves the renewed certificate to new connections, while open ones (keep-alive HTTPS, WSS) keep theirs and keep working', async () => {
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const before = await request(`${node.url}/healthz`, { ca, agent: keepAlive });
      const carol = await new HttpsClient(node.url, 'carol', ca).signIn();
      const wss = await attachWss(node.url, carol, ca);
      const current = (await request(`${node.url}/healthz`, { ca })).fingerprint;
      expect(new Set([before.fingerprint, wss.fingerprint, current])).to.deep.equal(new Set([current]));
      const next = current === renewed.fingerprint ? first : renewed;

      const reloads = node.output().split('"msg":"TLS certificate reloaded"').length - 1;
      copyFileSync(next.cert, served.cert);
      copyFileSync(next.key, served.key);
      node.child.kill('SIGHUP');
      const line = await logged(node, '"msg":"TLS certificate reloaded"', reloads + 1);
      expect(JSON.parse(line)).to.include({ fingerprint256: next.fingerprint, changed: true, level: 'info' });

      const fresh = await request(`${node.url}/healthz`, { ca });
      expect(fresh.fingerprint).to.equal(next.fingerprint);
      expect(fresh.body).to.equal('ok');
      // The keep-alive connection opened before the reload: the same socket, the old certificate.
      const again = await request(`${node.url}/healthz`, { ca, agent: keepAlive });
      expect(again.localPort).to.equal(before.localPort);
      expect(again.fingerprint).to.equal(current);
      // The WSS opened before still delivers; one opened now presents the new certificate.
      await searchFor(carol, 'alice');
      await wss.until((f) => f.includes('searchResult'), 'searchResult');
      const dave = await new HttpsClient(node.url, 'dave', ca).signIn();
      const wss2 = await attachWss(node.url, dave, ca);
      expect(wss2.fingerprint).to.equal(next.fingerprint);
      await wss2.until((f) => f.includes('<cwaEvents'), 'cwaEvents');
      wss.socket.terminate();
      wss2.socket.terminate();
    } finally {
      keepAlive.destroy();
    }
  });

  it('on SIGHUP with a broken or mismatched file logs an error and keeps serving the certificate it had', async () => {
    const current = (await request(`${node.url}/healthz`, { ca })).fingerprint;
    const other = current === renewed.fingerprint ? first : renewed;
    const failures = () => node.output().split('"msg":"TLS certificate reload failed: still serving the previous certificate"').length - 1;

    // A certificate file caught half-written.
    const good = readFileSync(served.cert, 'utf8');
    writeFileSync(served.cert, good.slice(0, 200));
    let n = failures();
    node.child.kill('SIGHUP');
    let line = JSON.parse(await logged(node, 'TLS certificate reload failed', n + 1)) as { level: string; err: string };
    expect(line.level).to.equal('error');
    expect(line.err).to.include(served.cert);
    expect((await request(`${node.url}/healthz`, { ca })).fingerprint).to.equal(current);

    // The new certificate in place, the key not yet.
    copyFileSync(other.cert, served.cert);
    n = failures();
    node.child.kill('SIGHUP');
    line = JSON.parse(await logged(node, 'TLS certificate reload failed', n + 1)) as { level: string; err: string };
    expect(line.err).to.match(/does not belong to the certificate/);
    const still = await request(`${node.url}/readyz`, { ca });
    expect(still.fingerprint).to.equal(current);
    expect(still.body).to.equal('ready');
    expect(node.child.exitCode).to.equal(null);
  });
});

describe('HTTPS: --tls-ca sends the intermediates after the certificate', function () {
  this.timeout(60_000);
  let dir: string;
  let root: Pair;
  let intermediate: Pair;
  let leaf: Pair;
  const nodes: NodeProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cwa-https-chain-'));
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=cwa test root', '-days', '1', '-keyout', 'root.key', '-out', 'root.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    root = pairOf(dir, 'root');
    intermediate = signed(dir, 'intermediate', 'cwa test intermediate', root, 2, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    leaf = signed(dir, 'leaf', 'localhost', intermediate, 3, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  });
  after(async () => {
    for (const n of nodes) await n.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a client that trusts only the root verifies the chain with --tls-ca, and cannot without it', async () => {
    const withChain = await startNodeProcess(['--tls-cert', leaf.cert, '--tls-key', leaf.key, '--tls-ca', intermediate.cert, '--data-dir', join(dir, 'a')]);
    nodes.push(withChain);
    const ok = await new Promise<{ issuer: string; body: string }>((resolve, reject) => {
      https.get(`${withChain.url}/healthz`, { ca: [root.pem], agent: false }, (res) => {
        const issuer = (res.socket as TLSSocket).getPeerCertificate(true).issuerCertificate.fingerprint256;
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ issuer, body }));
      }).on('error', reject);
    });
    expect(ok).to.deep.equal({ issuer: intermediate.fingerprint, body: 'ok' });

    const leafOnly = await startNodeProcess(['--tls-cert', leaf.cert, '--tls-key', leaf.key, '--data-dir', join(dir, 'b')]);
    nodes.push(leafOnly);
    const refused = await request(`${leafOnly.url}/healthz`, { ca: [root.pem] }).catch((err: NodeJS.ErrnoException) => err);
    expect((refused as NodeJS.ErrnoException).code).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

describe('HTTPS: shutdown', function () {
  this.timeout(30_000);
  let dir: string;
  let node: NodeProcess | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cwa-https-stop-'));
  });
  after(async () => {
    await node?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('on SIGTERM answers held polls, drops a connection stuck in the TLS handshake with the idle ones, and exits 0 well within the bound', async () => {
    const cert = selfSigned(dir, 'cert', 'localhost');
    node = await startNodeProcess(['--tls-cert', cert.cert, '--tls-key', cert.key, '--data-dir', join(dir, 'data'), '--hold-ms', '20000', '--shutdown-timeout-ms', '8000']);
    const gw = node;
    const alice = await new HttpsClient(gw.url, 'alice', [cert.pem]).signIn();
    await alice.poll();
    const held = alice.poll();
    // A client that connects and never starts the handshake.
    const { port } = new URL(gw.url);
    const stuck = net.connect(Number(port), '127.0.0.1');
    const stuckClosed = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
    stuck.on('error', () => undefined);
    await new Promise((r) => stuck.once('connect', r));
    await sleep(300);
    const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    gw.child.kill('SIGTERM');
    const { reply } = await held;
    expect(reply.status).to.equal(200);
    expect(Date.now() - started).to.be.lessThan(2000);
    await stuckClosed;
    expect(await exited).to.equal(0);
    // Not the drain budget (most of the 8 s): nothing was left to wait for.
    expect(Date.now() - started).to.be.lessThan(3000);
    expect(gw.output()).to.include('"msg":"shutdown complete"');
  });
});

describe('HTTPS: configuration', function () {
  this.timeout(30_000);
  let dir: string;
  let pair: Pair;
  let other: Pair;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cwa-https-config-'));
    pair = selfSigned(dir, 'pair', 'localhost');
    other = selfSigned(dir, 'other', 'localhost');
    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The real command, which must refuse to start. */
  function refused(args: string[], env: Record<string, string> = {}): string {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), ...args], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stdout).not.to.include('listening');
    expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at /);
    return r.stderr;
  }

  it('needs both --tls-cert and --tls-key, whichever source names them', () => {
    expect(refused(['--tls-cert', pair.cert])).to.include('--tls-cert needs --tls-key too');
    expect(refused([], { CWA_TLS_KEY: pair.key })).to.include('--tls-key needs --tls-cert too');
    expect(refused(['--tls-ca', pair.cert])).to.include('--tls-ca is sent with the certificate of --tls-cert');
  });

  it('names the file when a certificate or key cannot be used', () => {
    const missing = join(dir, 'missing.pem');
    expect(refused(['--tls-cert', missing, '--tls-key', pair.key])).to.include(`--tls-cert ${missing}: cannot read it (no such file)`);
    expect(refused(['--tls-cert', pair.cert, '--tls-key', dir])).to.include(`--tls-key ${dir}: cannot read it (is a directory)`);
    expect(refused(['--tls-cert', join(dir, 'garbage.pem'), '--tls-key', pair.key])).to.include('no PEM certificate in it');
    expect(refused(['--tls-cert', pair.cert, '--tls-key', pair.cert])).to.include('no PEM private key in it');
    expect(refused(['--tls-cert', pair.cert, '--tls-key', other.key])).to.include(`--tls-key ${other.key}: this key does not belong to the certificate in --tls-cert ${pair.cert}`);
    expect(refused(['--tls-cert', pair.cert, '--tls-key', pair.key, '--tls-ca', join(dir, 'garbage.pem')])).to.include('--tls-ca');
  });

  it('takes the files from the environment and the config file (paths relative to it)', async () => {
    const fromEnv = await loadConfig([], { CWA_TLS_CERT: pair.cert, CWA_TLS_KEY: pair.key, CWA_TLS_CA: other.cert });
    expect(fromEnv).to.include({ tlsCert: pair.cert, tlsKey: pair.key, tlsCa: other.cert });
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ tlsCert: 'pair.pem', tlsKey: 'pair.key', publicUrl: 'https://lyncdiscover.example.com' }));
    const fromFile = await loadConfig(['--config', file], {});
    expect(fromFile).to.include({ tlsCert: pair.cert, tlsKey: pair.key, publicUrl: 'https://lyncdiscover.example.com' });
  });

  it('--public-url: an http(s) URL without query, fragment or credentials, kept without a trailing slash', async () => {
    expect((await loadConfig(['--public-url', 'https://LyncDiscover.example.com/'], {})).publicUrl).to.equal('https://lyncdiscover.example.com');
    expect((await loadConfig(['--public-url', 'http://gw.example.com:8080/cwa/'], {})).publicUrl).to.equal('http://gw.example.com:8080/cwa');
    expect((await loadConfig([], { CWA_PUBLIC_URL: 'https://gw.example.com' })).publicUrl).to.equal('https://gw.example.com');
    for (const bad of ['lyncdiscover.example.com', 'ftp://gw.example.com', 'https://gw.example.com/?a=1', 'https://gw.example.com/#top', 'https://gw.example.com/?', 'https://u:p@gw.example.com']) {
      const err = await loadConfig(['--public-url', bad], {}).catch((e: unknown) => e);
      expect(err, bad).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.include('--public-url');
    }
  });
});
