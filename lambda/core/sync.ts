/**
 * The TaskChampion sync protocol's four transactions, as pure rules over the storage
 * interface. No HTTP, no AWS: every outcome is a value that the edge maps to a response.
 */
import { ChainMovedError, ClientExistsError, ClientNotFoundError, QuotaExceededError } from "../storage/errors.ts";
import {
  type AddVersionOptions,
  type Client,
  RECENT_CHAIN_LENGTH,
  type Storage,
  type StorageTxn,
  type TxnOptions,
  type Version,
} from "../storage/types.ts";
import { inTxn } from "../storage/in-txn.ts";
import { NIL_UUID, newUuid, type Uuid } from "../uuid.ts";
import { snapshotRequested, snapshotUrgency, type SnapshotThresholds, type SnapshotUrgency } from "./urgency.ts";

export interface SyncRules extends SnapshotThresholds {
  /** Create a client on its first AddVersion; when false, unknown clients get "unknown client". */
  createClients: boolean;
  /** Only these client ids may sync; undefined lets every client id in. */
  allowedClientIds?: ReadonlySet<Uuid> | undefined;
  /**
   * The most a client may make the server store, as the storage counts it (`usedBytes`: its
   * payloads, each version's overhead, deleted data still kept); undefined: no limit. An
   * AddVersion past it is refused; a snapshot past it is declined (the client is told nothing
   * and asked for none until a period later), so nothing a client sends takes it past its quota.
   */
  maxClientBytes?: number | undefined;
}

/**
 * After this many AddVersions in a row answered with urgency high and no AddSnapshot between
 * them, the snapshot counts as declined: one too large to pass the API never reaches the
 * server, which would otherwise ask for it on every sync (and each upload fails the sync).
 */
export const HIGH_URGENCY_REQUESTS_BEFORE_DECLINE = 3;

export type AddVersionOutcome =
  | { kind: "added"; versionId: Uuid; snapshotUrgency: SnapshotUrgency }
  | { kind: "conflict"; latestVersionId: Uuid }
  | { kind: "quota-exceeded"; usedBytes: number; maxClientBytes: number }
  | { kind: "unknown-client" };

export type GetChildVersionOutcome =
  | { kind: "found"; version: Version }
  | { kind: "up-to-date" }
  | { kind: "gone" }
  | { kind: "unknown-client" };

export type AddSnapshotOutcome =
  | { kind: "stored" }
  | { kind: "declined"; reason: SnapshotDeclinedReason }
  | { kind: "ignored"; reason: SnapshotIgnoredReason }
  | { kind: "unknown-client" };

/** Why a snapshot the server would take was not stored: too large for it, or past the client's quota. */
export type SnapshotDeclinedReason = "too-large" | "quota";

export type SnapshotIgnoredReason = "nil-version" | "already-current" | "newer-snapshot-exists" | "not-recent" | "not-requested";

export type GetSnapshotOutcome = { kind: "found"; versionId: Uuid; data: Uint8Array } | { kind: "none" } | { kind: "unknown-client" };

export class SyncServer {
  constructor(
    private readonly storage: Storage,
    private readonly rules: SyncRules,
    private readonly clock: () => Date = () => new Date(),
    /** The transactions' bounds: the deadline of the request this server serves, if any. */
    private readonly txnOptions: TxnOptions = {},
  ) {}

  /**
   * The same server for one request, whose every storage transaction shares `deadline`
   * (milliseconds since the epoch): past it, storage calls fail with StorageUnavailableError and
   * the request is answered 503 before its function is stopped.
   */
  withDeadline(deadline: number): SyncServer {
    return new SyncServer(this.storage, this.rules, this.clock, { deadline });
  }

  /** Whether this client id may use the protocol routes at all (the allowlist). */
  isAllowed(clientId: Uuid): boolean {
    return this.rules.allowedClientIds === undefined || this.rules.allowedClientIds.has(clientId);
  }

