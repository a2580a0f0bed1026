// UCWA sign-in, application and event channel (ucwa-messaging.md §2–§4): the root and
// autodiscover, the 401 challenge, the token endpoint with the CWA users and throttling,
// applications (201, one per endpointId and user), makeMeAvailable, and the event channel
// (idle, held, replay, resync, PGetReplaced, expiry).
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { link, UcwaClient } from './support/ucwa-client.js';
import { expectValidUcwaJson, expectValidUcwaXml } from './support/ucwa-schemas.js';

describe('UCWA sign-in, applications and events', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 1500 });
  });
  afterEach(async () => gw.close());

  for (const accept of [undefined, '*/*', 'application/json']) {
    it(`GET / with Accept ${accept ?? '(none)'} answers the autodiscover document in JSON, links on the request's host`, async () => {
      const res = await fetch(`${gw.url}/`, { headers: accept ? { Accept: accept } : {} });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
      const text = await res.text();
      expectValidUcwaJson(text);
      const doc = JSON.parse(text) as { _links: Record<string, { href: string }> };
      expect(doc._links.user!.href).to.equal(`${gw.url}/Autodiscover/AutodiscoverService.svc/root/oauth/user`);
      expect(doc._links.self!.href).to.equal(`${gw.url}/Autodiscover/AutodiscoverService.svc/root`);
      expect(doc._links.xframe!.href).to.match(/XFrame/);
    });
  }

  it('GET / keeps the HTML page for browsers and the text page for text/plain', async () => {
    const html = await fetch(`${gw.url}/`, { headers: { Accept: 'text/html,application/xhtml+xml' } });
    expect(html.headers.get('content-type')).to.match(/^text\/html/);
    const text = await fetch(`${gw.url}/`, { headers: { Accept: 'text/plain' } });
    expect(text.headers.get('content-type')).to.match(/^text\/plain/);
  });

  it('autodiscover in any case and with doubled slashes; XML when asked; --public-url names the links', async () => {
    const res = await fetch(`${gw.url}//autodiscover/AUTODISCOVERSERVICE.svc/Root`, { headers: { Accept: 'application/xml' } });
    expect(res.status).to.equal(200);
    const xml = await res.text();
    expectValidUcwaXml(xml);
    expect(xml).to.include(`<link rel="user" href="${gw.url}/Autodiscover/AutodiscoverService.svc/root/oauth/user"/>`);
    const other = await startTestGateway({ publicUrl: 'https://lyncdiscover.example.com' });
    try {
      const doc = (await (await fetch(`${other.url}/Autodiscover/AutodiscoverService.svc/root`)).json()) as { _links: Record<string, { href: string }> };
      expect(doc._links.user!.href).to.equal('https://lyncdiscover.example.com/Autodiscover/AutodiscoverService.svc/root/oauth/user');
    } finally {
      await other.close();
    }
  });

  it('the user resource answers 401 with the MsRtcOAuth challenge (href first) and a Bearer challenge', async () => {
    const res = await fetch(`${gw.url}/Autodiscover/AutodiscoverService.svc/root/oauth/user`, { headers: { Accept: 'application/json' } });
    expect(res.status).to.equal(401);
    const header = res.headers.get('www-authenticate')!;
    expect(header).to.include(`MsRtcOAuth href="${gw.url}/WebTicket/oauthtoken",grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"`);
    expect(header).to.match(/(^|, )Bearer /);
    // The Windows Store sample's parsing: the piece holding MsRtcOAuth, split on '=', element 1, quotes stripped.
    const piece = header.split(',').find((p) => p.includes('MsRtcOAuth'))!;
    expect(piece.split('=')[1]!.replace(/"/g, '')).to.equal(`${gw.url}/WebTicket/oauthtoken`);
    expectValidUcwaJson(await res.text());
  });

  it('token: password grant with login, DOMAIN\\login and SIP URI; OAuth errors; the token opens the user resource', async () => {
    const post = (body: string) =>
      fetch(`${gw.url}/webticket/OAUTHTOKEN`, { method: 'POST', headers: { 'Content-Type': "application/x-www-form-urlencoded;charset='utf-8'" }, body });
    for (const username of ['alice', 'CONTOSO\\alice', 'sip:alice@example.com']) {
      const res = await post(new URLSearchParams({ grant_type: 'password', username, password: 'alice-demo' }).toString());
      expect(res.status, username).to.equal(200);
      expect(res.headers.get('cache-control')).to.equal('no-store');
      const text = await res.text();
      expectValidUcwaJson(text);
      const body = JSON.parse(text) as { access_token: string; token_type: string; expires_in: number };
      expect(body.token_type).to.equal('Bearer');
      expect(body.expires_in).to.equal(gw.config.ticketTtlS);
      const user = await fetch(`${gw.url}/Autodiscover/AutodiscoverService.svc/root/oauth/user`, { headers: { Authorization: `Bearer ${body.access_token}` } });
      expect(user.status).to.equal(200);
      const doc = (await user.json()) as { _links: Record<string, { href: string }> };
      expect(doc._links.applications!.href).to.equal(`${gw.url}/ucwa/oauth/v1/applications`);
    }
    const wrong = await post('grant_type=password&username=alice&password=nope');
    expect(wrong.status).to.equal(400);
    expect(await wrong.json()).to.deep.include({ error: 'invalid_grant' });
    const grant = await post('grant_type=urn:microsoft.rtc:windows');
    expect(grant.status).to.equal(400);
    expect(await grant.json()).to.deep.include({ error: 'unsupported_grant_type' });
    const none = await post('username=alice');
    expect(await none.json()).to.deep.include({ error: 'invalid_request' });
    const bogus = await fetch(`${gw.url}/ucwa/oauth/v1/applications`, { method: 'POST', headers: { Authorization: 'Bearer cwt=forged' } });
    expect(bogus.status).to.equal(401);
    expect(bogus.headers.get('www-authenticate')).to.include('MsRtcOAuth href=');
  });

  it('failed UCWA sign-ins are throttled with the CWA logons (one LogonGuard)', async () => {
    const strict = await startTestGateway({ logonBackoffAfter: 2, logonBackoffMaxS: 60 });
    try {
      const post = (password: string) =>
        fetch(`${strict.url}/WebTicket/oauthtoken`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `grant_type=password&username=alice&password=${password}` });
      expect((await post('x')).status).to.equal(400);
      // A failed CWA logon of the same user from the same address counts too.
      const cwa = new LegacyClient(strict.url, 'alice');
      expect((await cwa.logon('wrong')).status).to.equal(401);
      const third = await post('alice-demo');
      expect(third.status).to.equal(429);
      expect(third.headers.get('retry-after')).to.match(/^\d+$/);
    } finally {
      await strict.close();
    }
  });

  for (const mode of ['json', 'xml'] as const) {
    it(`applications (${mode}): exactly 201, the application's links; the same endpointId is the same application; makeMeAvailable 204 then 409`, async () => {
      const c = new UcwaClient(gw.url, 'alice', 'alice-demo', mode);
      await c.signIn({ endpointId: 'EP-1', available: false });
      const app = c.app!;
      expect(app.rel).to.equal('application');
      for (const rel of ['events', 'batch', 'policies']) expect(link(app, rel)).to.match(/^\/ucwa\/oauth\/v1\/applications\/\d+\//);
      expect(link(app, 'events')).to.match(/\/events\?ack=1$/);
      const me = app.embedded.me![0]!;
      expect(link(me, 'makeMeAvailable')).to.match(/\/me\/makeMeAvailable$/);
      const comm = c.communication();
      expect(link(comm, 'startMessaging')).to.match(/\/communication\/messagingInvitations$/);
      expect(link(comm, 'conversations')).to.match(/conversations\?filter=active$/);
      expect(link(app.embedded.people![0]!, 'myContacts')).to.match(/people\/contacts$/);
      expect(link(app.embedded.people![0]!, 'search')).to.match(/people\/search$/);
      // Same endpointId (any case of the input names) -> the same application.
      const again = await c.request('POST', '/ucwa/oauth/v1/applications', JSON.stringify({ UserAgent: 'x', EndpointId: 'EP-1', Culture: 'en-US' }), { 'Content-Type': 'application/json' });
      expect(again.status).to.equal(201);
      expect(c.parse(again).href).to.equal(app.href);
      // Another user with the same endpointId gets its own application.
      const bob = new UcwaClient(gw.url, 'bob', 'bob-demo', mode);
      await bob.signIn({ endpointId: 'EP-1', available: false });
      expect(bob.app!.href).to.not.equal(app.href);
      // makeMeAvailable: 204, then 409; the application now has presence, note and reportMyActivity.
      const mma = await c.post(link(me, 'makeMeAvailable'), { supportedModalities: ['Messaging'] });
      expect(mma.status).to.equal(204);
      expect(mma.text).to.equal('');
      const twice = await c.post(link(me, 'makeMeAvailable'), { supportedModalities: ['Messaging'] });
      expect(twice.status).to.equal(409);
      expect(twice.text).to.include('AlreadyExists');
      const fresh = await c.get(app.href);
      const me2 = fresh.embedded.me![0]!;
      for (const rel of ['presence', 'note', 'reportMyActivity']) expect(me2.links[rel], rel).to.have.length(1);
      expect(me2.links.makeMeAvailable).to.equal(undefined);
      expect((await c.request('POST', link(me2, 'reportMyActivity'))).status).to.equal(204);
      expect((await c.request('POST', `${app.href}/reportMyActivity`, '', { 'Content-Type': 'application/json' })).status).to.equal(204);
      // Another user's token never reaches this application.
      const stolen = await bob.request('GET', app.href);
      expect(stolen.status).to.equal(404);
      expect(stolen.text).to.include('ApplicationNotFound');
      // DELETE, then 404.
      expect((await c.request('DELETE', app.href)).status).to.equal(204);
      expect((await c.request('GET', app.href)).status).to.equal(404);
    });
  }

  it('events: idle answers with sender [] and next ack+1; replay of the same ack; resync; held until an event; PGetReplaced', async () => {
    const c = new UcwaClient(gw.url, 'alice', 'alice-demo');
    await c.signIn({ available: false });
    const first = c.events;
    // makeMeAvailable queues me/communication updated: the first P-GET answers at once.
    await c.post(link(c.app!.embedded.me![0]!, 'makeMeAvailable'), {});
    const r1 = await c.poll();
    expect(r1.reply.status).to.equal(200);
    expect(r1.events.map((e) => `${e.sender}:${e.type}:${e.rel}`)).to.include('communication:updated:communication');
    expect(r1.page!.href || JSON.parse(r1.reply.text)._links.self.href).to.equal(first);
    // Re-GET of the same ack replays that answer byte for byte.
    const replay = await c.request('GET', first);
    expect(replay.text).to.equal(r1.reply.text);
    // Idle: after the hold, sender [] and next = ack + 1.
    const started = Date.now();
    const idle = await c.poll('&timeout=180');
    expect(Date.now() - started).to.be.greaterThanOrEqual(1000);
    const body = JSON.parse(idle.reply.text) as { sender: unknown[]; _links: { self: { href: string }; next: { href: string } } };
    expect(body.sender).to.deep.equal([]);
    const n = Number(/ack=(\d+)/.exec(body._links.self.href)![1]);
    expect(body._links.next.href).to.match(new RegExp(`ack=${n + 1}$`));
    // An ack out of range: only a resync link, to the first response not acknowledged.
    const out = await c.request('GET', first.replace(/ack=\d+/, 'ack=99'));
    expect(out.status).to.equal(200);
    const rs = JSON.parse(out.text) as { _links: Record<string, { href: string }>; sender?: unknown };
    expect(rs._links.resync!.href).to.match(new RegExp(`ack=${n}$`));
    expect(rs.sender).to.equal(undefined);
    // Two parked P-GETs: the older is released with 409 PGetReplaced, the newer stays held.
    const older = c.request('GET', c.events);
    await new Promise((r) => setTimeout(r, 200));
    const newer = c.request('GET', c.events);
    const o = await older;
    expect(o.status).to.equal(409);
    expect(JSON.parse(o.text)).to.deep.include({ code: 'Conflict', subcode: 'PGetReplaced' });
    expect((await newer).status).to.equal(200);
  });

  it('an idle application expires with the session timeout: 410 InactiveApplicationExpired', async () => {
    const timed = await startTestGateway({ sessionTimeoutS: 10 }, { manualClock: true });
    try {
      const c = new UcwaClient(timed.url, 'alice', 'alice-demo');
      await c.signIn();
      timed.clock!.advance(11_000);
      await timed.gateway.tick();
      const res = await c.request('GET', c.app!.href);
      expect(res.status).to.equal(410);
      expect(JSON.parse(res.text)).to.deep.include({ code: 'Gone', subcode: 'InactiveApplicationExpired' });
      // The event channel first gives what the log kept (nothing is lost), then the same 410.
      let ev = await c.poll();
      for (let i = 0; i < 5 && ev.reply.status === 200; i++) ev = await c.poll();
      expect(ev.reply.status).to.equal(410);
      expect(JSON.parse(ev.reply.text)).to.deep.include({ code: 'Gone', subcode: 'InactiveApplicationExpired' });
    } finally {
      await timed.close();
    }
  });
});
