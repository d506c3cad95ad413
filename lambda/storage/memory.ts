/**
 * In-memory storage, for tests and `STORAGE=memory`. A client's transactions run one at a
 * time (a per-client lock held from `txn` to `release`); writes apply at once and are undone
 * on release without commit, which no other transaction can observe while the lock is held.
 */
import { canonicalUuid, NIL_UUID, type Uuid } from "../uuid.ts";
import {
  ChainMovedError,
  ClientExistsError,
  ClientNotFoundError,
  QuotaExceededError,
  OldestVersionsMovedError,
  VersionExistsError,
} from "./errors.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import {
  type AddVersionOptions,
  type Client,
  type ClientDetails,
  type ClientImport,
  type ClientSummary,
  type ClientVerification,
  MAX_REMOVED_VERSIONS,
  type QuotaOptions,
  type Snapshot,
  type SnapshotDecline,
  type Storage,
  type StorageTxn,
  type Version,
  type VerifyOptions,
  type VersionMetadata,
} from "./types.ts";
import { verifyThroughTransactions } from "./transactional-verify.ts";

/**
 * What the quota counts per version besides its segment: the Map entries, the objects and the
 * array's header in V8, about 300 bytes (not a storage to deploy: STORAGE=memory and tests).
 */
export const MEMORY_VERSION_OVERHEAD_BYTES = 384;

interface StoredVersion {
  version: Version;
  addedAt: Date;
}

interface ClientRecord {
  latestVersionId: Uuid;
  snapshot: Snapshot | null;
  snapshotData: Uint8Array | null;
  snapshotDeclined: SnapshotDecline | null;
  versions: Map<Uuid, StoredVersion>;
  childOf: Map<Uuid, Uuid>;
  /** The parent of the oldest stored version; null without versions. */
  chainStart: Uuid | null;
  storedBytes: number;
  highUrgencyRequests: number;
  latestAddedAt: Date | null;
}

export class MemoryStorage implements Storage {
  private readonly clients = new Map<Uuid, ClientRecord>();
  private readonly locks = new KeyedMutex();

  async txn(clientId: Uuid): Promise<StorageTxn> {
    const unlock = await this.locks.acquire(clientId);
    return new MemoryTxn(this.clients, clientId, unlock);
  }

  async *listClients(): AsyncIterable<ClientSummary> {
    for (const [clientId, record] of [...this.clients]) yield summaryOf(clientId, record);
  }

  async removeClient(clientId: Uuid): Promise<boolean> {
    const unlock = await this.locks.acquire(clientId);
    try {
      return this.clients.delete(clientId);
    } finally {
      unlock();
    }
  }

  async importClient(clientId: Uuid, client: ClientImport): Promise<void> {
    const unlock = await this.locks.acquire(clientId);
    try {
      if (this.clients.has(clientId)) throw new ClientExistsError();
      const record = emptyRecord(client.latestVersionId);
      for await (const { addedAt, ...version } of client.versions) {
        record.chainStart ??= version.parentVersionId;
        record.versions.set(version.versionId, {
          version: { ...version, historySegment: Uint8Array.from(version.historySegment) },
          addedAt,
        });
        record.childOf.set(version.parentVersionId, version.versionId);
        record.storedBytes += version.historySegment.byteLength;
        record.latestAddedAt = addedAt;
      }
      record.snapshotDeclined = client.declined ? { ...client.declined } : null;
      if (client.snapshot) {
        const { data, ...snapshot } = client.snapshot;
        record.snapshot = { ...snapshot };
        record.snapshotData = Uint8Array.from(data);
        record.storedBytes += data.byteLength;
      }
      // Nothing is visible until here: the whole client appears at once.
      if (this.clients.has(clientId)) throw new ClientExistsError();
      this.clients.set(clientId, record);
    } finally {
      unlock();
    }
  }

  /** Its transactions commit whole: only a corrupted store could fail the checks, and nothing is repaired. */
  verifyClients(options: VerifyOptions): AsyncIterable<ClientVerification> {
    return verifyThroughTransactions(this, options);
  }

  async close(): Promise<void> {}
}

