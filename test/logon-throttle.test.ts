// Logon throttling and the default limits: a company behind one address signs in freely,
// password guessing is slowed per (user, address) and per address, nobody can lock a user
// out, and a throttled answer does not tell whether a user exists.
import { expect } from 'chai';
import { defaultConfig, type GatewayConfig } from '../src/config.js';
import { ManualClock } from '../src/engine/clock.js';
import { LogonGuard, type LogonGuardSpec } from '../src/ops/logon-guard.js';
import { canonicalLogonName, UserDirectory } from '../src/users/directory.js';
import { LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';

/** Every rate limit at its default (the test gateway turns them off otherwise). */
function defaultLimits(): Partial<GatewayConfig> {
  return Object.fromEntries(Object.entries(defaultConfig()).filter(([key]) => /^(rate|logon)/.test(key)));
}

interface Answer {
  status: number;
  retryAfter: number | undefined;
  detail: string | undefined;
  ms: number;
}

async function logon(gw: TestGateway, user: string, password: string, address?: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${gw.url}/forms/logon.html`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/xml', ...(address ? { 'X-Forwarded-For': address } : {}) },
    body: `<cwaRequests><logon><user>${user}</user><password>${password}</password></logon></cwaRequests>`,
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  expectValidResponses(text);
  const error = res.status === 200 ? undefined : parse(text).children[0];
  if (res.status === 429) expect(error?.attrs).to.include({ code: '18101', reason: 'Request Throttled' });
  const retryAfter = res.headers.get('retry-after');
  return { status: res.status, retryAfter: retryAfter === null ? undefined : Number(retryAfter), detail: error?.attrs.detail, ms };
}

describe('logon throttling: a company behind one address', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('signs in 500 users through one address and lets them poll under the default limits, without a 429', async function () {
    this.timeout(60_000);
    const users = UserDirectory.fromRecords(
      Array.from({ length: 500 }, (_, i) => ({ login: `u${i}`, uri: `sip:u${i}@example.com`, displayName: `User ${i}`, password: `u${i}-demo` })),
    );
    gw = await startTestGateway({ ...defaultLimits(), holdMs: 0 }, { users });
    const clients = users.all().map((u) => new LegacyClient(gw.url, u.login));
    for (let i = 0; i < clients.length; i += 100) {
      await Promise.all(clients.slice(i, i + 100).map(async (c) => {
        await c.signIn(); // logon and initiateSession, each expected to succeed
        for (let n = 0; n < 2; n++) expect((await c.poll()).reply.status).to.equal(200);
      }));
    }
    for (const limit of ['address', 'ticket', 'logonAddress', 'logonFailures', 'logonUserAddress']) {
      expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit }), limit).to.equal(0);
    }
    expect(await gw.gateway.metrics.value('cwa_logons_total', { result: 'success' })).to.equal(500);
  });

  it('throttles 50 wrong passwords from one address, for many users or for one, under the default limits', async () => {
    gw = await startTestGateway({ ...defaultLimits(), trustProxy: 1 }, { manualClock: true });
    // A password tried against many names from one address: past --rate-logon-failures-address (30 a minute), 429.
    const spray: Answer[] = [];
    for (let i = 0; i < 50; i++) spray.push(await logon(gw, `someone${i}`, 'Spring2026', '203.0.113.5'));
    expect(spray.filter((a) => a.status === 401)).to.have.length(30);
    expect(spray.slice(30).every((a) => a.status === 429 && /failed logons from this address/.test(a.detail!))).to.equal(true);
    // That address is throttled for every user; another address is not.
    expect((await logon(gw, 'alice', 'alice-demo', '203.0.113.5')).status).to.equal(429);
    expect((await logon(gw, 'alice', 'alice-demo', '203.0.113.6')).status).to.equal(200);
    gw.clock!.advance(2000); // 30 a minute: one failure more every 2 s
    expect((await logon(gw, 'alice', 'alice-demo', '203.0.113.5')).status).to.equal(200);

    // Against one user from one address: past --logon-backoff-after (5), 429 until the delay has passed.
    const guesses: Answer[] = [];
    for (let i = 0; i < 50; i++) guesses.push(await logon(gw, 'bob', `guess${i}`, '203.0.113.7'));
    expect(guesses.map((a) => a.status)).to.deep.equal([...Array(5).fill(401), ...Array(45).fill(429)]);
    expect(guesses[5]!.detail).to.match(/failed logons for this user from this address/);
    expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit: 'logonFailures' })).to.equal(21);
    expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit: 'logonUserAddress' })).to.equal(45);
  });
});

describe('logon throttling: guessing is slowed, the owner is never locked out', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());
  const GUESSER = '203.0.113.66';
  const OWNER = '198.51.100.7';

  it('makes a guesser from one address wait 1 s, 2 s, 4 s, … while the owner signs in from another', async () => {
    gw = await startTestGateway({ ...defaultLimits(), trustProxy: 1, logonBackoffMaxS: 20 }, { manualClock: true });
    for (let i = 0; i < 5; i++) expect((await logon(gw, 'carol', `guess${i}`, GUESSER)).status).to.equal(401);
    const waits: number[] = [];
    for (let round = 0; round < 7; round++) {
      const throttled = await logon(gw, 'carol', 'another-guess', GUESSER);
      expect(throttled.status).to.equal(429);
      expect(throttled.detail).to.match(/failed logons for this user from this address/);
      // While throttled, not even the right password is checked: a 429 tells the guesser nothing.
      expect((await logon(gw, 'carol', 'carol-demo', GUESSER)).status).to.equal(429);
      // The owner, from her own address, is never refused.
      expect((await logon(gw, 'carol', 'carol-demo', OWNER)).status).to.equal(200);
      waits.push(throttled.retryAfter!);
      gw.clock!.advance(throttled.retryAfter! * 1000 - 1);
      expect((await logon(gw, 'carol', 'guess', GUESSER)).status).to.equal(429);
      gw.clock!.advance(1);
      expect((await logon(gw, 'carol', `guess-r${round}`, GUESSER)).status).to.equal(401);
    }
    expect(waits).to.deep.equal([1, 2, 4, 8, 16, 20, 20]); // doubling, up to --logon-backoff-max-s
    // Other users from the guesser's address are not held up by carol's pair.
    expect((await logon(gw, 'dave', 'dave-demo', GUESSER)).status).to.equal(200);
  });

  it('never refuses the right password because others guessed wrong from many addresses; only their answers slow down', async function () {
    this.timeout(20_000);
    const holdMs = 1000;
    gw = await startTestGateway({ ...defaultLimits(), trustProxy: 1, logonFailureHoldMs: holdMs }, { manualClock: true });
    // Ten failures a minute for carol from anywhere (--rate-logon-failures) are answered at once...
    for (let i = 0; i < 10; i++) {
      const a = await logon(gw, 'carol', `guess${i}`, `192.0.2.${i + 1}`);
      expect(a.status).to.equal(401);
      expect(a.ms).to.be.below(holdMs);
    }
    // ...beyond them, wrong passwords are answered after a delay, still 401 (no lockout, nothing refused)...
    const guessing = Array.from({ length: 10 }, (_, i) => logon(gw, 'carol', `guess${i}`, `192.0.2.${i + 100}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // ...while carol, from an address with no failures, signs in at once, as often as she likes.
    for (let i = 0; i < 3; i++) {
      const owner = await logon(gw, 'carol', 'carol-demo', OWNER);
      expect(owner.status).to.equal(200);
      expect(owner.ms).to.be.below(holdMs / 2);
    }
    const held = await Promise.all(guessing);
    expect(held.map((a) => a.status)).to.deep.equal(Array(10).fill(401));
    for (const a of held) expect(a.ms).to.be.at.least(holdMs - 20);
    // The owner's own typo is slowed too, but the right password right after it is not.
    expect((await logon(gw, 'carol', 'typo', OWNER)).status).to.equal(401);
    const again = await logon(gw, 'carol', 'carol-demo', OWNER);
    expect(again.status).to.equal(200);
    expect(again.ms).to.be.below(holdMs / 2);
  });

  it('forgets a pair\'s failures after a successful logon from there, or an hour after the last one', async () => {
    gw = await startTestGateway({ ...defaultLimits(), trustProxy: 1 }, { manualClock: true });
    const statuses = async (n: number, address: string) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await logon(gw, 'erin', `typo${i}`, address)).status);
      return out;
    };
    expect(await statuses(6, OWNER)).to.deep.equal([401, 401, 401, 401, 401, 429]);
    gw.clock!.advance(1000);
    expect((await logon(gw, 'erin', 'erin-demo', OWNER)).status).to.equal(200);
    expect(await statuses(6, OWNER)).to.deep.equal([401, 401, 401, 401, 401, 429]);
    gw.clock!.advance(3_600_000);
    expect(await statuses(6, OWNER)).to.deep.equal([401, 401, 401, 401, 401, 429]);
  });
});

