// Standard output's format: JSON lines when it is not a terminal (a pipe, a file, a log
// collector), readable lines when it is one (or with --log-format pretty); secrets redacted
// either way. The terminal is faked through the destination's isTTY, which the logger reads.
import { expect } from 'chai';
import { createLogger, prettyLine } from '../src/ops/logger.js';
import type { LogFormat } from '../src/config.js';

function capture(isTTY: boolean | undefined, format?: LogFormat): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const dest = { write: (s: string) => void lines.push(...s.split('\n').filter((l) => l !== '')), ...(isTTY === undefined ? {} : { isTTY }) };
  return { lines, log: createLogger('info', dest, format) };
}

const PRETTY = /^\d\d:\d\d:\d\d\.\d{3} INFO  listening url=http:\/\/127\.0\.0\.1:8080 port=8080 ticket="\[redacted\]" note="two words"$/;

describe('log format on standard output (src/ops/logger.ts)', () => {
  const record = { url: 'http://127.0.0.1:8080', port: 8080, ticket: 'secret-ticket', note: 'two words' };

  it('auto: JSON lines when standard output is not a terminal', () => {
    for (const isTTY of [undefined, false]) {
      const { lines, log } = capture(isTTY);
      log.info(record, 'listening');
      expect(lines).to.have.length(1);
      const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(parsed).to.deep.include({ level: 'info', msg: 'listening', name: 'cwa-gateway', port: 8080, ticket: '[redacted]' });
    }
  });

  it('auto: readable lines when it is a terminal (time, level, message, fields), secrets still redacted', () => {
    const { lines, log } = capture(true);
    log.info(record, 'listening');
    log.warn({ attempt: 2, store: { kind: 'redis' } }, 'store slow');
    log.debug('not at info');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(PRETTY);
    expect(lines[1]).to.match(/^\d\d:\d\d:\d\d\.\d{3} WARN  store slow attempt=2 store=\{"kind":"redis"\}$/);
    expect(lines.join('\n')).not.to.include('secret-ticket');
    expect(() => JSON.parse(lines[0]!)).to.throw();
  });

  it('json and pretty force one format whatever the terminal', () => {
    const forcedJson = capture(true, 'json');
    forcedJson.log.info(record, 'listening');
    expect(JSON.parse(forcedJson.lines[0]!)).to.deep.include({ msg: 'listening' });
    const forcedPretty = capture(false, 'pretty');
    forcedPretty.log.info(record, 'listening');
    expect(forcedPretty.lines[0]).to.match(PRETTY);
  });

  it('a line that is not a JSON record is passed through as it is', () => {
    expect(prettyLine('not json')).to.equal('not json');
    expect(prettyLine('42')).to.match(/42/);
  });
});
