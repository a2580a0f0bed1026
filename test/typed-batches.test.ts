// Commands carry typed requests and the replicated state answers with typed results;
// each door renders them (cluster/state.ts never formats a document). The rid cache
// keeps what the door rendered, so a retry is answered byte-identically.
import { expect } from 'chai';
import type { Command, TypedBatch } from '../src/cluster/commands.js';
import { type BatchAnswer, GatewayState } from '../src/cluster/state.js';
import { MemoryEventLog } from '../src/delivery/event-log.js';
import { type CachedResponse, RidCache } from '../src/delivery/rid-cache.js';
import { ManualClock } from '../src/engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from '../src/engine/engine.js';
import { LogEventSink, overflowRecord } from '../src/protocol/event-sink.js';
import { renderBatchAnswer } from '../src/protocol/responses.js';
import { UserDirectory } from '../src/users/directory.js';
import { expectValidResponses } from './support/schemas.js';

function gatewayState() {
  const log = new MemoryEventLog({ maxEvents: 1000, maxBytes: 1 << 20 }, overflowRecord('compact'));
  const engine = new Engine(UserDirectory.demo(), new LogEventSink(log), new ManualClock(), {
    pollWaitMs: 1000, sessionTimeoutS: 600, ticketTtlS: 3600, inviteTimeoutS: 60, maxMessageLength: 1000,
    maxParticipantsPerConference: 32, maxConferencesPerSession: 64, mpopAcceptS: 7, maxSessionsPerUser: 10, endedSessionGraceS: 60,
    configuration: DEFAULT_CONFIGURATION,
  });
  const seen: BatchAnswer[] = [];
  // A second door: it renders the same typed answer its own way (here: JSON).
  const json = (a: BatchAnswer): CachedResponse => (seen.push(a), { status: 200, body: JSON.stringify(a) });
  return { state: new GatewayState(engine, log, new RidCache(8), { cwa: renderBatchAnswer, json }), seen };
}

const start: TypedBatch = {
  items: [
    { status: 'ok', request: { kind: 'initiateSession', rid: '1', options: { autoPublishMachineState: true, autoSubscribePresenceForContacts: true } } },
    { status: 'ok', request: { kind: 'conference', rid: '2', confId: 5, action: { type: 'acceptImSession' } } },
    { status: 'unknown', rid: '3', name: 'frobnicate', error: { refused: 'unknownRequest', name: 'frobnicate' } },
  ],
};

describe('typed batches: the state answers with typed results, each door renders', () => {
  it('the CWA door renders the typed answer; a retried batch gets the same bytes from the rid cache without running again', async () => {
    const { state } = gatewayState();
    // Commands travel as JSON between nodes: they must survive it.
    const cmd = JSON.parse(JSON.stringify({ t: 'batch', login: 'alice', batch: start, scope: 't:x', key: 'k' })) as Command;
    const first = (await state.apply(cmd)) as CachedResponse;
    expectValidResponses(first.body);
    expect(first.body).to.equal(
      '<cwaResponses requestProcessed="2" unexpectedElement="1"><requestAccepted rid="1"><sid>1</sid><uri>sip:alice@example.com</uri><pollWaitTime>1000</pollWaitTime></requestAccepted>' +
        '<requestFailed rid="2"><error code="18102" reason="Invalid Operation" detail="There is no conversation with confId 5 in this session."/></requestFailed>' +
        '<requestInvalid rid="3"><error code="18001" reason="Invalid Request" detail="unknown request element frobnicate"/></requestInvalid></cwaResponses>',
    );
    expect(first.refusals).to.deep.equal(['noSuchConversation', 'unknownRequest']);
    const again = (await state.apply(cmd)) as CachedResponse;
    expect(again).to.deep.equal(first);
    expect(state.engine.liveSessions(), 'the retry did not start a second session').to.equal(1);
    // What the cache keeps is plain data (a cluster snapshot holds it as JSON).
    expect(JSON.parse(JSON.stringify(state.ridCache.exportState()))).to.deep.equal(state.ridCache.exportState());
  });

  it('another door renders the same typed answer its own way; an unknown door is an error, not a silent default', async () => {
    const { state, seen } = gatewayState();
    const res = (await state.apply({ t: 'batch', login: 'bob', batch: start, door: 'json' })) as CachedResponse;
    expect(seen).to.have.length(1);
    const answer = JSON.parse(res.body) as BatchAnswer;
    expect(answer).to.deep.equal(seen[0]);
    expect(answer.processed).to.equal(2);
    expect(answer.unexpected).to.equal(1);
    expect(answer.answers.map((a) => a.type)).to.deep.equal(['requestAccepted', 'requestFailed', 'requestInvalid']);
    expect(answer.answers[1]).to.deep.equal({ type: 'requestFailed', rid: '2', error: { refused: 'noSuchConversation', confId: 5 } });
    let thrown: unknown;
    try {
      await state.apply({ t: 'batch', login: 'bob', batch: start, door: 'nope' });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).to.contain('no door nope');
  });
});
