/**
 * The reference server's PostgreSQL database (taskchampion-sync-server 0.7, its
 * `postgres/schema.sql`: tables `clients` and `versions`, ids of type UUID, the snapshot's time
 * a BIGINT of seconds), read through `pg`.
 */
import pg from "pg";
import type { ReferenceClientRow, ReferenceDatabase, ReferenceVersionRow } from "../../lambda/operations/import-reference.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { missingFromSchema, referenceChainQuery, REFERENCE_CLIENT_COLUMNS, REFERENCE_TABLES } from "./reference-schema.ts";

const PAGE = 100;

interface ClientRow {
  client_id: string;
  latest_version_id: string | null;
  snapshot_version_id: string | null;
  versions_since_snapshot: number | null;
  /** BIGINT: pg gives it as text. */
  snapshot_timestamp: string | null;
  has_snapshot: boolean;
}

function toClient(row: ClientRow): ReferenceClientRow {
  return {
    clientId: row.client_id,
    latestVersionId: row.latest_version_id,
    snapshotVersionId: row.snapshot_version_id,
    versionsSinceSnapshot: row.versions_since_snapshot,
    snapshotTimestamp: row.snapshot_timestamp === null ? null : Number(row.snapshot_timestamp),
    hasSnapshotData: row.has_snapshot,
  };
}

/** The form of a --postgres URL, for messages; the password is best left out of it (PGPASSWORD, ~/.pgpass). */
const URL_FORM = "postgres://[user@]host[:port]/database";

/**
 * Connects to the database at `url`; a string says why it is not a reference database (bad
 * usage or input). No message repeats the URL, which may hold a password: the driver's own
 * messages leave it out too (Node's URL error keeps its input apart from the message, and the
 * driver's URL parser drops even that).
 */
export async function openReferencePostgres(url: string): Promise<(ReferenceDatabase & { close(): Promise<void> }) | string> {
  // The schemes the driver reads (socket: is its form for a Unix socket).
  if (!/^(postgres|postgresql):\/\/|^socket:/i.test(url)) return `--postgres is not a PostgreSQL URL: expected ${URL_FORM}`;
  let client: pg.Client;
  try {
    client = new pg.Client({ connectionString: url });
  } catch (error) {
    return `--postgres is not a valid URL (${error instanceof Error ? error.message : String(error)}): expected ${URL_FORM}`;
  }
  try {
    await client.connect();
  } catch (error) {
    return `cannot connect to PostgreSQL: ${error instanceof Error ? error.message : String(error)}`;
  }
  const { rows: columns } = await client.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1)",
    [REFERENCE_TABLES],
  );
  const missing = missingFromSchema((table) => columns.filter((c) => c.table_name === table).map((c) => c.column_name));
  if (missing) {
    await client.end();
    return `the database is not a taskchampion-sync-server database (${missing})`;
  }
  const select = `SELECT ${REFERENCE_CLIENT_COLUMNS}, snapshot IS NOT NULL AS has_snapshot FROM clients`;
  return {
    async *clients(clientIds?: readonly Uuid[]) {
      if (clientIds) {
        for (const clientId of clientIds) {
          const { rows } = await client.query<ClientRow>(`${select} WHERE client_id = $1`, [clientId]);
          for (const row of rows) yield toClient(row);
        }
        return;
      }
      // Keyset pages: the first without a lower bound (any UUID may be a client id).
      const page = async (after: string | null): Promise<ClientRow[]> =>
        (after === null
          ? await client.query<ClientRow>(`${select} ORDER BY client_id LIMIT $1`, [PAGE])
          : await client.query<ClientRow>(`${select} WHERE client_id > $1 ORDER BY client_id LIMIT $2`, [after, PAGE])
        ).rows;
      for (let rows = await page(null); ; ) {
        for (const row of rows) yield toClient(row);
        const last = rows.at(-1);
        if (!last || rows.length < PAGE) return;
        rows = await page(last.client_id);
      }
    },
    async countVersions(clientId) {
      const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM versions WHERE client_id = $1", [clientId]);
      return Number(rows[0]?.n ?? 0);
    },
    async chainBack(clientId, versionId, limit): Promise<ReferenceVersionRow[]> {
      const { rows } = await client.query<{ version_id: string; parent_version_id: string | null; bytes: number | null }>(
        referenceChainQuery("octet_length", "$1", "$2", "$3"),
        [clientId, versionId, limit],
      );
      return rows.map((row) => ({ versionId: row.version_id, parentVersionId: row.parent_version_id, bytes: row.bytes }));
    },
    async segments(clientId, versionIds) {
      const { rows } = await client.query<{ version_id: string; history_segment: Buffer | null }>(
        "SELECT version_id, history_segment FROM versions WHERE client_id = $1 AND version_id = ANY($2::uuid[])",
        [clientId, versionIds],
      );
      return new Map(rows.flatMap((row) => (row.history_segment ? [[row.version_id, row.history_segment] as const] : [])));
    },
    async snapshotData(clientId) {
      const { rows } = await client.query<{ snapshot: Buffer | null }>("SELECT snapshot FROM clients WHERE client_id = $1", [clientId]);
      return rows[0]?.snapshot ?? null;
    },
    async close() {
      await client.end();
    },
  };
}
