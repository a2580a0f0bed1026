// The catalogue of the engine's outcomes (engine/outcomes.ts) and the doors' readings of
// it: every reason has a CWA error (18xxx, and a SIP response for failures) and a UCWA
// status + code/subcode; the CWA documents they make validate.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { DETAILED_REFUSALS, FAILURES, type Outcome, PLAIN_REFUSALS, type Reason, REASONS, reasonOf, SESSION_ENDS } from '../src/engine/outcomes.js';
import { CWA_CODE, cwaErrorOf, FAILURE_SIP } from '../src/protocol/cwa-outcomes.js';
import { recordXml, toRecord } from '../src/protocol/events.js';
import { renderEvents, renderResponses } from '../src/protocol/responses.js';
import { UCWA_OUTCOMES, ucwaErrorOf, ucwaReasonOf, ucwaRefusalOf } from '../src/protocol/ucwa-outcomes.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidEvents, expectValidResponses } from './support/schemas.js';

/** One outcome of each reason, with its parameters filled in. */
function sample(reason: Reason): Outcome {
  if ((SESSION_ENDS as readonly string[]).includes(reason)) return { ended: reason as (typeof SESSION_ENDS)[number] };
  if ((FAILURES as readonly string[]).includes(reason)) return { failed: reason as (typeof FAILURES)[number] };
  if ((PLAIN_REFUSALS as readonly string[]).includes(reason)) return { refused: reason as (typeof PLAIN_REFUSALS)[number] };
  switch (reason as (typeof DETAILED_REFUSALS)[number]) {
    case 'tooManySessions':
    case 'tooManyConversations':
    case 'tooManyParticipants':
    case 'messageTooLong':
      return { refused: reason, max: 7 } as Outcome;
    case 'noSuchConversation':
      return { refused: 'noSuchConversation', confId: 3 };
    case 'confIdReassigned':
      return { refused: 'confIdReassigned', confId: 3, rid: '9', granted: 4 };
    case 'notAParticipant':
      return { refused: 'notAParticipant', uri: 'sip:carol@example.com' };
    case 'recipientsBehind':
      return { refused: 'recipientsBehind', uris: ['sip:bob@example.com', 'sip:carol@example.com'] };
    case 'voiceNotSupported':
    case 'notSupported':
    case 'unknownRequest':
      return { refused: reason, name: 'voIPRedirect' } as Outcome;
    case 'invalidInput':
      return { refused: 'invalidInput', detail: 'group name is required' };
  }
}

