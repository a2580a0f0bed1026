// The Redis suites: they run when CI or CWA_TEST_REDIS is set and then fail loudly when
// Redis does not answer; otherwise they show as pending with the reason. They use their
// own database (15 unless CWA_TEST_REDIS_URL says otherwise) and empty it first.
import { Redis } from 'ioredis';
import { whenReady } from '../../src/store/redis-connection.js';

export const REDIS_TEST_URL = process.env.CWA_TEST_REDIS_URL || 'redis://127.0.0.1:6379/15';

/**
 * Another database of the same Redis, for tests of two clusters side by side:
 * CWA_TEST_REDIS_URL_2, or the next database number (mod 16) of REDIS_TEST_URL. Tests
 * use only keys of their own prefix there and delete them afterwards (they never empty it).
 */
export const REDIS_TEST_URL_2 = process.env.CWA_TEST_REDIS_URL_2 || nextDatabase(REDIS_TEST_URL);

function nextDatabase(url: string): string {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || '0');
  u.pathname = `/${(db + 1) % 16}`;
  return u.toString();
}

export function redisTestsEnabled(): boolean {
  return Boolean(process.env.CI || process.env.CWA_TEST_REDIS);
}

let seq = 0;
/** A key prefix of its own for one test object, so tests never see each other's keys. */
export function uniquePrefix(what = 't'): string {
  return `cwatest:${process.pid}:${what}${++seq}:`;
}

/** A plain connection (offline queue on: tests wait for Redis rather than fail at once). */
export function testConnection(url = REDIS_TEST_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: (n) => (n > 3 ? null : 100) });
}

/** Connects and empties the test database; throws with a clear message when Redis is missing. */
export async function prepareTestDatabase(): Promise<void> {
  const r = testConnection();
  r.on('error', () => undefined);
  try {
    if (!(await whenReady(r, 3000))) throw new Error('no answer within 3 s');
    await r.flushdb();
  } catch (err) {
    throw new Error(
      `The Redis suite needs Redis at ${REDIS_TEST_URL} (CI or CWA_TEST_REDIS is set): ${(err as Error).message}. ` +
        'Start one (redis-server --save "" --daemonize yes) or point CWA_TEST_REDIS_URL at one.',
    );
  } finally {
    r.disconnect();
  }
}

/** describe() when the Redis suites are on (database emptied first), else one pending test saying why. */
export function describeRedis(title: string, body: () => void): void {
  if (!redisTestsEnabled()) {
    describe(title, () => {
      it('skipped: set CWA_TEST_REDIS=1 (CI sets CI) to run the Redis suite against a local Redis', function () {
        this.skip();
      });
    });
    return;
  }
  describe(title, function () {
    before(prepareTestDatabase);
    body.call(this);
  });
}
