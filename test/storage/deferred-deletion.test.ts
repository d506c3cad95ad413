/**
 * Deferred deletion on DynamoDB + S3 (lambda/storage/dynamodb/README.md, "Deferred deletion"):
 * an object no item references any more is marked (by the write that unreferenced it, or by the
 * sweep that finds it so) and deleted only DELETION_GRACE_DAYS later; the quota counts it from
 * its mark until the bucket expires it, never twice. On the emulators, each test on a table and
 * a bucket of its own (a sweep of the shared bucket would race the other files' transactions).
 * The grace is shortened to about a second where a test waits past it.
 */
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer, type SyncRules } from "../../lambda/core/sync.ts";
import { DELETED_OBJECT_RETENTION_DAYS, DELETION_GRACE_DAYS, KEPT_WEEK_DAYS } from "../../lambda/storage/dynamodb/constants.ts";
import { ATTR, itemKey, KEPT_PREFIX, objectNonce, SK, segmentKey, snapshotKey } from "../../lambda/storage/dynamodb/layout.ts";
import { DELETION_GRACE_MS, sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { keptWeek, keptWeekExpired, versionUsed } from "../../lambda/storage/dynamodb/quota.ts";
import { writeRequest } from "../../lambda/storage/dynamodb/write-request.ts";
import { MAX_REMOVED_VERSIONS } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { sdkError } from "../../dev/sdk-interception.ts";
import { type Around, dynamoOnEmulators } from "../support/dynamo-on-emulators.ts";
import { added } from "../support/sync-outcomes.ts";
import { writeTxn } from "../support/txn.ts";

/** A snapshot is always asked for: the tests replace snapshots at will. */
const RULES: SyncRules = { ...DEFAULT_SYNC_RULES, snapshotVersions: 0 };
/** Segments over this go to S3. */
const INLINE = 10;
/** Every object is a candidate (a cutoff a minute ahead): only references and marks protect. */
const EVERY_OBJECT = -60_000;
const DAY_MS = 24 * 60 * 60 * 1000;

const dynamo = dynamoOnEmulators({ inlineSegmentMaxBytes: INLINE });

/** A fresh table and bucket, storages on them (optionally with intercepted calls), and what is in them. */
async function place() {
  const here = await dynamo.fresh("defer");
  const storage = (around?: Around) => here.storage({ around });
  const clientItem = async (clientId: Uuid) => {
    const item = await here.clientItem(clientId);
    if (!item) throw new Error("no client item");
    return item;
  };
  /** `used` and the sum of the kept weeks. */
  const counted = async (clientId: Uuid) => {
    const item = await clientItem(clientId);
    const kept = Object.entries(item)
      .filter(([attribute]) => attribute.startsWith(KEPT_PREFIX))
      .reduce((sum, [, value]) => sum + Number(value.N), 0);
    return { used: Number(item[ATTR.used]?.N), kept };
  };
  const marks = async (clientId: Uuid): Promise<{ since: number; objects: string[] }[]> =>
    (await here.items(clientId, SK.orphansPrefix)).map((item) => ({
      since: Number(item[ATTR.since]?.N),
      objects: [...(item[ATTR.objects]?.SS ?? [])].sort(),
    }));
  const putObject = (key: string, size: number) => here.putObject(key, new Uint8Array(size));
  /** A mark as the storage writes it, of `keys`, since `since`. */
  const putMark = async (clientId: Uuid, keys: string[], since: number) => {
    await here.raw.dynamodb.send(
      new UpdateItemCommand({
        TableName: here.tableName,
        Key: itemKey(clientId, SK.orphans(objectNonce())),
        UpdateExpression: "SET #since = :since, #objects = :objects",
        ExpressionAttributeNames: { "#since": ATTR.since, "#objects": ATTR.objects },
        ExpressionAttributeValues: { ":since": { N: String(since) }, ":objects": { SS: keys } },
      }),
    );
  };
  return { storage, objects: (clientId: Uuid) => here.objects(clientId), clientItem, counted, marks, putObject, putMark };
}

/** A client with one inline version and a snapshot of it (its object is the client's only one). */
async function clientWithSnapshot(sync: SyncServer, size = 300): Promise<{ clientId: Uuid; v1: Uuid }> {
  const clientId = newUuid();
  const v1 = added(await sync.addVersion(clientId, NIL_UUID, new Uint8Array(5)));
  expect(await sync.addSnapshot(clientId, v1, new Uint8Array(size))).toEqual({ kind: "stored" });
  return { clientId, v1 };
}

/**
 * A client with one inline version (5 bytes), and a large version (600 bytes, to S3) that loses
 * its parent to another replica's inline one (3 bytes) while it uploads: a conflict, its upload
 * deleted at once (or not, when the delete fails). Returns the client and what it counted before.
 */
async function uploadThatLosesItsParent(p: Awaited<ReturnType<typeof place>>, options: { deleteFails: boolean }) {
  const sync = new SyncServer(p.storage(), RULES);
  const clientId = newUuid();
  const v1 = added(await sync.addVersion(clientId, NIL_UUID, new Uint8Array(5)));
  const before = await p.counted(clientId);
  let raced = false;
  const racing = p.storage(async (call, send) => {
    if (call.command === "PutObjectCommand" && !raced) {
      raced = true;
      added(await new SyncServer(p.storage(), { ...RULES, snapshotVersions: 100 }).addVersion(clientId, v1, new Uint8Array(3)));
    }
    if (options.deleteFails && call.command === "DeleteObjectCommand") throw sdkError(503, "ServiceUnavailable");
    return send();
  });
  expect(await new SyncServer(racing, RULES).addVersion(clientId, v1, new Uint8Array(600))).toMatchObject({ kind: "conflict" });
  return { clientId, before };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the quota's weeks of kept bytes", () => {
  test("a week is counted until the grace and the bucket's 40 days have passed after its last day", () => {
    const week = 2900;
    const lastDay = week * KEPT_WEEK_DAYS + KEPT_WEEK_DAYS - 1;
    // Unreferenced at the end of the week's last day: current for the grace, then noncurrent for
    // 40 days, expired by S3 at the next midnight.
    const expiredDay = lastDay + 1 + DELETION_GRACE_DAYS + DELETED_OBJECT_RETENTION_DAYS;
    expect(keptWeek(lastDay * DAY_MS + DAY_MS - 1)).toBe(week);
    expect(keptWeekExpired(week, expiredDay * DAY_MS - 1)).toBe(false);
    expect(keptWeekExpired(week, expiredDay * DAY_MS)).toBe(true);
    // Without the grace the week would stop counting while S3 still bills its objects.
    expect(keptWeekExpired(week, (lastDay + 1 + DELETED_OBJECT_RETENTION_DAYS) * DAY_MS)).toBe(false);
  });
});

