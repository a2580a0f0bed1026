// Alice and Bob signed in, caught up on their data channels, and in a connected one-to-one
// conversation (Alice invited, Bob accepted): the start of many delivery tests.
import { conferenceChild, LegacyClient } from './client.js';
import type { TestGateway } from './gateway.js';

export async function connectedPair(gw: TestGateway): Promise<{ alice: LegacyClient; bob: LegacyClient; aliceConf: string; bobConf: string }> {
  const alice = await new LegacyClient(gw.url, 'alice').signIn();
  const bob = await new LegacyClient(gw.url, 'bob').signIn();
  await alice.poll();
  await bob.poll();
  const r = await alice.command(`<conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>hi</content></message></initiateImSession></conference>`);
  const aliceConf = r.root.children[0]!.attrs.confId!;
  const inv = await bob.pollUntil((e) => !!conferenceChild(e, 'imSessionReceived'));
  const bobConf = inv.find((e) => conferenceChild(e, 'imSessionReceived'))!.attrs.confId!;
  await bob.command(`<conference rid="${bob.nextRid()}" confId="${bobConf}"><acceptImSession/></conference>`);
  await alice.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  await bob.pollUntil((e) => conferenceChild(e, 'imSessionState')?.text === 'connected');
  return { alice, bob, aliceConf, bobConf };
}
