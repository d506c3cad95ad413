/**
 * The orphan sweep, a maintenance job of the DynamoDB + S3 storage (not part of the storage
 * interface): deletes the S3 objects that no item references and that are older than any
 * transaction can live. Why orphans exist and why deleting them is safe: README.md in this
 * folder, "Crash windows". Run daily for every client by the maintenance function.
 */
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import { canonicalUuid, newUuid, parseUuid, type Uuid } from "../../uuid.ts";
import { storedUuid } from "./client-item.ts";
import { ATTR, clientPrefix, OBJECT_KIND, parseObjectKey, S3_PREFIX, SK } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { writeRefusal } from "./sdk-errors.ts";
import { countKeptRequest } from "./write-request.ts";
import type { DynamoStorage } from "./storage.ts";

/** Orphaned objects younger than this are left alone by the sweep (a transaction may own them). */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

/** An object the sweep considers: old enough that no transaction can still commit it. */
interface SweepCandidate {
  key: string;
  lastModifiedMs: number;
  /** Its length: once deleted, the versioned bucket keeps it, and the client's quota counts it. */
  size: number;
}

/** The most one client's sweep may take (reading its references and deleting its orphans). */
const SWEEP_CLIENT_TIMEOUT_MS = 300_000;

export interface SweepAllOptions {
  /** Objects younger than this are left alone. Default DEFAULT_ORPHAN_MIN_AGE_MS. */
  minAgeMs?: number;
  /**
   * Stop this long after the start: nothing new is started past it and the call in flight
   * is aborted (`stopped` in the report). Default: no limit.
   */
  stopAfterMs?: number;
  /** Begin with the first client id after this one and wrap around to it. Default: a random id. */
  startAfter?: Uuid;
  /** Keys per listing page (MaxKeys). Default: S3's (1000). */
  pageSize?: number;
  /**
   * More work for each client the listing reaches (every client with an object: every client
   * with a snapshot), after its sweep, within the same budget (`signal`). A failure counts as
   * the client's. The maintenance function prunes history here.
   */
  eachClient?: (clientId: Uuid, signal: AbortSignal) => Promise<void>;
}

export interface SweepAllReport {
  /** Clients swept to the end. */
  clients: number;
  /** Orphaned objects deleted (also those of a client whose sweep was then cut or failed). */
  deleted: number;
  /** Prefixes under `clients/` that are not a canonical client id: left alone. */
  skipped: number;
  /** Clients whose sweep failed; the run went on with the next one. */
  failed: number;
  /** The failed clients and their errors (client ids: never log them as they are). */
  failures: { clientId: Uuid; error: unknown }[];
  /** The time budget ran out before every client was swept. */
  stopped: boolean;
}

/**
 * Deletes the client's S3 objects that no item references and that are older than
 * `minAgeMs` (older than any transaction can run, so none is still about to be committed).
 * Not on a protocol path: for a scheduled job. Returns the deleted keys.
 */
export async function sweepOrphans(storage: DynamoStorage, clientId: Uuid, minAgeMs = DEFAULT_ORPHAN_MIN_AGE_MS): Promise<string[]> {
  clientId = canonicalUuid(clientId, "client id");
  const calls = storage.calls(AbortSignal.timeout(Math.max(storage.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS)));
  const cutoff = Date.now() - minAgeMs;
  const candidates: SweepCandidate[] = [];
  for await (const object of calls.listObjects(clientPrefix(clientId), "list objects")) {
    const lastModifiedMs = object.LastModified?.getTime();
    if (object.Key && lastModifiedMs !== undefined && lastModifiedMs < cutoff) {
      candidates.push({ key: object.Key, lastModifiedMs, size: object.Size ?? 0 });
    }
  }
  const deleted: string[] = [];
  await deleteUnreferenced(clientId, candidates, calls, deleted);
  return deleted;
}

/**
 * `sweepOrphans` for every client that has objects, in one listing of the storage's prefix:
 * its keys come sorted, so each client's keys are consecutive; when a client's keys are all
 * listed, its references are read and its orphans deleted, exactly as `sweepOrphans` does.
 * (One listing of every key costs no more requests than listing each client's prefix, and
 * does not depend on S3 grouping by a delimiter, which S3 emulators get wrong.) Not on a
 * protocol path: for the scheduled sweep function.
 *
 * Bounded in time: past `stopAfterMs` it starts nothing more and aborts the call in flight
 * (every call carries the budget's abort signal), then returns with `stopped`. A cut is
 * always safe: a client's objects are deleted only after all its keys were listed and its
 * references read, and each deleted object is an orphan whether or not a cut comes before
 * the next delete. Runs start at a random point of the client id space and wrap around to
 * it, so that runs cut short by their budget still reach every client over time (there is
 * no cursor to keep). A client whose sweep fails is counted in `failed`; the run goes on.
 */
