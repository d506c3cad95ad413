/**
 * A transaction of the DynamoDB + S3 storage (README.md in this folder: "A transaction",
 * "Writes", "Crash windows"). Reads go to DynamoDB at once, strongly consistent. Writes are
 * recorded (and visible to this transaction's own reads) until `commit`, which uploads the
 * payloads that live in S3, sends ONE conditional write, and then deletes the objects the
 * write made unreferenced. `release` without `commit` has nothing to undo: nothing was written.
 */
import { randomBytes } from "node:crypto";
import { type AttributeValue, PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { canonicalUuid, NIL_UUID, type Uuid } from "../../uuid.ts";
import { ChainMovedError, ClientExistsError, ClientNotFoundError, QuotaExceededError, StorageUnavailableError } from "../errors.ts";
import {
  type AddVersionOptions,
  type Client,
  type ClientDetails,
  MAX_REMOVED_VERSIONS,
  type Snapshot,
  type StorageTxn,
  type Version,
  type VersionMetadata,
} from "../types.ts";
import { type ClientState, isLegacy, nextTail, parseClient, storedUuid, toClient } from "./client-item.ts";
import { MAX_INLINE_BYTES_PER_WRITE, MAX_WRITE_ATTEMPTS } from "./constants.ts";
import { ATTR, SK, segmentKey, snapshotKey } from "./layout.ts";
import { upgradeLegacyClient } from "./legacy.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { isDefiniteRefusal, writeRefusal } from "./sdk-errors.ts";
import { type PendingWrite, type RemovedVersion, writeRequest } from "./write-request.ts";

/** What a version walk reads of each version item (never its inline segment). */
const VERSION_METADATA = [ATTR.versionId, ATTR.parentId, ATTR.segmentSize, ATTR.created, ATTR.segmentKey];

export class DynamoTxn implements StorageTxn {
  /** The client item as last read: undefined = not read yet, null = it does not exist. */
  private base: ClientState | null | undefined;
  /** newClient(latest) of this transaction. */
  private create: Uuid | undefined;
  private writes: PendingWrite[] = [];
  private storedBytesAtMost: number | undefined;
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

  /**
   * The client as this transaction sees it: the base plus its own writes. Strict, a version
   * that does not follow latest is the chain moving (ChainMovedError); lenient (for reads), it
   * is left out: the commit will find out.
   */
  private view(strict = true): ClientState | null {
    let state: ClientState | null =
      this.create !== undefined
        ? {
            latest: this.create,
            // A new client lists no versions: its given latest is not one of its stored versions.
            tail: [],
            base: null,
            versionCount: 0,
            pruned: 0,
            bytes: 0,
            lastAddedMs: null,
            high: 0,
            snapshot: null,
            declined: null,
          }
        : (this.base ?? null);
    if (!state) return null;
    state = { ...state, tail: [...state.tail] };
    for (const write of this.writes) {
      switch (write.kind) {
        case "version":
          if (state.latest !== NIL_UUID && state.latest !== write.parentId) {
            if (strict) throw new ChainMovedError(state.latest);
            continue;
          }
          state.tail = nextTail(state.versionCount === 0 ? [] : state.tail, [write.versionId], write.parentId);
          state.latest = write.versionId;
          state.base = state.base === null ? write.parentId : state.base;
          state.versionCount += 1;
          state.bytes = state.bytes === undefined ? undefined : state.bytes + write.data.byteLength;
          state.lastAddedMs = Date.now();
          break;
        case "snapshot":
          state.bytes = state.bytes === undefined ? undefined : state.bytes - (state.snapshot?.size ?? 0) + write.data.byteLength;
          state.snapshot = {
            versionId: write.snapshot.versionId,
            timeMs: write.snapshot.timestamp.getTime(),
            at: write.at,
            key: undefined,
            size: write.data.byteLength,
          };
          state.declined = null;
          state.high = 0;
          break;
        case "decline":
          state.declined = { timeMs: write.timeMs, at: write.at };
          state.high = 0;
          break;
        case "high-urgency":
          state.high += 1;
          break;
        case "reset-high-urgency":
          state.high = 0;
          break;
        case "remove-oldest":
          state.base = write.versions.at(-1)?.versionId ?? state.base;
          state.pruned += write.versions.length;
          state.bytes = (state.bytes ?? 0) - write.versions.reduce((sum, version) => sum + version.bytes, 0);
          break;
      }
    }
    return state;
  }

  /** Reads the client item unless this transaction creates it or read it already. */
  private async ensureBase(): Promise<ClientState | null> {
    if (this.base === undefined && this.create === undefined) this.base = await this.calls.readClient(this.clientId);
    return this.view();
  }

  /** As `ensureBase`, with a 0.1.0 item first given what quotas and pruning need. */
  private async ensureCurrentBase(): Promise<ClientState> {
    let state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    if (this.create === undefined && this.base && isLegacy(this.base)) {
      if (this.pending) throw new Error("a 0.1.0 client is upgraded before any write of the transaction");
      this.base = await upgradeLegacyClient(this.calls, this.clientId, this.base);
      state = this.view();
      if (!state) throw new ClientNotFoundError();
    }
    return state;
  }

  private assertOpen(): void {
    if (this.ended || this.committed) throw new Error("the transaction has already ended");
  }

  private assertNoRemoval(): void {
    if (this.writes.some((write) => write.kind === "remove-oldest")) throw new Error("a removal of versions is a transaction's only write");
  }

  async getClient(): Promise<Client | null> {
    // Pending versions need no read to be written: read now if nothing was read yet.
    if (!this.pending || (this.base === undefined && this.create === undefined)) this.base = await this.calls.readClient(this.clientId);
    const state = this.view(false);
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
    this.assertNoRemoval();
    const versionId = canonicalUuid(snapshot.versionId, "snapshot version id");
    const state = await this.ensureCurrentBase();
    this.writes.push({
      kind: "snapshot",
      snapshot: { versionId, timestamp: new Date(snapshot.timestamp.getTime()), versionsSince: snapshot.versionsSince },
      data: copyBytes(data),
      at: state.versionCount - snapshot.versionsSince,
    });
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    const timeMs = timestamp.getTime();
    if (!Number.isFinite(timeMs)) throw new TypeError("the decline's timestamp is not a valid date");
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    this.writes.push({ kind: "decline", timeMs, at: state.versionCount });
  }

  async countHighUrgencyRequest(): Promise<number> {
    this.assertOpen();
    this.assertNoRemoval();
    const state = await this.ensureBase();
    if (!state) throw new ClientNotFoundError();
    this.writes.push({ kind: "high-urgency" });
    return state.high + 1;
  }

  async resetHighUrgencyRequests(): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    if (!(await this.ensureBase())) throw new ClientNotFoundError();
    this.writes.push({ kind: "reset-high-urgency" });
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const id = canonicalUuid(versionId, "snapshot version id");
    const pendingSnapshot = this.writes.findLast((write) => write.kind === "snapshot");
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
    const own = this.writes.find((write) => write.kind === "version" && write.parentId === parentId);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    const item = await this.calls.getItem(this.clientId, SK.child(parentId), "read the version by parent");
    return item ? this.versionFrom(item) : null;
  }

  /**
   * By id: one of the newest versions is one read (its parent is the next slot); an older one
   * of a 0.1.0 client is found through its index item; any other through a query of the
   * client's version items (a rare path: the protocol asks only for the newest).
   */
  async getVersion(versionId: Uuid): Promise<Version | null> {
    const id = canonicalUuid(versionId, "version id");
    const own = this.writes.find((write) => write.kind === "version" && write.versionId === id);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    if (this.base === undefined && this.create === undefined) this.base = await this.calls.readClient(this.clientId);
    const tail = this.base?.tail ?? [];
    const parentId = tail[tail.indexOf(id) + 1];
    if (tail.includes(id) && parentId !== undefined) {
      const item = await this.calls.getItem(this.clientId, SK.child(parentId), "read the version");
      return item && storedUuid(item[ATTR.versionId], ATTR.versionId) === id ? this.versionFrom(item) : null;
    }
    const index = await this.calls.getItem(this.clientId, SK.version(id), "read the version index");
    if (index) {
      const item = await this.calls.getItem(this.clientId, SK.child(storedUuid(index[ATTR.parentId], ATTR.parentId)), "read the version");
      if (item && storedUuid(item[ATTR.versionId], ATTR.versionId) === id) return this.versionFrom(item);
    }
    for await (const item of this.calls.queryItems(this.clientId, SK.childPrefix, "look for a version by id", [
      ATTR.versionId,
      ATTR.parentId,
    ])) {
      if (item[ATTR.versionId]?.S === id) {
        const found = await this.calls.getItem(this.clientId, SK.child(storedUuid(item[ATTR.parentId], ATTR.parentId)), "read the version");
        return found ? this.versionFrom(found) : null;
      }
    }
    return null;
  }

  private async versionFrom(item: Record<string, AttributeValue>): Promise<Version> {
    const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
    const parentVersionId = storedUuid(item[ATTR.parentId], ATTR.parentId);
    const key = item[ATTR.segmentKey]?.S;
    let historySegment: Uint8Array;
    if (key) {
      const data = await this.calls.getObject(key, "read a history segment");
      if (!data) throw new Error(`the segment object of version ${versionId} is missing: ${key}`);
      historySegment = data;
    } else {
      historySegment = item[ATTR.segment]?.B ?? new Uint8Array(0);
    }
    return { versionId, parentVersionId, historySegment };
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array, options: AddVersionOptions = {}): Promise<void> {
    this.assertOpen();
    this.assertNoRemoval();
    const id = canonicalUuid(versionId, "version id");
    const parentId = canonicalUuid(parentVersionId, "parent version id");
    // No read: the commit's condition is the chain's rule. What was read already is checked now.
    if (this.create !== undefined || this.base !== undefined) {
      const state = this.view();
      if (!state) throw new ClientNotFoundError();
      if (state.latest !== NIL_UUID && state.latest !== parentId) throw new ChainMovedError(state.latest);
    }
    if (this.writes.some((write) => write.kind === "version" && (write.versionId === id || write.parentId === parentId))) {
      throw new Error("the version already exists");
    }
    const previous = this.writes.findLast((write) => write.kind === "version");
    if (previous && previous.versionId !== parentId) throw new ChainMovedError(previous.versionId);
    this.writes.push({ kind: "version", versionId: id, parentId, data: copyBytes(historySegment) });
    if (options.storedBytesAtMost !== undefined) {
      this.storedBytesAtMost = Math.min(this.storedBytesAtMost ?? Number.POSITIVE_INFINITY, options.storedBytesAtMost);
    }
  }

  async getClientDetails(): Promise<ClientDetails | null> {
    if (this.base === undefined && this.create === undefined) this.base = await this.calls.readClient(this.clientId);
    if (this.base === null && this.create === undefined) return null;
    const state = await this.ensureCurrentBase();
    const oldest =
      state.base === null || state.base === undefined
        ? undefined
        : await this.calls.getItem(this.clientId, SK.child(state.base), "read the oldest version", [ATTR.versionId]);
    return {
      clientId: this.clientId,
      latestVersionId: state.latest,
      oldestVersion:
        oldest && state.base ? { versionId: storedUuid(oldest[ATTR.versionId], ATTR.versionId), parentVersionId: state.base } : null,
      versions: state.versionCount - state.pruned,
      storedBytes: state.bytes ?? 0,
      snapshot: toClient(state).snapshot,
      latestAddedAt: state.lastAddedMs === null ? null : new Date(state.lastAddedMs),
    };
  }

  async getOldestVersions(limit: number): Promise<VersionMetadata[]> {
    return (await this.oldest(limit)).map(({ segmentKey: _, ...metadata }) => metadata);
  }

  /** Walks from the chain's start: one consistent read per version, never of its segment. */
  private async oldest(limit: number): Promise<(VersionMetadata & { segmentKey: string | undefined })[]> {
    if (this.base === undefined && this.create === undefined) this.base = await this.calls.readClient(this.clientId);
    if (this.base === null && this.create === undefined) return [];
    const state = await this.ensureCurrentBase();
    const oldest: (VersionMetadata & { segmentKey: string | undefined })[] = [];
    let parent = state.base ?? null;
    while (parent !== null && oldest.length < limit) {
      const item = await this.calls.getItem(this.clientId, SK.child(parent), "read an old version", VERSION_METADATA);
      if (!item) break;
      const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
      oldest.push({
        versionId,
        parentVersionId: parent,
        addedAt: new Date(Number(item[ATTR.created]?.N ?? "0")),
        bytes: Number(item[ATTR.segmentSize]?.N ?? "0"),
        segmentKey: item[ATTR.segmentKey]?.S,
      });
      parent = versionId;
    }
    return oldest;
  }

  async removeOldestVersions(versionIds: readonly Uuid[]): Promise<void> {
    this.assertOpen();
    if (this.pending) throw new Error("a removal of versions is a transaction's only write");
    if (versionIds.length === 0) return;
    if (versionIds.length > MAX_REMOVED_VERSIONS) throw new RangeError(`at most ${MAX_REMOVED_VERSIONS} versions are removed at once`);
    const oldest = await this.oldest(versionIds.length);
    const state = this.view();
    if (oldest.length !== versionIds.length || oldest.some((version, i) => version.versionId !== versionIds[i]) || !state?.base) {
      throw new Error("these are not the client's oldest versions");
    }
    if (versionIds.includes(state.latest)) throw new Error("the latest version cannot be removed");
    const versions: RemovedVersion[] = oldest.map((version) => ({
      versionId: version.versionId,
      parentId: version.parentVersionId,
      bytes: version.bytes,
      segmentKey: version.segmentKey,
    }));
    this.writes.push({ kind: "remove-oldest", expectedBase: state.base, versions });
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.committed = true;
    if (!this.pending) return;
    // Ids are random UUIDs: only the newest, which the transaction may have read, are checked
    // here (the key `CHILD#<parent>` is what keeps the chain from forking).
    const tail = this.base?.tail ?? [];
    if (this.writes.some((write) => write.kind === "version" && tail.includes(write.versionId)))
      throw new Error("the version already exists");
    let uploads = new Map<PendingWrite, string>();
    try {
      uploads = await this.upload();
      const unreferenced = await this.write(uploads);
      // Committed: what it replaced or removed, and any dropped upload, is referenced by nothing.
      await this.calls.deleteObjects([...unreferenced, ...this.dropped]);
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

  /** Uploads what lives in S3; returns write → key. On failure deletes what it uploaded. */
  private async upload(): Promise<Map<PendingWrite, string>> {
    const keys = new Map<PendingWrite & { data: Uint8Array }, string>();
    let inlineBytes = 0;
    const lastSnapshot = this.writes.findLast((write) => write.kind === "snapshot");
    for (const write of this.writes) {
      if (write.kind === "version") {
        const size = write.data.byteLength;
        const inline = size <= this.calls.inlineSegmentMaxBytes && inlineBytes + size <= MAX_INLINE_BYTES_PER_WRITE;
        if (inline) inlineBytes += size;
        else keys.set(write, segmentKey(this.clientId, write.parentId, write.versionId, nonce()));
      } else if (write === lastSnapshot) {
        keys.set(write, snapshotKey(this.clientId, write.snapshot.versionId, nonce()));
      }
    }
    const results = await Promise.allSettled(
      [...keys].map(([write, key]) =>
        this.calls.putObject(key, write.data, write.kind === "version" ? "upload a history segment" : "upload a snapshot"),
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
   * returns the keys of the objects it made unreferenced (a replaced snapshot, removed segments).
   */
  private async write(uploads: Map<PendingWrite, string>): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.send(uploads);
      if (result.kind === "ok") return this.unreferenced();
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
      if ((await this.decide(fresh, uploads)) !== "retry") return [];
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new DefiniteError(new StorageUnavailableError("DynamoDB: the client changed under every attempt to write", 1));
      }
      if (result.kind === "conflict") await this.backoff(attempt);
    }
  }

  /** The objects a committed write made unreferenced. */
  private unreferenced(): string[] {
    const keys: string[] = [];
    const replaced = this.writes.some((write) => write.kind === "snapshot") ? this.base?.snapshot?.key : undefined;
    if (replaced) keys.push(replaced);
    for (const write of this.writes) {
      if (write.kind === "remove-oldest") for (const version of write.versions) if (version.segmentKey) keys.push(version.segmentKey);
    }
    return keys;
  }

  private async backoff(attempt: number): Promise<void> {
    const ms = Math.random() * 25 * 2 ** attempt;
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.calls.signal.aborted) throw new StorageUnavailableError("DynamoDB: the transaction ran out of time", 1);
  }

  /**
   * After a failed condition or a conflict, with the client item as it is now: go again
   * ("retry", with the base updated), or end ("done", "committed"), or throw why not
   * (ChainMovedError, QuotaExceededError, ...).
   */
  private async decide(fresh: ClientState | null, uploads: Map<PendingWrite, string>): Promise<"retry" | "done" | "committed"> {
    const versions = this.writes.filter((write) => write.kind === "version");
    const first = versions[0];
    const last = versions.at(-1);
    const snapshotWrite = this.writes.findLast((write) => write.kind === "snapshot");
    if (fresh === null) {
      if (this.create !== undefined) return "retry"; // a conflict while creating: try again
      throw new DefiniteError(new ClientNotFoundError());
    }
    // Our own write, committed by an attempt whose answer was lost (the SDK retried it). The
    // transaction's request token makes this unlikely for versions; a single-item write has none.
    if (last && fresh.latest === last.versionId) return "committed";
    if (!last && snapshotWrite && uploads.has(snapshotWrite) && fresh.snapshot?.key === uploads.get(snapshotWrite)) return "committed";
    const expectedSnapKey = this.create !== undefined ? undefined : this.base?.snapshot?.key;
    if (this.create !== undefined) {
      // newClient on a client that exists: without versions that is the interface's error; with
      // versions they go onto the client as it is, if the chain allows (checked below).
      if (!first) throw new DefiniteError(new ClientExistsError());
      this.create = undefined;
    }
    if (first) {
      if (fresh.latest !== NIL_UUID && fresh.latest !== first.parentId) throw new ChainMovedError(fresh.latest);
      if (versions.some((version) => fresh?.tail.includes(version.versionId)))
        throw new DefiniteError(new Error("the version already exists"));
      if (isLegacy(fresh)) fresh = await upgradeLegacyClient(this.calls, this.clientId, fresh);
      if (!fresh) throw new DefiniteError(new ClientNotFoundError());
      if (this.storedBytesAtMost !== undefined && (fresh.bytes ?? 0) > this.storedBytesAtMost) {
        throw new DefiniteError(new QuotaExceededError(fresh.bytes ?? 0));
      }
    }
    if (snapshotWrite && fresh.snapshot?.key !== expectedSnapKey) {
      // Another snapshot was stored meanwhile: ours loses (see "known benign races").
      this.writes = this.writes.filter((write) => write.kind !== "snapshot");
      const key = uploads.get(snapshotWrite);
      if (key) this.dropped.push(key);
      uploads.delete(snapshotWrite);
    }
    const removal = this.writes.find((write) => write.kind === "remove-oldest");
    if (removal && fresh.base !== removal.expectedBase) {
      throw new DefiniteError(new Error("these are not the client's oldest versions any more (another removal ran first)"));
    }
    if (this.writes.length === 0) return "done"; // the snapshot was dropped: nothing left to write
    this.base = fresh;
    return "retry";
  }

  /** One write attempt. */
  private async send(
    uploads: Map<PendingWrite, string>,
  ): Promise<{ kind: "ok" } | { kind: "condition"; fresh: ClientState | null } | { kind: "conflict" }> {
    let created: ClientState | undefined;
    if (this.create !== undefined) {
      created = this.view() ?? undefined;
      const snapshotWrite = this.writes.findLast((write) => write.kind === "snapshot");
      if (created?.snapshot && snapshotWrite) created.snapshot.key = uploads.get(snapshotWrite);
      // A new client's bytes are 0 before its versions.
      if (this.storedBytesAtMost !== undefined && this.storedBytesAtMost < 0) throw new DefiniteError(new QuotaExceededError(0));
    }
    const request = writeRequest({
      tableName: this.calls.tableName,
      clientId: this.clientId,
      created,
      base: this.base,
      writes: this.writes,
      uploads,
      storedBytesAtMost: this.storedBytesAtMost,
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
            "write the client and its versions",
          );
          break;
      }
      return { kind: "ok" };
    } catch (error) {
      const refusal = writeRefusal(error);
      if (refusal === undefined) throw error;
      switch (refusal.kind) {
        case "condition":
          // Every client write asks for ALL_OLD: no item back means there is none. (Were that
          // ever wrong, the create path's own condition would find the client, and rebase.)
          return { kind: "condition", fresh: refusal.clientItem ? parseClient(refusal.clientItem) : null };
        case "conflict":
          return { kind: "conflict" };
        case "cancelled":
          if (refusal.reason === "throttled") {
            throw new DefiniteError(
              new StorageUnavailableError(`DynamoDB: the write was throttled (${refusal.codes})`, 2, { cause: error }),
            );
          }
          if (refusal.reason === "version-exists") {
            throw new DefiniteError(
              new Error(`the version already exists, or is not there to remove (${refusal.codes})`, { cause: error }),
            );
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
