// One attach path for both CWA doors (src/transport/attach.ts): a poll and a WebSocket
// upgrade naming the same Sid/AckId are refused with the same status and the same bytes.
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidDocument } from './support/schemas.js';
import { WsTestClient } from './support/ws-client.js';

describe('attach: the long-poll and WebSocket doors refuse alike', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  async function both(ticket: string, sid: number, ackId?: number): Promise<{ status: number; body: string }> {
    const query = `Sid=${Number.isNaN(sid) ? 'x' : sid}${ackId === undefined ? '' : `&AckId=${ackId}`}`;
    const poll = await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?${query}`, { headers: { 'CWA-Ticket': ticket } });
    const pollBody = await poll.text();
    expectValidDocument(pollBody);
    const ws = await WsTestClient.refusal(gw.url, { sid, ackId, ticket });
    expect(ws.status, pollBody).to.equal(poll.status);
    expect(ws.body).to.equal(pollBody);
    return { status: poll.status, body: pollBody };
  }

  it('bad cursor 400, unknown or foreign session 404, stale cursor 409, ended session 404: same status, same document', async () => {
    gw = await startTestGateway({ holdMs: 0 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    const head = Number((await alice.poll(0)).reply.root.attrs.ackId);
    expect((await both(alice.ticket!, Number.NaN)).status).to.equal(400);
    expect((await both(alice.ticket!, 9999)).body).to.contain('There is no session 9999 for this user.');
    expect((await both(alice.ticket!, bob.sid)).status).to.equal(404);
    await alice.poll(head);
    const stale = await both(alice.ticket!, alice.sid, head - 1);
    expect(stale.status).to.equal(409);
    expect(stale.body).to.contain(`AckId ${head - 1} is older than the events this session still holds`);
    await alice.terminate();
    expect((await both(alice.ticket!, alice.sid)).status).to.equal(404);
  });
});
