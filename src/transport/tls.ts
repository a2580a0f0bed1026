// HTTPS and WSS on the gateway's own port (--tls-cert, --tls-key, --tls-ca). The PEM files
// are read and checked as a whole before they are used, at start (a problem stops the
// gateway with a message naming the file) and again on SIGHUP (a problem is logged and the
// certificate in use stays: a renewal caught half-written must not take the gateway down).
// Everything above the socket (routes, timeouts, the WebSocket upgrade, shutdown) is the
// same as over plain HTTP.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { Gauge } from 'prom-client';
import { ConfigError } from '../config.js';
import type { Logger } from '../ops/logger.js';
import type { GatewayMetrics } from '../ops/metrics.js';

export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string;
}

/** Files checked and ready for a secure context. */
export interface TlsMaterial {
  /** The server's certificate, then the intermediates of --tls-cert and --tls-ca. */
  chain: X509Certificate[];
  options: SecureContextOptions;
}

/** A problem with the certificate files; the message names the option and the file. */
export class TlsFileError extends ConfigError {
  override name = 'TlsFileError';
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new TlsFileError(`${flag} ${file}: cannot read it (${why})`);
  }
}

function certificates(flag: string, file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new TlsFileError(`${flag} ${file}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----")`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(`${flag} ${file}: certificate ${i + 1} is not valid (${(err as Error).message})`);
    }
  });
}

function privateKey(file: string, pem: string): { key: KeyObject; pem: string } {
  const block = KEY_BLOCK.exec(pem);
  if (!block) throw new TlsFileError(`--tls-key ${file}: no PEM private key in it (expected "-----BEGIN PRIVATE KEY-----")`);
  if (block[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block[0])) {
    throw new TlsFileError(`--tls-key ${file}: the private key is encrypted; the gateway takes no passphrase, give it the key unencrypted (openssl pkey -in KEY -out PLAIN)`);
  }
  try {
    return { key: createPrivateKey(block[0]), pem: block[0] };
  } catch (err) {
    throw new TlsFileError(`--tls-key ${file}: the private key is not valid (${(err as Error).message})`);
  }
}

/** Reads and checks the files: certificates parse, the key is the certificate's, OpenSSL takes them. */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const own = certificates('--tls-cert', files.cert, readPem('--tls-cert', files.cert));
  const { key, pem: keyPem } = privateKey(files.key, readPem('--tls-key', files.key));
  const extra = files.ca !== undefined ? certificates('--tls-ca', files.ca, readPem('--tls-ca', files.ca)) : [];
  const leaf = own[0]!;
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsFileError(`--tls-key ${files.key}: this key does not belong to the certificate in --tls-cert ${files.cert}`);
  }
  // A bundle may repeat what the certificate file already holds: each certificate once, in order.
  const seen = new Set<string>();
  const chain = [...own, ...extra].filter((c) => !seen.has(c.fingerprint256) && seen.add(c.fingerprint256));
  const options: SecureContextOptions = { cert: chain.map((c) => c.toString()).join('\n'), key: keyPem };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new TlsFileError(`--tls-cert ${files.cert}, --tls-key ${files.key}: not usable (${(err as Error).message})`);
  }
  return { chain, options };
}

/** A connection's peer, the same on the TCP socket and on the TLS socket wrapping it. */
function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** What the logs say about a certificate. */
export function describeCertificate(cert: X509Certificate): Record<string, string | undefined> {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    altNames: cert.subjectAltName,
    serial: cert.serialNumber,
    notAfter: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

/**
 * The TLS side of the listening server: builds it, reloads its certificate, and cuts the
 * connections the HTTP layer does not know about (those still in the TLS handshake).
 */
export class TlsEndpoint {
  private material: TlsMaterial;
  private readonly sockets = new Set<Socket>();
  /** Connections still in the TLS handshake, by the peer's address and port. */
  private readonly handshaking = new Map<string, Socket>();
  private server: https.Server | undefined;

  /** Reads the files; throws TlsFileError (a configuration error) when they are unusable. */
  constructor(
    private readonly files: TlsFiles,
    private readonly logger: Logger,
    metrics: GatewayMetrics,
  ) {
    this.material = readTlsMaterial(files);
    const self = this;
    new Gauge({
      name: 'cwa_tls_certificate_not_after_seconds',
      help: 'Expiry of the certificate served (Unix time, seconds): alert well before it',
      registers: [metrics.registry],
      collect() {
        this.set(Math.floor(Date.parse(self.certificate.validTo) / 1000));
      },
    });
    this.warnIfNotCurrent();
  }

  /** The certificate served to new connections. */
  get certificate(): X509Certificate {
    return this.material.chain[0]!;
  }

  /**
   * An HTTPS server with the HTTP options of the plain one. The TLS handshake is bounded by
   * the headers timeout: a client that does not finish it is as slow as one that sends no headers.
   */
  createServer(options: http.ServerOptions & { headersTimeout: number }, app: http.RequestListener): https.Server {
    const server = https.createServer({ ...options, ...this.material.options, handshakeTimeout: options.headersTimeout }, app);
    // Connections are tracked from the TCP accept: until its handshake is done a connection
    // is not HTTP's, and closing the server would wait for it.
    server.on('connection', (socket: Socket) => {
      const peer = peerOf(socket);
      this.sockets.add(socket);
      this.handshaking.set(peer, socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.handshaking.get(peer) === socket) this.handshaking.delete(peer);
      });
    });
    server.on('secureConnection', (socket: TLSSocket) => this.handshaking.delete(peerOf(socket)));
    server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      this.logger.debug({ address: socket.remoteAddress, err: err.code ?? err.message }, 'TLS handshake failed');
    });
    this.server = server;
    this.logger.info({ ...describeCertificate(this.certificate), chain: this.material.chain.length }, 'TLS certificate loaded');
    return server;
  }

  /**
   * Reads the files again and serves the new certificate to new connections; connections
   * already open keep theirs. Returns false (and logs why) when the files are unusable: the
   * certificate in use stays.
   */
  reload(): boolean {
    let material: TlsMaterial;
    try {
      material = readTlsMaterial(this.files);
      this.server?.setSecureContext(material.options);
    } catch (err) {
      this.logger.error(
        { err: err instanceof Error ? err.message : String(err), serving: describeCertificate(this.certificate) },
        'TLS certificate reload failed: still serving the previous certificate',
      );
      return false;
    }
    const previous = this.certificate.fingerprint256;
    this.material = material;
    this.logger.info(
      { ...describeCertificate(this.certificate), chain: material.chain.length, changed: previous !== this.certificate.fingerprint256 },
      'TLS certificate reloaded',
    );
    this.warnIfNotCurrent();
    return true;
  }

  /** Drops connections still in the TLS handshake (shutdown: they have sent no request). */
  closeHandshaking(): number {
    const n = this.handshaking.size;
    for (const socket of this.handshaking.values()) socket.destroy();
    this.handshaking.clear();
    return n;
  }

  /** Destroys every connection still open (the last step of a shutdown that overran). */
  destroyConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private warnIfNotCurrent(): void {
    const now = Date.now();
    const cert = this.certificate;
    if (Date.parse(cert.validTo) <= now) this.logger.warn({ notAfter: new Date(cert.validTo).toISOString() }, 'TLS certificate has expired: clients will refuse it');
    else if (Date.parse(cert.validFrom) > now) this.logger.warn({ notBefore: new Date(cert.validFrom).toISOString() }, 'TLS certificate is not valid yet: clients will refuse it');
  }
}
