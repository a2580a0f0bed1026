// The client library's access control and watchers against a live gateway: the containers
// (client.access) with their members, kept up to date across the user's sessions; what a
// blocked watcher then sees; the watchers (client.watchers), a new one announced at once or
// at the next sign-in, and acknowledged.
import { expect } from 'chai';
import {
  CONTAINERS,
  RequestFailedError,
  type Container,
  type CwaClient,
  type PresenceInfo,
  type Watcher,
} from '../src/client/index.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { rejection, until, validatingClient } from './support/sdk.js';

describe('client library: access control and watchers (src/client)', () => {
  let gw: TestGateway;
  const clients: CwaClient[] = [];

  beforeEach(async () => {
    gw = await startTestGateway({ holdMs: 1000 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.signOut().catch(() => undefined);
    await gw.close();
  });

  async function signedIn(login: string, before?: (c: CwaClient) => void): Promise<CwaClient> {
    const c = validatingClient(gw.url);
    clients.push(c);
    before?.(c);
    await c.signIn(login, `${login}-demo`);
    return c;
  }

  it('containers: the bootstrap set at sign-in, members added and removed, every session of the user told', async () => {
    const alice = await signedIn('alice');
    await until(() => alice.access.loaded, 'the containers');
    expect(alice.access.all().map((c) => c.id)).to.deep.equal([100, 200, 300, 400, 32000]);
    expect(alice.access.get(CONTAINERS.public)!.members).to.deep.equal([{ type: 'federated', value: '' }]);
    expect(alice.access.get(CONTAINERS.company)!.members).to.deep.equal([{ type: 'sameEnterprise', value: '' }]);

    const otherSession = await signedIn('alice');
    await until(() => otherSession.access.loaded, 'the containers of the second session');
    const seen: Container[][] = [];
    otherSession.access.onChanged((c) => seen.push(c));

    const personal = await alice.access.addMember(CONTAINERS.personal, 'sip:bob@example.com');
    expect(personal).to.deep.equal({ id: 400, members: [{ type: 'uri', value: 'sip:bob@example.com' }] });
    expect(alice.access.containersOf('sip:bob@example.com').map((c) => c.id)).to.deep.equal([400]);
    const team = await alice.access.update(CONTAINERS.team, { add: [{ type: 'domain', value: 'fabrikam.com' }, 'sip:carol@example.com'] });
    expect(team.members).to.have.deep.members([
      { type: 'domain', value: 'fabrikam.com' },
      { type: 'uri', value: 'sip:carol@example.com' },
    ]);
    await until(() => seen.length === 2, 'the other session told');
    expect(otherSession.access.get(400)!.members).to.deep.equal([{ type: 'uri', value: 'sip:bob@example.com' }]);
    expect(otherSession.access.has(300, { type: 'domain', value: 'fabrikam.com' })).to.equal(true);

    const after = await alice.access.removeMember(CONTAINERS.personal, 'sip:bob@example.com');
    expect(after.members).to.deep.equal([]);
    // A container that did not exist is created by its first member.
    expect((await alice.access.addMember(1234, { type: 'everyone', value: '' })).members).to.deep.equal([{ type: 'everyone', value: '' }]);
    expect((await alice.access.refresh()).map((c) => c.id)).to.deep.equal([100, 200, 300, 400, 1234, 32000]);
  });

  it('containers: bad input refused with a clear error', async () => {
    const alice = await signedIn('alice');
    const notSip = (await rejection(alice.access.addMember(400, 'bob at example'))) as RequestFailedError;
    expect(notSip).to.be.instanceOf(RequestFailedError);
    expect(notSip.message).to.match(/not a SIP URI/);
    const both = (await rejection(alice.access.update(400, { add: ['sip:bob@example.com'], remove: ['sip:bob@example.com'] }))) as RequestFailedError;
    expect(both).to.be.instanceOf(RequestFailedError);
    expect(both.message).to.match(/both added and deleted/);
    expect(await rejection(alice.access.addMember(0, 'sip:bob@example.com'))).to.be.instanceOf(RangeError);
    expect(await rejection(alice.access.addMember(400, { type: 'friends' as never, value: '' }))).to.be.instanceOf(TypeError);
    expect(alice.access.get(400)!.members).to.deep.equal([]);
  });

  it('block and unblock: a blocked watcher sees the user offline at once, then the real state again', async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const seen: PresenceInfo[] = [];
    bob.presence.onChanged((p) => {
      if (p.uri === alice.uri) seen.push(p);
    });
    await bob.presence.subscribe([alice.uri]);
    await until(() => seen.at(-1)?.availability === 'available', 'alice available');
    await alice.access.block(bob.uri);
    expect(alice.access.isBlocked(bob.uri)).to.equal(true);
    await until(() => seen.at(-1)?.availability === 'offline', 'alice offline to bob');
    await alice.access.unblock(bob.uri);
    expect(alice.access.isBlocked(bob.uri)).to.equal(false);
    await until(() => seen.at(-1)?.availability === 'available', 'alice available to bob again');
  });

  it('watchers: a new one announced at once, acknowledged; one who came while the user was away announced at sign-in', async () => {
    const alice = await signedIn('alice');
    await until(() => alice.watchers.loaded, 'the watcher list');
    expect(alice.watchers.all()).to.deep.equal([]);
    const announced: Array<[Watcher, boolean]> = [];
    alice.watchers.onNewWatcher((w, { atSignIn }) => announced.push([w, atSignIn]));

    const carol = await signedIn('carol');
    await carol.presence.subscribe([alice.uri]);
    await until(() => announced.length === 1, 'carol announced');
    const [w, atSignIn] = announced[0]!;
    expect(w).to.deep.include({ uri: carol.uri, acknowledged: false });
    expect(w.displayName).to.equal('Carol Chen');
    expect(atSignIn).to.equal(false);
    expect(alice.watchers.pending().map((x) => x.uri)).to.deep.equal([carol.uri]);

    await alice.watchers.acknowledge(carol.uri);
    expect(alice.watchers.get(carol.uri)!.acknowledged).to.equal(true);
    expect(alice.watchers.pending()).to.deep.equal([]);
    // Subscribing again is not a new watcher.
    await carol.presence.unsubscribe([alice.uri]);
    await carol.presence.subscribe([alice.uri]);
    expect(announced).to.have.length(1);

    const unknown = (await rejection(alice.watchers.acknowledge('sip:nobody@example.com'))) as RequestFailedError;
    expect(unknown).to.be.instanceOf(RequestFailedError);
    expect(unknown.sipStatus).to.equal(404);

    // erin is away while dave starts watching her; her next sign-in announces him.
    const dave = await signedIn('dave');
    await dave.presence.subscribe(['sip:erin@example.com']);
    const erinAnnounced: Array<[Watcher, boolean]> = [];
    const erin = await signedIn('erin', (c) => c.watchers.onNewWatcher((x, d) => erinAnnounced.push([x, d.atSignIn])));
    await until(() => erinAnnounced.length === 1, 'dave announced to erin');
    expect(erinAnnounced[0]![0]).to.deep.include({ uri: dave.uri, acknowledged: false });
    expect(erinAnnounced[0]![1]).to.equal(true);
    expect(erin.watchers.all().map((x) => x.uri)).to.deep.equal([dave.uri]);
  });
});
