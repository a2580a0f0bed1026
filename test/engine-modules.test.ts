// The engine's module seam: each domain module (IM, presence, contacts, access control,
// search) declares the request kinds it handles, and the engine routes every request by
// those declarations. Every request kind has exactly one handler, or the engine refuses
// to start.
import { expect } from 'chai';
import { MemoryEventLog } from '../src/delivery/event-log.js';
import { ManualClock } from '../src/engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from '../src/engine/engine.js';
import { REQUEST_KINDS, routeRequests, type EngineModule, type RequestKind } from '../src/engine/module.js';
import type { Session } from '../src/engine/session.js';
import type { CwaRequest, ResponseItem } from '../src/engine/types.js';
import { LogEventSink, overflowRecord } from '../src/protocol/event-sink.js';
import { UserDirectory } from '../src/users/directory.js';

function engine(): Engine {
  const log = new MemoryEventLog({ maxEvents: 1000, maxBytes: 1 << 20 }, overflowRecord('compact'));
  return new Engine(UserDirectory.demo(), new LogEventSink(log), new ManualClock(), {
    pollWaitMs: 1000, sessionTimeoutS: 600, ticketTtlS: 3600, inviteTimeoutS: 60, maxMessageLength: 1000,
    maxParticipantsPerConference: 32, maxConferencesPerSession: 64, mpopAcceptS: 7, maxSessionsPerUser: 10, endedSessionGraceS: 60,
    configuration: DEFAULT_CONFIGURATION,
  });
}

/** Who handles what: the engine itself its sessions, each module its own area. */
const OWNERS: Record<RequestKind, string> = {
  initiateSession: 'engine',
  terminateSession: 'engine',
  unsupported: 'engine',
  conference: 'im',
  addContact: 'contacts',
  updateContact: 'contacts',
  deleteContact: 'contacts',
  addGroup: 'contacts',
  updateGroup: 'contacts',
  deleteGroup: 'contacts',
  publishSelfPresence: 'presence',
  publishRawCategories: 'presence',
  queryPresence: 'presence',
  subscribePresence: 'presence',
  unsubscribePresence: 'presence',
  updateContainer: 'access control',
  containers: 'access control',
  acknowledgeSubscriber: 'access control',
  search: 'search',
};

const fake = (name: string, requests: RequestKind[], handles = true): EngineModule =>
  handles ? { name, requests, handle: async () => ({ type: 'requestAccepted', rid: '' }) } : { name, requests };

describe('engine modules: requests routed by the modules\' declarations', () => {
  it('every request kind is handled by exactly one module, the one of its area', () => {
    const e = engine();
    expect([...REQUEST_KINDS].sort()).to.deep.equal(Object.keys(OWNERS).sort());
    const handlers = Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, e.handlersOf(kind)]));
    expect(handlers).to.deep.equal(Object.fromEntries(Object.entries(OWNERS).map(([kind, owner]) => [kind, [owner]])));
  });

  it('a request reaches the module that declared its kind, in the batch\'s session', async () => {
    const e = engine();
    const ctx: { login: string; session?: Session } = { login: 'alice' };
    const start = await e.exclusive(() => e.execute(ctx, { kind: 'initiateSession', rid: '1', options: { autoPublishMachineState: true, autoSubscribePresenceForContacts: true } }));
    expect(start.type).to.equal('requestAccepted');
    const modules: Record<string, EngineModule> = { im: e.im, presence: e.presence, contacts: e.contacts, 'access control': e.acl, search: e.search };
    const seen: Array<[string, RequestKind, number]> = [];
    for (const [name, m] of Object.entries(modules)) {
      (m as { handle: EngineModule['handle'] }).handle = async (session, req): Promise<ResponseItem> => {
        seen.push([name, req.kind, session.sid]);
        return { type: 'requestAccepted', rid: req.rid ?? '' };
      };
    }
    const routed = REQUEST_KINDS.filter((kind) => OWNERS[kind] !== 'engine');
    for (const kind of routed) {
      const answer = await e.exclusive(() => e.execute(ctx, { kind, rid: kind } as CwaRequest));
      expect(answer, kind).to.deep.equal({ type: 'requestAccepted', rid: kind });
    }
    expect(seen).to.deep.equal(routed.map((kind) => [OWNERS[kind], kind, ctx.session!.sid]));
    // Without a live session no module is asked.
    const none = await e.exclusive(() => e.execute({ login: 'alice' }, { kind: 'search', rid: 'x', query: { firstName: ['a'], lastName: [], displayName: [], emailAlias: [], function: 'or' } }));
    expect(none).to.deep.equal({ type: 'requestFailed', rid: 'x', error: { refused: 'noSession' } });
    expect(seen).to.have.length(routed.length);
  });

  it('a seam that does not add up is refused when the engine starts: a kind claimed twice, by no one, or without a handler', () => {
    const own = { name: 'engine', requests: ['initiateSession', 'terminateSession', 'unsupported'] as RequestKind[] };
    const others = REQUEST_KINDS.filter((k) => !own.requests.includes(k) && k !== 'search' && k !== 'conference');
    const complete = [fake('rest', others), fake('im', ['conference']), fake('search', ['search'])];
    expect(routeRequests(complete, own).get('search')?.name).to.equal('search');
    expect(() => routeRequests([...complete, fake('directory', ['search'])], own)).to.throw('search is handled by search and directory');
    expect(() => routeRequests([...complete, fake('sessions', ['terminateSession'])], own)).to.throw('terminateSession is handled by engine and sessions');
    expect(() => routeRequests([fake('rest', others), fake('im', ['conference'])], own)).to.throw('search is handled by no module');
    expect(() => routeRequests([fake('rest', others), fake('im', ['conference']), fake('search', ['search'], false)], own)).to.throw(
      'engine module search declares requests (search) but has no handle()',
    );
  });
});
