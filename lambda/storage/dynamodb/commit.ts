/**
 * A transaction's commit (README.md in this folder: "Writes", "The quota", "Deferred deletion",
 * "Crash windows"): take the client's upload lease when something goes to S3 (deciding every
 * refusal before anything is uploaded), upload, and send ONE conditional write, which also marks
 * the objects it leaves unreferenced for the sweep to delete DELETION_GRACE_DAYS later. Only
 * uploads that no committed write references (a refused write's, a snapshot that lost its race)
 * are deleted at once. A refused write is decided from the client item it returns (ALL_OLD): a
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
import { type ClientState, clientItem, hiddenStateOf, isLegacy, parseClient } from "./client-item.ts";
import { LEASE_MARGIN_MS, MAX_INLINE_BYTES_PER_WRITE, MAX_WRITE_ATTEMPTS } from "./constants.ts";
import { objectNonce, segmentKey, snapshotKey, TABLE } from "./layout.ts";
import { upgradeLegacyClient } from "./legacy.ts";
import { hasWrites, type PendingState, pendingView } from "./pending-state.ts";
import { expiredKept } from "./quota.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { isDefiniteRefusal, writeRefusal } from "./sdk-errors.ts";
import { foldExpiredRequest, leaseRequest, type PendingWrite, countKeptRequest, usedAddedBy, writeRequest } from "./write-request.ts";

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

/** The longest a transaction without a deadline (an operator's) holds an upload lease. */
const LEASE_WITHOUT_DEADLINE_MS = 60_000;

/** One commit: its lease, its uploads, its write attempts, and the objects it leaves to delete. */
class Commit {
  /** Uploads that no write will reference any more (a snapshot that lost a race). */
  private dropped: string[] = [];
  /** Every object this commit began to upload, with its length: deleted ones are counted as kept. */
  private readonly uploaded = new Map<string, number>();
  /** The token of the upload lease this commit holds. */
  private lease: string | undefined;

  constructor(
    private readonly calls: SdkCalls,
    private readonly clientId: Uuid,
    private readonly pending: PendingState,
  ) {}

  async run(): Promise<void> {
    let uploads = new Map<PendingWrite, string>();
    try {
      const max = this.pending.maxClientBytes;
      // A new client uses nothing before its writes: refused before anything is uploaded or written.
      if (this.pending.create !== undefined && max !== undefined && usedAddedBy(this.pending.writes) > max) {
        throw new DefiniteError(new QuotaExceededError(0));
      }
      const planned = this.plan();
      if (planned.size > 0) {
        // Every refusal is decided here, before anything is uploaded: a refused request stores nothing.
        await this.takeLease(planned);
        uploads = await this.upload(planned);
      }
      // What the write made unreferenced (a replaced snapshot, removed segments) it marked: the
      // sweep deletes those later. A dropped upload was never referenced: it goes now.
      await this.write(uploads);
      const deleted = await this.calls.deleteObjects(this.dropped);
      // A lease still held (nothing was left to write) goes back; a deleted upload is counted.
      await this.release(this.keptBytes(deleted), true);
    } catch (error) {
      // Delete the uploads only when the write certainly did not commit; when its outcome is
      // unknown (timeout, 5xx) it may reference them: they stay, an orphan at worst.
      if (error instanceof DefiniteError || error instanceof ChainMovedError || isDefiniteRefusal(error)) {
        // Only what is gone is counted: an upload left (a failed delete) is the sweep's to count.
        const deleted = await this.calls.deleteObjects([...this.uploaded.keys()]);
        await this.release(this.keptBytes(deleted), true);
      } else if (this.lease !== undefined && this.uploaded.size === 0) {
        await this.release(0, true);
      }
      throw error instanceof DefiniteError ? error.cause : error;
    }
  }

  /** The S3 key of each write whose payload goes to S3 (a segment over the inline limit, the snapshot). */
  private plan(): Map<PendingWrite & { data: Uint8Array }, string> {
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
    return keys;
  }

  /** The bytes of these uploads (deleted, so kept by the bucket). */
  private keptBytes(keys: readonly string[]): number {
    return keys.reduce((sum, key) => sum + (this.uploaded.get(key) ?? 0), 0);
  }