describe('logon throttling: a throttled answer does not tell who exists', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('counts every spelling of a name together, known user or not', async () => {
    gw = await startTestGateway({ ...defaultLimits(), trustProxy: 1 }, { manualClock: true });
    // Guess with one spelling until throttled, then try the others.
    const after = async (name: string, spellings: string[], address: string): Promise<Answer[]> => {
      const failures: number[] = [];
      for (let i = 0; i < 20 && (await logon(gw, name, `wrong${i}`, address)).status === 401; i++) failures.push(i);
      expect(failures).to.have.length(5);
      const out: Answer[] = [];
      for (const s of spellings) out.push(await logon(gw, s, 'wrong', address));
      return out;
    };
    const bob = await after('bob', ['CORP\\bob', 'sip:bob@example.com', 'BOB@corp.example'], '203.0.113.10');
    const zed = await after('zed', ['CORP\\zed', 'sip:zed@example.com', 'ZED@corp.example'], '203.0.113.11');
    const seen = (answers: Answer[]) => answers.map((a) => [a.status, a.retryAfter, a.detail]);
    expect(seen(zed)).to.deep.equal(seen(bob));
    expect(bob.map((a) => [a.status, a.retryAfter])).to.deep.equal([[429, 1], [429, 1], [429, 1]]);
  });

  it('canonicalises a logon name without looking at the directory', () => {
    for (const name of ['zed', 'ZED', ' zed ', 'CORP\\zed', 'corp\\Zed', 'zed@example.com', 'sip:zed@example.com', 'SIP:Zed@Example.com', 'a\\b\\zed']) {
      expect(canonicalLogonName(name), name).to.equal('zed');
    }
    expect(canonicalLogonName('zed.x')).to.equal('zed.x');
    expect(canonicalLogonName(undefined)).to.equal('');
  });
});