  /**
   * AddVersion: append a version to the client's chain if `parentVersionId` is its tip (or it
   * has no versions yet), creating the client on its first version when allowed, and refusing
   * a version that would take the client past its quota.
   */
  async addVersion(clientId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<AddVersionOutcome> {
    const versionId = newUuid();
    const maxClientBytes = this.rules.maxClientBytes;
    const limits: AddVersionOptions = { maxClientBytes };
    const write = () =>
      this.inTxn(clientId, async (txn): Promise<Written> => {
        // The write's own condition is the chain's rule, so it need not wait for a read: the
        // client is read alongside, for the snapshot urgency only.
        const [client, write] = await Promise.allSettled([
          txn.getClient(),
          txn.addVersion(versionId, parentVersionId, historySegment, limits).then(() => txn.commit()),
        ]);
        return write.status === "fulfilled"
          ? { client: client.status === "fulfilled" ? client.value : undefined }
          : { error: write.reason };
      });
    const create = () =>
      this.inTxn(clientId, async (txn): Promise<Written> => {
        try {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(versionId, parentVersionId, historySegment, limits);
          await txn.commit();
          return { client: null };
        } catch (error) {
          return { error };
        }
      });
    let written = await write();
    if ("error" in written && written.error instanceof ClientNotFoundError && this.rules.createClients) {
      written = await create();
      // Created meanwhile by another request: the version goes onto it as onto any client.
      if ("error" in written && written.error instanceof ClientExistsError) written = await write();
    }
    if ("error" in written) {
      const { error } = written;
      // A lost race is the protocol's conflict, not a failure.
      if (error instanceof ChainMovedError) return { kind: "conflict", latestVersionId: error.latestVersionId };
      if (error instanceof QuotaExceededError && maxClientBytes !== undefined) {
        return { kind: "quota-exceeded", usedBytes: error.usedBytes, maxClientBytes };
      }
      if (error instanceof ClientNotFoundError) return { kind: "unknown-client" };
      throw error;
    }
    // From the state before this version was added; a failed read asks for nothing.
    const before = written.client === undefined ? undefined : (stateBefore(written.client, versionId) ?? NEW_CLIENT);
    const urgency = before === undefined ? "none" : snapshotUrgency(before, this.clock(), this.rules);
    if (urgency === "high") await this.countHighUrgencyRequest(clientId);
    return { kind: "added", versionId, snapshotUrgency: urgency };
  }

  /**
   * Counts an answer of urgency high; at HIGH_URGENCY_REQUESTS_BEFORE_DECLINE in a row, records
   * a decline (which ends the series). Best effort: the version is already stored, so a
   * failure here must not fail the request; the next high answer counts again.
   */
  private async countHighUrgencyRequest(clientId: Uuid): Promise<void> {
    await this.inTxn(clientId, async (txn) => {
      const count = await txn.countHighUrgencyRequest();
      if (count >= HIGH_URGENCY_REQUESTS_BEFORE_DECLINE) await txn.declineSnapshot(this.clock());
      await txn.commit();
    }).catch(() => undefined);
  }

  /** GetChildVersion: the version whose parent is `parentVersionId`, or why there is none. */
  getChildVersion(clientId: Uuid, parentVersionId: Uuid): Promise<GetChildVersionOutcome> {
    return this.inTxn(clientId, async (txn) => {
      // Both reads at once: one round trip on the common paths (found, up to date).
      let [client, child] = await Promise.all([txn.getClient(), txn.getVersionByParent(parentVersionId)]);
      if (!client) return { kind: "unknown-client" };
      if (child) return { kind: "found", version: child };
      if (parentVersionId === client.latestVersionId || client.latestVersionId === NIL_UUID) {
        // No child while latest was P: up to date at the moment of whichever read came last.
        return { kind: "up-to-date" };
      }
      // The child lookup may have run before the client read and missed a child committed in
      // between; "gone" is final for a replica, so look once more, now ordered after it.
      child = await txn.getVersionByParent(parentVersionId);
      return child ? { kind: "found", version: child } : { kind: "gone" };
    });
  }

  /**
   * AddSnapshot: store the snapshot if the server would ask for one now and `versionId` is one
   * of the client's most recent versions, newer than its current snapshot; otherwise ignore it
   * (the client is not told). One past the client's quota is declined instead.
   */
  async addSnapshot(clientId: Uuid, versionId: Uuid, data: Uint8Array): Promise<AddSnapshotOutcome> {
    try {
      return await this.onAcceptableSnapshot(clientId, versionId, async (txn) => {
        await txn.setSnapshot({ versionId, timestamp: this.clock(), versionsSince: 0 }, data, {
          maxClientBytes: this.rules.maxClientBytes,
        });
        return { kind: "stored" };
      });
    } catch (error) {
      // Nothing was kept; the decline is its own transaction, which checks the verdict again.
      if (error instanceof QuotaExceededError) return this.declineSnapshot(clientId, versionId, "quota");
      throw error;
    }
  }

  /**
   * AddSnapshot of a snapshot this server cannot take (too large for it, or past the client's
   * quota): where it would have been stored, record the decline instead, so that the server
   * stops asking for a snapshot it cannot accept (a replica fails its sync when its snapshot
   * upload fails) until a period later.
   */
  declineSnapshot(clientId: Uuid, versionId: Uuid, reason: SnapshotDeclinedReason): Promise<AddSnapshotOutcome> {
    return this.onAcceptableSnapshot(clientId, versionId, async (txn) => {
      await txn.declineSnapshot(this.clock());
      return { kind: "declined", reason };
    });
  }

  /** Runs `write` and commits when a snapshot of `versionId` would be accepted. */
  private onAcceptableSnapshot(
    clientId: Uuid,
    versionId: Uuid,
    write: (txn: StorageTxn) => Promise<AddSnapshotOutcome>,
  ): Promise<AddSnapshotOutcome> {
    return this.inTxn(clientId, async (txn) => {
      const client = await txn.getClient();
      if (!client) return { kind: "unknown-client" };
      let verdict = await snapshotVerdict(txn, client, versionId);
      if (verdict === "accept" && !snapshotRequested(client, this.clock(), this.rules)) verdict = "not-requested";
      if (verdict !== "accept") {
        // A snapshot arrived, even one not stored: the series of unanswered requests ends.
        if ((client.highUrgencyRequests ?? 0) > 0) {
          await txn.resetHighUrgencyRequests();
          await txn.commit();
        }
        return { kind: "ignored", reason: verdict };
      }
      const outcome = await write(txn);
      await txn.commit();
      return outcome;
    });
  }

  /** GetSnapshot: the client's snapshot, if it has one. */
  getSnapshot(clientId: Uuid): Promise<GetSnapshotOutcome> {
    return this.inTxn(clientId, async (txn) => {
      // A storage without locks may replace the snapshot between the two reads (its old data
      // is then gone): read again once, rather than tell a fresh replica there is none.
      for (let attempt = 0; attempt < 2; attempt++) {
        const client = await txn.getClient();
        if (!client) return { kind: "unknown-client" };
        if (!client.snapshot) return { kind: "none" };
        const data = await txn.getSnapshotData(client.snapshot.versionId);
        if (data) return { kind: "found", versionId: client.snapshot.versionId, data };
      }
      return { kind: "none" };
    });
  }

  /** Work in one transaction of `clientId`, always released; the work commits what it writes. */
  private inTxn<T>(clientId: Uuid, work: (txn: StorageTxn) => Promise<T>): Promise<T> {
    return inTxn(this.storage, clientId, work, false, this.txnOptions);
  }

  /**
   * Whether an AddVersion or AddSnapshot of this client would be answered "unknown client": it
   * has no record, and the transaction would not create one (AddSnapshot never does, AddVersion
   * when client creation is off). One read, for an edge that receives a body after its head:
   * it refuses such an upload before reading it.
   */
  async refusesAsUnknownClient(clientId: Uuid, transaction: "add-version" | "add-snapshot"): Promise<boolean> {
    if (transaction === "add-version" && this.rules.createClients) return false;
    return this.inTxn(clientId, async (txn) => (await txn.getClient()) === null);
  }
}

/**
 * Whether a snapshot for `versionId` may replace the client's current one: it must not be nil
 * or the current snapshot's version, and walking back from latest (latest counts as the
 * first) it must be found within the RECENT_CHAIN_LENGTH most recent versions, before the
 * current snapshot's version (a newer snapshot exists), nil, or a missing version.
 */
async function snapshotVerdict(txn: StorageTxn, client: Client, versionId: Uuid): Promise<"accept" | SnapshotIgnoredReason> {
  if (versionId === NIL_UUID) return "nil-version";
  const snapshotVersionId = client.snapshot?.versionId;
  if (versionId === snapshotVersionId) return "already-current";
  for await (const candidate of recentChain(txn, client)) {
    if (candidate === versionId) return "accept";
    if (candidate === snapshotVersionId) return "newer-snapshot-exists";
  }
  return "not-recent";
}

/**
 * The ids of the client's most recent versions, latest first, at most RECENT_CHAIN_LENGTH;
 * lazily, so that the walk reads no further than the verdict needs. Taken from the client
 * when the storage keeps them; else read version by version, where each read both proves an
 * id is a stored version (the first version's parent, for one, is not) and gives the next id.
 */
async function* recentChain(txn: StorageTxn, client: Client): AsyncGenerator<Uuid> {
  if (client.recentVersionIds) {
    yield* client.recentVersionIds.slice(0, RECENT_CHAIN_LENGTH);
    return;
  }
  if (client.latestVersionId === NIL_UUID) return;
  // The latest version is a stored version by construction.
  yield client.latestVersionId;
  let current = await txn.getVersion(client.latestVersionId);
  for (let count = 1; current && count < RECENT_CHAIN_LENGTH; count++) {
    const id = current.parentVersionId;
    if (id === NIL_UUID) return;
    // The snapshot's version ends the walk whatever it is; no need to read it.
    if (id === client.snapshot?.versionId) {
      yield id;
      return;
    }
    current = await txn.getVersion(id);
    if (current) yield id;
  }
}

/** What an AddVersion's write gave: the client as read alongside it (undefined if that read failed), or why it failed. */
type Written = { client: Client | null | undefined } | { error: unknown };

/** A client before its first version: no snapshot. */
const NEW_CLIENT: Client = { latestVersionId: NIL_UUID, snapshot: null };

/**
 * The client before version `versionId` was added, from a read that ran alongside the write:
 * a read that already sees the version counts it in versions_since, which is taken back.
 */
function stateBefore(client: Client | null, versionId: Uuid): Client | null {
  if (client === null || client.latestVersionId !== versionId) return client;
  const undo = <T extends { versionsSince: number }>(value: T | null | undefined): T | null =>
    value ? { ...value, versionsSince: Math.max(0, value.versionsSince - 1) } : null;
  return { ...client, snapshot: undo(client.snapshot), snapshotDeclined: undo(client.snapshotDeclined) };
}