class MemoryTxn implements StorageTxn {
  private readonly undo: Array<() => void> = [];
  private committed = false;
  private released = false;

  constructor(
    private readonly clients: Map<Uuid, ClientRecord>,
    private readonly clientId: Uuid,
    private readonly unlock: () => void,
  ) {}

  private record(): ClientRecord | undefined {
    return this.clients.get(this.clientId);
  }

  private existing(): ClientRecord {
    this.assertOpen();
    const record = this.record();
    if (!record) throw new ClientNotFoundError();
    return record;
  }

  private assertOpen(): void {
    if (this.committed || this.released) throw new Error("the transaction has already ended");
  }

  /** Changes `record`, to be restored if the transaction does not commit. */
  private change(record: ClientRecord, update: Partial<ClientRecord>): void {
    const before: Partial<ClientRecord> = {};
    for (const key of Object.keys(update) as (keyof ClientRecord)[]) Object.assign(before, { [key]: record[key] });
    Object.assign(record, update);
    this.undo.push(() => Object.assign(record, before));
  }

  async getClient(): Promise<Client | null> {
    const record = this.record();
    return record
      ? {
          latestVersionId: record.latestVersionId,
          snapshot: record.snapshot && { ...record.snapshot },
          snapshotDeclined: record.snapshotDeclined && { ...record.snapshotDeclined },
          highUrgencyRequests: record.highUrgencyRequests,
        }
      : null;
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    if (this.record()) throw new ClientExistsError();
    this.clients.set(this.clientId, emptyRecord(canonicalUuid(latestVersionId, "latest version id")));
    this.undo.push(() => this.clients.delete(this.clientId));
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array, options: QuotaOptions = {}): Promise<void> {
    const record = this.existing();
    // The replaced snapshot's memory is freed.
    const used = usedBytes(record);
    if (options.maxClientBytes !== undefined && used - (record.snapshotData?.byteLength ?? 0) + data.byteLength > options.maxClientBytes) {
      throw new QuotaExceededError(used);
    }
    this.change(record, {
      snapshot: { ...snapshot },
      snapshotData: Uint8Array.from(data),
      snapshotDeclined: null,
      highUrgencyRequests: 0,
      storedBytes: record.storedBytes - (record.snapshotData?.byteLength ?? 0) + data.byteLength,
    });
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    const record = this.existing();
    this.change(record, { snapshotDeclined: { timestamp, versionsSince: 0 }, highUrgencyRequests: 0 });
  }

  async countHighUrgencyRequest(): Promise<number> {
    const record = this.existing();
    this.change(record, { highUrgencyRequests: record.highUrgencyRequests + 1 });
    return record.highUrgencyRequests;
  }

  async resetHighUrgencyRequests(): Promise<void> {
    this.change(this.existing(), { highUrgencyRequests: 0 });
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const record = this.record();
    return record?.snapshot?.versionId === versionId && record.snapshotData ? Uint8Array.from(record.snapshotData) : null;
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    const record = this.record();
    const childId = record?.childOf.get(parentVersionId);
    return childId ? copy(record?.versions.get(childId)?.version) : null;
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    return copy(this.record()?.versions.get(versionId)?.version);
  }

  async hasVersion(versionId: Uuid): Promise<boolean> {
    return this.record()?.versions.has(versionId) ?? false;
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array, options: AddVersionOptions = {}): Promise<void> {
    const record = this.existing();
    if (record.latestVersionId !== NIL_UUID && record.latestVersionId !== parentVersionId) {
      throw new ChainMovedError(record.latestVersionId);
    }
    const used = usedBytes(record);
    if (options.maxClientBytes !== undefined && used + historySegment.byteLength + MEMORY_VERSION_OVERHEAD_BYTES > options.maxClientBytes) {
      throw new QuotaExceededError(used);
    }
    if (record.versions.has(versionId)) throw new VersionExistsError();
    const addedAt = new Date();
    record.versions.set(versionId, { version: { versionId, parentVersionId, historySegment: Uint8Array.from(historySegment) }, addedAt });
    record.childOf.set(parentVersionId, versionId);
    this.undo.push(() => {
      record.versions.delete(versionId);
      record.childOf.delete(parentVersionId);
    });
    const since = <T extends { versionsSince: number }>(value: T | null): T | null =>
      value && { ...value, versionsSince: value.versionsSince + 1 };
    this.change(record, {
      latestVersionId: versionId,
      chainStart: record.chainStart ?? parentVersionId,
      storedBytes: record.storedBytes + historySegment.byteLength,
      latestAddedAt: addedAt,
      snapshot: since(record.snapshot),
      snapshotDeclined: since(record.snapshotDeclined),
    });
  }

