// The user-data store contract, run against every implementation, and the SQLite
// migrations (a database at version 1 is brought forward with its data intact).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { SEED } from '../src/engine/identity.js';
import { MemoryUserDataStore } from '../src/store/memory.js';
import { LATEST_VERSION, migrate, MIGRATIONS, schemaVersion } from '../src/store/migrations.js';
import { DATABASE_FILE, SqliteUserDataStore } from '../src/store/sqlite.js';
import type { UserDataStore } from '../src/store/types.js';

const NOTE = { name: 'note', ns: 'http://schemas.microsoft.com/2006/09/sip/note', attrs: {}, children: [{ name: 'body', ns: 'http://schemas.microsoft.com/2006/09/sip/note', attrs: { type: 'personal' }, children: [], text: 'hi <&>' }], text: '' };

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cwa-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const implementations: Array<[string, () => UserDataStore]> = [
  ['memory', () => new MemoryUserDataStore()],
  ['sqlite', () => new SqliteUserDataStore(join(dir, `contract-${Math.random().toString(36).slice(2)}.sqlite`))],
];

for (const [name, make] of implementations) {
  describe(`UserDataStore contract: ${name}`, () => {
    let store: UserDataStore;
    beforeEach(() => {
      store = make();
    });
    afterEach(() => store.close());

    it('seeds an owner once, with deltaNum 1', async () => {
      expect(await store.hasOwner('sip:a@x.com')).to.equal(false);
      expect(await store.initOwner('sip:a@x.com', SEED)).to.equal(true);
      expect(await store.initOwner('sip:a@x.com', { groups: [], containers: [] })).to.equal(false);
      expect(await store.hasOwner('sip:a@x.com')).to.equal(true);
      const list = await store.contactList('sip:a@x.com');
      expect(list).to.deep.equal({ deltaNum: 1, groups: [{ id: 1, name: '~', externalUri: '' }], contacts: [] });
      expect((await store.containers('sip:a@x.com')).map((c) => c.id)).to.deep.equal([100, 200, 300, 400, 32000]);
    });

    it('applies contact-list changes atomically, grows deltaNum, keeps contact order, and never reuses a group id', async () => {
      await store.initOwner('o', SEED);
      const g2 = await store.allocateGroupId('o');
      expect(g2).to.equal(2);
      expect(await store.changeContactList('o', { putGroups: [{ id: g2, name: 'Two', externalUri: '' }] })).to.equal(2);
      await store.changeContactList('o', {
        putContacts: [
          { uri: 'sip:b@x.com', name: 'B', subscribed: true, tag: false, groups: [1, 2] },
          { uri: 'sip:a@x.com', name: 'A', subscribed: false, tag: true, groups: [] },
        ],
      });
      await store.changeContactList('o', { deleteGroups: [2], putContacts: [{ uri: 'sip:b@x.com', name: 'B2', subscribed: true, tag: false, groups: [1] }] });
      expect(await store.changeContactList('o', { deleteContacts: ['SIP:A@X.COM'] })).to.equal(5);
      expect(await store.contactList('o')).to.deep.equal({
        deltaNum: 5,
        groups: [{ id: 1, name: '~', externalUri: '' }],
        contacts: [{ uri: 'sip:b@x.com', name: 'B2', subscribed: true, tag: false, groups: [1] }],
      });
      expect(await store.allocateGroupId('o')).to.equal(3);
    });

    it('adds and removes container members (duplicates ignored, values compared without case)', async () => {
      await store.initOwner('o', SEED);
      await store.updateContainer('o', 400, [{ type: 'uri', value: 'sip:b@x.com' }, { type: 'uri', value: 'SIP:B@X.COM' }, { type: 'domain', value: 'y.com' }], []);
      const c = await store.updateContainer('o', 400, [], [{ type: 'domain', value: 'Y.COM' }]);
      expect(c).to.deep.equal({ id: 400, members: [{ type: 'uri', value: 'sip:b@x.com' }] });
      await store.updateContainer('o', 5000, [{ type: 'everyone', value: '' }], []);
      expect((await store.containers('o')).map((x) => x.id)).to.deep.equal([100, 200, 300, 400, 5000, 32000]);
    });

    it('keeps subscribers and their acknowledgement', async () => {
      await store.putSubscriber('o', { uri: 'sip:w@x.com', displayName: 'W', sourceNetwork: 'sameEnterprise', acknowledged: false });
      await store.putSubscriber('o', { uri: 'sip:W@x.com', displayName: 'W', sourceNetwork: 'sameEnterprise', acknowledged: true });
      expect(await store.subscribers('o')).to.deep.equal([{ uri: 'sip:W@x.com', displayName: 'W', sourceNetwork: 'sameEnterprise', acknowledged: true }]);
    });

    it('keeps categories and raw categories, payloads included, and hands out copies', async () => {
      await store.changeCategories('o', [{ name: 'note', instance: 0, version: 1, publishTime: '2024-01-01T00:00:00Z', payload: NOTE }, { name: 'calendarData', instance: 0, version: 1, publishTime: 't' }], []);
      const read = await store.categories('o');
      expect(read.find((c) => c.name === 'note')!.payload).to.deep.equal(NOTE);
      expect(read.find((c) => c.name === 'calendarData')!.payload).to.equal(undefined);
      read[0]!.version = 99;
      expect((await store.categories('o')).every((c) => c.version === 1)).to.equal(true);
      await store.changeCategories('o', [], [{ name: 'note', instance: 0 }]);
      expect((await store.categories('o')).map((c) => c.name)).to.deep.equal(['calendarData']);
      const raw = { name: 'P', nameSpace: 'urn:p', instance: 0, container: '300', version: 1, publishTime: 't', endpointId: '1', expireType: 'static' as const, payload: [NOTE] };
      await store.changeRawCategories('o', [raw], []);
      expect(await store.rawCategories('o')).to.deep.equal([raw]);
      await store.changeRawCategories('o', [], [raw]);
      expect(await store.rawCategories('o')).to.deep.equal([]);
    });
  });
}