export async function sweepAllOrphans(storage: DynamoStorage, options: SweepAllOptions = {}): Promise<SweepAllReport> {
  const cutoff = Date.now() - (options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS);
  const stopAfterMs = options.stopAfterMs === undefined ? undefined : Math.max(0, options.stopAfterMs);
  const deadline = stopAfterMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + stopAfterMs;
  const budget = stopAfterMs === undefined ? new AbortController().signal : AbortSignal.timeout(stopAfterMs);
  const expired = () => budget.aborted || Date.now() >= deadline;
  const within = (capMs: number) => storage.calls(AbortSignal.any([budget, AbortSignal.timeout(capMs)]));
  const start = options.startAfter === undefined ? newUuid() : canonicalUuid(options.startAfter, "startAfter");
  const report: SweepAllReport = { clients: 0, deleted: 0, skipped: 0, failed: 0, failures: [], stopped: false };
  const stopped = () => ({ ...report, stopped: true });

  /** The prefix whose keys are being listed: `clients/<segment>/`. */
  let current: { prefix: string; clientId: Uuid | undefined; candidates: SweepCandidate[] } | undefined;
  const finish = async (): Promise<void> => {
    const done = current;
    current = undefined;
    if (!done) return;
    if (!done.clientId) {
      report.skipped += 1; // not written by this storage: not ours to judge
      return;
    }
    const deleted: string[] = [];
    const calls = within(Math.max(storage.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS));
    const clientId = done.clientId;
    const failure = await deleteUnreferenced(clientId, done.candidates, calls, deleted)
      .then(() => options.eachClient?.(clientId, budget))
      .then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    report.deleted += deleted.length;
    if (failure === undefined) {
      report.clients += 1;
    } else if (!expired()) {
      report.failed += 1;
      report.failures.push({ clientId: done.clientId, error: failure.error });
    }
  };

  // "clients/<start>0" sorts after every key of the client `start` ('0' follows '/') and
  // before every key of a greater client id: first the keys after it, then up to it.
  const boundary = `${S3_PREFIX}${start}0`;
  for (const pass of [
    { startAfter: boundary as string | undefined, last: undefined },
    { startAfter: undefined, last: boundary },
  ]) {
    let continuationToken: string | undefined;
    let passDone = false;
    do {
      if (expired()) return stopped();
      let page: ListObjectsV2CommandOutput;
      try {
        page = await within(storage.deadlineMs).s3Send(
          new ListObjectsV2Command({
            Bucket: storage.bucketName,
            Prefix: S3_PREFIX,
            ...(continuationToken === undefined ? { StartAfter: pass.startAfter } : { ContinuationToken: continuationToken }),
            MaxKeys: options.pageSize,
          }),
          "list the objects",
        );
      } catch (error) {
        if (expired()) return stopped();
        throw error;
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key;
        if (key === undefined) continue;
        if (pass.last !== undefined && key > pass.last) {
          passDone = true;
          break;
        }
        const end = key.indexOf("/", S3_PREFIX.length);
        if (end === -1) continue; // directly under the prefix: no client's
        const prefix = key.slice(0, end + 1);
        if (current?.prefix !== prefix) {
          await finish();
          if (expired()) return stopped();
          const clientId = parseUuid(prefix.slice(S3_PREFIX.length, -1));
          current = {
            prefix,
            clientId: clientId !== undefined && `${S3_PREFIX}${clientId}/` === prefix ? clientId : undefined,
            candidates: [],
          };
        }
        const lastModifiedMs = object.LastModified?.getTime();
        if (lastModifiedMs !== undefined && lastModifiedMs < cutoff)
          current.candidates.push({ key, lastModifiedMs, size: object.Size ?? 0 });
      }
      continuationToken = !passDone && page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
    // The pass listed every key of its last client.
    await finish();
    if (expired()) return stopped();
  }
  return report;
}

/**
 * Deletes the candidates that no item references, adding each deleted key to `deleted` as it
 * goes. The references are read after the keys were listed (an object committed before the
 * listing is seen), each with a strongly consistent read of the one item that would hold it,
 * so a client's sweep never reads its whole history:
 *  - a snapshot object is referenced only by the client item's `snapKey` (one read for all);
 *  - a segment object only by `CHILD#<parent>`, the parent its key names (one read; for a key
 *    of 0.1.0, which names only the version, its `VERSION#` index item first). Every segment
 *    is checked on every sweep, whatever its age: one that a failed sweep left is found by the
 *    next, however much later.
 * Keys of any other shape are not this storage's: they are left alone. The deleted bytes are
 * counted as kept on the client item (the versioned bucket keeps them): its quota counts them.
 */
async function deleteUnreferenced(
  clientId: Uuid,
  candidates: readonly SweepCandidate[],
  calls: SdkCalls,
  deleted: string[],
): Promise<void> {
  const orphans: SweepCandidate[] = [];
  let snapKey: string | undefined | null = null;
  for (const candidate of candidates) {
    const { key } = candidate;
    const parsed = parseObjectKey(key);
    if (parsed?.clientId !== clientId) continue;
    if (parsed.kind === OBJECT_KIND.snapshot) {
      if (snapKey === null) snapKey = (await calls.readClient(clientId))?.snapshot?.key;
      if (snapKey !== key) orphans.push(candidate);
      continue;
    }
    let parentId = parsed.parentId;
    if (parentId === undefined) {
      const index = await calls.getItem(clientId, SK.version(parsed.versionId), "read a version's index", [ATTR.parentId]);
      parentId = index?.[ATTR.parentId] === undefined ? undefined : storedUuid(index[ATTR.parentId], ATTR.parentId);
    }
    const version =
      parentId === undefined ? undefined : await calls.getItem(clientId, SK.child(parentId), "read a version", [ATTR.segmentKey]);
    if (version?.[ATTR.segmentKey]?.S !== key) orphans.push(candidate);
  }
  let keptBytes = 0;
  try {
    for (const { key, size } of orphans) {
      await calls.deleteObject(key, "delete an orphan");
      deleted.push(key);
      keptBytes += size;
    }
  } finally {
    if (keptBytes > 0) await countKept(calls, clientId, keptBytes);
  }
}

/** Adds `bytes` deleted now to what the client's quota counts; a client without `used` yet (or gone) is left as it is. */
async function countKept(calls: SdkCalls, clientId: Uuid, bytes: number): Promise<void> {
  try {
    await calls.ddbSend(
      new UpdateItemCommand(countKeptRequest(calls.tableName, clientId, bytes, Date.now())),
      "count the orphans' bytes as kept",
    );
  } catch (error) {
    if (writeRefusal(error)?.kind !== "condition") throw error;
  }
}
