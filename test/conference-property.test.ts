// Property: whatever the interleaving of joins, leaves, messages, ejects and reconnects,
// every participant receives the conference's messages in one global order, none twice,
// and none lost while it was connected. Driven at the engine level (no HTTP) so thousands
// of runs stay fast: CWA_PROPERTY_RUNS raises the count.
import { expect } from 'chai';
import fc from 'fast-check';
import { ManualClock } from '../src/engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from '../src/engine/engine.js';
import type { Delivery, EventSink } from '../src/engine/ports.js';
import type { Session } from '../src/engine/session.js';
import type { ConferenceAction, CwaEvent } from '../src/engine/types.js';
import { UserDirectory } from '../src/users/directory.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
type User = (typeof USERS)[number];
const RUNS = Number(process.env.CWA_PROPERTY_RUNS ?? 300);

class CapturingSink implements EventSink {
  readonly events = new Map<number, CwaEvent[]>();
  async openSession(sid: number) {
    this.events.set(sid, []);
  }
  async deliver(items: Delivery[]) {
    for (const { sid, event } of items) this.events.get(sid)?.push(event);
    return [];
  }
  async closeSession() {}
  async removeSession() {}
}

type Op =
  | { op: 'send'; who: User }
  | { op: 'leave'; who: User }
  | { op: 'join'; who: User }
  | { op: 'eject'; who: User; target: User }
  | { op: 'promote'; who: User; target: User }
  | { op: 'reconnect'; who: User };

const user = fc.constantFrom(...USERS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: user.map((who) => ({ op: 'send' as const, who })) },
  { weight: 2, arbitrary: user.map((who) => ({ op: 'leave' as const, who })) },
  { weight: 3, arbitrary: user.map((who) => ({ op: 'join' as const, who })) },
  { weight: 1, arbitrary: fc.tuple(user, user).map(([who, target]) => ({ op: 'eject' as const, who, target })) },
  { weight: 1, arbitrary: fc.tuple(user, user).map(([who, target]) => ({ op: 'promote' as const, who, target })) },
  { weight: 1, arbitrary: user.map((who) => ({ op: 'reconnect' as const, who })) },
);

async function scenario(ops: Op[]): Promise<void> {
  const sink = new CapturingSink();
  const engine = new Engine(UserDirectory.demo(), sink, new ManualClock(), {
    pollWaitMs: 1000, sessionTimeoutS: 600, ticketTtlS: 3600, inviteTimeoutS: 60, maxMessageLength: 1000,
    maxParticipantsPerConference: 32, maxConferencesPerSession: 64, mpopAcceptS: 7, maxSessionsPerUser: 10, endedSessionGraceS: 60,
    configuration: DEFAULT_CONFIGURATION,
  });
  const sessions = new Map<User, Session>();
  const confIds = new Map<Session, number>();
  let rid = 0;
  const run = (s: Session, confId: number, action: ConferenceAction) =>
    engine.exclusive(async () => {
      const answer = await engine.execute({ login: s.user.login, session: s }, { kind: 'conference', rid: String(++rid), confId, action });
      await engine.endBatch();
      return answer;
    });
  const signIn = async (u: User) => {
    const ctx = { login: u, session: undefined as Session | undefined };
    await engine.exclusive(() => engine.execute(ctx, { kind: 'initiateSession', rid: String(++rid), options: { autoPublishMachineState: true, autoSubscribePresenceForContacts: true } }));
    sessions.set(u, ctx.session!);
  };
  for (const u of USERS) await signIn(u);

  // alice opens a conference with bob and carol; both accept.
  const start = await run(sessions.get('alice')!, 0, { type: 'initiateImSession', uris: ['sip:bob@example.com', 'sip:carol@example.com'], message: { content: 'start' } });
  expect(start.type).to.equal('initiateImSessionAccepted');
  confIds.set(sessions.get('alice')!, (start as { confId: number }).confId);
  for (const u of ['bob', 'carol'] as const) {
    const s = sessions.get(u)!;
    const [leg] = [...s.legs.values()];
    await run(s, leg!.confId, { type: 'acceptImSession' });
    confIds.set(s, leg!.confId);
  }
  const focusUri = [...sessions.get('alice')!.legs.values()][0]!.conversation.focusUri!;

  // The model: who is connected, and what each connected session must receive.
  const connected = () => {
    const set = new Set<Session>();
    for (const s of sessions.values()) for (const leg of s.legs.values()) if (leg.state === 'connected' && leg.conversation.focusUri === focusUri) set.add(s);
    return set;
  };
  const sentOrder: string[] = [];
  const mustReceive = new Map<Session, string[]>();
  let n = 0;

  for (const o of ops) {
    const s = sessions.get(o.who)!;
    const legOf = (x: Session) => [...x.legs.values()].find((l) => l.conversation.focusUri === focusUri);
    const leg = legOf(s);
    switch (o.op) {
      case 'send': {
        if (!leg || leg.state !== 'connected') break;
        const text = `m${++n}`;
        const recipients = [...connected()].filter((x) => x !== s);
        await run(s, leg.confId, { type: 'sendMessage', message: { content: text } });
        sentOrder.push(text);
        for (const r of recipients) mustReceive.set(r, [...(mustReceive.get(r) ?? []), text]);
        break;
      }
      case 'leave':
        if (leg) await run(s, leg.confId, { type: 'terminateImSession' });
        break;
      case 'join':
        if (!leg && connected().size > 0) await run(s, 0, { type: 'initiateImSession', uris: [], confUri: focusUri, message: undefined });
        break;
      case 'eject':
      case 'promote': {
        const t = legOf(sessions.get(o.target)!);
        if (leg && t) await run(s, leg.confId, o.op === 'eject' ? { type: 'ejectParticipant', uri: `sip:${o.target}@example.com` } : { type: 'promoteParticipant', uri: `sip:${o.target}@example.com` });
        break;
      }
      case 'reconnect':
        await engine.exclusive(() => engine.endSession(s, 'timeout'));
        await signIn(o.who);
        break;
    }
  }

  const order = new Map(sentOrder.map((t, i) => [t, i]));
  for (const [sid, events] of sink.events) {
    const got = events.flatMap((e) => (e.kind === 'conference' && e.body.type === 'messageReceived' && e.body.message.content !== 'start' ? [e.body.message.content] : []));
    expect(new Set(got).size, `session ${sid} received a message twice: ${got}`).to.equal(got.length);
    const positions = got.map((t) => order.get(t)!);
    expect(positions, `session ${sid} received messages out of the global order`).to.deep.equal([...positions].sort((a, b) => a - b));
    const session = [...mustReceive.keys()].find((x) => x.sid === sid);
    if (session) for (const t of mustReceive.get(session)!) expect(got, `session ${sid} lost ${t} while connected`).to.include(t);
  }
}

describe('conference ordering (property, fast-check)', () => {
  it(`every participant sees the same order, nothing twice, nothing lost while connected (${RUNS} runs)`, async function () {
    this.timeout(10_000 + RUNS * 20);
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), scenario), { numRuns: RUNS });
  });
});