describe("what a write leaves unreferenced", () => {
  test("a replaced snapshot: marked by the write that replaces it, counted once, kept for the grace, then deleted with its mark", async () => {
    const p = await place();
    const transactions: unknown[] = [];
    const storage = p.storage(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand") transactions.push(call.input.TransactItems);
      return send();
    });
    const sync = new SyncServer(storage, RULES);
    const { clientId, v1 } = await clientWithSnapshot(sync, 300);
    const [first] = await p.objects(clientId);
    // A snapshot of a newer version replaces it (an inline version: nothing else goes to S3).
    const v2 = added(await sync.addVersion(clientId, v1, new Uint8Array(6)));
    transactions.length = 0;
    const before = Date.now();
    expect(await sync.addSnapshot(clientId, v2, new Uint8Array(400))).toEqual({ kind: "stored" });
    // One write: the client item and the replaced object's mark, in one transaction.
    expect(transactions).toHaveLength(1);
    const items = transactions[0] as { Update?: { Key: Record<string, { S: string }> } }[];
    expect(items.map((item) => item.Update?.Key.sk?.S.replace(/#.*/, "#"))).toEqual([SK.client, SK.orphansPrefix]);
    const objects = await p.objects(clientId);
    expect(objects).toHaveLength(2);
    const marks = await p.marks(clientId);
    expect(marks).toEqual([{ since: expect.any(Number), objects: [first] }]);
    expect(marks[0]!.since).toBeGreaterThanOrEqual(before);
    // Counted once, by the write: the new snapshot stored, the old one kept.
    const counts = await p.counted(clientId);
    expect(counts).toEqual({ used: versionUsed(5) + versionUsed(6) + 400 + 300, kept: 300 });

    // Within the grace, the sweep leaves it, neither marked again nor counted again.
    const graceMs = 1_500;
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs })).toEqual({ deleted: [], marked: [] });
    expect(await p.objects(clientId)).toEqual(objects);
    expect(await p.counted(clientId)).toEqual(counts);
    // Past it, the object goes, and its mark; the quota still counts it (the bucket keeps it 40 days).
    await sleep(graceMs + 100 - (Date.now() - marks[0]!.since));
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs })).toEqual({ deleted: [first], marked: [] });
    expect(await p.objects(clientId)).toEqual(objects.filter((key) => key !== first));
    expect(await p.marks(clientId)).toEqual([]);
    expect(await p.counted(clientId)).toEqual(counts);
    expect(await sync.getSnapshot(clientId)).toMatchObject({ kind: "found", versionId: v2 });
  });

  test("pruned segments in S3: one mark for the batch, in the removal's transaction (40 versions stay within 100 items)", async () => {
    const p = await place();
    const storage = p.storage();
    const sync = new SyncServer(storage, RULES);
    const clientId = newUuid();
    const ids: Uuid[] = [];
    let parent = NIL_UUID;
    for (let i = 0; i < 4; i++) {
      parent = added(await sync.addVersion(clientId, parent, new Uint8Array(50 + i)));
      ids.push(parent);
    }
    const segmentObjects = await p.objects(clientId);
    expect(segmentObjects).toHaveLength(4);
    await writeTxn(storage, clientId, (txn) => txn.removeOldestVersions(ids.slice(0, 3)));
    expect(await p.objects(clientId)).toEqual(segmentObjects);
    const removed = segmentObjects.filter((key) => !key.includes(`/${ids[3]}/`));
    expect(await p.marks(clientId)).toEqual([{ since: expect.any(Number), objects: removed }]);
    expect((await p.counted(clientId)).kept).toBe(50 + 51 + 52);

    // The largest batch: a Delete of each version item and of 0.1.0's index item, the client's
    // Update, and one mark however many segments are in S3.
    const versions = Array.from({ length: MAX_REMOVED_VERSIONS }, () => {
      const parentId = newUuid();
      const versionId = newUuid();
      return { versionId, parentId, bytes: 400_000, segmentKey: segmentKey(clientId, parentId, versionId, objectNonce()) };
    });
    const request = writeRequest({
      tableName: "t",
      clientId,
      created: undefined,
      base: undefined,
      writes: [{ kind: "remove-oldest", expectedBase: NIL_UUID, versions }],
      uploads: new Map(),
      maxClientBytes: undefined,
      lease: undefined,
      now: Date.now(),
    });
    if (request.kind !== "transaction") throw new Error("expected a transaction");
    expect(request.items).toHaveLength(1 + 2 * MAX_REMOVED_VERSIONS + 1);
    expect(request.items.length).toBeLessThanOrEqual(100);
    const mark = request.items.at(-1)?.Update?.ExpressionAttributeValues?.[":objects"]?.SS;
    expect(mark?.sort()).toEqual(versions.map((version) => version.segmentKey).sort());
  });
});

