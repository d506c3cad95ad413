/**
 * A transaction of the SQLite storage: a `BEGIN IMMEDIATE` SQLite transaction, begun by the
 * storage (storage.ts) under its in-process lock, so it always reads the latest committed
 * state and nobody writes between its reads and its writes.
 */
import type Database from "better-sqlite3";
import { NIL_UUID, type Uuid } from "../../uuid.ts";
import {
  ChainMovedError,
  ClientExistsError,
  ClientNotFoundError,
  QuotaExceededError,
  StorageUnavailableError,
  OldestVersionsMovedError,
  VersionExistsError,
} from "../errors.ts";
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
import { isBusy, isUniqueViolation } from "./errors.ts";
import { snapshotFootprint, versionFootprint } from "./footprint.ts";
import { asBuffer, toClient, toDetails, toVersion, toVersionMetadata } from "./rows.ts";
import type { Statements } from "./statements.ts";

export class SqliteTxn implements StorageTxn {
  private committed = false;
  private released = false;

  constructor(
    private readonly db: Database.Database,
    private readonly sql: Statements,
    private readonly clientId: Uuid,
    private readonly unlock: () => void,
  ) {}

  async getClient(): Promise<Client | null> {
    this.assertOpen();
    const row = this.sql.getClient.get(this.clientId);
    return row ? toClient(row) : null;
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    if (this.sql.getClient.get(this.clientId)) throw new ClientExistsError();
    this.sql.insertClient.run(this.clientId, latestVersionId);
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array, options: QuotaOptions = {}): Promise<void> {
    this.assertOpen();
    const timestamp = snapshot.timestamp.getTime();
    if (!Number.isFinite(timestamp)) throw new Error("the snapshot's timestamp is not a valid date");
    this.db.transaction(() => {
      const client = this.sql.getClient.get(this.clientId);
      if (!client) throw new ClientNotFoundError();
      const replaced = this.sql.snapshotDataLength.get(this.clientId)?.bytes;
      // The replaced snapshot's pages are freed for the new one.
      const usedDelta = snapshotFootprint(data.byteLength) - (replaced === undefined ? 0 : snapshotFootprint(replaced));
      if (options.maxClientBytes !== undefined && client.used_bytes + usedDelta > options.maxClientBytes) {
        throw new QuotaExceededError(client.used_bytes);
      }
      const changed = this.sql.setSnapshot.run(
        snapshot.versionId,
        timestamp,
        snapshot.versionsSince,
        data.byteLength - (replaced ?? 0),
        usedDelta,
        this.clientId,
      );
      if (changed.changes !== 1) throw new ClientNotFoundError();
      this.sql.setSnapshotData.run(this.clientId, asBuffer(data));
    })();
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.assertOpen();
    const ms = timestamp.getTime();
    if (!Number.isFinite(ms)) throw new Error("the decline's timestamp is not a valid date");
    if (this.sql.declineSnapshot.run(ms, this.clientId).changes !== 1) throw new ClientNotFoundError();
  }

  async countHighUrgencyRequest(): Promise<number> {
    this.assertOpen();
    const row = this.sql.countHighUrgency.get(this.clientId);
    if (!row) throw new ClientNotFoundError();
    return row.high_urgency_requests;
  }

  async resetHighUrgencyRequests(): Promise<void> {
    this.assertOpen();
    if (this.sql.resetHighUrgency.run(this.clientId).changes !== 1) throw new ClientNotFoundError();
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    this.assertOpen();
    const row = this.sql.getSnapshotData.get(this.clientId, versionId);
    return row ? new Uint8Array(row.data) : null;
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    this.assertOpen();
    return toVersion(this.sql.getVersionByParent.get(this.clientId, parentVersionId));
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    this.assertOpen();
    return toVersion(this.sql.getVersion.get(this.clientId, versionId));
  }

