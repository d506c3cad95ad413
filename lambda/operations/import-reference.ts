/**
 * Imports clients from the database of the reference Rust server (taskchampion-sync-server 0.5
 * to 0.7, SQLite or PostgreSQL) through `ReferenceDatabase`, which the edge implements for each.
 * Version ids, the snapshot, its version, its time and its versions-since count are kept, so a
 * replica that last synced with the old server carries on here once its URL changes. The
 * reference stores no time per version: they count as added at the import.
 *
 * Per client: the chain is checked first (from latest back through parents: every stored
 * version on it, no loop, the snapshot on it), then written by `storage.importClient`, which
 * makes the client visible only once all of it is written.
 */
import { ClientExistsError } from "../storage/errors.ts";
import type { Storage, Version } from "../storage/types.ts";
import { NIL_UUID, parseClientId, parseUuid, type Uuid } from "../uuid.ts";
import { ChainCheck } from "./chain-check.ts";
import { inTxn } from "../storage/in-txn.ts";
import { batchEnd } from "./batches.ts";

/** A row of the reference's `clients` table (without the snapshot's data). */
export interface ReferenceClientRow {
  clientId: string;
  latestVersionId: string | null;
  snapshotVersionId: string | null;
  versionsSinceSnapshot: number | null;
  /** Seconds since the epoch, as the reference stores it. */
  snapshotTimestamp: number | null;
  /** Whether the `snapshot` column holds data. */
  hasSnapshotData: boolean;
}

/** A row of the reference's `versions` table (without the segment). */
export interface ReferenceVersionRow {
  versionId: string;
  parentVersionId: string | null;
  /** The segment's length; null when the column is NULL. */
  bytes: number | null;
}

/** Read access to a reference server's database; ids are passed as the database stores them. */
export interface ReferenceDatabase {
  /** Every client (a page at a time), or only those of `clientIds` that exist. */
  clients(clientIds?: readonly Uuid[]): AsyncIterable<ReferenceClientRow>;
  countVersions(clientId: string): Promise<number>;
  /** The versions from `versionId` back through their parents, newest first, at most `limit`. */
  chainBack(clientId: string, versionId: string, limit: number): Promise<ReferenceVersionRow[]>;
  /** The segments of these versions, by version id. */
  segments(clientId: string, versionIds: readonly string[]): Promise<Map<string, Uint8Array>>;
  snapshotData(clientId: string): Promise<Uint8Array | null>;
}

export type ReferenceImportOutcome =
  | { kind: "imported"; clientId: Uuid; versions: number; historyBytes: number; snapshotBytes: number }
  /** The client is here already, at the same latest version: an earlier run imported it. */
  | { kind: "already-imported"; clientId: Uuid }
  | { kind: "exists"; clientId: Uuid }
  /** Asked for by id, and not in the reference database. */
  | { kind: "not-found"; clientId: Uuid }
  | { kind: "invalid"; clientId: string; reason: string }
  | { kind: "failed"; clientId: string; error: unknown };

export interface ReferenceImportOptions {
  /** Only these clients (default: every client of the database). */
  clientIds?: readonly Uuid[];
  /** The time the versions count as added. Default: now. */
  now?: Date;
  /** Versions written so far, of the client being imported. */
  onProgress?: (clientId: Uuid, versions: number) => void;
}

/** Imports client after client, telling how each went as it goes. */
export async function* importReference(
  db: ReferenceDatabase,
  storage: Storage,
  options: ReferenceImportOptions = {},
): AsyncGenerator<ReferenceImportOutcome> {
  const addedAt = options.now ?? new Date();
  const missing = new Set(options.clientIds ?? []);
  for await (const row of db.clients(options.clientIds)) {
    const clientId = parseClientId(row.clientId).id;
    if (clientId) missing.delete(clientId);
    try {
      yield await importOne(db, storage, row, addedAt, options.onProgress);
    } catch (error) {
      yield { kind: "failed", clientId: clientId ?? row.clientId, error };
    }
  }
  for (const clientId of missing) yield { kind: "not-found", clientId };
}

interface CheckedClient {
  clientId: Uuid;
  latestVersionId: Uuid;
  /** The stored chain, oldest first, with ids as the database stores them. */
  chain: { versionId: Uuid; parentVersionId: Uuid; stored: string; bytes: number }[];
  snapshot: { versionId: Uuid; timestamp: Date; versionsSince: number } | null;
}

