/**
 * A transaction of the DynamoDB + S3 storage (README.md in this folder: "A transaction").
 * Reads go to DynamoDB at once, strongly consistent. Writes are recorded (pending-state.ts) and
 * visible to this transaction's own reads until `commit` writes them (commit.ts). `release`
 * without `commit` has nothing to undo: nothing was written.
 */
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { canonicalUuid, NIL_UUID, type Uuid } from "../../uuid.ts";
import { ChainMovedError, ClientExistsError, ClientNotFoundError, OldestVersionsMovedError, VersionExistsError } from "../errors.ts";
import {
  type AddVersionOptions,
  type Client,
  type ClientDetails,
  MAX_REMOVED_VERSIONS,
  type QuotaOptions,
  type Snapshot,
  type StorageTxn,
  type Version,
  type VersionMetadata,
} from "../types.ts";
import { type ClientState, isLegacy, parseClient, recentVersionIds, storedUuid, summaryOf, toClient } from "./client-item.ts";
import { commitPending } from "./commit.ts";
import { ATTR, objectNonce, SK } from "./layout.ts";
import { upgradeLegacyClient } from "./legacy.ts";
import { emptyPendingState, hasWrites, needsRead, pendingView } from "./pending-state.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { findVersion, findVersionItem, oldestVersions, type StoredVersionMetadata, versionFrom } from "./version-reads.ts";
import { countHighUrgencyRequest, type RemovedVersion } from "./write-request.ts";
import { writeRefusal } from "./sdk-errors.ts";

export class DynamoTxn implements StorageTxn {
  private readonly pending = emptyPendingState();
  /** The last walk from the chain's start (`oldest`), with the start it began at. */
  private walked: { start: Uuid | null | undefined; versions: StoredVersionMetadata[]; complete: boolean } | undefined;
  private committed = false;
  private ended = false;

  constructor(
    private readonly calls: SdkCalls,
    private readonly clientId: Uuid,
  ) {}

  private view(strict = true): ClientState | null {
    return pendingView(this.pending, strict);
  }

  /** Reads the client item unless this transaction creates it or read it already. */
  private async ensureBase(): Promise<ClientState | null> {
    if (needsRead(this.pending)) this.pending.base = await this.calls.readClient(this.clientId);
    return this.view();
  }

  /** As `ensureBase`, with a 0.1.0 item first given what quotas and pruning need. */
  private async ensureCurrentBase(): Promise<ClientState> {
    let state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    const base = this.pending.base;
    if (this.pending.create === undefined && base && isLegacy(base)) {
      if (hasWrites(this.pending)) throw new Error("a 0.1.0 client is upgraded before any write of the transaction");
      this.pending.base = await upgradeLegacyClient(this.calls, this.clientId, base);
      state = this.view();
      if (!state) throw new ClientNotFoundError();
    }
    return state;
  }

  private assertOpen(): void {
    if (this.ended || this.committed) throw new Error("the transaction has already ended");
  }

  private assertNoRemoval(): void {
    if (this.pending.writes.some((write) => write.kind === "remove-oldest"))
      throw new Error("a removal of versions is a transaction's only write");
  }

