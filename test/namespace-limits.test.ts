// Namespace declarations are attributes to the parser: they count against
// --max-attributes and their URIs against --max-attribute-length, on the command
// channel, at logon and in WebSocket frames, and the scan stops at the first one over.
import { expect } from 'chai';
import { CWA_NS, LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';
import { WsTestClient } from './support/ws-client.js';

describe('namespace declarations count against --max-attributes and --max-attribute-length', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  const declarations = (n: number) => Array.from({ length: n }, (_, i) => ` xmlns:p${i}="urn:x:${i}"`).join('');
  const longUri = (n: number) => ` xmlns:long="urn:${'x'.repeat(n)}"`;

  async function post(path: string, body: string, ticket?: string) {
    const started = Date.now();
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'text/xml', ...(ticket ? { 'CWA-Ticket': ticket } : {}) } });
    const text = await res.text();
    expectValidResponses(text);
    return { status: res.status, text, ms: Date.now() - started };
  }

  it('refuses 100,000 xmlns declarations (a 2 MB body) at the first one over the limit, on the command channel and at logon', async () => {
    gw = await startTestGateway({ holdMs: 0, maxBodyBytes: 4 * 1024 * 1024 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const decls = declarations(100_000);
    expect(decls.length).to.be.above(2_000_000);
    const command = await post('/cwa/MainCommandHandler.ashx', `<cwaRequests xmlns="${CWA_NS}"${decls} sid="${alice.sid}"><terminateSession rid="9"/></cwaRequests>`, alice.ticket);
    expect(command.status).to.equal(400);
    expect(command.text).to.match(/more than 32 attributes \(namespace declarations included\) on &lt;cwaRequests&gt;/);
    expect(command.ms).to.be.below(1000);
    const logon = await post('/forms/logon.html', `<cwaRequests><logon${decls}><user>alice</user><password>alice-demo</password></logon></cwaRequests>`);
    expect(logon.status).to.equal(400);
    expect(logon.text).to.match(/more than 32 attributes/);
    // The session is untouched and the gateway serves.
    const still = await alice.command(`<conference rid="${alice.nextRid()}" confId="99"><acceptImSession/></conference>`);
    expect(still.root.children[0]!.name).to.equal('requestFailed');
  });

  it('refuses a 60 KB namespace URI, on the command channel and at logon; 32 declarations and a 4,096-character URI are accepted', async () => {
    gw = await startTestGateway({ holdMs: 0, maxBodyBytes: 1024 * 1024 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const command = await post('/cwa/MainCommandHandler.ashx', `<cwaRequests xmlns="${CWA_NS}" sid="${alice.sid}"><terminateSession rid="9"${longUri(60_000)}/></cwaRequests>`, alice.ticket);
    expect(command.status).to.equal(400);
    expect(command.text).to.match(/namespace declaration xmlns:long of &lt;terminateSession&gt; is longer than 4096 characters/);
    const logon = await post('/forms/logon.html', `<cwaRequests${longUri(60_000)}><logon><user>alice</user><password>alice-demo</password></logon></cwaRequests>`);
    expect(logon.status).to.equal(400);
    expect(logon.text).to.match(/longer than 4096 characters/);
    // At the limits: 30 declarations + xmlns + sid = 32 attributes; a URI of 4,096 characters.
    const atLimit = await post(
      '/cwa/MainCommandHandler.ashx',
      `<cwaRequests xmlns="${CWA_NS}"${declarations(30)} sid="${alice.sid}"><conference rid="${alice.nextRid()}" confId="99"${longUri(4092)}><acceptImSession/></conference></cwaRequests>`,
      alice.ticket,
    );
    expect(atLimit.status, atLimit.text).to.equal(200);
    expect(parse(atLimit.text).children[0]!.name).to.equal('requestFailed');
  });

  it('refuses the same in a WebSocket frame (a command batch and an ack), with an error frame, and keeps the socket open', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const ws = await WsTestClient.attach(gw.url, { sid: alice.sid, ackId: 0, ticket: alice.ticket });
    try {
      await ws.untilFrames(1);
      const many = await ws.request(`<cwaRequests xmlns="${CWA_NS}"${declarations(40)} sid="${alice.sid}"><terminateSession rid="9"/></cwaRequests>`);
      expect(many.body).to.match(/code="18000"[^>]*more than 32 attributes \(namespace declarations included\)/);
      const long = await ws.request(`<cwaRequests xmlns="${CWA_NS}" sid="${alice.sid}"${longUri(5000)}><terminateSession rid="9"/></cwaRequests>`);
      expect(long.body).to.match(/code="18000"[^>]*namespace declaration xmlns:long of &lt;cwaRequests&gt; is longer than 4096/);
      const ack = await ws.request(`<ack${declarations(4)} ackId="1"/>`);
      expect(ack.body).to.match(/code="18000"[^>]*ack frame: more than 4 attributes/);
      const ok = await ws.command(alice.sid, `<conference rid="1" confId="5"><acceptImSession/></conference>`);
      expect(ok.root.children[0]!.name).to.equal('requestFailed');
      expect(ws.closeCode).to.equal(undefined);
    } finally {
      ws.socket.terminate();
    }
  });
});
