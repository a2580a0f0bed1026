/**
 * The `cwa-gateway` command: `serve` (default), `hash-password`, `revoke`, `replay`, `record`,
 * `help`, `--version`.
 * Everything it touches comes through `io`, so tests run it in-process.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, describeOptions, loadConfig, type GatewayConfig } from './config.js';
import { UserDirectory, UserDirectoryError } from './users/directory.js';
import { hashPassword } from './users/password.js';
import type { CliIo } from './cli-io.js';
import type { RunningGateway } from './server.js';
import { PACKAGE_VERSION } from './version.js';

export type { CliIo } from './cli-io.js';

/** Bad usage or configuration, as opposed to a failure while running. */
const EXIT_USAGE = 2;
const MAX_PASSWORD_BYTES = 64 * 1024;

export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const cio: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
    env: io.env ?? process.env,
    exit: io.exit ?? ((code) => process.exit(code)),
    startGateway: io.startGateway,
  };
  const [first, ...rest] = argv;
  try {
    if (first === '--help' || first === '-h' || first === 'help') return help(cio);
    if (first === '--version' || first === '-v') return await version(cio);
    if (first === 'hash-password') return await hashPasswordCommand(rest, cio);
    if (first === 'revoke') return await revokeCommand(rest, cio);
    if (first === 'serve') return await serve(rest, cio);
    // Record and replay live in src/testing, loaded only when asked for.
    if (first === 'replay') return await (await import('./testing/cli.js')).replayCommand(rest, cio);
    if (first === 'record') return await (await import('./testing/record-cli.js')).recordCommand(rest, cio);
    if (first === undefined || first.startsWith('-')) return await serve(argv, cio);
    cio.stderr.write(`cwa-gateway: unknown command "${first}" (see cwa-gateway --help)\n`);
    return EXIT_USAGE;
  } catch (err) {
    // Configuration problems are the user's to fix: a message, no stack trace.
    if (err instanceof ConfigError || err instanceof UserDirectoryError) {
      cio.stderr.write(`cwa-gateway: ${err.message}\n`);
      return EXIT_USAGE;
    }
    cio.stderr.write(`cwa-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

export function usage(): string {
  return [
    'Usage: cwa-gateway [serve] [options]',
    '       cwa-gateway hash-password [PASSWORD]',
    '       cwa-gateway revoke --user LOGIN [--url URL] [--config FILE]',
    '       cwa-gateway replay FILE|DIR... [--target URL] [--credentials FILE] [--reporter spec|tap|junit] [--out FILE]',
    '       cwa-gateway record --target URL --port N --out FILE [--host H] [--title TEXT] [--max-seconds S]',
    '       cwa-gateway help | --help',
    '       cwa-gateway --version',
    '',
    'Commands:',
    '  serve            run the gateway (the default command)',
    '  hash-password    print a "scrypt$N$r$p$salt$hash" string for the "passwordHash" field of a',
    '                   users file; reads one line from standard input when PASSWORD is not given',
    '                   (preferable: an argument shows up in shell history and process lists)',
    '  revoke           sign a user out everywhere on a running gateway: every ticket revoked, every',
    '                   session ended. Needs the gateway\'s --admin-token in CWA_ADMIN_TOKEN (or the',
    '                   config file); talks to --url, by default http://HOST:PORT of the configuration',
    '  replay           replay recorded conversations (transcripts) against a fresh gateway or --target;',
    '                   exit 0 all matched, 1 a step differed, 2 bad usage (cwa-gateway replay --help)',
    '  record           a recording reverse proxy in front of --target: writes one transcript of the',
    '                   conversations through it when stopped (cwa-gateway record --help)',
    '',
    'Options of serve (flags beat environment variables, which beat the config file):',
    describeOptions(),
    '',
  ].join('\n');
}

function help(io: CliIo): number {
  io.stdout.write(usage());
  return 0;
}

async function version(io: CliIo): Promise<number> {
  if (PACKAGE_VERSION) {
    io.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  io.stderr.write('cwa-gateway: cannot find package.json to read the version\n');
  return 1;
}

async function hashPasswordCommand(args: readonly string[], io: CliIo): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h') return help(io);
  if (args.length > 1) {
    io.stderr.write('cwa-gateway: hash-password takes at most one argument (quote a password with spaces)\n');
    return EXIT_USAGE;
  }
  let password = args[0];
  if (password === undefined) {
    if (io.stdin.isTTY) io.stderr.write('Password (one line, echoed): ');
    password = await readLine(io.stdin);
  }
  if (password === '') {
    io.stderr.write('cwa-gateway: the password is empty\n');
    return EXIT_USAGE;
  }
  io.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

/** `revoke --user LOGIN [--url URL] [serve options for the config: --config, --host, --port]`. */
async function revokeCommand(args: readonly string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) return help(io);
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (flag !== '--user' && flag !== '--url') {
      rest.push(arg);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') throw new ConfigError(`${flag}: missing value`);
    own[flag] = value;
  }
  const user = own['--user'];
  if (user === undefined) throw new ConfigError('revoke: name the user with --user LOGIN');
  const config = await loadConfig(rest, io.env);
  if (config.adminToken === undefined) {
    throw new ConfigError('revoke: no admin token; set CWA_ADMIN_TOKEN (or adminToken in the config file) to the gateway\'s --admin-token');
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const scheme = config.tlsCert !== undefined ? 'https' : 'http';
  const base = (own['--url'] ?? `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.port}`).replace(/\/+$/, '');
  const res = await fetch(`${base}/admin/revoke?user=${encodeURIComponent(user)}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${config.adminToken}` },
  }).catch((err: unknown) => {
    // fetch says only "fetch failed"; the cause (refused, certificate not trusted …) is what helps.
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new Error(`revoke: cannot reach ${base}: ${cause}`);
  });
  const text = await res.text();
  let body: { login?: string; ticketsRevoked?: number; sessionsEnded?: number; error?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = { error: text.slice(0, 200) };
  }
  if (!res.ok) {
    io.stderr.write(`cwa-gateway: revoke failed: HTTP ${res.status}${body.error ? `: ${body.error}` : ''}\n`);
    return 1;
  }
  io.stdout.write(`signed out ${body.login}: ${body.sessionsEnded} session(s) ended, ${body.ticketsRevoked} ticket(s) revoked\n`);
  return 0;
}

/** First line of the input, without its line ending; decoded at the end so UTF-8 never splits. */
async function readLine(input: AsyncIterable<string | Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const nl = buf.indexOf(0x0a);
    chunks.push(nl >= 0 ? buf.subarray(0, nl) : buf);
    size += buf.length;
    if (nl >= 0) break;
    if (size > MAX_PASSWORD_BYTES) throw new ConfigError(`password longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

async function serve(args: readonly string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) return help(io);
  const config = await loadConfig(args, io.env);
  const users = config.usersFile !== undefined ? await UserDirectory.fromFile(config.usersFile) : UserDirectory.demo();
  if (users.isDemo) io.stderr.write(demoWarning(users, config));

  const start = io.startGateway ?? (await import('./server.js')).startGateway;
  // The signal handlers go in before the gateway starts: a SIGTERM that arrives once the
  // "listening" line is out, but before they would otherwise be in, still closes it gracefully.
  const signals = new SignalTrap();
  let gateway: RunningGateway;
  try {
    gateway = await start(config, { users });
  } catch (err) {
    signals.release();
    if (err instanceof ConfigError) throw err; // unusable certificate files: a usage error
    io.stderr.write(`cwa-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  // Standard output carries JSON log lines only (the gateway's own "listening" line has the URL);
  // a person at a terminal also gets a readable line, on standard error.
  if (io.stderr.isTTY) io.stderr.write(`cwa-gateway listening on ${gateway.url}\n`);
  const stopReloading = reloadOnHangup(gateway);
  const code = await waitForShutdown(gateway, io, config.shutdownTimeoutMs, signals);
  stopReloading();
  io.exit(code); // do not wait for stray handles (idle keep-alive sockets) to drain
  return code;
}

function demoWarning(users: UserDirectory, config: GatewayConfig): string {
  const lines = [
    'WARNING: no users file given (--users / CWA_USERS): using the built-in DEMO user directory.',
    'WARNING: these are demo credentials, published in the source code; anyone can log on with them.',
  ];
  if (!['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
    lines.push(`WARNING: and the gateway listens on ${config.host}, reachable from other machines.`);
  }
  lines.push('Demo logins (login / password):');
  for (const { login, password } of users.demoCredentials()) lines.push(`  ${login} / ${password}`);
  return lines.join('\n') + '\n';
}

/**
 * With HTTPS, SIGHUP reads the certificate files again (the gateway logs the outcome and
 * keeps its certificate when the new files are unusable). Without it SIGHUP keeps its
 * default meaning. Returns the function that removes the handler.
 */
function reloadOnHangup(gateway: RunningGateway): () => void {
  const reload = gateway.reloadCertificates;
  if (!reload) return () => undefined;
  const onHangup = (): void => void reload();
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}

/** Holds SIGINT/SIGTERM from the moment it is made, until a handler takes them over. */
class SignalTrap {
  private handler: ((signal: NodeJS.Signals) => void) | undefined;
  private readonly pending: NodeJS.Signals[] = [];
  private readonly listener = (signal: NodeJS.Signals): void => {
    if (this.handler) this.handler(signal);
    else this.pending.push(signal);
  };

  constructor() {
    process.on('SIGINT', this.listener);
    process.on('SIGTERM', this.listener);
  }

  /** Hands signals (those already received first) to `handler`. */
  handTo(handler: (signal: NodeJS.Signals) => void): void {
    this.handler = handler;
    for (const signal of this.pending.splice(0)) handler(signal);
  }

  release(): void {
    process.off('SIGINT', this.listener);
    process.off('SIGTERM', this.listener);
  }
}

/**
 * Resolves with the exit code once SIGINT/SIGTERM has closed the gateway; a second signal
 * forces exit, and so does a shutdown that overruns its bound (a safety net: the gateway
 * cuts connections itself before the bound).
 */
function waitForShutdown(gateway: RunningGateway, io: CliIo, boundMs: number, signals: SignalTrap): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    let overrun: NodeJS.Timeout | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        io.stderr.write(`cwa-gateway: ${signal} again, exiting without waiting\n`);
        io.exit(1);
        return;
      }
      closing = true;
      io.stderr.write(`cwa-gateway: ${signal} received, closing\n`);
      overrun = setTimeout(() => {
        io.stderr.write(`cwa-gateway: shutdown did not finish within ${boundMs} ms, exiting\n`);
        io.exit(1);
      }, boundMs + 2000);
      gateway.close().then(
        () => finish(0),
        (err: unknown) => {
          io.stderr.write(`cwa-gateway: error while closing: ${err instanceof Error ? err.message : String(err)}\n`);
          finish(1);
        },
      );
    };
    const finish = (code: number): void => {
      clearTimeout(overrun);
      signals.release();
      resolve(code);
    };
    signals.handTo(onSignal);
  });
}