  /** This transaction's own version with that id or parent, if it added one. */
  private ownVersion(match: (write: { versionId: Uuid; parentId: Uuid }) => boolean): Version | null {
    const own = this.pending.writes.find((write) => write.kind === "version" && match(write));
    return own?.kind === "version"
      ? { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) }
      : null;
  }

  async getClient(): Promise<Client | null> {
    // Pending versions need no read to be written: read now if nothing was read yet.
    if (!hasWrites(this.pending) || needsRead(this.pending)) {
      const read = await this.calls.readClient(this.clientId);
      // A commit running alongside (the core reads while it writes) keeps the item it got itself.
      if (!this.committed) this.pending.base = read;
      else return read && toClient(pendingView({ ...this.pending, base: read, create: undefined }, false) ?? read);
    }
    const state = this.view(false);
    return state && toClient(state);
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    const latest = canonicalUuid(latestVersionId, "latest version id");
    if (hasWrites(this.pending)) throw new Error("newClient must be the first write of a transaction");
    if (this.pending.base) throw new ClientExistsError();
    this.pending.create = latest;
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array, options: QuotaOptions = {}): Promise<void> {
    this.assertOpen();
    this.limit(options);
    this.assertNoRemoval();
    const versionId = canonicalUuid(snapshot.versionId, "snapshot version id");
    const state = await this.ensureCurrentBase();
    this.pending.writes.push({
      kind: "snapshot",
      snapshot: { versionId, timestamp: new Date(snapshot.timestamp.getTime()), versionsSince: snapshot.versionsSince },
      data: copyBytes(data),
      at: state.versionCount - snapshot.versionsSince,
      // Its version's parent, when it is one of the newest (as the protocol's snapshots are): the next slot.
      parent: state.tail.includes(versionId) ? state.tail[state.tail.indexOf(versionId) + 1] : undefined,
    });
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    const timeMs = timestamp.getTime();
    if (!Number.isFinite(timeMs)) throw new TypeError("the decline's timestamp is not a valid date");
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    this.pending.writes.push({ kind: "decline", timeMs, at: state.versionCount });
  }

  /** Stored at once, before any write of the transaction: one UpdateItem, no read (README.md, "Writes"). */
  async countHighUrgencyRequest(): Promise<number> {
    this.assertOpen();
    if (hasWrites(this.pending)) throw new Error("an answer of urgency high is counted before any write of its transaction");
    const token = objectNonce();
    try {
      const { Attributes } = await this.calls.ddbSend(
        new UpdateItemCommand(countHighUrgencyRequest(this.calls.tableName, this.clientId, token)),
        "count an answer of urgency high",
      );
      this.pending.base = parseClient(Attributes);
    } catch (error) {
      const refusal = writeRefusal(error);
      if (refusal?.kind !== "condition") throw error;
      // Counted already, by an attempt whose answer was lost: the item as it is now.
      if (refusal.clientItem?.[ATTR.highToken]?.S !== token) throw new ClientNotFoundError();
      this.pending.base = parseClient(refusal.clientItem);
    }
    if (!this.pending.base) throw new ClientNotFoundError();
    return this.pending.base.high;
  }

  async resetHighUrgencyRequests(): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    if (!(await this.ensureBase())) throw new ClientNotFoundError();
    this.pending.writes.push({ kind: "reset-high-urgency" });
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const id = canonicalUuid(versionId, "snapshot version id");
    const pendingSnapshot = this.pending.writes.findLast((write) => write.kind === "snapshot");
    if (pendingSnapshot) return pendingSnapshot.snapshot.versionId === id ? copyBytes(pendingSnapshot.data) : null;
    if (this.pending.create !== undefined) return null;
    if (this.pending.base === undefined) this.pending.base = await this.calls.readClient(this.clientId);
    let snapshot = this.pending.base?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const data = await this.calls.getObject(snapshot.key, "read the snapshot");
    if (data) return data;
    // The object is gone: replaced by a newer snapshot since the client was read?
    snapshot = (await this.calls.readClient(this.clientId))?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const again = await this.calls.getObject(snapshot.key, "read the snapshot");
    if (again) return again;
    throw new Error(`the snapshot object of version ${id} is missing: ${snapshot.key}`);
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    const parentId = canonicalUuid(parentVersionId, "parent version id");
    const own = this.ownVersion((write) => write.parentId === parentId);
    if (own) return own;
    const item = await this.calls.getItem(this.clientId, SK.child(parentId), "read the version by parent");
    return item ? versionFrom(this.calls, item) : null;
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    const id = canonicalUuid(versionId, "version id");
    const own = this.ownVersion((write) => write.versionId === id);
    if (own) return own;
    if (needsRead(this.pending)) this.pending.base = await this.calls.readClient(this.clientId);
    return findVersion(this.calls, this.clientId, id, this.pending.base?.tail ?? []);
  }

  /**
   * One of the newest versions is stored by the slots alone; the snapshot's version is one read of
   * its item (`CHILD#<snapParent>`); any other, or a snapshot written before 0.3.0, the slow way
   * (its index item or a query), never its segment.
   */
  async hasVersion(versionId: Uuid): Promise<boolean> {
    const id = canonicalUuid(versionId, "version id");
    if (this.ownVersion((write) => write.versionId === id)) return true;
    if (needsRead(this.pending)) this.pending.base = await this.calls.readClient(this.clientId);
    const state = this.view(false);
    if (!state) return false;
    if (recentVersionIds(state).includes(id)) return true;
    const parent = state.snapshot?.versionId === id ? state.snapshot.parent : undefined;
    if (parent !== undefined) {
      const item = await this.calls.getItem(this.clientId, SK.child(parent), "check the snapshot's version", [ATTR.versionId]);
      return item?.[ATTR.versionId]?.S === id;
    }
    return (await findVersionItem(this.calls, this.clientId, id, state.tail)) !== null;
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array, options: AddVersionOptions = {}): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    const id = canonicalUuid(versionId, "version id");
    const parentId = canonicalUuid(parentVersionId, "parent version id");
    const writes = this.pending.writes;
    // No read: the commit's condition is the chain's rule. What was read already is checked now.
    if (!needsRead(this.pending)) {
      const state = this.view();
      if (!state) throw new ClientNotFoundError();
      if (state.latest !== NIL_UUID && state.latest !== parentId) throw new ChainMovedError(state.latest);
    }
    if (writes.some((write) => write.kind === "version" && (write.versionId === id || write.parentId === parentId))) {
      throw new VersionExistsError();
    }
    const previous = writes.findLast((write) => write.kind === "version");
    if (previous && previous.versionId !== parentId) throw new ChainMovedError(previous.versionId);
    writes.push({ kind: "version", versionId: id, parentId, data: copyBytes(historySegment) });
    this.limit(options);
  }

  /** The tightest quota of the transaction's writes applies to all of them. */
  private limit(options: QuotaOptions): void {
    if (options.maxClientBytes !== undefined) {
      this.pending.maxClientBytes = Math.min(this.pending.maxClientBytes ?? Number.POSITIVE_INFINITY, options.maxClientBytes);
    }
  }

  async getClientDetails(): Promise<ClientDetails | null> {
    if (needsRead(this.pending)) this.pending.base = await this.calls.readClient(this.clientId);
    if (this.pending.base === null && this.pending.create === undefined) return null;
    const state = await this.ensureCurrentBase();
    const oldest =
      state.base === null || state.base === undefined
        ? undefined
        : await this.calls.getItem(this.clientId, SK.child(state.base), "read the oldest version", [ATTR.versionId]);
    return {
      ...summaryOf(this.clientId, state),
      storedBytes: state.bytes ?? 0,
      usedBytes: state.used ?? 0,
      oldestVersion:
        oldest && state.base ? { versionId: storedUuid(oldest[ATTR.versionId], ATTR.versionId), parentVersionId: state.base } : null,
    };
  }

  async getOldestVersions(limit: number, until?: (version: VersionMetadata) => boolean): Promise<VersionMetadata[]> {
    return (await this.oldest(limit, until)).map(({ segmentKey: _, ...metadata }) => metadata);
  }

  /**
   * The walk from the chain's start, once per transaction for a given length: pruning asks for
   * the oldest versions and then removes some of them, and the removal's own conditions (the
   * start unchanged, each item still that version) keep a second walk from being needed.
   */
  private async oldest(limit: number, until?: (version: VersionMetadata) => boolean): Promise<StoredVersionMetadata[]> {
    if (needsRead(this.pending)) this.pending.base = await this.calls.readClient(this.clientId);
    if (this.pending.base === null && this.pending.create === undefined) return [];
    const state = await this.ensureCurrentBase();
    const walked = this.walked;
    if (walked && walked.start === state.base && (walked.versions.length >= limit || walked.complete)) {
      return walked.versions.slice(0, limit);
    }
    const versions = await oldestVersions(this.calls, this.clientId, state.base ?? null, limit, until);
    const stoppedEarly = until !== undefined && versions.length > 0 && until(versions.at(-1) as VersionMetadata);
    this.walked = { start: state.base, versions, complete: versions.length < limit && !stoppedEarly };
    return versions;
  }

  async removeOldestVersions(versionIds: readonly Uuid[]): Promise<void> {
    this.assertOpen();
    if (hasWrites(this.pending)) throw new Error("a removal of versions is a transaction's only write");
    if (versionIds.length === 0) return;
    if (versionIds.length > MAX_REMOVED_VERSIONS) throw new RangeError(`at most ${MAX_REMOVED_VERSIONS} versions are removed at once`);
    const oldest = await this.oldest(versionIds.length);
    const state = this.view();
    if (oldest.length !== versionIds.length || oldest.some((version, i) => version.versionId !== versionIds[i]) || !state?.base) {
      throw new OldestVersionsMovedError();
    }
    if (versionIds.includes(state.latest)) throw new Error("the latest version cannot be removed");
    const versions: RemovedVersion[] = oldest.map((version) => ({
      versionId: version.versionId,
      parentId: version.parentVersionId,
      bytes: version.bytes,
      segmentKey: version.segmentKey,
    }));
    this.pending.writes.push({ kind: "remove-oldest", expectedBase: state.base, versions });
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.committed = true;
    await commitPending(this.calls, this.clientId, this.pending);
  }

  async release(): Promise<void> {
    // Nothing is written before commit, and commit cleans up after itself.
    this.ended = true;
  }
}

function copyBytes(data: Uint8Array): Uint8Array {
  return Uint8Array.from(data);
}
