// Structured JSON logs (pino), one line per event; when standard output is a terminal (or with
// --log-format pretty), the same lines made readable by a small formatter below. Secrets never reach the output: the
// gateway logs no bodies and no headers, only the fields it chooses, and on top of that
// every field that may hold a ticket or a password is redacted, and a `ticket` query
// parameter (the WebSocket form of the ticket) is cut out of every URL it logs.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../config.js';

export type { Logger } from 'pino';

export const REDACTED = '[redacted]';

const REDACT_PATHS = [
  'ticket',
  'password',
  'cwaTicket',
  'authorization',
  'cookie',
  '*.ticket',
  '*.password',
  '*.cwaTicket',
  '*.authorization',
  '*.cookie',
  'headers["cwa-ticket"]',
  '*.headers["cwa-ticket"]',
  '*.headers.authorization',
  '*.headers.cookie',
];

/**
 * The gateway's logger, writing to `destination` (default: standard output, synchronously).
 * `format` `auto` writes readable lines when the destination is a terminal (`isTTY`), JSON
 * lines otherwise; `json` and `pretty` force one.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream & { isTTY?: boolean }, format: LogFormat = 'auto'): Logger {
  // Synchronous: lines are written in order and none is lost when the process exits.
  const out: DestinationStream = destination ?? pino.destination({ dest: 1, sync: true });
  const tty = destination ? destination.isTTY === true : process.stdout.isTTY === true;
  const pretty = format === 'pretty' || (format === 'auto' && tty);
  return pino(
    {
      level,
      base: { name: 'cwa-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    pretty ? prettyDestination(out) : out,
  );
}

/** The JSON lines written to `out` as readable ones (what `--log-format pretty` shows). */
export function prettyDestination(out: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') out.write(`${prettyLine(line)}\n`);
    },
  };
}

const HIDDEN = new Set(['time', 'level', 'msg', 'name', 'pid', 'hostname']);

/**
 * One JSON log line as `HH:MM:SS.mmm LEVEL message key=value …` (the date left out, values that
 * are not plain words in JSON); a line that is not JSON is returned as it is.
 */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  if (rec === null || typeof rec !== 'object') return json;
  const time = typeof rec.time === 'string' ? (/T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(rec.time)?.[1] ?? rec.time) : '';
  const level = String(rec.level ?? '').toUpperCase().padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v)}`);
  return [time, level, typeof rec.msg === 'string' ? rec.msg : '', ...fields].filter((x) => x !== '').join(' ');
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The URL as logged: the query parameter `ticket` (any case) has its value replaced. */
export function scrubUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  return url.slice(0, q + 1) + url.slice(q + 1).replace(/(^|&)(ticket|cwa-ticket|password)=[^&]*/gi, `$1$2=${REDACTED}`);
}
