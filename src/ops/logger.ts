// Structured JSON logs (pino), one line per event. Secrets never reach the output: the
// gateway logs no bodies and no headers, only the fields it chooses, and on top of that
// every field that may hold a ticket or a password is redacted, and a `ticket` query
// parameter (the WebSocket form of the ticket) is cut out of every URL it logs.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

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

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'cwa-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    // Synchronous: lines are written in order and none is lost when the process exits.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
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
