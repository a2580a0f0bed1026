// Rate limits: token buckets per client address, per CWA-Ticket, and for logon attempts per
// address, answered with HTTP 429, Retry-After and error 18101 "Request Throttled". Failed
// logons and the default limits: logon-throttle.test.ts.
import { expect } from 'chai';
import { ManualClock } from '../src/engine/clock.js';
import { addressKey, RateLimiter } from '../src/ops/rate-limit.js';
import { LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';

const NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

describe('RateLimiter (token bucket)', () => {
  it('accepts a burst, then one request per 1/rate seconds, and says when to retry', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ ratePerS: 2, burst: 3 }, clock);
    for (let i = 0; i < 3; i++) expect(rl.take('a').ok).to.equal(true);
    expect(rl.take('a')).to.deep.equal({ ok: false, retryAfterS: 1 });
    expect(rl.take('b').ok).to.equal(true); // keys are independent
    clock.advance(499);
    expect(rl.take('a').ok).to.equal(false);
    clock.advance(1);
    expect(rl.take('a').ok).to.equal(true);
    expect(rl.take('a').ok).to.equal(false);
    clock.advance(10_000);
    for (let i = 0; i < 3; i++) expect(rl.take('a').ok).to.equal(true); // refills up to the burst only
    expect(rl.take('a').ok).to.equal(false);
  });

  it('rounds Retry-After up to whole seconds for slow rates; check() takes nothing', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ ratePerS: 10 / 60, burst: 1 }, clock);
    expect(rl.check('u').ok).to.equal(true);
    expect(rl.take('u').ok).to.equal(true);
    expect(rl.check('u')).to.deep.equal({ ok: false, retryAfterS: 6 });
    clock.advance(6000);
    expect(rl.check('u').ok).to.equal(true);
    expect(rl.check('u').ok).to.equal(true);
  });

  it('charge() takes tokens even below zero, down to a floor, and the debt delays check()', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ ratePerS: 1, burst: 2 }, clock);
    expect([rl.charge('a'), rl.charge('a'), rl.charge('a'), rl.charge('a')]).to.deep.equal([1, 0, -1, -2]);
    expect(rl.check('a')).to.deep.equal({ ok: false, retryAfterS: 3 });
    expect(rl.charge('a', 5, -3)).to.equal(-3);
    clock.advance(4000);
    expect(rl.check('a').ok).to.equal(true);
  });

  it('is off at rate 0', () => {
    const rl = new RateLimiter({ ratePerS: 0, burst: 1 }, new ManualClock());
    for (let i = 0; i < 100; i++) expect(rl.take('a').ok).to.equal(true);
    expect(rl.size()).to.equal(0);
  });

  it('bounds its memory: full buckets are swept, and past maxKeys the least recently used goes', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ ratePerS: 1, burst: 2 }, clock, 100);
    for (let i = 0; i < 1000; i++) rl.take(`k${i}`);
    expect(rl.size()).to.be.at.most(100);
    clock.advance(5000);
    rl.sweep();
    expect(rl.size()).to.equal(0);
    // An active key survives eviction of idle ones.
    const busy = new RateLimiter({ ratePerS: 1, burst: 2 }, clock, 10);
    busy.take('hot');
    busy.take('hot');
    for (let i = 0; i < 50; i++) {
      busy.take(`cold${i}`);
      busy.check('hot');
    }
    expect(busy.take('hot').ok).to.equal(false);
  });

  it('keys IPv4 by address and IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).to.equal('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).to.equal('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).to.equal(addressKey('2001:0db8:0001:0002:ffff:1:2:3'));
    expect(addressKey('2001:db8:1:2::1')).to.not.equal(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).to.equal('0:0:0:0::/64');
    expect(addressKey(undefined)).to.equal('unknown');
  });
});