describe('SQLite store migrations', () => {
  it('brings a version-1 database forward, keeping its data', async () => {
    const file = join(dir, DATABASE_FILE);
    const db = new Database(file);
    expect(migrate(db, 1)).to.deep.equal([1]);
    expect(schemaVersion(db)).to.equal(1);
    db.prepare('INSERT INTO owners (owner, delta_num, next_group_id) VALUES (?, ?, ?)').run('sip:a@x.com', 7, 3);
    db.prepare('INSERT INTO contact_groups (owner, id, name, external_uri) VALUES (?, ?, ?, ?)').run('sip:a@x.com', 1, '~', '');
    db.prepare('INSERT INTO contacts (owner, uri_key, uri, name, subscribed, tag, groups, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      'sip:a@x.com', 'sip:b@x.com', 'sip:b@x.com', 'B', 1, 0, '1', 0,
    );
    db.prepare('INSERT INTO subscribers (owner, uri_key, uri, display_name, source_network, acknowledged) VALUES (?, ?, ?, ?, ?, ?)').run(
      'sip:a@x.com', 'sip:w@x.com', 'sip:w@x.com', 'W', 'sameEnterprise', 1,
    );
    db.close();

    const store = new SqliteUserDataStore(file);
    expect(await store.contactList('sip:a@x.com')).to.deep.equal({
      deltaNum: 7,
      groups: [{ id: 1, name: '~', externalUri: '' }],
      contacts: [{ uri: 'sip:b@x.com', name: 'B', subscribed: true, tag: false, groups: [1] }],
    });
    expect(await store.subscribers('sip:a@x.com')).to.deep.equal([{ uri: 'sip:w@x.com', displayName: 'W', sourceNetwork: 'sameEnterprise', acknowledged: true }]);
    expect(await store.rawCategories('sip:a@x.com')).to.deep.equal([]); // the table of step 2 exists
    await store.close();
    const check = new Database(file);
    expect(schemaVersion(check)).to.equal(LATEST_VERSION);
    expect(LATEST_VERSION).to.equal(MIGRATIONS.length);
    expect(migrate(check)).to.deep.equal([]); // nothing left to apply
    check.close();
  });

  it('refuses a database newer than the gateway', () => {
    const file = join(dir, 'future.sqlite');
    const db = new Database(file);
    migrate(db);
    db.prepare('UPDATE schema_version SET version = ?').run(LATEST_VERSION + 1);
    db.close();
    expect(() => new SqliteUserDataStore(file)).to.throw(/newer than this gateway knows/);
  });

  it('opens under a data directory it creates', async () => {
    const store = SqliteUserDataStore.open(join(dir, 'nested', 'data'));
    expect(store.description).to.match(/nested\/data\/cwa-gateway\.sqlite$/);
    await store.close();
  });
});
