// The embedded durable store: one SQLite file (better-sqlite3) under --data-dir. WAL mode,
// one transaction per write; the schema is brought up to date when the file is opened.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type {
  CategoryRecord,
  ContactList,
  ContactRecord,
  ContainerMember,
  ContainerRecord,
  MemberType,
  RawCategoryRecord,
  SourceNetwork,
  SubscriberRecord,
  XmlFragment,
} from '../engine/user-data-types.js';
import { migrate } from './migrations.js';
import { applyContactListChange } from './rules.js';
import type { CategoryKey, ContactListChange, OwnerSeed, RawCategoryKey, UserDataStore } from './types.js';

export const DATABASE_FILE = 'cwa-gateway.sqlite';

interface ContactRow {
  uri: string;
  name: string;
  subscribed: number;
  tag: number;
  groups: string;
}

export class SqliteUserDataStore implements UserDataStore {
  readonly description: string;
  private readonly db: Database.Database;

  /** Opens (creating the directory and file if needed) and migrates `dir/cwa-gateway.sqlite`. */
  static open(dir: string): SqliteUserDataStore {
    mkdirSync(dir, { recursive: true });
    return new SqliteUserDataStore(join(dir, DATABASE_FILE));
  }

  constructor(file: string) {
    this.description = `sqlite:${resolve(file)}`;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
  }

  private ensureOwner(owner: string): void {
    this.db.prepare('INSERT OR IGNORE INTO owners (owner, delta_num, next_group_id) VALUES (?, 0, 1)').run(owner);
  }

  async initOwner(owner: string, seed: OwnerSeed): Promise<boolean> {
    return this.db.transaction(() => {
      const created = this.db
        .prepare('INSERT OR IGNORE INTO owners (owner, delta_num, next_group_id) VALUES (?, 1, ?)')
        .run(owner, Math.max(0, ...seed.groups.map((g) => g.id)) + 1).changes === 1;
      if (!created) return false;
      const group = this.db.prepare('INSERT INTO contact_groups (owner, id, name, external_uri) VALUES (?, ?, ?, ?)');
      for (const g of seed.groups) group.run(owner, g.id, g.name, g.externalUri);
      for (const c of seed.containers) this.writeContainer(owner, c.id, c.members, []);
      return true;
    })();
  }

  async hasOwner(owner: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM owners WHERE owner = ?').get(owner) !== undefined;
  }

  private readList(owner: string): ContactList {
    const meta = this.db.prepare('SELECT delta_num FROM owners WHERE owner = ?').get(owner) as { delta_num: number } | undefined;
    const groups = (this.db.prepare('SELECT id, name, external_uri FROM contact_groups WHERE owner = ? ORDER BY id').all(owner) as Array<{
      id: number;
      name: string;
      external_uri: string;
    }>).map((g) => ({ id: g.id, name: g.name, externalUri: g.external_uri }));
    const contacts = (this.db
      .prepare('SELECT uri, name, subscribed, tag, groups FROM contacts WHERE owner = ? ORDER BY position')
      .all(owner) as ContactRow[]).map(
      (c): ContactRecord => ({
        uri: c.uri,
        name: c.name,
        subscribed: c.subscribed === 1,
        tag: c.tag === 1,
        groups: c.groups === '' ? [] : c.groups.split(' ').map(Number),
      }),
    );
    return { deltaNum: meta?.delta_num ?? 0, groups, contacts };
  }

  async contactList(owner: string): Promise<ContactList> {
    return this.readList(owner);
  }

  async allocateGroupId(owner: string): Promise<number> {
    return this.db.transaction(() => {
      this.ensureOwner(owner);
      const row = this.db.prepare('SELECT next_group_id FROM owners WHERE owner = ?').get(owner) as { next_group_id: number };
      this.db.prepare('UPDATE owners SET next_group_id = ? WHERE owner = ?').run(row.next_group_id + 1, owner);
      return row.next_group_id;
    })();
  }

  async changeContactList(owner: string, change: ContactListChange): Promise<number> {
    return this.db.transaction(() => {
      this.ensureOwner(owner);
      const before = this.readList(owner);
      const after = applyContactListChange(before, change);
      // Rewrite the owner's list: lists are small (hundreds), and this keeps order exact.
      this.db.prepare('DELETE FROM contact_groups WHERE owner = ?').run(owner);
      this.db.prepare('DELETE FROM contacts WHERE owner = ?').run(owner);
      const group = this.db.prepare('INSERT INTO contact_groups (owner, id, name, external_uri) VALUES (?, ?, ?, ?)');
      for (const g of after.groups) group.run(owner, g.id, g.name, g.externalUri);
      const contact = this.db.prepare(
        'INSERT INTO contacts (owner, uri_key, uri, name, subscribed, tag, groups, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      after.contacts.forEach((c, i) =>
        contact.run(owner, c.uri.toLowerCase(), c.uri, c.name, c.subscribed ? 1 : 0, c.tag ? 1 : 0, c.groups.join(' '), i),
      );
      const maxGroup = Math.max(0, ...after.groups.map((g) => g.id));
      this.db
        .prepare('UPDATE owners SET delta_num = ?, next_group_id = MAX(next_group_id, ?) WHERE owner = ?')
        .run(after.deltaNum, maxGroup + 1, owner);
      return after.deltaNum;
    })();
  }

  async containers(owner: string): Promise<ContainerRecord[]> {
    const ids = this.db.prepare('SELECT id FROM containers WHERE owner = ? ORDER BY id').all(owner) as Array<{ id: number }>;
    return ids.map(({ id }) => ({ id, members: this.readMembers(owner, id) }));
  }

