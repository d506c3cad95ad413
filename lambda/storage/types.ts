/**
 * The storage interface, in TypeScript: a transaction per client id, the shape of the reference
 * server's storage trait
 * (https://github.com/GothenburgBitFactory/taskchampion-sync-server/blob/main/core/src/storage.rs). Implementations: memory.ts, sqlite.ts, dynamodb/.
 *
 * Transactions must be sequentially consistent: the results must be as if each ran alone in
 * some order. Uncommitted changes are never visible to another transaction; committed ones are
 * visible to every later one. Transactions of different client ids share no data and may run
 * fully in parallel.
 */
import type { Uuid } from "../uuid.ts";

/** Stored metadata about a client. */
export interface Client {
  /** The latest version of this client (the nil UUID while it has none). */
  latestVersionId: Uuid;
  /** The client's snapshot, if it has one. */
  snapshot: Snapshot | null;
  /**
   * The last snapshot the server asked for and could not accept (too large for it), if that
   * happened after the client's snapshot was stored; snapshot requests restart from it.
   * Optional only so that clients can be written as literals; every storage fills it.
   */
  snapshotDeclined?: SnapshotDecline | null;
  /**
   * Optional: the ids of the client's most recent stored versions, latest first, at most
   * `RECENT_CHAIN_LENGTH` (on addVersion(V): [V, ...previous] cut to that length). A storage
   * that keeps them lets AddSnapshot decide without reading versions; one that does not
   * leaves this undefined and the core walks the chain with `getVersion`.
   */
  recentVersionIds?: readonly Uuid[];
}

/** Metadata about a snapshot, not including its data. */
export interface Snapshot {
  /** The version at which the snapshot was made. */
  versionId: Uuid;
  /** When the snapshot was stored. */
  timestamp: Date;
  /** How many versions were added since the snapshot was stored. */
  versionsSince: number;
}

/** A snapshot that could not be accepted: when, and how many versions were added since. */
export interface SnapshotDecline {
  timestamp: Date;
  versionsSince: number;
}

export interface Version {
  versionId: Uuid;
  parentVersionId: Uuid;
  /** The version's history segment: opaque, encrypted bytes. */
  historySegment: Uint8Array;
}

/** How many ids `Client.recentVersionIds` holds: the AddSnapshot search length. */
export const RECENT_CHAIN_LENGTH = 5;

/**
 * A transaction may be asked for several reads at once (the core overlaps independent reads to
 * save round trips); writes are never issued concurrently.
 */
export interface StorageTxn {
  /** The client of this transaction, or null if it does not exist. */
  getClient(): Promise<Client | null>;

  /** Create the client of this transaction with the given latest version. It must not exist yet. */
  newClient(latestVersionId: Uuid): Promise<void>;

  /** Replace the client's snapshot (metadata and data), and clear its snapshot decline. */
  setSnapshot(snapshot: Snapshot, data: Uint8Array): Promise<void>;

  /**
   * Record that a snapshot the server asked for could not be accepted (too large), at
   * `timestamp`: the client's `snapshotDeclined` becomes { timestamp, versionsSince: 0 }, and
   * its versions_since grows with each added version as the snapshot's does. The snapshot
   * itself is unchanged.
   */
  declineSnapshot(timestamp: Date): Promise<void>;

  /** The data of the client's snapshot, or null when it has none or it is not for `versionId`. */
  getSnapshotData(versionId: Uuid): Promise<Uint8Array | null>;

  /** The version whose parent is `parentVersionId`, if any. */
  getVersionByParent(parentVersionId: Uuid): Promise<Version | null>;

  /** The version with id `versionId`, if any. */
  getVersion(versionId: Uuid): Promise<Version | null>;

  /**
   * Add a version (that must not exist yet), set latest_version_id from `parentVersionId` to
   * `versionId`, and add one to the snapshot's versions_since. The caller checks with
   * `getClient` earlier in the same transaction that latest is `parentVersionId` (or nil).
   *
   * If the chain moved since that `getClient` (another transaction won a race), this or
   * `commit` rejects with `ChainMovedError` naming the real latest version, and nothing of this
   * transaction is kept.
   */
  addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<void>;

  /** Make the transaction's changes durable and visible. Called at most once. */
  commit(): Promise<void>;

  /**
   * End the transaction (TypeScript has no destructor to do it on drop). Without a prior
   * `commit`, nothing the transaction did is kept. Always called, exactly once, last.
   */
  release(): Promise<void>;
}

export interface Storage {
  /** Begin a transaction for the given client id. */
  txn(clientId: Uuid): Promise<StorageTxn>;
  /** Free what the storage holds (connections, files). */
  close(): Promise<void>;
}
