/**
 * The orphan sweep, a maintenance job of the DynamoDB + S3 storage (not part of the storage
 * interface): deletes the S3 objects that no item references, once they have been unreferenced
 * for DELETION_GRACE_DAYS (deferred deletion: README.md in this folder, "Deferred deletion").
 * An object a commit made unreferenced carries that commit's deletion mark; one found
 * unreferenced without a mark (a crash leftover, an upload that never committed, a removed
 * client's) is marked now, and deleted a grace later. Why orphans exist: README.md, "Crash
 * windows". Run daily for every client by the maintenance function.
 */
import { type AttributeValue, DeleteItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import { canonicalUuid, newUuid, parseUuid, type Uuid } from "../../uuid.ts";
import { storedUuid } from "./client-item.ts";
import { DELETION_GRACE_DAYS } from "./constants.ts";
import { ATTR, clientPrefix, itemKey, OBJECT_KIND, parseObjectKey, S3_PREFIX, SK, TABLE } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { writeRefusal } from "./sdk-errors.ts";
import { countKeptRequest, markRequest } from "./write-request.ts";
import type { DynamoStorage } from "./storage.ts";

/** Orphaned objects younger than this are left alone by the sweep (a transaction may own them). */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

/** How long an object stays unreferenced before the sweep deletes it (DELETION_GRACE_DAYS). */
export const DELETION_GRACE_MS = DELETION_GRACE_DAYS * 24 * 60 * 60 * 1000;

/** Keys per deletion mark the sweep writes: a mark stays far under DynamoDB's 400 KB per item. */
const KEYS_PER_MARK = 500;

/** An object the sweep considers: old enough that no transaction can still commit it. */
interface SweepCandidate {
  key: string;
  lastModifiedMs: number;
  /** Its length: unreferenced, the bucket keeps it (current, then noncurrent), and the client's quota counts it. */
  size: number;
}

/** One client's objects as listed: every key (young ones too), and the candidates among them. */
interface ClientObjects {
  listed: Set<string>;
  candidates: SweepCandidate[];
  /** When the listing began (ms): a mark older than that names an object the listing would have seen. */
  listedFrom: number;
}

/** How a sweep treats unreferenced objects. */
export interface SweepOptions {
  /** Objects younger than this are left alone. Default DEFAULT_ORPHAN_MIN_AGE_MS. */
  minAgeMs?: number;
  /** An unreferenced object is deleted this long after it was marked. Default DELETION_GRACE_MS. */
  graceMs?: number;
}

/** What one client's sweep did. */
export interface ClientSweep {
  /** Objects deleted: unreferenced for the grace. */
  deleted: string[];
  /** Objects found unreferenced without a mark, marked (and counted as kept) now. */
  marked: string[];
}

/** The most one client's sweep may take (reading its references and deleting its orphans). */
const SWEEP_CLIENT_TIMEOUT_MS = 300_000;

export interface SweepAllOptions extends SweepOptions {
  /**
   * Stop this long after the start: nothing new is started past it and the call in flight
   * is aborted (`stopped` in the report). Default: no limit.
   */
  stopAfterMs?: number;
  /** Stops the run as `stopAfterMs` does, when aborted (a local server that stops). */
  signal?: AbortSignal;
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
  /** Orphaned objects found without a deletion mark and marked: deleted a grace later. */
  marked: number;
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
 * Sweeps the client's S3 objects older than `minAgeMs` (older than any transaction can run, so
 * none is still about to be committed): marks those that no item references and no mark names
 * yet, and deletes those marked at least `graceMs` ago. Not on a protocol path: for a scheduled
 * job (and tests).
 */
export async function sweepOrphans(storage: DynamoStorage, clientId: Uuid, options: SweepOptions = {}): Promise<ClientSweep> {
  clientId = canonicalUuid(clientId, "client id");
  const calls = storage.calls(AbortSignal.timeout(Math.max(storage.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS)));
  const objects: ClientObjects = { listed: new Set(), candidates: [], listedFrom: Date.now() };
  const cutoff = objects.listedFrom - (options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS);
  for await (const object of calls.listObjects(clientPrefix(clientId), "list objects")) {
    if (object.Key) addListed(objects, object.Key, object.LastModified?.getTime(), object.Size, cutoff);
  }
  const sweep: ClientSweep = { deleted: [], marked: [] };
  await sweepClient(clientId, objects, calls, options.graceMs ?? DELETION_GRACE_MS, sweep);
  return sweep;
}

function addListed(objects: ClientObjects, key: string, lastModifiedMs: number | undefined, size: number | undefined, cutoff: number) {
  objects.listed.add(key);
  if (lastModifiedMs !== undefined && lastModifiedMs < cutoff) objects.candidates.push({ key, lastModifiedMs, size: size ?? 0 });
}

/**
 * `sweepOrphans` for every client that has objects, in one listing of the storage's prefix:
 * its keys come sorted, so each client's keys are consecutive; when a client's keys are all
 * listed, its references and marks are read and its orphans marked or deleted, exactly as
 * `sweepOrphans` does.
 * (One listing of every key costs no more requests than listing each client's prefix, and
 * does not depend on S3 grouping by a delimiter, which S3 emulators get wrong.) Not on a
 * protocol path: for the scheduled sweep function.
 *
 * Bounded in time: past `stopAfterMs` it starts nothing more and aborts the call in flight
 * (every call carries the budget's abort signal), then returns with `stopped`. A cut is
 * always safe: a client's objects are marked or deleted only after all its keys were listed
 * and its references read, and each deleted object is an orphan marked a grace ago whether or
 * not a cut comes before the next delete. Runs start at a random point of the client id space and wrap around to
 * it, so that runs cut short by their budget still reach every client over time (there is
 * no cursor to keep). A client whose sweep fails is counted in `failed`; the run goes on.
 */
export async function sweepAllOrphans(storage: DynamoStorage, options: SweepAllOptions = {}): Promise<SweepAllReport> {
  const listedFrom = Date.now();
  const cutoff = listedFrom - (options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS);
  const graceMs = options.graceMs ?? DELETION_GRACE_MS;
  const stopAfterMs = options.stopAfterMs === undefined ? undefined : Math.max(0, options.stopAfterMs);
  const deadline = stopAfterMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + stopAfterMs;
  const timeBudget = stopAfterMs === undefined ? new AbortController().signal : AbortSignal.timeout(stopAfterMs);
  const budget = options.signal ? AbortSignal.any([timeBudget, options.signal]) : timeBudget;
  const expired = () => budget.aborted || Date.now() >= deadline;
  const within = (capMs: number) => storage.calls(AbortSignal.any([budget, AbortSignal.timeout(capMs)]));
  const start = options.startAfter === undefined ? newUuid() : canonicalUuid(options.startAfter, "startAfter");
  const report: SweepAllReport = { clients: 0, deleted: 0, marked: 0, skipped: 0, failed: 0, failures: [], stopped: false };
  const stopped = () => ({ ...report, stopped: true });

  /** The prefix whose keys are being listed: `clients/<segment>/`. */
  let current: { prefix: string; clientId: Uuid | undefined; objects: ClientObjects } | undefined;
  const finish = async (): Promise<void> => {
    const done = current;
    current = undefined;
    if (!done) return;
    if (!done.clientId) {
      report.skipped += 1; // not written by this storage: not ours to judge
      return;
    }
    const sweep: ClientSweep = { deleted: [], marked: [] };
    const calls = within(Math.max(storage.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS));
    const clientId = done.clientId;
    const failure = await sweepClient(clientId, done.objects, calls, graceMs, sweep)
      .then(() => options.eachClient?.(clientId, budget))
      .then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    report.deleted += sweep.deleted.length;
    report.marked += sweep.marked.length;
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
            objects: { listed: new Set(), candidates: [], listedFrom },
          };
        }
        addListed(current.objects, key, object.LastModified?.getTime(), object.Size, cutoff);
      }
      continuationToken = !passDone && page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
    // The pass listed every key of its last client.
    await finish();
    if (expired()) return stopped();
  }
  return report;
}

