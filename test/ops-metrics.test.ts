// /metrics: an operator reads sessions, held polls, WebSockets, event flow, command
// latency, errors by code and throttling from the Prometheus text.
import { expect } from 'chai';
import { conferenceChild, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { GatewayMetrics } from '../src/ops/metrics.js';


function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  if (!line) throw new Error(`no sample ${name}${labels} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('/metrics', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  const scrape = async () => {
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it('names every metric an operator needs, and nothing of the process in tests', async () => {
    gw = await startTestGateway();
    const text = await scrape();
    for (const name of [
      'cwa_sessions', 'cwa_held_polls', 'cwa_websockets', 'cwa_event_logs', 'cwa_events_pending',
      'cwa_events_queued_total', 'cwa_events_delivered_total', 'cwa_events_redelivered_total',
      'cwa_event_log_overflows_total', 'cwa_command_duration_seconds', 'cwa_errors_total', 'cwa_throttled_total',
      'cwa_logons_total', 'cwa_http_requests_total',
    ]) {
      expect(text).to.include(`# TYPE ${name} `);
    }
    expect(text).to.not.include('process_cpu');
  });

  it('counts sessions, held polls, queued/delivered/redelivered events, commands, and errors by code', async () => {
    gw = await startTestGateway({ holdMs: 5000 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    let text = await scrape();
    expect(sample(text, 'cwa_sessions')).to.equal(2);
    const queued = sample(text, 'cwa_events_queued_total'); // each session's first events
    expect(queued).to.be.at.least(4);
    expect(sample(text, 'cwa_events_pending')).to.equal(queued);

    const first = await alice.poll(0);
    const again = await alice.poll(0); // the answer "was lost": the same events again
    expect(again.events.length).to.equal(first.events.length);
    const bobs = await bob.poll();
    text = await scrape();
    expect(sample(text, 'cwa_events_queued_total')).to.equal(queued);
    expect(first.events.length + bobs.events.length).to.equal(queued);
    expect(sample(text, 'cwa_events_delivered_total')).to.equal(queued);
    expect(sample(text, 'cwa_events_redelivered_total')).to.equal(first.events.length);
    expect(sample(text, 'cwa_events_pending')).to.equal(queued); // received, not acknowledged yet

    const held = bob.poll();
    await new Promise((r) => setTimeout(r, 100));
    expect(sample(await scrape(), 'cwa_held_polls')).to.equal(1);
    await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
    const { events } = await held;
    expect(events.some((e) => !!conferenceChild(e, 'imSessionReceived'))).to.equal(true);

    // Errors: a document refused as a whole (18000), a request of a batch that failed (18102), no ticket (18100).
    await fetch(`${gw.url}/cwa/MainCommandHandler.ashx`, { method: 'POST', headers: { 'CWA-Ticket': alice.ticket! }, body: '<oops' });
    await alice.command(`<conference rid="${alice.nextRid()}" confId="77"><acceptImSession/></conference>`);
    await fetch(`${gw.url}/cwa/AsyncDataChannel.ashx?Sid=1`);
    text = await scrape();
    expect(sample(text, 'cwa_held_polls')).to.equal(0);
    expect(sample(text, 'cwa_errors_total', '{code="18000",kind="document"}')).to.equal(1);
    expect(sample(text, 'cwa_errors_total', '{code="18102",kind="request"}')).to.equal(1);
    expect(sample(text, 'cwa_errors_total', '{code="18100",kind="document"}')).to.equal(1);
    // signIn x2, the invitation, the refused document, the failed request: five batches run.
    expect(sample(text, 'cwa_command_duration_seconds_count', '{transport="http"}')).to.equal(5);
    expect(sample(text, 'cwa_http_requests_total', '{route="command",status="400"}')).to.equal(1);
    expect(sample(text, 'cwa_logons_total', '{result="success"}')).to.equal(2);
  });

  it('counts an overflowed session log and the WebSocket gauge the WebSocket transport updates', async () => {
    gw = await startTestGateway({ holdMs: 0, logMaxEvents: 3 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const bob = await new LegacyClient(gw.url, 'bob').signIn();
    for (let i = 0; i < 3; i++) {
      await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>m${i}</content></message></initiateImSession></conference>`);
      await alice.poll();
    }
    expect(bob.ackId).to.equal(0);
    gw.gateway.metrics.webSockets.inc();
    const text = await scrape();
    // Bob's log overflows; the failure events that sends alice may overflow hers too.
    const overflows = sample(text, 'cwa_event_log_overflows_total');
    expect(overflows).to.be.within(1, 2);
    expect(sample(text, 'cwa_sessions')).to.equal(2 - overflows);
    expect(sample(text, 'cwa_websockets')).to.equal(1);
  });
});

describe('process metrics', () => {
  it('uses the standard names (process_*, nodejs_*), so stock Node.js dashboards match', async () => {
    const text = await new GatewayMetrics({ processMetrics: true }).text();
    expect(text).to.match(/^process_cpu_user_seconds_total /m);
    expect(text).to.match(/^nodejs_eventloop_lag_seconds /m);
    expect(text).not.to.include('cwa_process_');
    expect(text).not.to.include('cwa_nodejs_');
  });
});