  /**
   * Takes the client's upload lease (README.md, "The quota"): one conditional UpdateItem that
   * checks what the write will check, so that a request the storage refuses uploads nothing,
   * and that no other upload of the client is in flight, so that at most one payload is ever
   * uploaded and not yet counted. A new client is created holding it. A snapshot that cannot
   * have it (another snapshot came first, another upload is in flight) is dropped from
   * `planned` and from the writes: nothing of it is uploaded.
   */
  private async takeLease(planned: Map<PendingWrite, string>): Promise<void> {
    const token = `${objectNonce()}${objectNonce()}`;
    const now = Date.now();
    const untilMs = Math.min(this.calls.deadline, now + LEASE_WITHOUT_DEADLINE_MS) + LEASE_MARGIN_MS;
    const maxClientBytes = this.pending.maxClientBytes;
    for (let attempt = 1; ; attempt++) {
      if (this.pending.create !== undefined) {
        // A new client: created already holding the lease, empty; its writes follow as on any client.
        const created = pendingView({ ...this.pending, writes: [] });
        if (!created) throw new Error("no client to create");
        created.lease = { token, untilMs };
        try {
          await this.calls.ddbSend(
            new PutItemCommand({
              TableName: this.calls.tableName,
              Item: clientItem(this.clientId, created, now),
              ConditionExpression: "attribute_not_exists(#pk)",
              ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name },
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
            "create the client",
          );
          this.pending.create = undefined;
          this.pending.base = created;
          this.lease = token;
          return;
        } catch (error) {
          const refusal = writeRefusal(error);
          if (refusal?.kind !== "condition") throw error;
          // newClient on a client that exists: without versions that is the interface's error;
          // with versions they go onto the client as it is, if the chain allows.
          if (!this.pending.writes.some((write) => write.kind === "version")) throw new DefiniteError(new ClientExistsError());
          this.pending.create = undefined;
          this.pending.base = refusal.clientItem ? parseClient(refusal.clientItem) : null;
          continue;
        }
      }
      const snapshotWrite = this.pending.writes.findLast((write) => write.kind === "snapshot");
      const request = leaseRequest({
        tableName: this.calls.tableName,
        clientId: this.clientId,
        writes: this.pending.writes,
        replacedSnapshotKey: snapshotWrite ? (this.pending.base?.snapshot?.key ?? null) : undefined,
        maxClientBytes,
        token,
        untilMs,
        now: Date.now(),
      });
      let fresh: ClientState | null;
      try {
        const { Attributes } = await this.calls.ddbSend(new UpdateItemCommand(request), "take the upload lease");
        this.pending.base = parseClient(Attributes);
        this.lease = token;
        return;
      } catch (error) {
        const refusal = writeRefusal(error);
        if (refusal === undefined) throw error;
        fresh = refusal.kind === "condition" ? (refusal.clientItem ? parseClient(refusal.clientItem) : null) : await this.readClient();
      }
      if (fresh?.lease?.token === token) {
        // Taken by an attempt whose answer was lost (the SDK retried it): ours.
        this.pending.base = fresh;
        this.lease = token;
        return;
      }
      if ((await this.decideLease(fresh, planned)) === "dropped") return;
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new DefiniteError(
          new StorageUnavailableError("DynamoDB: the client changed under every attempt to take its upload lease", 1),
        );
      }
    }
  }

  /**
   * Why the lease was refused, from the client item as it is: a refusal to answer (throws), or
   * something to settle first and try again ("retry"), or a snapshot that gives way ("dropped").
   */
  private async decideLease(fresh: ClientState | null, planned: Map<PendingWrite, string>): Promise<"retry" | "dropped"> {
    if (fresh === null) throw new DefiniteError(new ClientNotFoundError());
    if (isLegacy(fresh)) {
      this.pending.base = await upgradeLegacyClient(this.calls, this.clientId, fresh);
      return "retry";
    }
    const first = this.pending.writes.find((write) => write.kind === "version");
    const snapshotWrite = this.pending.writes.findLast((write) => write.kind === "snapshot");
    checkChain(fresh, this.pending.writes);
    if (snapshotWrite && fresh.snapshot?.key !== this.pending.base?.snapshot?.key) {
      // Another snapshot was stored since this one was judged: this one gives way (nothing uploaded).
      return this.dropSnapshot(planned);
    }
    const maxClientBytes = this.pending.maxClientBytes;
    const used = fresh.used ?? 0;
    if (maxClientBytes !== undefined && used + usedAddedBy(this.pending.writes) > maxClientBytes) {
      if (!(await this.foldExpired(fresh))) throw new DefiniteError(new QuotaExceededError(used));
      return "retry";
    }
    if (fresh.lease && fresh.lease.untilMs >= Date.now()) {
      // Another upload of this client is in flight. A snapshot gives way; a version waits for
      // it, then goes on (or is the chain's conflict, if that upload was a version on its parent).
      if (!first) return this.dropSnapshot(planned);
      await this.waitForLease();
    }
    this.pending.base = fresh;
    return "retry";
  }

