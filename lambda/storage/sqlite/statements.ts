/** The SQL the SQLite storage runs, prepared once per connection. */
import type Database from "better-sqlite3";

export interface ClientRow {
  latest_version_id: string;
  snapshot_version_id: string | null;
  snapshot_timestamp: number | null;
  versions_since: number;
  declined_timestamp: number | null;
  declined_versions_since: number | null;
  chain_start: string | null;
  stored_bytes: number;
  latest_added_at: number | null;
  high_urgency_requests: number;
  used_bytes: number;
}

export interface SummaryRow extends ClientRow {
  client_id: string;
  versions: number;
  oldest_version_id: string | null;
}

export interface VersionRow {
  version_id: string;
  parent_version_id: string;
  history_segment: Buffer;
}

export interface VersionMetadataRow {
  version_id: string;
  parent_version_id: string;
  added_at: number;
  bytes: number;
}

const CLIENT_COLUMNS = `latest_version_id, snapshot_version_id, snapshot_timestamp, versions_since, declined_timestamp,
  declined_versions_since, chain_start, stored_bytes, latest_added_at, high_urgency_requests, used_bytes`;

const SUMMARY = `SELECT c.client_id, ${CLIENT_COLUMNS},
    (SELECT COUNT(*) FROM versions v WHERE v.client_id = c.client_id) AS versions,
    (SELECT v.version_id FROM versions v WHERE v.client_id = c.client_id AND v.parent_version_id = c.chain_start) AS oldest_version_id
  FROM clients c`;

export type Statements = ReturnType<typeof prepare>;

export function prepare(db: Database.Database) {
  return {
    getClient: db.prepare<[string], ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE client_id = ?`),
    getSummary: db.prepare<[string], SummaryRow>(`${SUMMARY} WHERE c.client_id = ?`),
    /** A page of summaries after a client id, in client-id order. */
    listSummaries: db.prepare<[string, number], SummaryRow>(`${SUMMARY} WHERE c.client_id > ? ORDER BY c.client_id LIMIT ?`),
    insertClient: db.prepare<[string, string]>("INSERT INTO clients (client_id, latest_version_id, versions_since) VALUES (?, ?, 0)"),
    /** The counters and snapshot of an imported client, once its versions are in. */
    completeImport: db.prepare<
      [string | null, number, number, number | null, string | null, number | null, number, number | null, number | null, string]
    >(
      `UPDATE clients SET chain_start = ?, stored_bytes = ?, used_bytes = ?, latest_added_at = ?,
         snapshot_version_id = ?, snapshot_timestamp = ?, versions_since = ?,
         declined_timestamp = ?, declined_versions_since = ?
       WHERE client_id = ?`,
    ),
    setSnapshot: db.prepare<[string, number, number, number, number, string]>(
      `UPDATE clients SET snapshot_version_id = ?, snapshot_timestamp = ?, versions_since = ?,
         declined_timestamp = NULL, declined_versions_since = NULL, high_urgency_requests = 0,
         stored_bytes = stored_bytes + ?, used_bytes = used_bytes + ?
       WHERE client_id = ?`,
    ),
    declineSnapshot: db.prepare<[number, string]>(
      "UPDATE clients SET declined_timestamp = ?, declined_versions_since = 0, high_urgency_requests = 0 WHERE client_id = ?",
    ),
    countHighUrgency: db.prepare<[string], { high_urgency_requests: number }>(
      "UPDATE clients SET high_urgency_requests = high_urgency_requests + 1 WHERE client_id = ? RETURNING high_urgency_requests",
    ),
    resetHighUrgency: db.prepare<[string]>("UPDATE clients SET high_urgency_requests = 0 WHERE client_id = ?"),
    snapshotDataLength: db.prepare<[string], { bytes: number }>("SELECT length(data) AS bytes FROM snapshot_data WHERE client_id = ?"),
    setSnapshotData: db.prepare<[string, Buffer]>(
      "INSERT INTO snapshot_data (client_id, data) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET data = excluded.data",
    ),
    getSnapshotData: db.prepare<[string, string], { data: Buffer }>(
      "SELECT d.data FROM clients c JOIN snapshot_data d ON d.client_id = c.client_id WHERE c.client_id = ? AND c.snapshot_version_id = ?",
    ),
    getVersion: db.prepare<[string, string], VersionRow>(
      "SELECT version_id, parent_version_id, history_segment FROM versions WHERE client_id = ? AND version_id = ?",
    ),
    hasVersion: db.prepare<[string, string], { found: number }>("SELECT 1 AS found FROM versions WHERE client_id = ? AND version_id = ?"),
    getVersionByParent: db.prepare<[string, string], VersionRow>(
      "SELECT version_id, parent_version_id, history_segment FROM versions WHERE client_id = ? AND parent_version_id = ?",
    ),
    getVersionMetadataByParent: db.prepare<[string, string], VersionMetadataRow>(
      `SELECT version_id, parent_version_id, added_at, length(history_segment) AS bytes
       FROM versions WHERE client_id = ? AND parent_version_id = ?`,
    ),
    insertVersion: db.prepare<[string, string, string, Buffer, number]>(
      "INSERT INTO versions (client_id, version_id, parent_version_id, history_segment, added_at) VALUES (?, ?, ?, ?, ?)",
    ),
    // Compare-and-set on latest: changes() is 0 if it is not what addVersion just checked.
    advanceLatest: db.prepare<[string, string, number, number, number, string, string]>(
      `UPDATE clients SET latest_version_id = ?,
         versions_since = CASE WHEN snapshot_version_id IS NULL THEN versions_since ELSE versions_since + 1 END,
         declined_versions_since = declined_versions_since + 1,
         chain_start = COALESCE(chain_start, ?),
         stored_bytes = stored_bytes + ?,
         used_bytes = used_bytes + ?,
         latest_added_at = ?
       WHERE client_id = ? AND latest_version_id = ?`,
    ),
    deleteVersion: db.prepare<[string, string]>("DELETE FROM versions WHERE client_id = ? AND version_id = ?"),
    advanceChainStart: db.prepare<[string, number, number, string]>(
      "UPDATE clients SET chain_start = ?, stored_bytes = stored_bytes - ?, used_bytes = used_bytes - ? WHERE client_id = ?",
    ),
    deleteVersions: db.prepare<[string]>("DELETE FROM versions WHERE client_id = ?"),
    deleteSnapshotData: db.prepare<[string]>("DELETE FROM snapshot_data WHERE client_id = ?"),
    deleteClient: db.prepare<[string]>("DELETE FROM clients WHERE client_id = ?"),
  };
}
