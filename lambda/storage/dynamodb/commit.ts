/**
 * A transaction's commit (README.md in this folder: "Writes", "Crash windows"): upload the
 * payloads that live in S3, send ONE conditional write, and then delete the objects the write
 * made unreferenced. A refused write is decided from the client item it returns (ALL_OLD): a
 * lost race or a stale parent is ChainMovedError, a client that moved on in a way that leaves
 * the writes valid is written again on top of it.
 */
import { PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
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
import { type ClientState, isLegacy, parseClient } from "./client-item.ts";
import { MAX_INLINE_BYTES_PER_WRITE, MAX_WRITE_ATTEMPTS } from "./constants.ts";
import { objectNonce, segmentKey, snapshotKey } from "./layout.ts";
import { upgradeLegacyClient } from "./legacy.ts";
import { hasWrites, type PendingState, pendingView } from "./pending-state.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { isDefiniteRefusal, writeRefusal } from "./sdk-errors.ts";
import { type PendingWrite, writeRequest } from "./write-request.ts";

/** Writes what `pending` holds; on return it is stored, on a throw it certainly is not or may be (an unknown outcome). */
export async function commitPending(calls: SdkCalls, clientId: Uuid, pending: PendingState): Promise<void> {
  if (!hasWrites(pending)) return;
  // Ids are random UUIDs: only the newest, which the transaction may have read, are checked
  // here (the key `CHILD#<parent>` is what keeps the chain from forking).
  const tail = pending.base?.tail ?? [];
  if (pending.writes.some((write) => write.kind === "version" && tail.includes(write.versionId))) {
    throw new VersionExistsError();
  }
  await new Commit(calls, clientId, pending).run();
}

/** One commit: its uploads, its write attempts, and the objects it leaves to delete. */
class Commit {
  /** Uploads that no write will reference any more (a snapshot that lost a race). */
  private dropped: string[] = [];

  constructor(
    private readonly calls: SdkCalls,
    private readonly clientId: Uuid,
    private readonly pending: PendingState,
  ) {}

  async run(): Promise<void> {
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

  /** Uploads what lives in S3; returns write → key. On failure deletes what it uploaded. */
  private async upload(): Promise<Map<PendingWrite, string>> {
    const keys = new Map<PendingWrite & { data: Uint8Array }, string>();
    let inlineBytes = 0;
    const lastSnapshot = this.pending.writes.findLast((write) => write.kind === "snapshot");
    for (const write of this.pending.writes) {
      if (write.kind === "version") {
        const size = write.data.byteLength;
        const inline = size <= this.calls.inlineSegmentMaxBytes && inlineBytes + size <= MAX_INLINE_BYTES_PER_WRITE;
        if (inline) inlineBytes += size;
        else keys.set(write, segmentKey(this.clientId, write.parentId, write.versionId, objectNonce()));
      } else if (write === lastSnapshot) {
        keys.set(write, snapshotKey(this.clientId, write.snapshot.versionId, objectNonce()));
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
    const replaced = this.pending.writes.some((write) => write.kind === "snapshot") ? this.pending.base?.snapshot?.key : undefined;
    if (replaced) keys.push(replaced);
    for (const write of this.pending.writes) {
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
    const pending = this.pending;
    const versions = pending.writes.filter((write) => write.kind === "version");
    const first = versions[0];
    const last = versions.at(-1);
    const snapshotWrite = pending.writes.findLast((write) => write.kind === "snapshot");
    if (fresh === null) {
      if (pending.create !== undefined) return "retry"; // a conflict while creating: try again
      throw new DefiniteError(new ClientNotFoundError());
    }
    // Our own write, committed by an attempt whose answer was lost (the SDK retried it). The
    // transaction's request token makes this unlikely for versions; a single-item write has none.
    if (last && fresh.latest === last.versionId) return "committed";
    if (!last && snapshotWrite && uploads.has(snapshotWrite) && fresh.snapshot?.key === uploads.get(snapshotWrite)) return "committed";
    const expectedSnapKey = pending.create !== undefined ? undefined : pending.base?.snapshot?.key;
    if (pending.create !== undefined) {
      // newClient on a client that exists: without versions that is the interface's error; with
      // versions they go onto the client as it is, if the chain allows (checked below).
      if (!first) throw new DefiniteError(new ClientExistsError());
      pending.create = undefined;
    }
    if (first) {
      if (fresh.latest !== NIL_UUID && fresh.latest !== first.parentId) throw new ChainMovedError(fresh.latest);
      if (versions.some((version) => fresh?.tail.includes(version.versionId))) throw new DefiniteError(new VersionExistsError());
      if (isLegacy(fresh)) fresh = await upgradeLegacyClient(this.calls, this.clientId, fresh);
      if (!fresh) throw new DefiniteError(new ClientNotFoundError());
      if (pending.storedBytesAtMost !== undefined && (fresh.bytes ?? 0) > pending.storedBytesAtMost) {
        throw new DefiniteError(new QuotaExceededError(fresh.bytes ?? 0));
      }
    }
    if (snapshotWrite && fresh.snapshot?.key !== expectedSnapKey) {
      // Another snapshot was stored meanwhile: ours loses (see "known benign races").
      pending.writes = pending.writes.filter((write) => write.kind !== "snapshot");
      const key = uploads.get(snapshotWrite);
      if (key) this.dropped.push(key);
      uploads.delete(snapshotWrite);
    }
    const removal = pending.writes.find((write) => write.kind === "remove-oldest");
    if (removal && fresh.base !== removal.expectedBase) {
      throw new DefiniteError(new OldestVersionsMovedError(" any more (another removal ran first)"));
    }
    if (pending.writes.length === 0) return "done"; // the snapshot was dropped: nothing left to write
    pending.base = fresh;
    return "retry";
  }

  /** One write attempt. */
  private async send(
    uploads: Map<PendingWrite, string>,
  ): Promise<{ kind: "ok" } | { kind: "condition"; fresh: ClientState | null } | { kind: "conflict" }> {
    const pending = this.pending;
    let created: ClientState | undefined;
    if (pending.create !== undefined) {
      created = pendingView(pending) ?? undefined;
      const snapshotWrite = pending.writes.findLast((write) => write.kind === "snapshot");
      if (created?.snapshot && snapshotWrite) created.snapshot.key = uploads.get(snapshotWrite);
      // A new client's bytes are 0 before its versions.
      if (pending.storedBytesAtMost !== undefined && pending.storedBytesAtMost < 0) throw new DefiniteError(new QuotaExceededError(0));
    }
    const request = writeRequest({
      tableName: this.calls.tableName,
      clientId: this.clientId,
      created,
      base: pending.base,
      writes: pending.writes,
      uploads,
      storedBytesAtMost: pending.storedBytesAtMost,
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
            new TransactWriteItemsCommand({ TransactItems: request.items, ClientRequestToken: `${objectNonce()}${objectNonce()}` }),
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
            // A version item's condition: an added one exists, or a removed one is gone (another removal ran first).
            const removal = pending.writes.some((write) => write.kind === "remove-oldest");
            const detail = ` (${refusal.codes})`;
            throw new DefiniteError(removal ? new OldestVersionsMovedError(detail) : new VersionExistsError(detail));
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
