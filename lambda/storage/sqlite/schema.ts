/**
 * The SQLite schema and its migrations (`PRAGMA user_version` is the schema version). Ids are
 * canonical UUID text, timestamps epoch milliseconds. The snapshot's bytes live in their own
 * table: SQLite rewrites a whole row on UPDATE, and the clients row is updated on every
 * AddVersion, so a snapshot blob there would be rewritten (MBs) on every version.
 */
import type Database from "better-sqlite3";
import { snapshotFootprint, versionFootprint } from "./footprint.ts";

export const SCHEMA_VERSION = 3;

/** The whole schema, for a new database. */
const SCHEMA = `
CREATE TABLE clients (
  client_id TEXT PRIMARY KEY NOT NULL,
  latest_version_id TEXT NOT NULL,
  snapshot_version_id TEXT,
  snapshot_timestamp INTEGER,
  versions_since INTEGER NOT NULL DEFAULT 0,
  declined_timestamp INTEGER,
  declined_versions_since INTEGER,
  chain_start TEXT,
  stored_bytes INTEGER NOT NULL DEFAULT 0,
  latest_added_at INTEGER,
  high_urgency_requests INTEGER NOT NULL DEFAULT 0,
  used_bytes INTEGER NOT NULL DEFAULT 0,
  CHECK ((snapshot_version_id IS NULL) = (snapshot_timestamp IS NULL)),
  CHECK ((declined_timestamp IS NULL) = (declined_versions_since IS NULL))
) STRICT;
CREATE TABLE snapshot_data (
  client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id),
  data BLOB NOT NULL
) STRICT;
CREATE TABLE versions (
  client_id TEXT NOT NULL REFERENCES clients (client_id),
  version_id TEXT NOT NULL,
  parent_version_id TEXT NOT NULL,
  history_segment BLOB NOT NULL,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, version_id),
  UNIQUE (client_id, parent_version_id)
) STRICT;
`;

/**
 * From version 1 (before quotas and pruning): the counters a client keeps, filled in once
 * from what is stored. Versions stored before have no time: they count as added now, so
 * pruning by age starts from the upgrade.
 */
function migrateFrom1(db: Database.Database): void {
  db.exec(`
    ALTER TABLE clients ADD COLUMN chain_start TEXT;
    ALTER TABLE clients ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE clients ADD COLUMN latest_added_at INTEGER;
    ALTER TABLE clients ADD COLUMN high_urgency_requests INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE versions ADD COLUMN added_at INTEGER NOT NULL DEFAULT 0;
  `);
  db.prepare("UPDATE versions SET added_at = ?").run(Date.now());
  db.exec(`
    UPDATE clients SET
      stored_bytes =
        (SELECT COALESCE(SUM(length(v.history_segment)), 0) FROM versions v WHERE v.client_id = clients.client_id)
        + (SELECT COALESCE(SUM(length(d.data)), 0) FROM snapshot_data d WHERE d.client_id = clients.client_id),
      chain_start = (
        SELECT v.parent_version_id FROM versions v
        WHERE v.client_id = clients.client_id
          AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.client_id = v.client_id AND w.version_id = v.parent_version_id)
      ),
      latest_added_at = (SELECT v.added_at FROM versions v WHERE v.client_id = clients.client_id AND v.version_id = clients.latest_version_id);
  `);
}

/**
 * From version 2 (0.2.0): what the quota counts, each version's and the snapshot's footprint in
 * the file (footprint.ts), filled in once from what is stored.
 */
function migrateFrom2(db: Database.Database): void {
  db.function("version_footprint", { deterministic: true }, (bytes) => versionFootprint(Number(bytes)));
  db.function("snapshot_footprint", { deterministic: true }, (bytes) => snapshotFootprint(Number(bytes)));
  db.exec(`
    ALTER TABLE clients ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE clients SET used_bytes =
      (SELECT COALESCE(SUM(version_footprint(length(v.history_segment))), 0) FROM versions v WHERE v.client_id = clients.client_id)
      + (SELECT COALESCE(SUM(snapshot_footprint(length(d.data))), 0) FROM snapshot_data d WHERE d.client_id = clients.client_id);
  `);
}

const MIGRATIONS: Record<number, (db: Database.Database) => void> = { 1: migrateFrom1, 2: migrateFrom2 };

/**
 * Creates the tables of a new database or migrates an older one: idempotent, and atomic
 * against another process opening the same file at once. A database already at this schema
 * version is only read, so that opening it takes no write lock (another writer may hold it).
 */
export function createOrMigrateSchema(db: Database.Database, path: string): void {
  const check = (version: number) => {
    if (version > SCHEMA_VERSION) throw new Error(`${path} has schema version ${version}; this server knows up to ${SCHEMA_VERSION}`);
  };
  const current = db.pragma("user_version", { simple: true }) as number;
  check(current);
  if (current === SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    let version = db.pragma("user_version", { simple: true }) as number; // again, under the lock
    check(version);
    if (version === 0) {
      db.exec(SCHEMA);
      version = SCHEMA_VERSION;
    }
    for (; version < SCHEMA_VERSION; version++) {
      const migrate = MIGRATIONS[version];
      if (!migrate) throw new Error(`${path}: no migration from schema version ${version}`);
      migrate(db);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