describe('outcomes: one catalogue, read by each door', () => {
  it('names every reason once', () => {
    expect(new Set(REASONS).size).to.equal(REASONS.length);
    for (const r of REASONS) expect(reasonOf(sample(r))).to.equal(r);
  });

  it('every reason has a CWA error whose code is the one counted for it, and failures carry their SIP response', () => {
    for (const r of REASONS) {
      const e = cwaErrorOf(sample(r));
      expect(e.code, r).to.equal(CWA_CODE[r]);
      expect(e.detail, r).to.be.a('string').and.not.equal('');
      if ((FAILURES as readonly string[]).includes(r)) {
        const sip = FAILURE_SIP[r as (typeof FAILURES)[number]];
        expect(e.code, r).to.equal(18201);
        expect(e.sipResponse, r).to.deep.equal({ code: sip.code, reason: sip.reason, diagnostics: `${sip.code};reason="${sip.reason}";source="cwa-gateway"` });
      } else expect(e.sipResponse, r).to.equal(undefined);
    }
  });

  it('keeps the texts CWA clients have always been answered with', () => {
    expect(cwaErrorOf({ refused: 'tooManyConversations', max: 4 })).to.deep.include({
      code: 18102,
      reason: 'Invalid Operation',
      detail: 'This session already takes part in 4 conversations, the most allowed.',
    });
    expect(cwaErrorOf({ failed: 'declined' }).sipResponse).to.deep.equal({ code: 603, reason: 'Decline', diagnostics: '603;reason="Decline";source="cwa-gateway"' });
    expect(cwaErrorOf({ failed: 'noAnswer' }).sipResponse?.code).to.equal(408);
    expect(cwaErrorOf({ failed: 'notSignedIn' }).sipResponse?.code).to.equal(480);
    expect(cwaErrorOf({ refused: 'recipientsBehind', uris: ['sip:b@x.com'] })).to.deep.include({ code: 18101 });
  });

  it('every reason has a UCWA status and code (with the code the status maps to when answered at once)', () => {
    const byStatus: Record<number, string> = { 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Gone', 413: 'EntityTooLarge', 429: 'TooManyRequests', 500: 'ServiceFailure', 503: 'ServiceUnavailable', 504: 'Timeout' };
    expect(Object.keys(UCWA_OUTCOMES).sort()).to.deep.equal([...REASONS].sort());
    for (const r of REASONS) {
      const u = ucwaErrorOf(sample(r));
      expect(u.status, r).to.be.within(400, 599);
      expect(byStatus[u.status], `${r}: status ${u.status}`).to.be.a('string');
      // Synchronous refusals use the code of their status; failures arrive in events as RemoteFailure.
      if ((FAILURES as readonly string[]).includes(r) && u.code === 'RemoteFailure') continue;
      expect(u.code, r).to.equal(byStatus[u.status]);
    }
    expect(ucwaErrorOf({ failed: 'declined' })).to.deep.equal({ status: 403, code: 'RemoteFailure', subcode: 'Declined' });
    expect(ucwaErrorOf({ refused: 'tooManyConversations', max: 2 }).subcode).to.equal('TooManyConversations');
  });

  it('the UCWA door answers refusals and event reasons from the same table, with a message for every reason', () => {
    expect(ucwaRefusalOf({ refused: 'tooManySessions', max: 3 })).to.deep.equal({
      status: 410,
      error: { code: 'Gone', subcode: 'TooManyApplications', message: 'This user already has 3 applications, the most the gateway allows: delete one first.' },
    });
    expect(ucwaRefusalOf({ ended: 'timeout' })).to.deep.include({ status: 410 });
    expect(ucwaRefusalOf({ ended: 'terminated' }).error.subcode).to.equal('ApplicationNotFound');
    expect(ucwaReasonOf({ failed: 'declined' })).to.deep.equal({ code: 'RemoteFailure', subcode: 'Declined', message: 'The person declined the invitation.' });
    // A refusal told in an event (a message not sent) is the client's LocalFailure, with the refusal's subcode.
    expect(ucwaReasonOf({ refused: 'recipientsBehind', uris: ['sip:bob@example.com'] })).to.deep.include({ code: 'LocalFailure', subcode: 'LimitExceeded' });
    for (const r of REASONS) {
      const { error } = ucwaRefusalOf(sample(r));
      expect(error.message, r).to.match(/\S/);
      expect(error.subcode, r).to.match(/^[A-Za-z]+$/);
    }
  });

  it('renders every outcome into documents that validate (requestFailed answers, requestFailed and messageSendFailed events)', () => {
    const items = REASONS.filter((r) => !(SESSION_ENDS as readonly string[]).includes(r)).map((r, i) => ({ type: 'requestFailed' as const, rid: String(i), error: sample(r) }));
    expectValidResponses(renderResponses(items, items.length, 0));
    const events = REASONS.flatMap((r, i) => {
      if ((SESSION_ENDS as readonly string[]).includes(r)) return [];
      const o = sample(r);
      return [
        recordXml(toRecord({ kind: 'requestFailed', rid: String(i), error: o }), 2 * i + 1),
        recordXml(toRecord({ kind: 'conference', confId: 1, body: { type: 'messageSendFailed', rid: String(i), messageId: String(i), error: o } }), 2 * i + 2),
      ];
    });
    expectValidEvents(renderEvents({ sid: 1, ackId: events.length, pollWaitTime: 1000 }, events));
    for (const end of SESSION_ENDS) {
      const xml = renderEvents({ sid: 1, ackId: 1, pollWaitTime: 1000 }, [recordXml(toRecord({ kind: 'sessionTerminated', reason: end }), 1)]);
      expectValidEvents(xml);
      expect(xml).to.contain(`reason="${end}"`).and.contain(`code="${CWA_CODE[end]}"`);
    }
  });
});

describe('cwa_refusals_total: refusals counted from the typed outcome', () => {
  let gw: TestGateway;
  afterEach(() => gw.close());

  it('counts each refused request by reason (and by code in cwa_errors_total), a retried batch answered from the cache too', async () => {
    gw = await startTestGateway({ holdMs: 0, maxConferencesPerSession: 1 });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    await new LegacyClient(gw.url, 'bob').signIn();
    const { metrics } = gw.gateway;
    const start = (rid: string) =>
      `<conference rid="${rid}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`;
    await alice.command(start(alice.nextRid()));
    // A second conversation is one too many; an unknown element and a bad confId in the same batch.
    const batch = `${start('r1')}<frobnicate rid="r2"/><conference rid="r3" confId="77"><acceptImSession/></conference>`;
    const first = await alice.command(batch);
    const retried = await alice.command(batch);
    expect(retried.body).to.equal(first.body);
    expectValidResponses(first.body);
    expect(await metrics.value('cwa_refusals_total', { reason: 'tooManyConversations' })).to.equal(2);
    expect(await metrics.value('cwa_refusals_total', { reason: 'unknownRequest' })).to.equal(2);
    expect(await metrics.value('cwa_refusals_total', { reason: 'noSuchConversation' })).to.equal(2);
    expect(await metrics.value('cwa_errors_total', { code: '18102', kind: 'request' })).to.equal(4);
    expect(await metrics.value('cwa_errors_total', { code: '18001', kind: 'request' })).to.equal(2);
  });

  it('finds no error code with a regular expression over a document', () => {
    for (const file of ['src/ops/metrics.ts', 'src/transport/http/command-channel.ts', 'src/transport/ws/subscriber.ts']) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).to.not.match(/<error code=|<request\(\?:|matchAll\(\//);
    }
  });
});
