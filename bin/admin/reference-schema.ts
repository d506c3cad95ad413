/**
 * What the reference server's two databases share: the tables and the columns read, and the
 * walk of a client's chain from its latest version back through the parents, as one recursive
 * query (bounded in depth, so that a loop in a broken database ends).
 */
export const REFERENCE_COLUMNS = {
  clients: ["client_id", "latest_version_id", "snapshot_version_id", "versions_since_snapshot", "snapshot_timestamp", "snapshot"],
  versions: ["version_id", "client_id", "parent_version_id", "history_segment"],
} as const;

export const REFERENCE_TABLES = Object.keys(REFERENCE_COLUMNS) as (keyof typeof REFERENCE_COLUMNS)[];

/** What is missing of the reference's schema, given each table's columns (none for a missing table); undefined when nothing is. */
export function missingFromSchema(columns: (table: keyof typeof REFERENCE_COLUMNS) => readonly string[]): string | undefined {
  const missing: string[] = [];
  for (const table of REFERENCE_TABLES) {
    const present = columns(table);
    if (present.length === 0) missing.push(`table ${table}`);
    else missing.push(...REFERENCE_COLUMNS[table].filter((column) => !present.includes(column)).map((column) => `${table}.${column}`));
  }
  return missing.length === 0 ? undefined : `no ${missing.join(", ")}`;
}

export const REFERENCE_CLIENT_COLUMNS = "client_id, latest_version_id, snapshot_version_id, versions_since_snapshot, snapshot_timestamp";

/**
 * Rows (version_id, parent_version_id, bytes), newest first. `length` is the SQL function giving
 * a blob's length in bytes; the parameters are the client id, the latest version id and the
 * most rows to return, in each database's placeholder syntax.
 */
export function referenceChainQuery(length: string, client: string, latest: string, limit: string): string {
  return `
    WITH RECURSIVE chain(version_id, parent_version_id, bytes, depth) AS (
      SELECT version_id, parent_version_id, ${length}(history_segment), 1
        FROM versions WHERE client_id = ${client} AND version_id = ${latest}
      UNION ALL
      SELECT v.version_id, v.parent_version_id, ${length}(v.history_segment), chain.depth + 1
        FROM versions v JOIN chain ON v.client_id = ${client} AND v.version_id = chain.parent_version_id
        WHERE chain.depth < ${limit}
    )
    SELECT version_id, parent_version_id, bytes FROM chain ORDER BY depth`;
}
