// The layout of event documents (--xml-layout). A client written against a real
// Communicator Web Access server reads userPresence child nodes by position: [text, user,
// text], user [text, cwaCategory, text, …], cwaCategory [text, category, text]. In the
// original layout that holds; the compact layout adds no whitespace; both are valid
// against the schemas, render an event once for every recipient, and are set gateway-wide
// (a cluster's nodes must agree, so the layout is part of the node fingerprint).
import { expect } from 'chai';
import { defaultConfig } from '../src/config.js';
import { toRecord } from '../src/protocol/events.js';
import { indentElements, layoutContent } from '../src/protocol/layout.js';
import { renderEvents } from '../src/protocol/responses.js';
import { clusterFingerprint } from '../src/server.js';
import { UserDirectory } from '../src/users/directory.js';
import type { CwaEvent } from '../src/engine/types.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidDocument } from './support/schemas.js';
import { dom, elementAt, elementsByPosition, type DomElement } from './support/position-dom.js';

// ---- the gateway ------------------------------------------------------------------------

describe('event document layout (--xml-layout)', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  async function presenceOfBob(layout?: 'original' | 'compact'): Promise<string> {
    gw = await startTestGateway({ holdMs: 0, ...(layout ? { xmlLayout: layout } : {}) });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await new LegacyClient(gw.url, 'bob').signIn();
    await alice.poll();
    await alice.command(`<queryPresence rid="${alice.nextRid()}"><uris><uri>sip:bob@example.com</uri></uris></queryPresence>`);
    for (let i = 0; i < 5; i++) {
      const { reply } = await alice.poll();
      if (reply.body.includes('<userPresence')) return reply.body;
    }
    throw new Error('no userPresence');
  }

  it('by default lays userPresence out as the original server did: a client reading child nodes by position finds [text, user, text] and so on', async () => {
    const body = await presenceOfBob();
    const cwaEvents = dom(body);
    const userPresence = elementsByPosition(cwaEvents).find((e) => e.name === 'userPresence')!;
    expect(userPresence).to.not.equal(undefined);
    // The library: user = userPresence.getChildNodes().item(1), then each cwaCategory at 1, 3, 5 …
    const user = elementAt(userPresence, 1);
    expect(user.name).to.equal('user');
    expect(user.attrs).to.include({ uri: 'sip:bob@example.com', sourceNetwork: 'sameEnterprise' });
    const categories = elementsByPosition(user);
    expect(categories.map((c) => c.name)).to.satisfy((names: string[]) => names.length >= 3 && names.every((n) => n === 'cwaCategory'));
    for (const category of categories) {
      if (category.childNodes.length === 0) continue; // an empty instance (<cwaCategory …/>)
      const [document] = elementsByPosition(category);
      expect(document!.name).to.be.oneOf(['state', 'contactCard', 'note', 'services', 'calendarData']);
    }
    // The recorded production layout: two more spaces per level.
    expect(body).to.match(/<userPresence eid="\d+">\n {4}<user uri="sip:bob@example\.com" sourceNetwork="sameEnterprise">\n {6}<cwaCategory name="[^"]+"[^>]*>\n {8}<\w+/);
    expect(body).to.match(/\n {6}<\/cwaCategory>\n/);
    expect(body).to.match(/\n {4}<\/user>\n {2}<\/userPresence>/);
    expectValidDocument(body);
  });

  it('the compact layout (--xml-layout compact) adds no whitespace, and a position walk fails on it as it did before', async () => {
    const body = await presenceOfBob('compact');
    expect(body).to.not.match(/>\s+</);
    const userPresence = dom(body).childNodes.find((n): n is DomElement => n.type === 'element' && n.name === 'userPresence')!;
    expect(() => elementAt(userPresence, 1)).to.throw(TypeError);
    expectValidDocument(body);
  });

  it('lays out the envelope and the other events with element-only content (configuration, selfPresence, contactGroup …), and keeps conference events and text content as they are', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    await bob.poll();
    const { reply } = await alice.poll();
    const body = reply.body;
    expectValidDocument(body);
    expect(body).to.match(/^<cwaEvents [^>]*>\n {2}<configuration eid="1">\n {4}<search /);
    expect(body).to.match(/\n<\/cwaEvents>$/);
    const top = elementsByPosition(dom(body));
    expect(top.map((e) => e.name)).to.include.members(['configuration', 'selfPresence', 'contactGroup']);
    for (const name of ['selfPresence', 'configuration']) elementsByPosition(top.find((e) => e.name === name)!);
    // Text content is never touched.
    expect(body).to.match(/<enableAppearOffline>true<\/enableAppearOffline>/);
    // A conference event keeps its child on its own line, as the reference shows it.
    await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>Grüße, bob</content></message></initiateImSession></conference>`);
    const { reply: bobs } = await bob.poll();
    expectValidDocument(bobs.body);
    expect(bobs.body).to.match(/\n {2}<conference eid="\d+" confId="\d+"><imSessionReceived [^>]*><inviter [^>]*\/><role>/);
    expect(bobs.body).to.include('<content>Grüße, bob</content>');
  });

  it('renders each event once for all its recipients, in the gateway-wide layout', () => {
    const view = { uri: 'sip:bob@example.com', sourceNetwork: 'sameEnterprise', categories: [] as never[] };
    const event = { kind: 'userPresence', users: [view] } as unknown as CwaEvent;
    const a = toRecord(event, 'original');
    const b = toRecord(event, 'original');
    expect(a.tail).to.equal(b.tail);
    expect(toRecord(event, 'compact').tail).to.equal('"><user uri="sip:bob@example.com" sourceNetwork="sameEnterprise"/></userPresence>');
    expect(a.tail).to.equal('">\n    <user uri="sip:bob@example.com" sourceNetwork="sameEnterprise"/>\n  </userPresence>');
    const failed = toRecord({ kind: 'requestFailed', rid: '4', error: { code: 18201, reason: 'Operation failed', detail: 'x', sipResponse: { code: 485, reason: 'Duplicate' } } } as CwaEvent, 'original');
    const doc = renderEvents({ sid: 1, ackId: 9, pollWaitTime: 1000 }, [failed.head + 9 + failed.tail], 'original');
    expect(doc).to.equal(
      '<cwaEvents sid="1" ackId="9" pollWaitTime="1000">\n' +
        '  <requestFailed eid="9" rid="4">\n' +
        '    <error code="18201" reason="Operation failed" detail="x">\n' +
        '      <sipResponse code="485" reason="Duplicate"/>\n' +
        '    </error>\n' +
        '  </requestFailed>\n' +
        '</cwaEvents>',
    );
    expectValidDocument(doc);
  });

  it('indents element-only content only: text, mixed content and empty elements are copied as they are', () => {
    expect(indentElements('<a><b>x</b><c/></a>', 1)).to.equal('\n  <a>\n    <b>x</b>\n    <c/>\n  </a>');
    expect(indentElements('<a>text<b><c/></b></a>', 1)).to.equal('\n  <a>text<b><c/></b></a>');
    expect(indentElements('<a></a><b/>', 2)).to.equal('\n    <a></a>\n    <b/>');
    expect(indentElements('<a x="1 &gt; 0"><b y="&lt;"/></a>', 0)).to.equal('\n<a x="1 &gt; 0">\n  <b y="&lt;"/>\n</a>');
    expect(layoutContent('original', 'plain text', 1)).to.equal('plain text');
    expect(layoutContent('compact', '<a><b/></a>', 1)).to.equal('<a><b/></a>');
    expect(layoutContent('original', '<a><b/></a>', 1)).to.equal('\n    <a>\n      <b/>\n    </a>\n  ');
  });

  it('is part of a cluster node\'s fingerprint: nodes that would render different bytes do not share a stream', () => {
    const users = UserDirectory.demo();
    const original = clusterFingerprint({ ...defaultConfig(), xmlLayout: 'original' }, users);
    const compact = clusterFingerprint({ ...defaultConfig(), xmlLayout: 'compact' }, users);
    expect(original).to.not.equal(compact);
    expect(clusterFingerprint({ ...defaultConfig(), xmlLayout: 'original' }, users)).to.equal(original);
  });
});
