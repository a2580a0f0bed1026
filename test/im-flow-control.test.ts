// Flow control of instant messages: a sender faster than its partner reads is refused
// (messageSendFailed 18101) before the partner's event log fills, so the reader's session
// survives; a message is confirmed (messageIdReceived) only once queued for every recipient.
import { expect } from 'chai';
import type { GatewayConfig } from '../src/config.js';
import type { XNode } from '../src/protocol/xml-tree.js';
import { conferenceChild, LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const LINE = 'x'.repeat(7_900);
const say = (c: LegacyClient, confId: number, text: string) =>
  `<conference rid="${c.nextRid()}" confId="${confId}"><sendMessage><format>text/plain</format><content>${text}</content></sendMessage></conference>`;

/** Reads until the log is empty (or ended), acknowledging as it goes. */
async function drain(c: LegacyClient): Promise<XNode[]> {
  const all: XNode[] = [];
  for (let i = 0; i < 100; i++) {
    const { events, reply } = await c.poll();
    expect(reply.status, reply.body).to.equal(200);
    all.push(...events);
    if (events.length === 0 || events.some((e) => e.name === 'sessionTerminated')) return all;
  }
  throw new Error('the log did not drain');
}

const received = (events: XNode[]) => events.filter((e) => conferenceChild(e, 'messageReceived'));
const confirmed = (events: XNode[]) => events.filter((e) => conferenceChild(e, 'messageIdReceived'));
const failures = (events: XNode[], code: string) =>
  events.filter((e) => conferenceChild(e, 'messageSendFailed')?.children[0]?.attrs.code === code);

describe('IM flow control: a sender cannot overflow its partner\'s event log', () => {
  let gw: TestGateway;
  afterEach(() => gw?.close());

  /** alice and bob (and carol, when asked) in one conversation, every log read. */
  async function conversation(config: Partial<GatewayConfig>, withCarol = false) {
    gw = await startTestGateway({ holdMs: 0, ...config });
    const alice = await new LegacyClient(gw.url, 'alice').signIn();
    const others = await Promise.all((withCarol ? ['bob', 'carol'] : ['bob']).map((l) => new LegacyClient(gw.url, l).signIn()));
    for (const c of [alice, ...others]) await drain(c);
    const uris = others.map((c) => `<uri>sip:${c.login}@example.com</uri>`).join('');
    const start = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris>${uris}</uris><message><content>hi</content></message></initiateImSession></conference>`);
    const confId = Number(start.root.children[0]!.attrs.confId);
    for (const c of others) {
      const invitation = (await drain(c)).find((e) => conferenceChild(e, 'imSessionReceived'))!;
      await c.command(`<conference rid="${c.nextRid()}" confId="${invitation.attrs.confId}"><acceptImSession/></conference>`);
      await drain(c);
    }
    await drain(alice);
    return { alice, bob: others[0]!, carol: others[1], confId };
  }

  /** alice posts `posts` batches of 8 lines of 7.9 KB, reading her own log after each. */
  async function flood(alice: LegacyClient, confId: number, posts: number): Promise<XNode[]> {
    const seen: XNode[] = [];
    for (let p = 0; p < posts; p++) {
      const r = await alice.command(Array.from({ length: 8 }, () => say(alice, confId, LINE)).join(''));
      expect(r.status, r.body).to.equal(200);
      seen.push(...(await drain(alice)));
    }
    return seen;
  }

  it('refuses the sender (18101) once the reader is half a log behind; the reader keeps its session and gets every confirmed message; sends succeed again once it reads', async () => {
    const { alice, bob, confId } = await conversation({});
    // 160 lines of 7.9 KB (1.26 MB) before bob reads, as between two of his polls a second apart.
    const sent = await flood(alice, confId, 20);
    const bobSaw = await drain(bob);
    expect(bobSaw.some((e) => e.name === 'sessionTerminated'), 'bob keeps his session').to.equal(false);
    expect(confirmed(sent).length).to.be.greaterThan(0);
    expect(failures(sent, '18101').length).to.equal(160 - confirmed(sent).length);
    // Every confirmed line reached bob, no refused one did.
    expect(received(bobSaw).length).to.equal(confirmed(sent).length);
    // The refusal started before bob's log was half full of lines (1 MiB / 2 / 7.9 KB ≈ 66).
    expect(confirmed(sent).length).to.be.within(50, 70);
    // Bob has read: alice's lines go through again.
    const again = await flood(alice, confId, 1);
    expect(confirmed(again).length).to.equal(8);
    expect(received(await drain(bob)).length).to.equal(8);
  });

  it('lets a reader that polls every second keep its session against a partner sending 8 x 7.9 KB per POST as fast as it can', async function () {
    this.timeout(15_000);
    const { alice, bob, confId } = await conversation({});
    let sending = true;
    const sender = (async () => {
      const seen: XNode[] = [];
      while (sending) seen.push(...(await flood(alice, confId, 1)));
      return seen;
    })();
    const bobSaw: XNode[] = [];
    for (let second = 0; second < 3; second++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // pollWaitTime
      bobSaw.push(...(await bob.poll()).events);
    }
    sending = false;
    const sent = await sender;
    bobSaw.push(...(await drain(bob)));
    expect(bobSaw.some((e) => e.name === 'sessionTerminated'), 'bob keeps his session').to.equal(false);
    expect(failures(sent, '18101').length, 'alice was slowed down').to.be.greaterThan(0);
    expect(received(bobSaw).length).to.equal(confirmed(sent).length);
  });

  it('refuses a line to a conference as a whole when one member is behind: the others do not get it either', async () => {
    const { alice, bob, carol, confId } = await conversation({}, true);
    // carol reads after every batch, bob never.
    let carolGot = 0;
    let sent: XNode[] = [];
    for (let p = 0; p < 12; p++) {
      sent = sent.concat(await flood(alice, confId, 1));
      carolGot += received(await drain(carol!)).length;
    }
    expect(failures(sent, '18101').length).to.be.greaterThan(0);
    expect(carolGot).to.equal(confirmed(sent).length);
    expect(received(await drain(bob)).length).to.equal(confirmed(sent).length);
  });

  it('applies --log-high-water-pct: at 10% the refusals start five times sooner', async () => {
    const { alice, bob, confId } = await conversation({ logHighWaterPct: 10 });
    const sent = await flood(alice, confId, 4);
    // 10% of 1 MiB is about 13 lines of 7.9 KB.
    expect(confirmed(sent).length).to.be.within(10, 16);
    expect(failures(sent, '18101').length).to.equal(32 - confirmed(sent).length);
    expect(received(await drain(bob)).length).to.equal(confirmed(sent).length);
  });

  it('tells the sender messageSendFailed, not messageIdReceived, for the line that overflows a reader that never polls', async () => {
    // At 100% only the log bound applies: the line that does not fit ends bob's session.
    const { alice, bob, confId } = await conversation({ logHighWaterPct: 100 });
    const sent = await flood(alice, confId, 20);
    const bobSaw = await drain(bob);
    const last = bobSaw[bobSaw.length - 1]!;
    expect(last.name).to.equal('sessionTerminated');
    expect(last.attrs.reason).to.equal('eventLogOverflow');
    // Confirmed exactly the lines bob's log holds; the overflowing one failed (SIP 480: its reader is gone).
    expect(confirmed(sent).length).to.equal(received(bobSaw).length);
    const lost = failures(sent, '18201');
    expect(lost.length).to.equal(1);
    expect(lost[0]!.children[0]!.children[0]!.children[0]!.attrs.code).to.equal('480');
    const failedId = conferenceChild(lost[0]!, 'messageSendFailed')!.attrs.messageId;
    expect(confirmed(sent).map((e) => conferenceChild(e, 'messageIdReceived')!.attrs.messageId)).to.not.include(failedId);
  });
});