  private dropSnapshot(planned: Map<PendingWrite, string>): "dropped" {
    this.pending.writes = this.pending.writes.filter((write) => write.kind !== "snapshot");
    for (const write of [...planned.keys()]) if (write.kind === "snapshot") planned.delete(write);
    if (planned.size > 0) throw new Error("a snapshot gave way to another upload, but versions were to be uploaded with it");
    return "dropped";
  }

  /** Takes the weeks of deleted bytes that the bucket has expired out of `used`; whether there were any. */
  private async foldExpired(fresh: ClientState): Promise<boolean> {
    const request = foldExpiredRequest(this.calls.tableName, this.clientId, fresh.kept, Date.now());
    if (!request) return false;
    try {
      await this.calls.ddbSend(new UpdateItemCommand(request), "count out expired deleted bytes");
    } catch (error) {
      // Another request folded them first: as good.
      if (writeRefusal(error)?.kind !== "condition") throw error;
    }
    return true;
  }

  /** Waits, within the deadline, until no other upload of the client holds a live lease, or the chain moved. */
  private async waitForLease(): Promise<void> {
    for (let pause = 25; ; pause = Math.min(pause * 2, 400)) {
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
      if (this.calls.signal.aborted) throw new DefiniteError(new StorageUnavailableError("DynamoDB: the transaction ran out of time", 1));
      const fresh = await this.readClient();
      if (!fresh) throw new DefiniteError(new ClientNotFoundError());
      checkChain(fresh, this.pending.writes);
      if (!fresh.lease || fresh.lease.untilMs < Date.now()) return;
    }
  }

  private readClient(): Promise<ClientState | null> {
    return this.calls.readClient(this.clientId);
  }

  /**
   * Counts `keptBytes` (uploads deleted unreferenced: the bucket keeps them) and, with
   * `release`, gives back the lease if this commit still holds it. Best effort: what it fails
   * to count stays uncounted (an object is never counted twice; the quota errs on the owner's side).
   */
  private async release(keptBytes: number, release: boolean): Promise<void> {
    const token = release ? this.lease : undefined;
    if (keptBytes === 0 && token === undefined) return;
    const now = Date.now();
    const send = (withToken: string | undefined) =>
      this.calls.ddbSend(
        new UpdateItemCommand(countKeptRequest(this.calls.tableName, this.clientId, keptBytes, now, withToken)),
        "release the upload lease",
      );
    try {
      await send(token);
    } catch (error) {
      // The lease is not this commit's any more (it expired, or the write did commit): count only.
      if (writeRefusal(error)?.kind === "condition" && token !== undefined && keptBytes > 0) await send(undefined).catch(() => undefined);
    }
  }

  /** Uploads what lives in S3; returns write → key. On failure deletes what it uploaded. */
  private async upload(planned: Map<PendingWrite & { data: Uint8Array }, string>): Promise<Map<PendingWrite, string>> {
    for (const [write, key] of planned) this.uploaded.set(key, write.data.byteLength);
    const results = await Promise.allSettled(
      [...planned].map(([write, key]) =>
        this.calls.putObject(key, write.data, write.kind === "version" ? "upload a history segment" : "upload a snapshot"),
      ),
    );
    const failure = results.find((result) => result.status === "rejected");
    // No write was sent: nothing can reference these keys (all puts have settled).
    if (failure) throw new DefiniteError(failure.reason);
    return planned;
  }

