// Schema of the SQLite store, as ordered migration steps. A database records the last
// step applied in `schema_version`; opening it applies the steps after that, each in its
// own transaction. Steps are never edited once released: a change is a new step.
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'owners, contact lists, containers, subscribers, persistent categories',
    up(db) {
      db.exec(`
        CREATE TABLE owners (
          owner TEXT PRIMARY KEY,
          delta_num INTEGER NOT NULL,
          next_group_id INTEGER NOT NULL
        );
        CREATE TABLE contact_groups (
          owner TEXT NOT NULL REFERENCES owners(owner),
          id INTEGER NOT NULL,
          name TEXT NOT NULL,
          external_uri TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (owner, id)
        );
        CREATE TABLE contacts (
          owner TEXT NOT NULL REFERENCES owners(owner),
          uri_key TEXT NOT NULL,
          uri TEXT NOT NULL,
          name TEXT NOT NULL,
          subscribed INTEGER NOT NULL,
          tag INTEGER NOT NULL,
          groups TEXT NOT NULL,
          position INTEGER NOT NULL,
          PRIMARY KEY (owner, uri_key)
        );
        CREATE TABLE containers (
          owner TEXT NOT NULL,
          id INTEGER NOT NULL,
          PRIMARY KEY (owner, id)
        );
        CREATE TABLE container_members (
          owner TEXT NOT NULL,
          container INTEGER NOT NULL,
          type TEXT NOT NULL,
          value TEXT NOT NULL,
          value_key TEXT NOT NULL,
          position INTEGER NOT NULL,
          PRIMARY KEY (owner, container, type, value_key)
        );
        CREATE TABLE subscribers (
          owner TEXT NOT NULL,
          uri_key TEXT NOT NULL,
          uri TEXT NOT NULL,
          display_name TEXT,
          source_network TEXT,
          acknowledged INTEGER NOT NULL,
          PRIMARY KEY (owner, uri_key)
        );
        CREATE TABLE categories (
          owner TEXT NOT NULL,
          name TEXT NOT NULL,
          instance INTEGER NOT NULL,
          version INTEGER NOT NULL,
          publish_time TEXT NOT NULL,
          payload TEXT,
          PRIMARY KEY (owner, name, instance)
        );
      `);
    },
  },
  {
    version: 2,
    description: 'static raw categories; subscriber acknowledgement time',
    up(db) {
      db.exec(`
        CREATE TABLE raw_categories (
          owner TEXT NOT NULL,
          name TEXT NOT NULL,
          instance INTEGER NOT NULL,
          container TEXT NOT NULL,
          name_space TEXT NOT NULL,
          version INTEGER NOT NULL,
          publish_time TEXT NOT NULL,
          endpoint_id TEXT NOT NULL,
          expire_type TEXT NOT NULL,
          expires TEXT,
          payload TEXT NOT NULL,
          PRIMARY KEY (owner, name, instance, container)
        );
        ALTER TABLE subscribers ADD COLUMN acknowledged_at TEXT;
      `);
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function schemaVersion(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  return row?.version ?? 0;
}

/** Applies every step after the database's version, up to `target`; returns the versions applied. */
export function migrate(db: Database.Database, target = LATEST_VERSION): number[] {
  const current = schemaVersion(db);
  if (current > LATEST_VERSION) {
    throw new Error(`the database is at schema version ${current}, newer than this gateway knows (${LATEST_VERSION}): upgrade the gateway`);
  }
  const applied: number[] = [];
  for (const step of MIGRATIONS) {
    if (step.version <= current || step.version > target) continue;
    db.transaction(() => {
      step.up(db);
      db.prepare('DELETE FROM schema_version').run();
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(step.version);
    })();
    applied.push(step.version);
  }
  return applied;
}
