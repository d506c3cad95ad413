/**
 * Each client's chain as an SQLite database file holds it, read straight from its tables: to check
 * that a backup (or a restored server's file) holds whole chains, and how two files' chains relate.
 */
import Database from "better-sqlite3";
import { NIL_UUID } from "../../lambda/uuid.ts";

export interface StoredChain {
  clientId: string;
  /** The version ids from the oldest stored to latest, each the child of the one before. */
  versions: string[];
  latestVersionId: string;
  snapshotVersionId: string | null;
  hasSnapshotData: boolean;
}

/**
 * Every client's chain in the database at `path` (opened read-only). Throws, naming the client,
 * when a chain is not whole: a walk from its start by parent links that does not end at latest,
 * a version off the walk, a snapshot whose version is not on it or whose bytes are missing.
 */
export function readChains(path: string): Map<string, StoredChain> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const clients = db
      .prepare<[], { client_id: string; latest_version_id: string; chain_start: string | null; snapshot_version_id: string | null }>(
        "SELECT client_id, latest_version_id, chain_start, snapshot_version_id FROM clients ORDER BY client_id",
      )
      .all();
    const versionsOf = db.prepare<[string], { version_id: string; parent_version_id: string }>(
      "SELECT version_id, parent_version_id FROM versions WHERE client_id = ?",
    );
    const snapshotData = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM snapshot_data WHERE client_id = ?");
    const chains = new Map<string, StoredChain>();
    for (const client of clients) {
      const rows = versionsOf.all(client.client_id);
      const byParent = new Map(rows.map((row) => [row.parent_version_id, row.version_id]));
      const versions: string[] = [];
      for (let at = client.chain_start ?? NIL_UUID, next = byParent.get(at); next !== undefined; next = byParent.get(at)) {
        versions.push(next);
        at = next;
      }
      const end = versions.at(-1) ?? NIL_UUID;
      const fault =
        end !== client.latest_version_id
          ? `its chain ends at ${end}, latest is ${client.latest_version_id}`
          : versions.length !== rows.length
            ? `${rows.length - versions.length} of its versions are off the chain`
            : client.snapshot_version_id !== null && !versions.includes(client.snapshot_version_id)
              ? `its snapshot's version ${client.snapshot_version_id} is not on its chain`
              : (snapshotData.get(client.client_id)?.n ?? 0) !== (client.snapshot_version_id === null ? 0 : 1)
                ? "its snapshot's bytes do not match its snapshot"
                : undefined;
      if (fault) throw new Error(`client ${client.client_id} in ${path}: ${fault}`);
      chains.set(client.client_id, {
        clientId: client.client_id,
        versions,
        latestVersionId: client.latest_version_id,
        snapshotVersionId: client.snapshot_version_id,
        hasSnapshotData: client.snapshot_version_id !== null,
      });
    }
    return chains;
  } finally {
    db.close();
  }
}

/** Whether `prefix` is where `chain` starts: the same versions, in the same order. */
export function isPrefix(prefix: readonly string[], chain: readonly string[]): boolean {
  return prefix.length <= chain.length && prefix.every((id, i) => chain[i] === id);
}