  private readMembers(owner: string, id: number): ContainerMember[] {
    return (this.db
      .prepare('SELECT type, value FROM container_members WHERE owner = ? AND container = ? ORDER BY position')
      .all(owner, id) as Array<{ type: MemberType; value: string }>).map((m) => ({ type: m.type, value: m.value }));
  }

  private writeContainer(owner: string, id: number, add: ContainerMember[], remove: ContainerMember[]): void {
    this.db.prepare('INSERT OR IGNORE INTO containers (owner, id) VALUES (?, ?)').run(owner, id);
    const next = this.db.prepare('SELECT COALESCE(MAX(position), -1) + 1 AS p FROM container_members WHERE owner = ? AND container = ?');
    const insert = this.db.prepare(
      'INSERT OR IGNORE INTO container_members (owner, container, type, value, value_key, position) VALUES (?, ?, ?, ?, ?, ?)',
    );
    for (const m of add) insert.run(owner, id, m.type, m.value, m.value.toLowerCase(), (next.get(owner, id) as { p: number }).p);
    const del = this.db.prepare('DELETE FROM container_members WHERE owner = ? AND container = ? AND type = ? AND value_key = ?');
    for (const m of remove) del.run(owner, id, m.type, m.value.toLowerCase());
  }

  async updateContainer(owner: string, id: number, add: ContainerMember[], remove: ContainerMember[]): Promise<ContainerRecord> {
    return this.db.transaction(() => {
      this.writeContainer(owner, id, add, remove);
      return { id, members: this.readMembers(owner, id) };
    })();
  }

  async subscribers(owner: string): Promise<SubscriberRecord[]> {
    return (this.db
      .prepare('SELECT uri, display_name, source_network, acknowledged FROM subscribers WHERE owner = ? ORDER BY rowid')
      .all(owner) as Array<{ uri: string; display_name: string | null; source_network: string | null; acknowledged: number }>).map((s) => ({
      uri: s.uri,
      ...(s.display_name !== null ? { displayName: s.display_name } : {}),
      ...(s.source_network !== null ? { sourceNetwork: s.source_network as SourceNetwork } : {}),
      acknowledged: s.acknowledged === 1,
    }));
  }

  async putSubscriber(owner: string, s: SubscriberRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO subscribers (owner, uri_key, uri, display_name, source_network, acknowledged, acknowledged_at)
         VALUES (@owner, @key, @uri, @displayName, @sourceNetwork, @ack, @ackAt)
         ON CONFLICT (owner, uri_key) DO UPDATE SET uri = @uri, display_name = @displayName,
           source_network = @sourceNetwork, acknowledged = @ack, acknowledged_at = COALESCE(acknowledged_at, @ackAt)`,
      )
      .run({
        owner,
        key: s.uri.toLowerCase(),
        uri: s.uri,
        displayName: s.displayName ?? null,
        sourceNetwork: s.sourceNetwork ?? null,
        ack: s.acknowledged ? 1 : 0,
        ackAt: s.acknowledged ? new Date().toISOString() : null,
      });
  }

  async categories(owner: string): Promise<CategoryRecord[]> {
    return (this.db
      .prepare('SELECT name, instance, version, publish_time, payload FROM categories WHERE owner = ? ORDER BY name, instance')
      .all(owner) as Array<{ name: string; instance: number; version: number; publish_time: string; payload: string | null }>).map((c) => ({
      name: c.name,
      instance: c.instance,
      version: c.version,
      publishTime: c.publish_time,
      ...(c.payload !== null ? { payload: JSON.parse(c.payload) as XmlFragment } : {}),
    }));
  }

  async changeCategories(owner: string, put: CategoryRecord[], remove: CategoryKey[]): Promise<void> {
    this.db.transaction(() => {
      const del = this.db.prepare('DELETE FROM categories WHERE owner = ? AND name = ? AND instance = ?');
      for (const k of remove) del.run(owner, k.name, k.instance);
      const ins = this.db.prepare(
        'INSERT OR REPLACE INTO categories (owner, name, instance, version, publish_time, payload) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const c of put) ins.run(owner, c.name, c.instance, c.version, c.publishTime, c.payload ? JSON.stringify(c.payload) : null);
    })();
  }

  async rawCategories(owner: string): Promise<RawCategoryRecord[]> {
    return (this.db.prepare('SELECT * FROM raw_categories WHERE owner = ? ORDER BY name, instance, container').all(owner) as Array<
      Record<string, string | number | null>
    >).map((r) => ({
      name: r.name as string,
      nameSpace: r.name_space as string,
      instance: r.instance as number,
      container: r.container as string,
      version: r.version as number,
      publishTime: r.publish_time as string,
      endpointId: r.endpoint_id as string,
      expireType: r.expire_type as RawCategoryRecord['expireType'],
      ...(r.expires !== null ? { expires: r.expires as string } : {}),
      payload: JSON.parse(r.payload as string) as XmlFragment[],
    }));
  }

  async changeRawCategories(owner: string, put: RawCategoryRecord[], remove: RawCategoryKey[]): Promise<void> {
    this.db.transaction(() => {
      const del = this.db.prepare('DELETE FROM raw_categories WHERE owner = ? AND name = ? AND instance = ? AND container = ?');
      for (const k of remove) del.run(owner, k.name, k.instance, k.container);
      const ins = this.db.prepare(
        `INSERT OR REPLACE INTO raw_categories
           (owner, name, instance, container, name_space, version, publish_time, endpoint_id, expire_type, expires, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of put) {
        ins.run(owner, r.name, r.instance, r.container, r.nameSpace, r.version, r.publishTime, r.endpointId, r.expireType, r.expires ?? null, JSON.stringify(r.payload));
      }
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
