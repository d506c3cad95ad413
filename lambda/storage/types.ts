/**
 * The storage interface, in TypeScript: a transaction per client id, the shape of the reference
 * server's storage trait
 * (https://github.com/GothenburgBitFactory/taskchampion-sync-server/blob/main/core/src/storage.rs).
 * Implementations: memory.ts, sqlite.ts, dynamodb/. Beyond the trait: what operators need
 * (a client's summary, its oldest versions and their removal, listing, removing, importing and
 * verifying whole clients) and the counters that bound a client (the bytes its quota counts,
 * unanswered snapshot requests).
 *
 * The quota counts what storing a client costs its owner, not only its payloads: each storage
 * counts a version as its history segment plus what the storage spends on it besides (a row,
 * an item, its keys and indexes: measured for each storage), the snapshot, and data the
 * storage deleted but still keeps for a while (a versioned bucket keeps deleted objects for
 * the backups' window). That is `usedBytes`; `storedBytes` is the payloads alone.
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
  /**
   * How many AddVersions in a row were answered with a snapshot request of urgency high since
   * the client last sent a snapshot (any AddSnapshot, stored or not). Optional only so that
   * clients can be written as literals; every storage fills it.
   */
  highUrgencyRequests?: number;
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

/** A stored version without its segment: what pruning and listing need. */
export interface VersionMetadata {
  versionId: Uuid;
  parentVersionId: Uuid;
  /** When it was added (for versions stored before this was recorded: when that was learned). */
  addedAt: Date;
  /** The length of its history segment. */
  bytes: number;
}

/** What operators see of a client in a list. */
export interface ClientSummary {
  clientId: Uuid;
  latestVersionId: Uuid;
  /** How many versions are stored (versions pruned from the history are not). */
  versions: number;
  /**
   * The bytes of every stored history segment and of the snapshot. Null while not known yet
   * (a client stored by 0.1.0 on DynamoDB, until its next write).
   */
  storedBytes: number | null;
  /**
   * What the quota counts (see the top of this file): the payloads, each version's overhead in
   * this storage, and deleted data still kept. Null while not known yet (a client stored before
   * 0.3.0 on DynamoDB, until its next write).
   */
  usedBytes: number | null;
  snapshot: Snapshot | null;
  /** When the latest version was added, or null without versions (or not known). */
  latestAddedAt: Date | null;
}

/** What operators see of one client. */
export interface ClientDetails extends ClientSummary {
  storedBytes: number;
  usedBytes: number;
  /** The oldest stored version (the stored chain starts at its parent), or null without versions. */
  oldestVersion: { versionId: Uuid; parentVersionId: Uuid } | null;
}

/** A whole client, as an import writes it: its versions in chain order, oldest first. */
export interface ClientImport {
  latestVersionId: Uuid;
  snapshot: (Snapshot & { data: Uint8Array }) | null;
  /** Read once, in chain order; the caller has checked the chain (linear, ending at latest). */
  versions: AsyncIterable<Version & { addedAt: Date }>;
  /** A snapshot the server declined, if any since the snapshot. */
  declined?: SnapshotDecline | null;
}

/** Reports how far long work got: how many items (versions, objects) are done so far. */
export type Progress = (done: number) => void;

/**
 * What `verifyClients` can find wrong with a client, as stable codes (README, "Operating"). A
 * storage whose transactions commit whole (memory, SQLite) can only find them if corrupted; a
 * table restored from a DynamoDB backup may hold part of a transaction, and a bucket restored
 * from a backup of another moment may lack an object.
 */
export type VerifyProblem =
  /** `latest` names a version that is not stored: an AddVersion's client update without its version item. */
  | "latest-without-version"
  /** A version whose parent is `latest` is stored: an AddVersion's version item without its client update. */
  | "version-after-latest"
  /** The stored chain does not start where the client says: a prune's deletes without its client update. */
  | "chain-start-moved"
  /** Version items on no chain from the client's start to its latest (leftovers of part of a transaction). */
  | "unreachable-versions"
  /** The snapshot's version is not on the stored chain. */
  | "snapshot-off-chain"
  /** The snapshot's data is missing (its S3 object). */
  | "snapshot-object-missing"
  /** A version's history segment is missing (its S3 object). */
  | "segment-object-missing"
  /** An operator's import or removal of the client did not finish: the protocol sees no client. */
  | "held-by-operator"
  /** Version items of no client: a removal that did not finish. */
  | "items-without-client";

