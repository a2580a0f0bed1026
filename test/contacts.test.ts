// Contacts and groups (contacts-presence-search.md §2): every reference example sent as a
// legacy client sends it, and the answers compared with the reference's.
import { expect } from 'chai';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { BURST, kids, named, only, run, signedIn } from './support/presence.js';

describe('contacts and groups', () => {
  let gw: TestGateway;
  let alice: LegacyClient;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0 });
    alice = new LegacyClient(gw.url, 'alice');
    await signedIn(alice);
  });
  afterEach(() => gw.close());

  it('sends the full list after initiateSession: fullList="true", deltaNum, the ~ group, no action', async () => {
    const other = new LegacyClient(gw.url, 'bob');
    const events = await signedIn(other);
    expect(events.map((e) => e.name)).to.deep.equal(BURST);
    const cg = only(events, 'contactGroup');
    expect(cg.attrs).to.include({ eid: '3', fullList: 'true', deltaNum: '1' });
    expect(kids(cg, 'group').map((g) => g.attrs)).to.deep.equal([{ id: '1', name: '~', externalUri: '' }]);
  });

  it('§2.7 addGroup: requestSucceeded then contactGroup with the new group (action added, externalUri "")', async () => {
    const events = await run(alice, '<addGroup rid="4"><group name="MyFriends"/></addGroup>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'contactGroup']);
    expect(events[0]!.attrs.rid).to.equal('4');
    expect(Number(events[1]!.attrs.eid)).to.equal(Number(events[0]!.attrs.eid) + 1);
    expect(events[1]!.attrs.deltaNum).to.equal('2');
    expect(events[1]!.attrs.fullList).to.equal(undefined);
    expect(kids(events[1]!, 'group')[0]!.attrs).to.deep.equal({ id: '2', action: 'added', name: 'MyFriends', externalUri: '' });
  });

  it('§2.7 addGroup with an existing name fails: requestFailed 18201 wrapping SIP 485 (names compared without case)', async () => {
    await run(alice, '<addGroup rid="3"><group name="MyFriends"/></addGroup>');
    const events = await run(alice, '<addGroup rid="4"><group name="myfriends"/></addGroup>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestFailed']);
    const error = events[0]!.children[0]!;
    expect(error.attrs).to.include({ code: '18201', reason: 'Operation failed', detail: 'The requested operation failed.' });
    expect(error.children[0]!.attrs).to.include({ code: '485', reason: 'Duplicate group name' });
  });

  it('§2.7 processes only the first group of an addGroup', async () => {
    const events = await run(alice, '<addGroup rid="4"><group name="A"/><group name="B"/></addGroup>');
    expect(kids(only(events, 'contactGroup'), 'group').map((g) => g.attrs.name)).to.deep.equal(['A']);
  });

  it('§2.4 addContact into an existing group: contactGroup with the contact (action added)', async () => {
    const events = await run(
      alice,
      '<addContact rid="17"><contact uri="sip:jessicaa@contoso.com" name="Jessica Arnold" subscribed="true" tag="false" groups="1"/></addContact>',
    );
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'contactGroup', 'userPresence']);
    const c = kids(events[1]!, 'contact')[0]!;
    expect(c.attrs).to.deep.equal({ uri: 'sip:jessicaa@contoso.com', name: 'Jessica Arnold', subscribed: 'true', tag: 'false', groups: '1', action: 'added' });
    // subscribed="true": the contact's presence follows (an unknown user looks offline).
    expect(kids(events[2]!, 'user')[0]!.attrs.uri).to.equal('sip:jessicaa@contoso.com');
  });

  it('§2.4 only the first contact of an addContact is processed; tag="True" is read without case', async () => {
    const events = await run(
      alice,
      '<addContact rid="1"><contact uri="sip:bob@example.com" name="Bob" subscribed="false" tag="True"/><contact uri="sip:carol@example.com" name="Carol" tag="false"/></addContact>',
    );
    const contacts = named(events, 'contactGroup').flatMap((e) => kids(e, 'contact'));
    expect(contacts.map((c) => [c.attrs.uri, c.attrs.tag, c.attrs.groups])).to.deep.equal([['sip:bob@example.com', 'true', '1']]);
    expect(named(events, 'userPresence')).to.have.length(0); // not subscribed
  });

  it('§2.4 refuses an addContact without name or tag, or with a URI lacking sip:, synchronously', async () => {
    for (const contact of [
      '<contact uri="sip:bob@example.com" tag="false"/>',
      '<contact uri="sip:bob@example.com" name="Bob"/>',
      '<contact uri="bob@example.com" name="Bob" tag="false"/>',
    ]) {
      const reply = await alice.command(`<addContact rid="9">${contact}</addContact>`);
      expect(reply.root.children[0]!.name, contact).to.equal('requestFailed');
      expect(reply.root.children[0]!.children[0]!.attrs.code).to.equal('18001');
    }
  });

  it('§2.5 updateContact is a full replace: the new groups list moves the contact, omitted attributes reset', async () => {
    await run(alice, '<addGroup rid="1"><group name="Two"/></addGroup><addGroup rid="2"><group name="Three"/></addGroup>');
    await run(alice, '<addContact rid="3"><contact uri="sip:alice@contoso.com" name="alice" subscribed="true" tag="false" groups="1"/></addContact>');
    let events = await run(alice, '<updateContact rid="9"><contact uri="sip:alice@contoso.com" name="alice" subscribed="true" tag="true" groups="1 2 3"/></updateContact>');
    expect(kids(only(events, 'contactGroup'), 'contact')[0]!.attrs).to.deep.equal({
      uri: 'sip:alice@contoso.com', name: 'alice', subscribed: 'true', tag: 'true', groups: '1 2 3', action: 'updated',
    });
    events = await run(alice, '<updateContact rid="10"><contact uri="sip:alice@contoso.com" name="Alice C" tag="false"/></updateContact>');
    expect(kids(only(events, 'contactGroup'), 'contact')[0]!.attrs).to.deep.equal({
      uri: 'sip:alice@contoso.com', name: 'Alice C', subscribed: 'false', tag: 'false', groups: '1', action: 'updated',
    });
    // An empty groups list takes the contact out of every group, ~ included.
    events = await run(alice, '<updateContact rid="11"><contact uri="sip:alice@contoso.com" name="Alice C" tag="false" groups=""/></updateContact>');
    expect(kids(only(events, 'contactGroup'), 'contact')[0]!.attrs.groups).to.equal('');
  });

  it('§2.5 updateContact of a contact not in the list, or into a group that does not exist, fails with 18201/404', async () => {
    let events = await run(alice, '<updateContact rid="1"><contact uri="sip:nobody@example.com" name="x" tag="false"/></updateContact>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs.code).to.equal('404');
    events = await run(alice, '<addContact rid="2"><contact uri="sip:bob@example.com" name="Bob" tag="false" groups="77"/></addContact>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs).to.include({ code: '404', reason: 'Group not found' });
  });

  it('§2.6 deleteContact: contactGroup with the removed contact (action deleted)', async () => {
    await run(alice, '<addContact rid="1"><contact uri="sip:alice@contoso.com" name="alice" subscribed="false" tag="false"/></addContact>');
    const events = await run(alice, '<deleteContact rid="100"><uri>sip:alice@contoso.com</uri></deleteContact>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'contactGroup']);
    expect(kids(events[1]!, 'contact')[0]!.attrs).to.include({ uri: 'sip:alice@contoso.com', action: 'deleted' });
    const again = await run(alice, '<deleteContact rid="101"><uri>sip:alice@contoso.com</uri></deleteContact>');
    expect(only(again, 'requestFailed').children[0]!.attrs.code).to.equal('18201');
  });

  it('§2.8 updateGroup renames; ~ cannot be renamed; a duplicate name is refused', async () => {
    await run(alice, '<addGroup rid="1"><group name="Work"/></addGroup><addGroup rid="2"><group name="Golf"/></addGroup>');
    let events = await run(alice, '<updateGroup rid="6"><group id="2" name="Friends"/></updateGroup>');
    expect(kids(only(events, 'contactGroup'), 'group')[0]!.attrs).to.deep.equal({ id: '2', name: 'Friends', externalUri: '', action: 'updated' });
    events = await run(alice, '<updateGroup rid="7"><group id="3" name="friends"/></updateGroup>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs.code).to.equal('485');
    events = await run(alice, '<updateGroup rid="8"><group id="1" name="All"/></updateGroup>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs.code).to.equal('403');
  });

  it('§2.9 deleteGroup keeps the group\'s contacts (back in ~ when they have no other group)', async () => {
    await run(alice, '<addGroup rid="1"><group name="MyFriends"/></addGroup>');
    await run(alice, '<addContact rid="2"><contact uri="sip:bob@example.com" name="Bob" subscribed="false" tag="false" groups="2"/></addContact>');
    const events = await run(alice, '<deleteGroup rid="5"><group id="2"/></deleteGroup>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'contactGroup']);
    expect(kids(events[1]!, 'group')[0]!.attrs).to.deep.equal({ id: '2', action: 'deleted' });
    expect(kids(events[1]!, 'contact')[0]!.attrs).to.include({ uri: 'sip:bob@example.com', groups: '1', action: 'updated' });
    const missing = await run(alice, '<deleteGroup rid="6"><group id="2"/></deleteGroup>');
    expect(only(missing, 'requestFailed').children[0]!.children[0]!.attrs).to.include({ code: '404' });
    const tilde = await run(alice, '<deleteGroup rid="7"><group id="1"/></deleteGroup>');
    expect(only(tilde, 'requestFailed').children[0]!.children[0]!.attrs).to.include({ code: '403' });
  });

  it('sends every delta to every session of the user, and the next snapshot holds the changes', async () => {
    const second = new LegacyClient(gw.url, 'alice');
    await signedIn(second);
    await run(alice, '<addGroup rid="1"><group name="Team"/></addGroup>');
    const { events } = await second.poll();
    expect(events.map((e) => e.name)).to.deep.equal(['contactGroup']); // the requestSucceeded is the sender's
    expect(kids(events[0]!, 'group')[0]!.attrs).to.include({ name: 'Team', action: 'added' });
    await run(alice, '<addContact rid="2"><contact uri="sip:carol@example.com" name="Carol" subscribed="false" tag="false" groups="2"/></addContact>');
    const third = new LegacyClient(gw.url, 'alice');
    const cg = only(await signedIn(third), 'contactGroup');
    expect(cg.attrs).to.include({ fullList: 'true', deltaNum: '3' });
    expect(kids(cg, 'group').map((g) => g.attrs.name)).to.deep.equal(['~', 'Team']);
    expect(kids(cg, 'contact').map((c) => c.attrs)).to.deep.equal([
      { uri: 'sip:carol@example.com', name: 'Carol', subscribed: 'false', tag: 'false', groups: '2' },
    ]);
  });

  it('treats an addContact of a contact already in the list as an update', async () => {
    await run(alice, '<addContact rid="1"><contact uri="sip:bob@example.com" name="Bob" tag="false"/></addContact>');
    const events = await run(alice, '<addContact rid="2"><contact uri="SIP:Bob@example.com" name="Bobby" tag="false"/></addContact>');
    expect(kids(only(events, 'contactGroup'), 'contact')[0]!.attrs).to.include({ uri: 'sip:bob@example.com', name: 'Bobby', action: 'updated' });
  });

  it('refuses contacts beyond --max-contacts with 18201/413', async () => {
    await gw.close();
    gw = await startTestGateway({ holdMs: 0, maxContacts: 1 });
    alice = new LegacyClient(gw.url, 'alice');
    await signedIn(alice);
    await run(alice, '<addContact rid="1"><contact uri="sip:bob@example.com" name="Bob" tag="false"/></addContact>');
    const events = await run(alice, '<addContact rid="2"><contact uri="sip:carol@example.com" name="Carol" tag="false"/></addContact>');
    expect(only(events, 'requestFailed').children[0]!.children[0]!.attrs.code).to.equal('413');
  });
});
