/**
 * The reference server's SQLite database (taskchampion-sync-server 0.5 to 0.7,
 * `<data dir>/taskchampion-sync-server.sqlite3`), read-only: tables `clients` (client_id,
 * latest_version_id, snapshot_version_id, versions_since_snapshot, snapshot_timestamp in
 * seconds, snapshot) and `versions` (version_id, client_id, parent_version_id, history_segment),
 * ids as hyphenated lowercase text.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ReferenceClientRow, ReferenceDatabase, ReferenceVersionRow } from "../../lambda/operations/import-reference.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { missingFromSchema, referenceChainQuery, REFERENCE_CLIENT_COLUMNS } from "./reference-schema.ts";

const FILE_NAME = "taskchampion-sync-server.sqlite3";
const PAGE = 100;

interface ClientRow {
  client_id: string;
  latest_version_id: string | null;
  snapshot_version_id: string | null;
  versions_since_snapshot: number | null;
  snapshot_timestamp: number | null;
  has_snapshot: number;
}

function toClient(row: ClientRow): ReferenceClientRow {
  return {
    clientId: row.client_id,
    latestVersionId: row.latest_version_id,
    snapshotVersionId: row.snapshot_version_id,
    versionsSinceSnapshot: row.versions_since_snapshot,
    snapshotTimestamp: row.snapshot_timestamp,
    hasSnapshotData: row.has_snapshot === 1,
  };
}

/** Opens the database at `path` (the file, or the reference server's data directory); a string says why it cannot be read. */
export function openReferenceSqlite(path: string): (ReferenceDatabase & { close(): Promise<void> }) | string {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, FILE_NAME);
  } catch (error) {
    return `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`;
  }
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const open = db;
    const missing = missingFromSchema((table) =>
      open
        .prepare<[string], { name: string }>("SELECT name FROM pragma_table_info(?)")
        .all(table)
        .map((column) => column.name),
    );
    if (missing) {
      db.close();
      return `${file} is not a taskchampion-sync-server database (${missing})`;
    }
  } catch (error) {
    return `cannot read ${file} as SQLite: ${error instanceof Error ? error.message : String(error)}`;
  }
  const select = `SELECT ${REFERENCE_CLIENT_COLUMNS}, snapshot IS NOT NULL AS has_snapshot FROM clients`;
  const page = db.prepare<[string, number], ClientRow>(`${select} WHERE client_id > ? ORDER BY client_id LIMIT ?`);
  const one = db.prepare<[string], ClientRow>(`${select} WHERE client_id = ?`);
  const count = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM versions WHERE client_id = ?");
  const chain = db.prepare<
    [{ client: string; latest: string; limit: number }],
    { version_id: string; parent_version_id: string | null; bytes: number | null }
  >(referenceChainQuery("length", "@client", "@latest", "@limit"));
  const segment = db.prepare<[string, string], { history_segment: Buffer | null }>(
    "SELECT history_segment FROM versions WHERE client_id = ? AND version_id = ?",
  );
  const snapshot = db.prepare<[string], { snapshot: Buffer | null }>("SELECT snapshot FROM clients WHERE client_id = ?");
  return {
    async *clients(clientIds?: readonly Uuid[]) {
      if (clientIds) {
        for (const clientId of clientIds) {
          const row = one.get(clientId);
          if (row) yield toClient(row);
        }
        return;
      }
      for (let after = ""; ; ) {
        const rows = page.all(after, PAGE);
        for (const row of rows) yield toClient(row);
        const last = rows.at(-1);
        if (!last || rows.length < PAGE) return;
        after = last.client_id;
      }
    },
    async countVersions(clientId) {
      return count.get(clientId)?.n ?? 0;
    },
    async chainBack(clientId, versionId, limit): Promise<ReferenceVersionRow[]> {
      return chain
        .all({ client: clientId, latest: versionId, limit })
        .map((row) => ({ versionId: row.version_id, parentVersionId: row.parent_version_id, bytes: row.bytes }));
    },
    async segments(clientId, versionIds) {
      const found = new Map<string, Uint8Array>();
      for (const versionId of versionIds) {
        const data = segment.get(clientId, versionId)?.history_segment;
        if (data) found.set(versionId, data);
      }
      return found;
    },
    async snapshotData(clientId) {
      return snapshot.get(clientId)?.snapshot ?? null;
    },
    async close() {
      db.close();
    },
  };
}
