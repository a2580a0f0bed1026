// `cwa-gateway record`: a recording reverse proxy, written as one transcript when stopped.
import { writeFile } from 'node:fs/promises';
import type { CliIo } from '../cli-io.js';
import { parseArgs, positiveInteger, UsageError } from './cli.js';
import { record } from './record.js';

const EXIT_USAGE = 2;

export const RECORD_USAGE = [
  'Usage: cwa-gateway record --target URL --port N --out FILE [--host H] [--title TEXT] [--max-seconds S]',
  '',
  'Listens on HOST:PORT (default host 127.0.0.1; port 0 picks a free one) and forwards every request to',
  '--target, a UC AJAX API server (a CWA 2007 R2 or a cwa-gateway). Point the application at the printed',
  'address and use it; on SIGINT/SIGTERM (or after --max-seconds) the logons, commands and events that went',
  'through are written to --out as a transcript for `cwa-gateway replay`. Passwords are not written: replay',
  'takes them from --credentials or the demo users. WebSocket data channels are recorded as WebSocket steps',
  '(the attach, command and ack frames, the events received, the close): replay speaks WebSocket for them.',
  '',
].join('\n');

export async function recordCommand(args: readonly string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(RECORD_USAGE);
    return 0;
  }
  let opts: { target: string; port: number; host?: string; out: string; title?: string; maxSeconds?: number };
  try {
    const { values, positional } = parseArgs(args, ['--target', '--port', '--host', '--out', '--title', '--max-seconds']);
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const target = values['--target'];
    if (!target || !/^https?:\/\/[^/]/.test(target)) throw new UsageError('--target: the server to record, an http:// or https:// URL');
    const port = values['--port'];
    if (port === undefined || !/^\d+$/.test(port) || Number(port) > 65535) throw new UsageError('--port: the port to listen on (0 picks a free one)');
    if (!values['--out']) throw new UsageError('--out: the transcript file to write');
    opts = { target, port: Number(port), host: values['--host'], out: values['--out'], title: values['--title'], maxSeconds: positiveInteger('--max-seconds', values['--max-seconds']) };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`cwa-gateway record: ${err.message}\n${RECORD_USAGE}`);
    return EXIT_USAGE;
  }

  const recorder = await record(opts);
  io.stdout.write(`recording on ${recorder.url} (forwarding to ${opts.target}); stop with Ctrl-C\n`);
  const reason = await new Promise<string>((resolve) => {
    const timer = opts.maxSeconds ? setTimeout(() => done(`${opts.maxSeconds} s passed`), opts.maxSeconds * 1000) : undefined;
    const onSignal = (signal: NodeJS.Signals) => done(signal);
    function done(why: string) {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(why);
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const transcript = await recorder.stop();
  if (transcript.steps.length === 0) {
    io.stderr.write(`cwa-gateway record: ${reason}; nothing was recorded, no file written\n`);
    return 1;
  }
  await writeFile(opts.out, `${JSON.stringify(transcript, null, 2)}\n`);
  const clients = Object.entries(transcript.clients).map(([name, login]) => (name === login ? name : `${name} (${login})`));
  io.stdout.write(`${reason}: wrote ${transcript.steps.length} steps of ${clients.join(', ')} to ${opts.out}\n`);
  return 0;
}
