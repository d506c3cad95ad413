/**
 * In-memory storage, for tests and `STORAGE=memory`. A client's transactions run one at a
 * time (a per-client lock held from `txn` to `release`); writes apply at once and are undone
 * on release without commit, which no other transaction can observe while the lock is held.
 */
import { ChainMovedError, ClientExistsError, ClientNotFoundError } from "./errors.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import type { Client, Snapshot, SnapshotDecline, Storage, StorageTxn, Version } from "./types.ts";
import { NIL_UUID, type Uuid } from "../uuid.ts";

interface ClientRecord {
  latestVersionId: Uuid;
  snapshot: Snapshot | null;
  snapshotData: Uint8Array | null;
  snapshotDeclined: SnapshotDecline | null;
  versions: Map<Uuid, Version>;
  childOf: Map<Uuid, Uuid>;
}

export class MemoryStorage implements Storage {
  private readonly clients = new Map<Uuid, ClientRecord>();
  private readonly locks = new KeyedMutex();

  async txn(clientId: Uuid): Promise<StorageTxn> {
    const unlock = await this.locks.acquire(clientId);
    return new MemoryTxn(this.clients, clientId, unlock);
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

  async getClient(): Promise<Client | null> {
    const record = this.record();
    return record
      ? {
          latestVersionId: record.latestVersionId,
          snapshot: record.snapshot && { ...record.snapshot },
          snapshotDeclined: record.snapshotDeclined && { ...record.snapshotDeclined },
        }
      : null;
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    if (this.record()) throw new ClientExistsError();
    this.clients.set(this.clientId, {
      latestVersionId,
      snapshot: null,
      snapshotData: null,
      snapshotDeclined: null,
      versions: new Map(),
      childOf: new Map(),
    });
    this.undo.push(() => this.clients.delete(this.clientId));
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array): Promise<void> {
    const record = this.existing();
    const before = { snapshot: record.snapshot, snapshotData: record.snapshotData, snapshotDeclined: record.snapshotDeclined };
    record.snapshot = { ...snapshot };
    record.snapshotData = Uint8Array.from(data);
    record.snapshotDeclined = null;
    this.undo.push(() => Object.assign(record, before));
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    const record = this.existing();
    const before = record.snapshotDeclined;
    record.snapshotDeclined = { timestamp, versionsSince: 0 };
    this.undo.push(() => (record.snapshotDeclined = before));
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const record = this.record();
    return record?.snapshot?.versionId === versionId && record.snapshotData ? Uint8Array.from(record.snapshotData) : null;
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    const record = this.record();
    const childId = record?.childOf.get(parentVersionId);
    return childId ? copy(record?.versions.get(childId)) : null;
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    return copy(this.record()?.versions.get(versionId));
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<void> {
    const record = this.existing();
    if (record.latestVersionId !== NIL_UUID && record.latestVersionId !== parentVersionId) {
      throw new ChainMovedError(record.latestVersionId);
    }
    if (record.versions.has(versionId)) throw new Error("the version already exists");
    const before = { latestVersionId: record.latestVersionId, snapshot: record.snapshot, snapshotDeclined: record.snapshotDeclined };
    record.versions.set(versionId, { versionId, parentVersionId, historySegment: Uint8Array.from(historySegment) });
    record.childOf.set(parentVersionId, versionId);
    record.latestVersionId = versionId;
    if (record.snapshot) record.snapshot = { ...record.snapshot, versionsSince: record.snapshot.versionsSince + 1 };
    if (record.snapshotDeclined)
      record.snapshotDeclined = { ...record.snapshotDeclined, versionsSince: record.snapshotDeclined.versionsSince + 1 };
    this.undo.push(() => {
      record.versions.delete(versionId);
      record.childOf.delete(parentVersionId);
      Object.assign(record, before);
    });
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

function copy(version: Version | undefined): Version | null {
  return version ? { ...version, historySegment: Uint8Array.from(version.historySegment) } : null;
}