export interface VerifyFinding {
  problem: VerifyProblem;
  /** For people: what was found (version ids, counts), never the client id. */
  detail: string;
}

/** What `verifyClients` found for one client, and what its repair did. */
export interface ClientVerification {
  clientId: Uuid;
  /**
   * `ok`: nothing found. `found`: found, not repaired (not asked to). `repaired`: found and
   * repaired. `unrepaired`: found, and not something a repair may do (an operator's unfinished
   * work: run it again), or not on this storage.
   */
  status: "ok" | "found" | "repaired" | "unrepaired";
  findings: VerifyFinding[];
  /** What the repair changed, for people (version ids, counts; never the client id). */
  repairs: string[];
  /** The latest version before and after (the same without a repair); null for no client item. */
  latestBefore: Uuid | null;
  latestAfter: Uuid | null;
  /** Versions no longer stored after the repair (cut at the chain's start or its tip). */
  droppedVersions: number;
  /** Whether the repair dropped the snapshot (the next replica sync is asked for one). */
  snapshotDropped: boolean;
}

export interface VerifyOptions {
  /**
   * Repair what is found, only by following or shortening the stored chain, never by inventing:
   * `latest` moved back to the last version stored, or forward along stored children; the
   * chain's start moved forward past a gap; a snapshot off the chain or without its data
   * dropped; the chain cut before a version whose segment is missing. Replicas beyond a cut
   * are told 410 and start again from the snapshot; none can fork.
   */
  repair: boolean;
}

/** Conditions on a write beyond the chain's: the quota. */
export interface QuotaOptions {
  /**
   * Refuse (QuotaExceededError, nothing kept) unless the client's `usedBytes` with this write
   * are at most this. Undefined: no limit.
   */
  maxClientBytes?: number | undefined;
}

/** Conditions on an added version beyond the chain's. */
export type AddVersionOptions = QuotaOptions;

/** How many ids `Client.recentVersionIds` holds: the AddSnapshot search length. */
export const RECENT_CHAIN_LENGTH = 5;

/** The most versions one `removeOldestVersions` removes (a DynamoDB transaction holds 100 items). */
export const MAX_REMOVED_VERSIONS = 40;

/**
 * A transaction may be asked for several reads at once (the core overlaps independent reads to
 * save round trips); writes are never issued concurrently.
 */
export interface StorageTxn {
  /** The client of this transaction, or null if it does not exist. */
  getClient(): Promise<Client | null>;

  /** Create the client of this transaction with the given latest version. It must not exist yet. */
  newClient(latestVersionId: Uuid): Promise<void>;

  /**
   * Replace the client's snapshot (metadata and data), and clear its snapshot decline. Over
   * `maxClientBytes` (the new snapshot counted, the replaced one counted as freed or, where the
   * storage keeps deleted data, as kept): `QuotaExceededError`, here or at `commit`, and
   * nothing of the transaction is kept.
   */
  setSnapshot(snapshot: Snapshot, data: Uint8Array, options?: QuotaOptions): Promise<void>;

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
   * Whether a version with id `versionId` is stored, without reading its segment (for
   * operators: pruning checks that the snapshot's version is on the stored chain). It costs a
   * read or two on DynamoDB for one of the newest versions or the snapshot's.
   */
  hasVersion(versionId: Uuid): Promise<boolean>;

  /**
   * Add a version (that must not exist yet): set latest_version_id from `parentVersionId` to
   * `versionId`, add one to the snapshot's versions_since, and count its bytes. The chain's
   * rule is the write's own condition: unless latest is `parentVersionId` or nil, this or
   * `commit` rejects with `ChainMovedError` naming the real latest version, and nothing of this
   * transaction is kept. So a caller need not read the client first, and may read it at the
   * same time (the read then sees the client before or after this version).
   * A client that does not exist: `ClientNotFoundError`. Over `maxClientBytes`:
   * `QuotaExceededError`. A storage that keeps large segments elsewhere (S3) decides all of
   * these before it uploads anything: a refused write leaves nothing, not even a deleted object.
   */
  addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array, options?: AddVersionOptions): Promise<void>;