/** A deletion mark as read: the objects it names and since when. */
interface Mark {
  sk: string;
  since: number;
  objects: string[];
}

/**
 * One client's sweep, over its listed objects:
 *  1. the references: which candidates no item references (`unreferenced`);
 *  2. the marks (read after the references: a commit that unreferenced an object wrote its mark
 *     in the same transaction, so a mark of every object found unreferenced is seen);
 *  3. an unreferenced object without a mark is marked now and counted as kept (a crash leftover,
 *     an upload that never committed, a removed client's object: nothing counted it before);
 *  4. an unreferenced object marked at least `graceMs` ago is deleted (a mark with its count);
 *     when several marks name it (a stale one of a restored table), the latest counts;
 *  5. the marks are brought up to date: what was deleted and what is gone leave them; an empty
 *     mark is deleted. A mark naming an object referenced after all (a restored table's, written
 *     by a transaction whose client update the backup missed) is left alone: taking the key out
 *     could race a commit that unreferences it right now, and a referenced object is never
 *     deleted; the mark goes with the object once it is unreferenced and deleted.
 * Each step leaves what a later run needs: a mark is written before its count (a crash between
 * counts it never, not twice), objects are deleted before their mark is.
 */
async function sweepClient(clientId: Uuid, objects: ClientObjects, calls: SdkCalls, graceMs: number, sweep: ClientSweep): Promise<void> {
  const unreferenced = await findUnreferenced(clientId, objects.candidates, calls);
  const marks = await readMarks(calls, clientId);
  const markOf = new Map<string, Mark>();
  for (const mark of marks) for (const key of mark.objects) if ((markOf.get(key)?.since ?? -1) < mark.since) markOf.set(key, mark);
  const unmarked = unreferenced.filter((candidate) => !markOf.has(candidate.key));
  const now = Date.now();
  for (let i = 0; i < unmarked.length; i += KEYS_PER_MARK) {
    const chunk = unmarked.slice(i, i + KEYS_PER_MARK).map((candidate) => candidate.key);
    const request = markRequest(calls.tableName, clientId, chunk, now);
    await calls.ddbSend(new UpdateItemCommand(request), "mark orphans for deletion");
    const mark: Mark = { sk: request.Key?.[TABLE.sortKey.name]?.S ?? "", since: now, objects: chunk };
    marks.push(mark);
    for (const key of chunk) markOf.set(key, mark);
    sweep.marked.push(...chunk);
  }
  const counted = unmarked.reduce((sum, candidate) => sum + candidate.size, 0);
  if (counted > 0) await countKept(calls, clientId, counted);
  const deleted = new Set<string>();
  try {
    for (const { key } of unreferenced) {
      const since = markOf.get(key)?.since;
      if (since === undefined || since + graceMs > Date.now()) continue;
      await calls.deleteObject(key, "delete an orphan");
      deleted.add(key);
      sweep.deleted.push(key);
    }
  } finally {
    await tidyMarks(
      calls,
      clientId,
      marks,
      (key, mark) => deleted.has(key) || (!objects.listed.has(key) && mark.since < objects.listedFrom),
    );
  }
}