describe('LogonGuard', () => {
  const spec: LogonGuardSpec = { failuresPerAddress: 30, backoffAfter: 3, backoffMaxS: 60, failuresPerUser: 0, holdMaxMs: 0 };

  it('lets attempts checked at the same time through only up to the free failures, then one at a time', () => {
    const guard = new LogonGuard(spec, new ManualClock());
    const attempts = Array.from({ length: 10 }, () => guard.begin('carol', '203.0.113.1'));
    expect(attempts.map((a) => a.ok)).to.deep.equal([true, true, true, false, false, false, false, false, false, false]);
    for (const a of attempts) if (a.ok) a.failed();
    const next = guard.begin('carol', '203.0.113.1');
    expect(next).to.deep.equal({ ok: false, limit: 'logonUserAddress', retryAfterS: 1 });
  });

  it('charges failures that raced past the address limit as a longer wait', () => {
    const clock = new ManualClock();
    const guard = new LogonGuard({ ...spec, failuresPerAddress: 2, backoffAfter: 0 }, clock);
    const attempts = Array.from({ length: 6 }, (_, i) => guard.begin(`user${i}`, '203.0.113.2'));
    expect(attempts.every((a) => a.ok)).to.equal(true);
    for (const a of attempts) if (a.ok) a.failed();
    // Six failures at two a minute: back to one token after 2.5 minutes.
    expect(guard.begin('x', '203.0.113.2')).to.deep.equal({ ok: false, limit: 'logonFailures', retryAfterS: 150 });
    clock.advance(150_000);
    expect(guard.begin('x', '203.0.113.2').ok).to.equal(true);
  });

  it('bounds the pairs it remembers', () => {
    const clock = new ManualClock();
    const guard = new LogonGuard({ ...spec, failuresPerAddress: 0 }, clock, 100);
    for (let i = 0; i < 1000; i++) {
      const a = guard.begin(`user${i}`, '203.0.113.3');
      if (a.ok) a.failed();
    }
    expect(guard.size()).to.be.at.most(100);
    clock.advance(3_600_000);
    guard.sweep();
    expect(guard.size()).to.equal(0);
    // A success leaves nothing behind.
    const a = guard.begin('alice', '203.0.113.3');
    if (a.ok) a.succeeded();
    expect(guard.size()).to.equal(0);
  });
});
