// What users own survives a restart: a gateway on the embedded SQLite store is stopped
// and a new one started on the same --data-dir.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { kids, only, presenceUser, run, signedIn, textsOf } from './support/presence.js';

describe('durable user data across a restart', () => {
  let dataDir: string;
  let gw: TestGateway | undefined;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cwa-restart-'));
  });
  after(async () => {
    await gw?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () => startTestGateway({ holdMs: 0, dataDir }, { store: 'sqlite' });

  it('keeps contacts, groups, containers, a note, raw categories and subscribers', async () => {
    gw = await start();
    const alice = new LegacyClient(gw.url, 'alice');
    const bob = new LegacyClient(gw.url, 'bob');
    await signedIn(alice);
    await signedIn(bob);
    await run(alice, '<addGroup rid="1"><group name="MyFriends"/></addGroup><addGroup rid="2"><group name="Work"/></addGroup>');
    await run(alice, '<deleteGroup rid="3"><group id="3"/></deleteGroup>');
    await run(alice, '<addContact rid="4"><contact uri="sip:bob@example.com" name="Bobby" subscribed="true" tag="true" groups="1 2"/></addContact>');
    await run(alice, '<addContact rid="5"><contact uri="sip:jessicaa@contoso.com" name="Jessica Arnold" subscribed="false" tag="false"/></addContact>');
    await run(alice, '<updateContainer rid="6"><container id="32000"><addMember type="uri" value="sip:spam@fabrikam.com"/></container></updateContainer>');
    await run(alice, '<updateContainer rid="7"><container id="400"><addMember type="uri" value="sip:bob@example.com"/></container></updateContainer>');
    await run(
      alice,
      '<publishSelfPresence rid="8"><cwaCategory name="note" instanceMask="0" expires="-1"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal">Back on Monday</body></note></cwaCategory></publishSelfPresence>',
    );
    await run(
      alice,
      '<publishRawCategories rid="9"><rawCategory name="CurrentProject" nameSpace="urn:p" instanceMask="0" container="400" expireType="static"><p xmlns="urn:p">Falcon</p></rawCategory></publishRawCategories>',
    );
    await run(bob, '<subscribePresence rid="1"><uris><uri>sip:alice@example.com</uri></uris></subscribePresence>');
    await run(alice, '<acknowledgeSubscriber rid="10"><uri>sip:bob@example.com</uri></acknowledgeSubscriber>');
    const before = only(await signedIn(new LegacyClient(gw.url, 'alice')), 'contactGroup');

    await gw.gateway.engine.shutdown();
    await gw.close();
    gw = undefined;
    expect(await readdir(dataDir)).to.include('cwa-gateway.sqlite');

    gw = await start();
    const again = new LegacyClient(gw.url, 'alice');
    const burst = await signedIn(again);
    const cg = only(burst, 'contactGroup');
    expect(cg.attrs).to.deep.equal(before.attrs);
    expect(kids(cg, 'group').map((g) => g.attrs)).to.deep.equal([
      { id: '1', name: '~', externalUri: '' },
      { id: '2', name: 'MyFriends', externalUri: '' },
    ]);
    expect(kids(cg, 'contact').map((c) => c.attrs)).to.deep.equal([
      { uri: 'sip:bob@example.com', name: 'Bobby', subscribed: 'true', tag: 'true', groups: '1 2' },
      { uri: 'sip:jessicaa@contoso.com', name: 'Jessica Arnold', subscribed: 'false', tag: 'false', groups: '1' },
    ]);
    const containers = kids(only(burst, 'containers'), 'container');
    const members = (id: string) => kids(containers.find((c) => c.attrs.id === id)!, 'member').map((m) => m.attrs.value);
    expect(members('32000')).to.deep.equal(['sip:spam@fabrikam.com']);
    expect(members('400')).to.deep.equal(['sip:bob@example.com']);
    expect(textsOf(only(burst, 'selfPresence'), 'body')).to.deep.equal(['Back on Monday']);
    expect(kids(only(burst, 'selfRawCategories'), 'rawCategory').map((r) => r.attrs.name)).to.deep.equal(['CurrentProject']);
    expect(kids(only(burst, 'subscribers'), 'subscriber').map((s) => [s.attrs.uri, s.attrs.acknowledged])).to.deep.equal([['sip:bob@example.com', 'true']]);
    // Contact subscriptions come back too: bob is offline until he signs in again.
    expect(only(burst, 'userPresence')).to.exist;

    // bob (Personal, 400) sees the note and the home-level card; the group id sequence goes on where it was.
    const bob2 = new LegacyClient(gw.url, 'bob');
    await signedIn(bob2);
    const q = await run(bob2, '<queryPresence rid="2"><uris><uri>sip:alice@example.com</uri></uris></queryPresence>');
    expect(textsOf(presenceUser(q, 'sip:alice@example.com')!, 'body')).to.deep.equal(['Back on Monday']);
    const added = await run(again, '<addGroup rid="20"><group name="New"/></addGroup>');
    expect(kids(only(added, 'contactGroup'), 'group')[0]!.attrs.id).to.equal('4');
  });
});