async function importOne(
  db: ReferenceDatabase,
  storage: Storage,
  row: ReferenceClientRow,
  addedAt: Date,
  onProgress: ReferenceImportOptions["onProgress"],
): Promise<ReferenceImportOutcome> {
  const checked = await check(db, row);
  if (typeof checked === "string") return { kind: "invalid", clientId: row.clientId, reason: checked };
  const { clientId, chain, snapshot } = checked;
  const existing = await inTxn(storage, clientId, (txn) => txn.getClient());
  if (existing) {
    return existing.latestVersionId === checked.latestVersionId ? { kind: "already-imported", clientId } : { kind: "exists", clientId };
  }
  const snapshotData = snapshot ? await db.snapshotData(row.clientId) : null;
  if (snapshot && !snapshotData) return { kind: "invalid", clientId, reason: "the snapshot's data is gone (changed during the import?)" };
  try {
    await storage.importClient(clientId, {
      latestVersionId: checked.latestVersionId,
      snapshot: snapshot && snapshotData ? { ...snapshot, data: snapshotData } : null,
      versions: versionsOf(db, row.clientId, chain, addedAt, (n) => onProgress?.(clientId, n)),
    });
  } catch (error) {
    // Created meanwhile (a replica synced with this server already).
    if (error instanceof ClientExistsError) return { kind: "exists", clientId };
    throw error;
  }
  return {
    kind: "imported",
    clientId,
    versions: chain.length,
    historyBytes: chain.reduce((sum, v) => sum + v.bytes, 0),
    snapshotBytes: snapshotData?.byteLength ?? 0,
  };
}

/** The client's chain, checked; or what is wrong with it. */
async function check(db: ReferenceDatabase, row: ReferenceClientRow): Promise<CheckedClient | string> {
  const { id: clientId, fault } = parseClientId(row.clientId);
  if (!clientId) return `the client id ${fault}`;
  const latest = row.latestVersionId === null ? NIL_UUID : parseUuid(row.latestVersionId);
  if (!latest) return `the latest version id ${JSON.stringify(row.latestVersionId)} is not a UUID`;
  const count = await db.countVersions(row.clientId);
  const newestFirst =
    latest === NIL_UUID || row.latestVersionId === null ? [] : await db.chainBack(row.clientId, row.latestVersionId, count + 1);
  if (latest !== NIL_UUID && newestFirst.length === 0) return `the latest version ${latest} is not stored`;
  if (newestFirst.length !== count) {
    return newestFirst.length > count
      ? "the chain from the latest version loops"
      : `${count - newestFirst.length} of its ${count} stored versions are not on the chain that ends at the latest version`;
  }
  const chain: CheckedClient["chain"] = [];
  const links = new ChainCheck();
  for (const version of newestFirst.reverse()) {
    const versionId = parseUuid(version.versionId);
    const parentVersionId = version.parentVersionId === null ? NIL_UUID : parseUuid(version.parentVersionId);
    if (!versionId || !parentVersionId) return `version ${JSON.stringify(version.versionId)} has an id or a parent id that is not a UUID`;
    if (version.bytes === null) return `version ${versionId} has no history segment`;
    const problem = links.add(versionId, parentVersionId);
    if (problem) return problem;
    chain.push({ versionId, parentVersionId, stored: version.versionId, bytes: version.bytes });
  }
  // The reference has a snapshot when its three columns are set (as its get_client reads them).
  if (row.snapshotVersionId === null || row.snapshotTimestamp === null || row.versionsSinceSnapshot === null) {
    return { clientId, latestVersionId: latest, chain, snapshot: null };
  }
  const snapshotVersionId = parseUuid(row.snapshotVersionId);
  if (!snapshotVersionId || !links.includes(snapshotVersionId)) return "the snapshot is not for a version on the chain";
  if (!row.hasSnapshotData) return "the snapshot has no data";
  if (row.versionsSinceSnapshot < 0) return "the snapshot's versions-since count is negative";
  const snapshot = {
    versionId: snapshotVersionId,
    timestamp: new Date(row.snapshotTimestamp * 1000),
    versionsSince: row.versionsSinceSnapshot,
  };
  return { clientId, latestVersionId: latest, chain, snapshot };
}

async function* versionsOf(
  db: ReferenceDatabase,
  storedClientId: string,
  chain: CheckedClient["chain"],
  addedAt: Date,
  onProgress: (versions: number) => void,
): AsyncGenerator<Version & { addedAt: Date }> {
  let done = 0;
  while (done < chain.length) {
    const batch = chain.slice(done, batchEnd(chain, done));
    const segments = await db.segments(
      storedClientId,
      batch.map((v) => v.stored),
    );
    for (const version of batch) {
      const historySegment = segments.get(version.stored);
      if (!historySegment) throw new Error(`version ${version.versionId} is gone from the reference database (changed during the import?)`);
      yield { versionId: version.versionId, parentVersionId: version.parentVersionId, historySegment, addedAt };
      onProgress(++done);
    }
  }
}
