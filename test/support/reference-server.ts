/**
 * The reference Rust server's databases (taskchampion-sync-server 0.5 to 0.7), built by tests in
 * its exact schema: SQLite as its `sqlite/src/lib.rs` creates it, PostgreSQL as its
 * `postgres/schema.sql` does (ids as hyphenated lowercase text in SQLite, UUID in PostgreSQL;
 * the snapshot's time in seconds; the snapshot's data inline). Rows come from what a server of
 * ours holds, so that the history is one real replicas wrote.
 */
import Database from "better-sqlite3";
import type pg from "pg";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { clientState } from "./client-state.ts";

/** The reference's SQLite tables, as it creates them. */
export const REFERENCE_SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS clients (
    client_id STRING PRIMARY KEY,
    latest_version_id STRING,
    snapshot_version_id STRING,
    versions_since_snapshot INTEGER,
    snapshot_timestamp INTEGER,
    snapshot BLOB);
CREATE TABLE IF NOT EXISTS versions (version_id STRING PRIMARY KEY, client_id STRING, parent_version_id STRING, history_segment BLOB);
CREATE INDEX IF NOT EXISTS versions_by_parent ON versions (parent_version_id);
`;

/** The reference's postgres/schema.sql. */
export const REFERENCE_POSTGRES_SCHEMA = `
CREATE TABLE clients (
	client_id UUID PRIMARY KEY,
	latest_version_id UUID default '00000000-0000-0000-0000-000000000000',
	snapshot_version_id UUID,
	versions_since_snapshot INTEGER,
	snapshot_timestamp BIGINT,
	snapshot BYTEA);

CREATE TABLE versions (
	client_id UUID NOT NULL,
	FOREIGN KEY(client_id) REFERENCES clients (client_id) ON DELETE CASCADE,
	version_id UUID NOT NULL,
	parent_version_id UUID,
	history_segment BYTEA,
	CONSTRAINT versions_pkey PRIMARY KEY (client_id, version_id)
);
CREATE INDEX versions_by_parent ON versions (parent_version_id);
`;

export interface ReferenceClient {
  client: {
    client_id: string;
    latest_version_id: string;
    snapshot_version_id: string | null;
    versions_since_snapshot: number | null;
    snapshot_timestamp: number | null;
    snapshot: Buffer | null;
  };
  versions: { version_id: string; client_id: string; parent_version_id: string; history_segment: Buffer | null }[];
}

/** A client without versions or snapshot, as the reference stores one that registered and never synced. */
export function emptyReferenceClient(clientId: string = newUuid()): ReferenceClient {
  return {
    client: {
      client_id: clientId,
      latest_version_id: NIL_UUID,
      snapshot_version_id: null,
      versions_since_snapshot: null,
      snapshot_timestamp: null,
      snapshot: null,
    },
    versions: [],
  };
}

/** A client of ours as the reference would have stored it. */
export async function asReferenceRows(storage: Storage, clientId: Uuid): Promise<ReferenceClient> {
  const state = await clientState(storage, clientId);
  const snapshot = state.client?.snapshot ?? null;
  return {
    client: {
      client_id: clientId,
      latest_version_id: state.client?.latestVersionId ?? "",
      snapshot_version_id: snapshot?.versionId ?? null,
      versions_since_snapshot: snapshot?.versionsSince ?? null,
      snapshot_timestamp: snapshot ? Math.floor(snapshot.timestamp.getTime() / 1000) : null,
      snapshot: state.snapshotData && Buffer.from(state.snapshotData),
    },
    versions: state.versions.map((v) => ({
      version_id: v.versionId,
      client_id: clientId,
      parent_version_id: v.parentVersionId,
      history_segment: Buffer.from(v.historySegment),
    })),
  };
}

/** A new reference SQLite database at `path` holding these clients. */
export function writeReferenceSqlite(path: string, clients: readonly ReferenceClient[]): void {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.exec(REFERENCE_SQLITE_SCHEMA);
    const client = db.prepare(
      "INSERT INTO clients (client_id, latest_version_id, snapshot_version_id, versions_since_snapshot, snapshot_timestamp, snapshot) VALUES (@client_id, @latest_version_id, @snapshot_version_id, @versions_since_snapshot, @snapshot_timestamp, @snapshot)",
    );
    const version = db.prepare(
      "INSERT INTO versions (version_id, client_id, parent_version_id, history_segment) VALUES (@version_id, @client_id, @parent_version_id, @history_segment)",
    );
    db.transaction(() => {
      for (const c of clients) {
        client.run(c.client);
        for (const v of c.versions) version.run(v);
      }
    })();
  } finally {
    db.close();
  }
}

/** The clients into a reference PostgreSQL database whose schema is created first if `create`. */
export async function writeReferencePostgres(db: pg.Client, clients: readonly ReferenceClient[], create: boolean): Promise<void> {
  if (create) await db.query(REFERENCE_POSTGRES_SCHEMA);
  for (const { client: c, versions } of clients) {
    await db.query(
      "INSERT INTO clients (client_id, latest_version_id, snapshot_version_id, versions_since_snapshot, snapshot_timestamp, snapshot) VALUES ($1, $2, $3, $4, $5, $6)",
      [c.client_id, c.latest_version_id, c.snapshot_version_id, c.versions_since_snapshot, c.snapshot_timestamp, c.snapshot],
    );
    for (const v of versions) {
      await db.query("INSERT INTO versions (version_id, client_id, parent_version_id, history_segment) VALUES ($1, $2, $3, $4)", [
        v.version_id,
        v.client_id,
        v.parent_version_id,
        v.history_segment,
      ]);
    }
  }
}