  async hasVersion(versionId: Uuid): Promise<boolean> {
    this.assertOpen();
    return this.sql.hasVersion.get(this.clientId, versionId) !== undefined;
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array, options: AddVersionOptions = {}): Promise<void> {
    this.assertOpen();
    // A savepoint: a rejected addVersion leaves nothing behind, even if the caller commits.
    this.db.transaction(() => {
      const client = this.sql.getClient.get(this.clientId);
      if (!client) throw new ClientNotFoundError();
      const latest = client.latest_version_id as Uuid;
      if (latest !== NIL_UUID && latest !== parentVersionId) throw new ChainMovedError(latest);
      const footprint = versionFootprint(historySegment.byteLength);
      if (options.maxClientBytes !== undefined && client.used_bytes + footprint > options.maxClientBytes) {
        throw new QuotaExceededError(client.used_bytes);
      }
      if (this.sql.getVersion.get(this.clientId, versionId)) throw new VersionExistsError();
      const now = Date.now();
      try {
        this.sql.insertVersion.run(this.clientId, versionId, parentVersionId, asBuffer(historySegment), now);
      } catch (error) {
        if (isUniqueViolation(error)) {
          // Latest is the parent (or nil) yet the parent already has a child: the stored chain is
          // inconsistent. Refuse rather than fork it.
          throw new Error(`version ${parentVersionId} already has a child; refusing to fork the chain`, { cause: error });
        }
        throw error;
      }
      const advanced = this.sql.advanceLatest.run(
        versionId,
        parentVersionId,
        historySegment.byteLength,
        footprint,
        now,
        this.clientId,
        latest,
      );
      if (advanced.changes !== 1) throw new ChainMovedError(latest);
    })();
  }

  async getClientDetails(): Promise<ClientDetails | null> {
    this.assertOpen();
    const row = this.sql.getSummary.get(this.clientId);
    return row ? toDetails(row) : null;
  }

  async getOldestVersions(limit: number, until?: (version: VersionMetadata) => boolean): Promise<VersionMetadata[]> {
    this.assertOpen();
    const oldest: VersionMetadata[] = [];
    let parent = this.sql.getClient.get(this.clientId)?.chain_start ?? null;
    while (parent !== null && oldest.length < limit) {
      const row = this.sql.getVersionMetadataByParent.get(this.clientId, parent);
      if (!row) break;
      const version = toVersionMetadata(row);
      oldest.push(version);
      if (until?.(version)) break;
      parent = row.version_id;
    }
    return oldest;
  }

  async removeOldestVersions(versionIds: readonly Uuid[]): Promise<void> {
    this.assertOpen();
    if (versionIds.length > MAX_REMOVED_VERSIONS) throw new RangeError(`at most ${MAX_REMOVED_VERSIONS} versions are removed at once`);
    const oldest = await this.getOldestVersions(versionIds.length);
    if (oldest.length !== versionIds.length || oldest.some((version, i) => version.versionId !== versionIds[i])) {
      throw new OldestVersionsMovedError();
    }
    const client = this.sql.getClient.get(this.clientId);
    if (!client) throw new ClientNotFoundError();
    if (versionIds.includes(client.latest_version_id as Uuid)) throw new Error("the latest version cannot be removed");
    const last = oldest.at(-1);
    if (!last) return;
    this.db.transaction(() => {
      for (const { versionId } of oldest) this.sql.deleteVersion.run(this.clientId, versionId);
      const bytes = oldest.reduce((sum, version) => sum + version.bytes, 0);
      const used = oldest.reduce((sum, version) => sum + versionFootprint(version.bytes), 0);
      this.sql.advanceChainStart.run(last.versionId, bytes, used, this.clientId);
    })();
  }

  async commit(): Promise<void> {
    this.assertOpen();
    try {
      this.db.exec("COMMIT");
    } catch (error) {
      if (isBusy(error)) throw new StorageUnavailableError("the SQLite database is busy", 1, { cause: error });
      throw error;
    }
    this.committed = true;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
    } finally {
      this.unlock();
    }
  }

  private assertOpen(): void {
    if (this.committed || this.released) throw new Error("the transaction has already ended");
  }
}