describe('rate limits over HTTP', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  async function expectThrottled(res: Response, limit: RegExp): Promise<void> {
    const text = await res.text();
    expect(res.status, text).to.equal(429);
    expect(res.headers.get('retry-after')).to.match(/^[1-9]\d*$/);
    expect(res.headers.get('content-type')).to.match(/^text\/xml/);
    expectValidResponses(text);
    const error = parse(text).children[0]!;
    expect(error.name).to.equal('error');
    expect(error.attrs).to.include({ code: '18101', reason: 'Request Throttled' });
    expect(error.attrs.detail).to.match(limit);
  }

  it('throttles one client address past --rate-address-burst, with 429 and 18101, until tokens refill', async () => {
    gw = await startTestGateway({ rateAddress: 1, rateAddressBurst: 3 }, { manualClock: true });
    const ok: number[] = [];
    for (let i = 0; i < 3; i++) ok.push((await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=1`)).status);
    expect(ok).to.deep.equal([401, 401, 401]);
    await expectThrottled(await fetch(`${gw.url}/forms/logon.html`, { method: 'POST', body: '<x/>' }), /from this address/);
    // Operators' endpoints are never throttled.
    expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);
    expect((await fetch(`${gw.url}/metrics`)).status).to.equal(200);
    gw.clock!.advance(1000);
    expect((await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=1`)).status).to.equal(401);
    expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit: 'address' })).to.equal(1);
  });

  it('takes the client address from X-Forwarded-For only behind --trust-proxy', async () => {
    for (const trustProxy of [0, 1]) {
      gw = await startTestGateway({ rateAddress: 1, rateAddressBurst: 1, trustProxy }, { manualClock: true });
      const statuses: number[] = [];
      for (const ip of ['198.51.100.1', '198.51.100.2']) {
        statuses.push((await fetch(`${gw.url}/nowhere`, { headers: { 'X-Forwarded-For': ip } })).status);
      }
      expect(statuses, `trustProxy ${trustProxy}`).to.deep.equal(trustProxy ? [404, 404] : [404, 429]);
      await gw.close();
    }
    gw = await startTestGateway();
  });

  it('throttles one CWA-Ticket past --rate-ticket-burst on both channels, and not another user', async () => {
    gw = await startTestGateway({ holdMs: 0, rateTicket: 1, rateTicketBurst: 4 }, { manualClock: true });
    const alice = await new LegacyClient(gw.url, 'alice').signIn(); // initiateSession: 1 token
    await alice.poll(); // 2
    await alice.command(`<conference rid="${alice.nextRid()}" confId="9"><acceptImSession/></conference>`); // 3
    await alice.poll(); // 4
    const res = await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, {
      method: 'POST',
      headers: { 'CWA-Ticket': alice.ticket!, 'Content-Type': 'text/xml' },
      body: `<cwaRequests xmlns="${NS}" sid="${alice.sid}"><terminateSession rid="99"/></cwaRequests>`,
    });
    expect(res.headers.get('cwa-ticket')).to.equal(alice.ticket);
    await expectThrottled(res, /with this CWA-Ticket/);
    await expectThrottled(
      await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=${alice.sid}&AckId=${alice.ackId}`, { headers: { 'CWA-Ticket': alice.ticket! } }),
      /CWA-Ticket/,
    );
    // Nothing of the throttled batch ran: the session is alive once tokens refill.
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    expect((await bob.poll()).reply.status).to.equal(200);
    gw.clock!.advance(1000);
    expect((await alice.poll()).reply.status).to.equal(200);
    expect(await gw.gateway.metrics.value('cwa_throttled_total', { limit: 'ticket' })).to.equal(2);
  });

  it('throttles logon attempts from one address past --rate-logon-address, even with the right password', async () => {
    gw = await startTestGateway({ rateLogonAddress: 3 }, { manualClock: true });
    for (const [login, password] of [['alice', 'x'], ['bob', 'bob-demo'], ['carol', 'y']] as const) {
      await new LegacyClient(gw.url, login, password).logon();
    }
    const res = await fetch(`${gw.url}/forms/logon.html`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml' },
      body: '<cwaRequests><logon><user>dave</user><password>dave-demo</password></logon></cwaRequests>',
    });
    expect(res.headers.get('cwa-ticket')).to.equal(null);
    await expectThrottled(res, /logon attempts from this address/);
    gw.clock!.advance(20_000); // 3 a minute: one token every 20 s
    expect((await new LegacyClient(gw.url, 'dave').logon()).status).to.equal(200);
  });
});