  async getClientDetails(): Promise<ClientDetails | null> {
    const record = this.record();
    return record ? summaryOf(this.clientId, record) : null;
  }

  async getOldestVersions(limit: number, until?: (version: VersionMetadata) => boolean): Promise<VersionMetadata[]> {
    const record = this.record();
    const oldest: VersionMetadata[] = [];
    let parent = record?.chainStart ?? null;
    while (record && parent !== null && oldest.length < limit) {
      const childId = record.childOf.get(parent);
      const stored = childId === undefined ? undefined : record.versions.get(childId);
      if (!stored) break;
      const { version, addedAt } = stored;
      const metadata = {
        versionId: version.versionId,
        parentVersionId: version.parentVersionId,
        addedAt,
        bytes: version.historySegment.byteLength,
      };
      oldest.push(metadata);
      if (until?.(metadata)) break;
      parent = version.versionId;
    }
    return oldest;
  }

  async removeOldestVersions(versionIds: readonly Uuid[]): Promise<void> {
    const record = this.existing();
    if (versionIds.length > MAX_REMOVED_VERSIONS) throw new RangeError(`at most ${MAX_REMOVED_VERSIONS} versions are removed at once`);
    const oldest = await this.getOldestVersions(versionIds.length);
    if (oldest.length !== versionIds.length || oldest.some((version, i) => version.versionId !== versionIds[i])) {
      throw new OldestVersionsMovedError();
    }
    if (versionIds.includes(record.latestVersionId)) throw new Error("the latest version cannot be removed");
    for (const { versionId, parentVersionId } of oldest) {
      const stored = record.versions.get(versionId);
      record.versions.delete(versionId);
      record.childOf.delete(parentVersionId);
      this.undo.push(() => {
        if (stored) record.versions.set(versionId, stored);
        record.childOf.set(parentVersionId, versionId);
      });
    }
    const last = oldest.at(-1);
    if (last) {
      this.change(record, {
        chainStart: last.versionId,
        storedBytes: record.storedBytes - oldest.reduce((sum, version) => sum + version.bytes, 0),
      });
    }
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.committed = true;
    this.undo.length = 0;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (!this.committed) for (const step of this.undo.reverse()) step();
    this.unlock();
  }
}

function emptyRecord(latestVersionId: Uuid): ClientRecord {
  return {
    latestVersionId,
    snapshot: null,
    snapshotData: null,
    snapshotDeclined: null,
    versions: new Map(),
    childOf: new Map(),
    chainStart: null,
    storedBytes: 0,
    highUrgencyRequests: 0,
    latestAddedAt: null,
  };
}

function summaryOf(clientId: Uuid, record: ClientRecord): ClientDetails {
  const oldestId = record.chainStart === null ? undefined : record.childOf.get(record.chainStart);
  return {
    clientId,
    latestVersionId: record.latestVersionId,
    oldestVersion:
      oldestId === undefined || record.chainStart === null ? null : { versionId: oldestId, parentVersionId: record.chainStart },
    versions: record.versions.size,
    storedBytes: record.storedBytes,
    usedBytes: usedBytes(record),
    snapshot: record.snapshot && { ...record.snapshot },
    latestAddedAt: record.latestAddedAt,
  };
}

/** What the quota counts: the payloads and each version's overhead (nothing deleted is kept). */
function usedBytes(record: ClientRecord): number {
  return record.storedBytes + record.versions.size * MEMORY_VERSION_OVERHEAD_BYTES;
}

function copy(version: Version | undefined): Version | null {
  return version ? { ...version, historySegment: Uint8Array.from(version.historySegment) } : null;
}