  /** Sends the conditional write (with its deletion mark), deciding lost races and conflicts, until it has committed. */
  private async write(uploads: Map<PendingWrite, string>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.send(uploads);
      if (result.kind === "ok") return;
      let fresh: ClientState | null;
      if (result.kind === "conflict") {
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new DefiniteError(new StorageUnavailableError("DynamoDB: the write kept conflicting with other transactions", 1));
        }
        fresh = await this.readClient();
      } else {
        fresh = result.fresh;
        // An item the protocol cannot see: an operator's import or removal holds it. No client
        // for a write; for a create, the id is taken.
        if (fresh === null && result.held) {
          throw new DefiniteError(this.pending.create !== undefined ? new ClientExistsError() : new ClientNotFoundError());
        }
      }
      // "committed": our own write (and its mark), seen by a retry. "done": nothing is left to write.
      if ((await this.decide(fresh, uploads)) !== "retry") return;
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
    checkChain(fresh, pending.writes);
    const leaseLost = this.lease !== undefined && fresh.lease?.token !== this.lease;
    if (snapshotWrite && (leaseLost || fresh.snapshot?.key !== expectedSnapKey)) {
      // Another snapshot was stored meanwhile (or took the lease ours outlived): ours loses.
      pending.writes = pending.writes.filter((write) => write.kind !== "snapshot");
      const key = uploads.get(snapshotWrite);
      if (key) this.dropped.push(key);
      uploads.delete(snapshotWrite);
    }
    if (leaseLost && first) {
      // The upload outlived its lease (its transaction ran out of time): what it uploaded may not be written.
      throw new DefiniteError(new StorageUnavailableError("DynamoDB: the upload's lease ended before its write", 1));
    }
    const countsUsed = first !== undefined || pending.writes.some((write) => write.kind === "snapshot" || write.kind === "remove-oldest");
    if (countsUsed && isLegacy(fresh)) fresh = await upgradeLegacyClient(this.calls, this.clientId, fresh);
    if (!fresh) throw new DefiniteError(new ClientNotFoundError());
    const maxClientBytes = pending.maxClientBytes;
    const added = usedAddedBy(pending.writes);
    if (
      maxClientBytes !== undefined &&
      added > 0 &&
      (fresh.used ?? 0) - expiredKept(fresh.kept, Date.now()).bytes + added > maxClientBytes
    ) {
      throw new DefiniteError(new QuotaExceededError(fresh.used ?? 0));
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
  ): Promise<{ kind: "ok" } | { kind: "condition"; fresh: ClientState | null; held: boolean } | { kind: "conflict" }> {
    const pending = this.pending;
    let created: ClientState | undefined;
    if (pending.create !== undefined) {
      created = pendingView(pending) ?? undefined;
      const snapshotWrite = pending.writes.findLast((write) => write.kind === "snapshot");
      if (created?.snapshot && snapshotWrite) created.snapshot.key = uploads.get(snapshotWrite);
    }
    const request = writeRequest({
      tableName: this.calls.tableName,
      clientId: this.clientId,
      created,
      base: pending.base,
      writes: pending.writes,
      uploads,
      maxClientBytes: pending.maxClientBytes,
      lease: this.lease,
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
      // The lease went with the write.
      this.lease = undefined;
      return { kind: "ok" };
    } catch (error) {
      const refusal = writeRefusal(error);
      if (refusal === undefined) throw error;
      switch (refusal.kind) {
        case "condition":
          // Every client write asks for ALL_OLD: no item back means there is none. (Were that
          // ever wrong, the create path's own condition would find the client, and rebase.)
          return { kind: "condition", fresh: parseClient(refusal.clientItem), held: hiddenStateOf(refusal.clientItem) !== undefined };
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

/**
 * The chain's rule against the client item as it is: the versions go on if latest is still the
 * first one's parent (or nil) and none of them is stored already; else the conflict
 * (ChainMovedError), or VersionExistsError.
 */
function checkChain(fresh: ClientState, writes: readonly PendingWrite[]): void {
  const versions = writes.filter((write) => write.kind === "version");
  const first = versions[0];
  if (!first) return;
  if (fresh.latest !== NIL_UUID && fresh.latest !== first.parentId) throw new ChainMovedError(fresh.latest);
  if (versions.some((version) => fresh.tail.includes(version.versionId))) throw new DefiniteError(new VersionExistsError());
}

/** Wraps an error after which the write certainly did not commit (its uploads may go). */
class DefiniteError extends Error {
  constructor(override readonly cause: unknown) {
    super("definite failure", { cause });
  }
}
