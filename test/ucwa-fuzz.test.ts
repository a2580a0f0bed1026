// Hostile and malformed UCWA inputs: every answer is a clear 4xx in the request's
// representation (never a 500), bodies are bounded before they are parsed, XML DOCTYPEs
// and entities are refused, and the gateway keeps serving afterwards.
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { link, UcwaClient, UCWA_NS } from './support/ucwa-client.js';
import { expectValidUcwaJson, expectValidUcwaXml } from './support/ucwa-schemas.js';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** `base` as characters, with 1 to 4 random deletions, insertions (ASCII) or NULs. */
function mutated(base: string, rnd: () => number): string[] {
  const chars = [...base];
  for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
    const at = Math.floor(rnd() * chars.length);
    const op = rnd();
    if (op < 0.4) chars.splice(at, 1);
    else if (op < 0.8) chars.splice(at, 0, String.fromCharCode(Math.floor(rnd() * 128)));
    else chars[at] = '\u0000';
  }
  return chars;
}

describe('UCWA hostile input', () => {
  let gw: TestGateway;
  let c: UcwaClient;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0, maxBodyBytes: 4096 });
    c = await new UcwaClient(gw.url, 'alice', 'alice-demo').signIn();
  });
  afterEach(async () => gw.close());

  const post = async (href: string, body: string, type: string, accept = 'application/json') => {
    const res = await fetch(gw.url + href, { method: 'POST', body, headers: { 'Content-Type': type, Accept: accept, Authorization: `Bearer ${c.token}` } });
    const text = await res.text();
    expect(res.status, `${type} ${body.slice(0, 80)} -> ${text}`).to.be.within(400, 499);
    if (/json/.test(res.headers.get('content-type') ?? '')) expectValidUcwaJson(text);
    else expectValidUcwaXml(text);
    return { status: res.status, text };
  };

  it('malformed JSON and XML, DOCTYPE and entities, wrong roots and types: 4xx with code/subcode', async () => {
    const start = link(c.communication(), 'startMessaging');
    const cases: [string, string][] = [
      ['{"to":', 'application/json'],
      ['[1,2,3]', 'application/json'],
      ['"just a string"', 'application/json'],
      ['{"to":{"nested":true}}', 'application/json'],
      ['{"to":' + '['.repeat(100) + ']'.repeat(100) + '}', 'application/json'],
      ['<input xmlns="' + UCWA_NS + '"><property name="to">', 'application/xml'],
      ['<!DOCTYPE input [<!ENTITY x "sip:bob@example.com">]><input xmlns="' + UCWA_NS + '"><property name="to">&x;</property></input>', 'application/xml'],
      ['<input xmlns="' + UCWA_NS + '"><property name="to">&xxe;</property></input>', 'application/xml'],
      ['<cwaRequests/>', 'application/xml'],
      ['<input xmlns="urn:other"><property name="to">sip:bob@example.com</property></input>', 'application/xml'],
      ['to=sip:bob@example.com', 'multipart/form-data'],
      ['{"subject":"no to"}', 'application/json'],
      ['{"to":"not a uri at all"}', 'application/json'],
    ];
    for (const [body, type] of cases) {
      const r = await post(start, body, type);
      if (r.status === 400) expect(JSON.parse(r.text).code).to.equal('BadRequest');
    }
    const doctype = await post(start, '<!DOCTYPE x><input xmlns="' + UCWA_NS + '"/>', 'application/xml', 'application/xml');
    expect(doctype.text).to.include('<subcode>DeserializationFailure</subcode>');
  });

  it('bodies over --max-body-bytes: 413 before parsing (declared and chunked)', async () => {
    const huge = '{"to":"' + 'x'.repeat(10_000) + '"}';
    const r = await post(link(c.communication(), 'startMessaging'), huge, 'application/json');
    expect(r.status).to.equal(413);
    expect(JSON.parse(r.text).code).to.equal('EntityTooLarge');
    const stream = new ReadableStream({
      start(ctrl) {
        for (let i = 0; i < 10; i++) ctrl.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        ctrl.close();
      },
    });
    const res = await fetch(gw.url + link(c.communication(), 'startMessaging'), {
      method: 'POST',
      body: stream,
      duplex: 'half',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${c.token}` },
    } as RequestInit);
    expect(res.status).to.equal(413);
  });

  it('random mutations of valid inputs never get a 5xx, and the gateway keeps serving', async () => {
    const rnd = seeded(12);
    const valid = [
      JSON.stringify({ to: 'sip:bob@example.com', operationId: 'o', subject: 's', _links: { message: { href: 'data:text/plain,Hi' } } }),
      `<input xmlns="${UCWA_NS}"><property name="to">sip:bob@example.com</property><link rel="message" href="data:text/plain;base64,SGk="/></input>`,
    ];
    const targets = [link(c.communication(), 'startMessaging'), `${c.app!.href}/me/makeMeAvailable`, '/ucwa/oauth/v1/applications'];
    for (let i = 0; i < 150; i++) {
      const base = valid[i % 2]!;
      const chars = mutated(base, rnd);
      const res = await fetch(gw.url + targets[i % targets.length]!, {
        method: 'POST',
        body: chars.join(''),
        headers: { 'Content-Type': i % 2 ? 'application/xml' : 'application/json', Authorization: `Bearer ${c.token}` },
      });
      await res.text();
      expect(res.status, chars.join('')).to.be.lessThan(500);
    }
    expect((await fetch(gw.url + c.app!.href, { headers: { Authorization: `Bearer ${c.token}` } })).status).to.equal(200);
  });

  it('presence and people inputs: random mutations and hostile values never get a 5xx; documents stay valid', async () => {
    const rnd = seeded(34);
    const app = c.app!.href;
    const sub = await c.post(`${app}/people/presenceSubscriptions`, { duration: '20', uris: ['sip:bob@example.com'] });
    expect(sub.status).to.equal(201);
    const subHref = sub.headers.get('location')!;
    const cases: [string, string][] = [
      [`${app}/me/presence`, JSON.stringify({ availability: 'BeRightBack' })],
      [`${app}/me/presence`, `<input xmlns="${UCWA_NS}"><property name="availability">Busy</property></input>`],
      [`${app}/me/note`, JSON.stringify({ message: 'Out for lunch <b>&amp;</b>' })],
      [`${app}/me/note`, `<input xmlns="${UCWA_NS}"><property name="message">Back at 2</property></input>`],
      [`${app}/people/presenceSubscriptions`, JSON.stringify({ duration: 15, uris: ['sip:bob@example.com', 'carol@example.com'] })],
      [`${app}/people/presenceSubscriptions`, `<input xmlns="${UCWA_NS}"><property name="duration">15</property><propertyList name="uris"><item>sip:bob@example.com</item></propertyList></input>`],
      [`${subHref}/addToPresenceSubscription`, JSON.stringify({ contactUris: ['sip:carol@example.com'] })],
    ];
    for (let i = 0; i < 210; i++) {
      const [href, base] = cases[i % cases.length]!;
      const chars = mutated(base, rnd);
      const res = await fetch(gw.url + href, {
        method: 'POST',
        body: chars.join(''),
        headers: { 'Content-Type': base.startsWith('<') ? 'application/xml' : 'application/json', Authorization: `Bearer ${c.token}` },
      });
      const text = await res.text();
      expect(res.status, `${href} ${chars.join('')} -> ${text}`).to.be.lessThan(500);
      if (text.length > 0) expectValidUcwaJson(text);
    }
    const hostile = [
      { uris: 'sip:bob@example.com' },
      { uris: [] },
      { uris: ['sip:' + 'x'.repeat(300) + '@example.com'] },
      { uris: ['sip:a@b@c'] },
      { uris: ['sip:bob@example.com'], duration: -5 },
      { uris: ['sip:bob@example.com'], duration: 1e12 },
      { uris: [null] },
    ];
    for (const body of hostile) {
      const res = await fetch(`${gw.url}${app}/people/presenceSubscriptions`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${c.token}` } });
      const text = await res.text();
      expect(res.status, `${JSON.stringify(body)} -> ${text}`).to.be.lessThan(500);
      expectValidUcwaJson(text);
    }
    for (const q of ['', '%00', '%', encodeURIComponent('x'.repeat(300)), `bob&limit=-1`, `bob&limit=99999999999`, encodeURIComponent('<script>'), `${encodeURIComponent('*')}&limit=0`]) {
      const res = await fetch(`${gw.url}${app}/people/search?query=${q}`, { headers: { Authorization: `Bearer ${c.token}`, Accept: 'application/xml' } });
      const text = await res.text();
      expect(res.status, `search ${q} -> ${text}`).to.be.lessThan(500);
      expectValidUcwaXml(text);
    }
    for (const path of ['people/%00', 'people/bob@example.com/presence/extra', 'people/presenceSubscriptions/abc/memberships', 'people/groups/x/contacts', 'people/bob@example.com/note']) {
      const res = await fetch(`${gw.url}${app}/${path}`, { headers: { Authorization: `Bearer ${c.token}` } });
      const text = await res.text();
      expect(res.status, path).to.be.lessThan(500);
      expectValidUcwaJson(text);
    }
    expect((await fetch(gw.url + app, { headers: { Authorization: `Bearer ${c.token}` } })).status).to.equal(200);
  });

  it('field-client habits: Content-Type json on GETs and empty POSTs, //ucwa paths, any case', async () => {
    const href = c.app!.href;
    const get = await fetch(`${gw.url}/${href}`, { headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${c.token}` } });
    expect(get.status).to.equal(200);
    const upper = await fetch(`${gw.url}${href.toUpperCase()}/ME`, { headers: { Authorization: `Bearer ${c.token}` } });
    expect(upper.status).to.equal(200);
    const empty = await fetch(`${gw.url}/${href}/me/reportMyActivity`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${c.token}` } });
    expect(empty.status).to.equal(204);
    const unknown = await fetch(`${gw.url}${href}/nothing/here`, { headers: { Authorization: `Bearer ${c.token}`, Accept: 'application/xml' } });
    expect(unknown.status).to.equal(404);
    expectValidUcwaXml(await unknown.text());
  });
});
