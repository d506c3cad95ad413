/**
 * A transaction of the DynamoDB + S3 storage (README.md in this folder: "A transaction",
 * "Writes", "Crash windows"). Reads go to DynamoDB at once, strongly consistent. Writes are
 * recorded (and visible to this transaction's own reads) until `commit`, which uploads the
 * payloads that live in S3, sends ONE conditional write, and then deletes the replaced
 * snapshot's object. `release` without `commit` has nothing to undo: nothing was written.
 */
import { randomBytes } from "node:crypto";
import { type AttributeValue, PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { ChainMovedError, ClientExistsError, ClientNotFoundError, StorageUnavailableError } from "../errors.ts";
import type { Client, Snapshot, StorageTxn, Version } from "../types.ts";
import { canonicalUuid, NIL_UUID, type Uuid } from "../../uuid.ts";
import { type ClientState, nextRecent, parseClient, storedUuid, toClient } from "./client-item.ts";
import { MAX_INLINE_BYTES_PER_WRITE, MAX_WRITE_ATTEMPTS } from "./constants.ts";
import { ATTR, OBJECT_KIND, objectKey, SK } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { isDefiniteRefusal, writeRefusal } from "./sdk-errors.ts";
import { type PendingWrite, writeRequest } from "./write-request.ts";

export class DynamoTxn implements StorageTxn {
  /** The client item as last read: undefined = not read yet, null = it does not exist. */
  private base: ClientState | null | undefined;
  /** newClient(latest) of this transaction. */
  private create: Uuid | undefined;
  private writes: PendingWrite[] = [];
  /** Uploads of this commit that no write will reference any more (a snapshot that lost a race). */
  private dropped: string[] = [];
  private committed = false;
  private ended = false;

  constructor(
    private readonly calls: SdkCalls,
    private readonly clientId: Uuid,
  ) {}

  private get pending(): boolean {
    return this.create !== undefined || this.writes.length > 0;
  }

  /** The client as this transaction sees it: the base plus its own writes. */
  private view(base = this.base, create = this.create, writes = this.writes): ClientState | null {
    let state: ClientState | null =
      // A new client lists no versions: its given latest is not one of its stored versions.
      create !== undefined ? { latest: create, recent: [], versionCount: 0, snapshot: null, declined: null } : (base ?? null);
    if (!state) return null;
    state = { ...state, recent: state.recent && [...state.recent] };
    for (const op of writes) {
      if (op.kind === "version") {
        if (state.latest !== NIL_UUID && state.latest !== op.parentId) throw new ChainMovedError(state.latest);
        state.recent = nextRecent(state.recent, op.versionId, op.parentId);
        state.latest = op.versionId;
        state.versionCount += 1;
      } else if (op.kind === "snapshot") {
        state.snapshot = { versionId: op.snapshot.versionId, timeMs: op.snapshot.timestamp.getTime(), at: op.at, key: undefined };
        state.declined = null;
      } else {
        state.declined = { timeMs: op.timeMs, at: op.at };
      }
    }
    return state;
  }

  private async ensureBase(): Promise<ClientState | null> {
    if (this.base === undefined && this.create === undefined) this.base = await this.calls.readClient(this.clientId);
    return this.view();
  }

  private assertOpen(): void {
    if (this.ended || this.committed) throw new Error("the transaction has already ended");
  }

  async getClient(): Promise<Client | null> {
    if (!this.pending) this.base = await this.calls.readClient(this.clientId);
    const state = this.view();
    return state && toClient(state);
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    const latest = canonicalUuid(latestVersionId, "latest version id");
    if (this.pending) throw new Error("newClient must be the first write of a transaction");
    if (this.base) throw new ClientExistsError();
    this.create = latest;
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array): Promise<void> {
    this.assertOpen();
    const versionId = canonicalUuid(snapshot.versionId, "snapshot version id");
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    this.writes.push({
      kind: "snapshot",
      snapshot: { versionId, timestamp: new Date(snapshot.timestamp.getTime()), versionsSince: snapshot.versionsSince },
      data: copyBytes(data),
      at: state.versionCount - snapshot.versionsSince,
    });
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.assertOpen();
    const timeMs = timestamp.getTime();
    if (!Number.isFinite(timeMs)) throw new TypeError("the decline's timestamp is not a valid date");
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    this.writes.push({ kind: "decline", timeMs, at: state.versionCount });
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const id = canonicalUuid(versionId, "snapshot version id");
    const pendingSnapshot = this.writes.findLast((op) => op.kind === "snapshot");
    if (pendingSnapshot) return pendingSnapshot.snapshot.versionId === id ? copyBytes(pendingSnapshot.data) : null;
    if (this.create !== undefined) return null;
    if (this.base === undefined) this.base = await this.calls.readClient(this.clientId);
    let snapshot = this.base?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const data = await this.calls.getObject(snapshot.key, "read the snapshot");
    if (data) return data;
    // The object is gone: replaced by a newer snapshot since the client was read?
    snapshot = (await this.calls.readClient(this.clientId))?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const again = await this.calls.getObject(snapshot.key, "read the snapshot");
    if (again) return again;
    throw new Error(`the snapshot object of client ${this.clientId} is missing: ${snapshot.key}`);
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    const parentId = canonicalUuid(parentVersionId, "parent version id");
    const own = this.writes.find((op) => op.kind === "version" && op.parentId === parentId);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    const item = await this.calls.getItem(this.clientId, SK.child(parentId), "read the version by parent");
    return item ? this.versionFrom(item) : null;
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    const id = canonicalUuid(versionId, "version id");
    const own = this.writes.find((op) => op.kind === "version" && op.versionId === id);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    const index = await this.calls.getItem(this.clientId, SK.version(id), "read the version index");
    if (!index) return null;
    const parentId = storedUuid(index[ATTR.parentId], ATTR.parentId);
    const item = await this.calls.getItem(this.clientId, SK.child(parentId), "read the version");
    if (!item) return null;
    const version = await this.versionFrom(item);
    return version.versionId === id ? version : null;
  }

  private async versionFrom(item: Record<string, AttributeValue>): Promise<Version> {
    const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
    const parentVersionId = storedUuid(item[ATTR.parentId], ATTR.parentId);
    const segmentKey = item[ATTR.segmentKey]?.S;
    let historySegment: Uint8Array;
    if (segmentKey) {
      const data = await this.calls.getObject(segmentKey, "read a history segment");
      if (!data) throw new Error(`the segment object of version ${versionId} is missing: ${segmentKey}`);
      historySegment = data;
    } else {
      historySegment = item[ATTR.segment]?.B ?? new Uint8Array(0);
    }
    return { versionId, parentVersionId, historySegment };
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<void> {
    this.assertOpen();
    const id = canonicalUuid(versionId, "version id");
    const parentId = canonicalUuid(parentVersionId, "parent version id");
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    if (state.latest !== NIL_UUID && state.latest !== parentId) throw new ChainMovedError(state.latest);
    if (this.writes.some((op) => op.kind === "version" && (op.versionId === id || op.parentId === parentId))) {
      throw new Error("the version already exists");
    }
    this.writes.push({ kind: "version", versionId: id, parentId, data: copyBytes(historySegment) });
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.committed = true;
    if (!this.pending) return;
    let uploads = new Map<PendingWrite, string>();
    try {
      uploads = await this.upload();
      const replaced = await this.write(uploads);
      // Committed: the replaced snapshot and any dropped upload are referenced by nothing.
      await this.calls.deleteObjects([...(replaced ? [replaced] : []), ...this.dropped]);
    } catch (error) {
      // Delete the uploads only when the write certainly did not commit; when its outcome is
      // unknown (timeout, 5xx) it may reference them: they stay, an orphan at worst.
      if (error instanceof DefiniteError || error instanceof ChainMovedError || isDefiniteRefusal(error)) {
        await this.calls.deleteObjects([...uploads.values(), ...this.dropped]);
      }
      throw error instanceof DefiniteError ? error.cause : error;
    }
  }

  async release(): Promise<void> {
    // Nothing is written before commit, and commit cleans up after itself.
    this.ended = true;
  }

  /** Uploads what lives in S3; returns op → key. On failure deletes what it uploaded. */
  private async upload(): Promise<Map<PendingWrite, string>> {
    const keys = new Map<PendingWrite & { data: Uint8Array }, string>();
    let inlineBytes = 0;
    const lastSnapshot = this.writes.findLast((op) => op.kind === "snapshot");
    for (const op of this.writes) {
      if (op.kind === "version") {
        const inline =
          op.data.byteLength <= this.calls.inlineSegmentMaxBytes && inlineBytes + op.data.byteLength <= MAX_INLINE_BYTES_PER_WRITE;
        if (inline) inlineBytes += op.data.byteLength;
        else keys.set(op, objectKey(this.clientId, OBJECT_KIND.segment, op.versionId, nonce()));
      } else if (op === lastSnapshot) {
        keys.set(op, objectKey(this.clientId, OBJECT_KIND.snapshot, op.snapshot.versionId, nonce()));
      }
    }
    const results = await Promise.allSettled(
      [...keys].map(([op, key]) =>
        this.calls.putObject(key, op.data, op.kind === "version" ? "upload a history segment" : "upload a snapshot"),
      ),
    );
    const failure = results.find((result) => result.status === "rejected");
    if (failure) {
      // No write was sent: nothing can reference these keys (all puts have settled).
      await this.calls.deleteObjects([...keys.values()]);
      throw new DefiniteError(failure.reason);
    }
    return keys;
  }

  /**
   * Sends the conditional write, deciding lost races and conflicts; once it has committed,
   * returns the key of the snapshot object it replaced, if any.
   */
  private async write(uploads: Map<PendingWrite, string>): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.send(uploads);
      if (result.kind === "ok") {
        return this.writes.some((op) => op.kind === "snapshot") ? this.base?.snapshot?.key : undefined;
      }
      let fresh: ClientState | null;
      if (result.kind === "conflict") {
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new DefiniteError(new StorageUnavailableError("DynamoDB: the write kept conflicting with other transactions", 1));
        }
        fresh = await this.calls.readClient(this.clientId);
      } else {
        fresh = result.fresh;
      }
      // "committed": our own write, seen by a retry; what it replaced is unknown now (the
      // sweep deletes it). "done": nothing is left to write.
      if (this.decide(fresh, uploads) !== "retry") return undefined;
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new DefiniteError(new StorageUnavailableError("DynamoDB: the client changed under every attempt to write", 1));
      }
      if (result.kind === "conflict") await this.backoff(attempt);
    }
  }

  private async backoff(attempt: number): Promise<void> {
    const ms = Math.random() * 25 * 2 ** attempt;
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.calls.signal.aborted) throw new StorageUnavailableError("DynamoDB: the transaction ran out of time", 1);
  }

  /**
   * After a failed condition or a conflict, with the client item as it is now: go again
   * ("retry", with the base updated), or end ("done", "committed"), or throw ChainMovedError.
   */
  private decide(fresh: ClientState | null, uploads: Map<PendingWrite, string>): "retry" | "done" | "committed" {
    const lastVersion = this.writes.filter((op) => op.kind === "version").at(-1);
    const snapshotOp = this.writes.findLast((op) => op.kind === "snapshot");
    if (fresh === null) {
      if (this.create !== undefined) return "retry"; // a conflict while creating: try again
      throw new DefiniteError(new ClientNotFoundError());
    }
    // Our own write, committed by an attempt whose answer was lost (the SDK retried it). The
    // transaction's request token makes this unlikely for versions; a single-item write has none.
    if (lastVersion && fresh.latest === lastVersion.versionId) return "committed";
    if (!lastVersion && snapshotOp && uploads.has(snapshotOp) && fresh.snapshot?.key === uploads.get(snapshotOp)) return "committed";
    const expectedSnapKey = this.create !== undefined ? undefined : this.base?.snapshot?.key;
    if (snapshotOp && fresh.snapshot?.key !== expectedSnapKey) {
      // Another snapshot was stored meanwhile: ours loses (see "known benign races").
      this.writes = this.writes.filter((op) => op.kind !== "snapshot");
      const key = uploads.get(snapshotOp);
      if (key) this.dropped.push(key);
      uploads.delete(snapshotOp);
    }
    if (lastVersion) {
      const baseLatest = this.create ?? this.base?.latest;
      if (fresh.latest !== baseLatest) throw new ChainMovedError(fresh.latest);
    } else if (this.create !== undefined) {
      // newClient without versions on a client that exists: the interface's error.
      throw new DefiniteError(new ClientExistsError());
    } else if (this.writes.length === 0) {
      return "done"; // the snapshot was dropped: nothing left to write
    }
    // Rebase on the item as it is now (its latest is what we read, or the client we wanted to
    // create exists with that latest): the view re-checks the chain.
    this.base = fresh;
    this.create = undefined;
    this.view();
    return "retry";
  }

  /** One write attempt. */
  private async send(
    uploads: Map<PendingWrite, string>,
  ): Promise<{ kind: "ok" } | { kind: "condition"; fresh: ClientState | null } | { kind: "conflict" }> {
    const final = this.view();
    if (!final) throw new DefiniteError(new ClientNotFoundError());
    const snapshotWrite = this.writes.findLast((write) => write.kind === "snapshot");
    if (final.snapshot && snapshotWrite) final.snapshot.key = uploads.get(snapshotWrite);
    const base = this.create !== undefined ? null : this.base;
    if (base === undefined) throw new DefiniteError(new ClientNotFoundError());
    const request = writeRequest({
      tableName: this.calls.tableName,
      clientId: this.clientId,
      base,
      final,
      writes: this.writes,
      uploads,
      now: Date.now(),
    });
    try {
      switch (request.kind) {
        case "put":
          await this.calls.ddbSend(new PutItemCommand(request.put), "create the client");
          break;
        case "update":
          await this.calls.ddbSend(new UpdateItemCommand(request.update), "update the client");
          break;
        case "transaction":
          await this.calls.ddbSend(
            // The token makes the SDK's retry of a write that did commit succeed instead of failing its condition.
            new TransactWriteItemsCommand({ TransactItems: request.items, ClientRequestToken: `${nonce()}${nonce()}` }),
            "add the version",
          );
          break;
      }
      return { kind: "ok" };
    } catch (error) {
      const refusal = writeRefusal(error);
      if (refusal === undefined) throw error;
      switch (refusal.kind) {
        case "condition":
          return {
            kind: "condition",
            fresh: refusal.clientItem ? parseClient(refusal.clientItem) : await this.calls.readClient(this.clientId),
          };
        case "conflict":
          return { kind: "conflict" };
        case "cancelled":
          if (refusal.reason === "throttled") {
            throw new DefiniteError(
              new StorageUnavailableError(`DynamoDB: the write was throttled (${refusal.codes})`, 2, { cause: error }),
            );
          }
          if (refusal.reason === "version-exists") {
            throw new DefiniteError(new Error(`the version already exists (${refusal.codes})`, { cause: error }));
          }
          throw new DefiniteError(new Error(`DynamoDB cancelled the write (${refusal.codes})`, { cause: error }));
      }
    }
  }
}

/** Wraps an error after which the write certainly did not commit (its uploads may go). */
class DefiniteError extends Error {
  constructor(override readonly cause: unknown) {
    super("definite failure", { cause });
  }
}

function nonce(): string {
  return randomBytes(8).toString("hex");
}

function copyBytes(data: Uint8Array): Uint8Array {
  return Uint8Array.from(data);
}