/**
 * The candidates that no item references. The references
 * are read after the keys were listed (an object committed before the listing is seen), each
 * with a strongly consistent read of the one item that would hold it, so a client's sweep never
 * reads its whole history:
 *  - a snapshot object is referenced only by the client item's `snapKey` (one read for all);
 *  - a segment object only by `CHILD#<parent>`, the parent its key names (one read; for a key
 *    of 0.1.0, which names only the version, its `VERSION#` index item first). Every segment
 *    is checked on every sweep, whatever its age: one that a failed sweep left is found by the
 *    next, however much later.
 * Keys of any other shape are not this storage's: they are left alone.
 */
async function findUnreferenced(clientId: Uuid, candidates: readonly SweepCandidate[], calls: SdkCalls): Promise<SweepCandidate[]> {
  const unreferenced: SweepCandidate[] = [];
  let snapKey: string | undefined | null = null;
  for (const candidate of candidates) {
    const { key } = candidate;
    const parsed = parseObjectKey(key);
    if (parsed?.clientId !== clientId) continue;
    if (parsed.kind === OBJECT_KIND.snapshot) {
      if (snapKey === null) snapKey = (await calls.readClient(clientId))?.snapshot?.key;
      if (snapKey !== key) unreferenced.push(candidate);
      continue;
    }
    let parentId = parsed.parentId;
    if (parentId === undefined) {
      const index = await calls.getItem(clientId, SK.version(parsed.versionId), "read a version's index", [ATTR.parentId]);
      parentId = index?.[ATTR.parentId] === undefined ? undefined : storedUuid(index[ATTR.parentId], ATTR.parentId);
    }
    const version =
      parentId === undefined ? undefined : await calls.getItem(clientId, SK.child(parentId), "read a version", [ATTR.segmentKey]);
    if (version?.[ATTR.segmentKey]?.S !== key) unreferenced.push(candidate);
  }
  return unreferenced;
}

/** The client's deletion marks, read consistently. */
async function readMarks(calls: SdkCalls, clientId: Uuid): Promise<Mark[]> {
  const marks: Mark[] = [];
  for await (const item of calls.queryItems(clientId, SK.orphansPrefix, "read the deletion marks")) {
    const sk = item[TABLE.sortKey.name]?.S;
    if (sk === undefined) continue;
    marks.push({ sk, since: Number(item[ATTR.since]?.N ?? "0"), objects: item[ATTR.objects]?.SS ?? [] });
  }
  return marks;
}

/** Takes out of each mark the keys `done` says it no longer needs to name; deletes a mark left empty. */
async function tidyMarks(
  calls: SdkCalls,
  clientId: Uuid,
  marks: readonly Mark[],
  done: (key: string, mark: Mark) => boolean,
): Promise<void> {
  for (const mark of marks) {
    const remove = mark.objects.filter((key) => done(key, mark));
    if (remove.length === 0) continue;
    const key = itemKey(clientId, mark.sk);
    if (remove.length === mark.objects.length) {
      await calls.ddbSend(new DeleteItemCommand({ TableName: calls.tableName, Key: key }), "delete a deletion mark");
    } else {
      await calls.ddbSend(
        new UpdateItemCommand({
          TableName: calls.tableName,
          Key: key,
          UpdateExpression: "DELETE #objects :done",
          ExpressionAttributeNames: { "#objects": ATTR.objects },
          ExpressionAttributeValues: { ":done": { SS: remove } satisfies AttributeValue },
        }),
        "update a deletion mark",
      );
    }
  }
}

/** Adds `bytes` unreferenced now to what the client's quota counts; a client without `used` yet (or gone) is left as it is. */
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
