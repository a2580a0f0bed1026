// Directory search (contacts-presence-search.md §6), over a directory holding the
// reference's example users.
import { expect } from 'chai';
import { UserDirectory } from '../src/users/directory.js';
import { LegacyClient } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { kids, only, run, signedIn } from './support/presence.js';

const USERS = UserDirectory.fromRecords([
  {
    login: 'jessicaa', password: 'jessicaa-demo', uri: 'sip:jessicaa@contoso.com', displayName: 'Jessica Arnold', title: 'Vice President',
    office: 'Main', phone: '405 555-1212', homePhone: '', cellPhone: '405 555-1214', otherPhone: '', company: 'Contoso', city: 'Redmond',
    state: 'WA', country: 'USA', email: 'jessicaa@contoso.com',
  },
  { login: 'bob-kelly', password: 'x-demo', uri: 'sip:bkelly@contoso.com', displayName: 'Bob Kelly', email: 'bkelly@contoso.com' },
  { login: 'jsmith', password: 'x-demo', uri: 'sip:jsmith@contoso.com', displayName: 'John Smith', email: 'john.smith@contoso.com' },
  { login: 'jdoe', password: 'x-demo', uri: 'sip:jdoe@contoso.com', displayName: 'John Doe', email: 'jdoe@contoso.com' },
  { login: 'asmith', password: 'x-demo', uri: 'sip:asmith@contoso.com', displayName: 'Anna Smith', email: 'asmith@contoso.com' },
]);

describe('directory search', () => {
  let gw: TestGateway;
  let me: LegacyClient;
  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 0, searchMaxResults: 3 }, { users: USERS });
    me = new LegacyClient(gw.url, 'jessicaa', 'jessicaa-demo');
    await signedIn(me);
  });
  afterEach(() => gw.close());

  async function search(inner: string): Promise<{ uris: string[]; result: ReturnType<typeof only> }> {
    const events = await run(me, `<search rid="${me.nextRid()}">${inner}</search>`);
    const result = only(events, 'searchResult');
    return { uris: kids(result, 'user').map((u) => u.attrs.uri!), result };
  }

  it('§6.1 lastName and firstName combined with and (the reference example)', async () => {
    const events = await run(me, '<search rid="24"><lastName>Smith</lastName><firstName>John</firstName><function>and</function></search>');
    expect(events.map((e) => e.name)).to.deep.equal(['requestSucceeded', 'searchResult']);
    expect(events[1]!.attrs).to.include({ rid: '24', returned: '1', moreAvailable: 'false' });
    expect(kids(events[1]!, 'user').map((u) => u.attrs.uri)).to.deep.equal(['sip:jsmith@contoso.com']);
  });

  it('§6.1 or is the default: John or Smith', async () => {
    const { uris } = await search('<lastName>Smith</lastName><firstName>John</firstName>');
    expect(uris).to.deep.equal(['sip:asmith@contoso.com', 'sip:jdoe@contoso.com', 'sip:jsmith@contoso.com']);
  });

  it('§6.4 returns the documented user attributes (the searchResult example)', async () => {
    const { result } = await search('<displayName>jess</displayName>');
    expect(result.attrs).to.include({ returned: '1', moreAvailable: 'false' });
    expect(kids(result, 'user')[0]!.attrs).to.deep.equal({
      uri: 'sip:jessicaa@contoso.com', displayName: 'Jessica Arnold', title: 'Vice President', office: 'Main', phone: '405 555-1212',
      homePhone: '', cellPhone: '405 555-1214', otherPhone: '', company: 'Contoso', city: 'Redmond', state: 'WA', country: 'USA',
      email: 'jessicaa@contoso.com',
    });
  });

  it('§6.1 the third-party shape: every field present, blanks ignored, function Or', async () => {
    const { uris } = await search('<firstName></firstName><lastName></lastName><displayName>jess</displayName><emailAlias></emailAlias><function>Or</function>');
    expect(uris).to.deep.equal(['sip:jessicaa@contoso.com']);
  });

  it('§6.1 emailAlias: the mailbox alias with or without a trailing @, a whole address, never the logon name', async () => {
    expect((await search('<emailAlias>bkelly</emailAlias>')).uris).to.deep.equal(['sip:bkelly@contoso.com']);
    expect((await search('<emailAlias>bkelly@</emailAlias>')).uris).to.deep.equal(['sip:bkelly@contoso.com']);
    expect((await search('<emailAlias>john.smith@contoso.com</emailAlias>')).uris).to.deep.equal(['sip:jsmith@contoso.com']);
    expect((await search('<emailAlias>bob-kelly</emailAlias>')).uris).to.deep.equal([]);
  });

  it('matches a prefix of any word of the display name, without case', async () => {
    expect((await search('<displayName>ARN</displayName>')).uris).to.deep.equal(['sip:jessicaa@contoso.com']);
  });

  it('caps results at --search-max-results and says moreAvailable', async () => {
    const { result, uris } = await search('<emailAlias>@contoso.com</emailAlias><displayName>j</displayName><displayName>a</displayName><displayName>b</displayName>');
    expect(uris).to.have.length(3);
    expect(result.attrs).to.include({ returned: '3', moreAvailable: 'true' });
  });

  it('answers zero hits with returned="0" and no user', async () => {
    const { result } = await search('<lastName>Nobody</lastName>');
    expect(result.attrs).to.include({ returned: '0', moreAvailable: 'false' });
    expect(result.children).to.have.length(0);
  });

  it('refuses a search with no criterion synchronously, and an empty function as invalid', async () => {
    let reply = await me.command('<search rid="1"><firstName> </firstName></search>');
    expect(reply.root.children[0]!.name).to.equal('requestFailed');
    reply = await me.command('<search rid="2"><firstName>a</firstName><function></function></search>');
    expect(reply.root.children[0]!.name).to.equal('requestInvalid');
  });
});