describe("orphans the sweep finds", () => {
  test("one nothing counted (a crash leftover): marked and counted once, then deleted a grace later", async () => {
    const p = await place();
    const storage = p.storage();
    const { clientId } = await clientWithSnapshot(new SyncServer(storage, RULES));
    const before = await p.counted(clientId);
    const stray = await p.putObject(segmentKey(clientId, newUuid(), newUuid(), objectNonce()), 700);
    const graceMs = 1_500;
    const started = Date.now();
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs })).toEqual({ deleted: [], marked: [stray] });
    const marks = await p.marks(clientId);
    expect(marks).toEqual([{ since: expect.any(Number), objects: [stray] }]);
    expect(marks[0]!.since).toBeGreaterThanOrEqual(started);
    expect(await p.counted(clientId)).toEqual({ used: before.used + 700, kept: before.kept + 700 });
    expect((await p.clientItem(clientId))[ATTR.kept(keptWeek(Date.now()))]?.N).toBe("700");
    // Again within the grace: nothing changes.
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs })).toEqual({ deleted: [], marked: [] });
    expect(await p.counted(clientId)).toEqual({ used: before.used + 700, kept: before.kept + 700 });
    await sleep(graceMs + 100 - (Date.now() - marks[0]!.since));
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs })).toEqual({ deleted: [stray], marked: [] });
    expect(await p.marks(clientId)).toEqual([]);
    expect(await p.counted(clientId)).toEqual({ used: before.used + 700, kept: before.kept + 700 });
    // The default grace is DELETION_GRACE_DAYS.
    expect(DELETION_GRACE_MS).toBe(DELETION_GRACE_DAYS * DAY_MS);
  });

  test("a refused upload whose delete fails is left uncounted: the sweep counts it, once", async () => {
    const p = await place();
    const { clientId, before } = await uploadThatLosesItsParent(p, { deleteFails: true });
    const [left] = await p.objects(clientId);
    expect(left).toBeDefined();
    // Not counted: it was not deleted, and nothing marked it.
    expect(await p.counted(clientId)).toEqual({ used: before.used + versionUsed(3), kept: 0 });
    expect(await sweepOrphans(p.storage(), clientId, { minAgeMs: EVERY_OBJECT, graceMs: 0 })).toEqual({ deleted: [left], marked: [left] });
    expect(await p.counted(clientId)).toEqual({ used: before.used + versionUsed(3) + 600, kept: 600 });
  });

  test("a refused upload that is deleted at once is counted by its commit, and the sweep finds nothing", async () => {
    const p = await place();
    const { clientId, before } = await uploadThatLosesItsParent(p, { deleteFails: false });
    expect(await p.objects(clientId)).toEqual([]);
    expect(await p.counted(clientId)).toEqual({ used: before.used + versionUsed(3) + 600, kept: 600 });
    expect(await p.marks(clientId)).toEqual([]);
  });

  test("a stale mark (a restored table's) never gets a referenced object deleted; once unreferenced, it waits its own grace", async () => {
    const p = await place();
    const storage = p.storage();
    const sync = new SyncServer(storage, RULES);
    const { clientId, v1 } = await clientWithSnapshot(sync);
    const [referenced] = await p.objects(clientId);
    // A mark of the referenced snapshot, ten days old: written by a transaction whose client
    // update the table's backup did not hold.
    await p.putMark(clientId, [referenced!], Date.now() - 10 * DAY_MS);
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs: DAY_MS })).toEqual({ deleted: [], marked: [] });
    expect(await p.objects(clientId)).toEqual([referenced]);
    // Replaced now: its new mark, not the stale one, decides when it goes.
    const v2 = added(await sync.addVersion(clientId, v1, new Uint8Array(6)));
    expect(await sync.addSnapshot(clientId, v2, new Uint8Array(10))).toEqual({ kind: "stored" });
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs: DAY_MS })).toEqual({ deleted: [], marked: [] });
    expect(await p.objects(clientId)).toContain(referenced);
    // Past its grace (none here), it goes, and both marks with it.
    expect(await sweepOrphans(storage, clientId, { minAgeMs: EVERY_OBJECT, graceMs: 0 })).toEqual({ deleted: [referenced], marked: [] });
    expect(await p.marks(clientId)).toEqual([]);
  });

  test("a mark whose object is gone is deleted; a mark younger than the listing is left", async () => {
    const p = await place();
    const storage = p.storage();
    const { clientId } = await clientWithSnapshot(new SyncServer(storage, RULES));
    const gone = snapshotKey(clientId, newUuid(), objectNonce());
    await p.putMark(clientId, [gone], Date.now() - 1_000);
    // Written after the listing began: its object may be one the listing could not see yet.
    let listed = false;
    const late = snapshotKey(clientId, newUuid(), objectNonce());
    const watching = p.storage(async (call, send) => {
      const result = await send();
      if (call.command === "ListObjectsV2Command" && !listed) {
        listed = true;
        await sleep(5);
        await p.putMark(clientId, [late], Date.now());
      }
      return result;
    });
    expect(await sweepOrphans(watching, clientId, { minAgeMs: EVERY_OBJECT, graceMs: DAY_MS })).toEqual({ deleted: [], marked: [] });
    expect(await p.marks(clientId)).toEqual([{ since: expect.any(Number), objects: [late] }]);
  });

  test("the sweep reads the marks after the references: a snapshot replaced between the two is not marked or counted again", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    const { clientId, v1 } = await clientWithSnapshot(sync, 300);
    const [first] = await p.objects(clientId);
    const v2 = added(await sync.addVersion(clientId, v1, new Uint8Array(6)));
    let reads = 0;
    const racing = p.storage(async (call, send) => {
      const isClientRead = call.command === "GetItemCommand" && (call.input.Key as Record<string, { S?: string }>).sk?.S === SK.client;
      const isMarksRead = call.command === "QueryCommand";
      // Between the sweep's two reads (whichever comes first), another request replaces the snapshot.
      if ((isClientRead || isMarksRead) && ++reads === 2) {
        expect(await sync.addSnapshot(clientId, v2, new Uint8Array(40))).toEqual({ kind: "stored" });
      }
      return send();
    });
    const swept = await sweepOrphans(racing, clientId, { minAgeMs: EVERY_OBJECT, graceMs: DAY_MS });
    expect(reads).toBe(2);
    expect(swept).toEqual({ deleted: [], marked: [] });
    // One mark, the replacing write's; counted once, by that write.
    expect(await p.marks(clientId)).toEqual([{ since: expect.any(Number), objects: [first] }]);
    expect(await p.counted(clientId)).toEqual({ used: versionUsed(5) + versionUsed(6) + 40 + 300, kept: 300 });
  });
});