  /**
   * Add one to the client's `highUrgencyRequests` and return the new count: an atomic
   * increment, so that answers given at the same time get distinct counts, called before any
   * other write of its transaction. It counts an answer already given, so a storage may store it
   * at once (DynamoDB does: one write, no read); a transaction released without commit may or
   * may not keep it. `setSnapshot`, `declineSnapshot` and `resetHighUrgencyRequests` set it back to 0.
   */
  countHighUrgencyRequest(): Promise<number>;

  /** Set the client's `highUrgencyRequests` back to 0 (a snapshot arrived, even one not stored). */
  resetHighUrgencyRequests(): Promise<void>;

  /** The operators' view of this client, or null if it does not exist. */
  getClientDetails(): Promise<ClientDetails | null>;

  /**
   * The `limit` oldest stored versions (fewer if there are not so many), oldest first, without
   * segments. With `until`, the walk stops after the first version it holds true for (that one
   * included): a caller that needs the versions up to some point reads no further than it.
   */
  getOldestVersions(limit: number, until?: (version: VersionMetadata) => boolean): Promise<VersionMetadata[]>;

  /**
   * Remove the oldest stored versions: `versionIds` must be exactly the oldest ones, in chain
   * order (as `getOldestVersions` gave them), at most MAX_REMOVED_VERSIONS; their segments stop
   * counting as stored bytes. It rejects (and keeps nothing) if they are not, for example
   * because another removal ran first. Removing the latest version is refused: a chain keeps at
   * least its latest version. It must be the transaction's only write.
   */
  removeOldestVersions(versionIds: readonly Uuid[]): Promise<void>;

  /** Make the transaction's changes durable and visible. Called at most once. */
  commit(): Promise<void>;

  /**
   * End the transaction (TypeScript has no destructor to do it on drop). Without a prior
   * `commit`, nothing the transaction did is kept. Always called, exactly once, last.
   */
  release(): Promise<void>;
}

/** How a transaction is bounded. */
export interface TxnOptions {
  /**
   * When the work of the request the transaction serves must end, milliseconds since the epoch:
   * its calls are cut then and fail with StorageUnavailableError (a 503), so that a request
   * answers before the function that serves it is stopped. All transactions of one request
   * share it. Default: the storage's own budget from the transaction's start.
   */
  deadline?: number;
}

export interface Storage {
  /** Begin a transaction for the given client id. */
  txn(clientId: Uuid, options?: TxnOptions): Promise<StorageTxn>;

  /**
   * Every client's summary, a page at a time (memory stays bounded however many clients
   * there are), in no particular order. Not a protocol path: for operators.
   */
  listClients(): AsyncIterable<ClientSummary>;

  /**
   * Delete everything of the client: its versions, its snapshot, every payload object. The
   * client is gone for the protocol first; a re-run after a crash finishes the job. Returns
   * whether anything of it was found.
   */
  removeClient(clientId: Uuid, onProgress?: Progress): Promise<boolean>;

  /**
   * Write a whole client (versions, snapshot) that does not exist yet (`ClientExistsError`
   * otherwise). Nothing of it is visible to the protocol until all of it is written: an
   * interrupted import leaves no client (re-running it completes or restarts it).
   */
  importClient(clientId: Uuid, client: ClientImport, onProgress?: Progress): Promise<void>;

  /**
   * Check every client as a restore left it (its chain whole from its start to its latest, no
   * version after latest, its snapshot on the chain and its data there, every segment there),
   * and with `repair` repair what can be (VerifyOptions), a client at a time, in no particular
   * order. Not a protocol path: for operators, before replicas are pointed at a restored storage.
   */
  verifyClients(options: VerifyOptions): AsyncIterable<ClientVerification>;

  /** Free what the storage holds (connections, files). */
  close(): Promise<void>;
}
