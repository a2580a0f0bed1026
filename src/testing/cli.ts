// `cwa-gateway replay` (and `record`): the command-line side of src/testing.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { CliIo } from '../cli-io.js';
import { UserDirectoryError } from '../users/directory.js';
import { REPORTERS, junit, specLine, summary, tap, type ReporterName } from './report.js';
import { replay } from './run.js';

const EXIT_DIFFERED = 1;
const EXIT_USAGE = 2;

export const REPLAY_USAGE = [
  'Usage: cwa-gateway replay FILE|DIR... [--target URL] [--credentials FILE] [--reporter spec|tap|junit]',
  '                          [--out FILE] [--timeout-ms N]',
  '',
  'Replays transcripts (fixtures/README.md; a folder is searched for *.json). Without --target each',
  'file gets a fresh embedded gateway with the settings of its "gateway" block; with --target they all',
  'run against that server, which should run with those settings (a failure names the flags), and a',
  'file with advanceMs steps cannot run there (it needs a gateway on a clock replay moves). --credentials is a users file (the --users format): the passwords of the',
  'recorded logons, and the users an embedded gateway serves (default: the demo users).',
  '--reporter picks the report (default spec); --out writes it to a file and prints spec as well.',
  '--timeout-ms is how long a client waits for expected events (default 10000).',
  'Exit status: 0 every step matched, 1 a step differed, 2 bad usage or an unreadable transcript.',
  '',
].join('\n');

/** `--name value` / `--name=value` flags and positional arguments. */
export function parseArgs(args: readonly string[], flags: readonly string[], switches: readonly string[] = []): { values: Record<string, string>; positional: string[] } {
  const values: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (switches.includes(flag)) {
      values[flag] = 'true';
      continue;
    }
    if (!flags.includes(flag)) throw new UsageError(`unknown option ${flag}`);
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag}: missing value`);
    values[flag] = value;
  }
  return { values, positional };
}

export class UsageError extends Error {}

export function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new UsageError(`${flag}: expected a positive integer, got "${value}"`);
  return Number(value);
}

export async function replayCommand(args: readonly string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(REPLAY_USAGE);
    return 0;
  }
  let opts: { paths: string[]; target?: string; credentials?: string; reporter: ReporterName; out?: string; timeoutMs?: number };
  try {
    const { values, positional } = parseArgs(args, ['--target', '--credentials', '--reporter', '--out', '--timeout-ms']);
    const reporter = (values['--reporter'] ?? 'spec') as ReporterName;
    if (!REPORTERS.includes(reporter)) throw new UsageError(`--reporter: one of ${REPORTERS.join(', ')}, got "${reporter}"`);
    if (positional.length === 0) throw new UsageError('name at least one transcript file or folder');
    const target = values['--target'];
    if (target !== undefined && !/^https?:\/\/[^/]/.test(target)) throw new UsageError(`--target: expected an http:// or https:// URL, got "${target}"`);
    for (const p of positional) if (!existsSync(p)) throw new UsageError(`${p}: no such file or folder`);
    opts = { paths: positional, target, credentials: values['--credentials'], reporter, out: values['--out'], timeoutMs: positiveInteger('--timeout-ms', values['--timeout-ms']) };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`cwa-gateway replay: ${err.message}\n${REPLAY_USAGE}`);
    return EXIT_USAGE;
  }

  // spec prints as it goes; tap and junit are whole documents, written at the end.
  const specToStdout = opts.reporter === 'spec' || opts.out !== undefined;
  if (opts.target) io.stdout.write(`replaying against ${opts.target} ("gateway" blocks do not apply)\n`);
  let report;
  try {
    report = await replay(opts.paths, {
      target: opts.target,
      credentialsFile: opts.credentials,
      timeoutMs: opts.timeoutMs,
      onResult: (r) => {
        if (specToStdout) io.stdout.write(specLine(r));
        // The server was started by someone else: say what the transcript expected of it.
        if (specToStdout && !r.passed && r.serverFlags?.length) {
          io.stdout.write(`        (its "gateway" block does not apply to --target: it was written for a server started with ${r.serverFlags.join(' ')})\n`);
        }
      },
    });
  } catch (err) {
    if (!(err instanceof UserDirectoryError)) throw err;
    io.stderr.write(`cwa-gateway replay: --credentials: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (report.results.length === 0) {
    io.stderr.write(`cwa-gateway replay: no *.json transcripts in ${opts.paths.join(', ')}\n`);
    return EXIT_USAGE;
  }
  if (specToStdout) io.stdout.write(`${summary(report.results)}\n`);
  const document = opts.reporter === 'tap' ? tap(report.results) : opts.reporter === 'junit' ? junit(report.results) : undefined;
  if (opts.out !== undefined) await writeFile(opts.out, document ?? report.results.map(specLine).join('') + `${summary(report.results)}\n`);
  else if (document !== undefined) io.stdout.write(document);
  for (const r of report.results) if (r.unreadable) io.stderr.write(`cwa-gateway replay: ${r.error}\n`);
  return report.unreadable ? EXIT_USAGE : report.passed ? 0 : EXIT_DIFFERED;
}
