/**
 * Data written by 0.1.0 of this server (its client item with a `recent` list and no counters,
 * a `VERSION#<id>` index item per version, segment keys without the parent) keeps working on
 * DynamoDB Local + s3rver: the protocol reads it as it is, and the first write that needs what
 * it lacks (the chain's start, the stored bytes) fills that in once.
 */
import { randomBytes } from "node:crypto";
import { type AttributeValue, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer } from "../../lambda/core/sync.ts";
import { VERSION_OVERHEAD_BYTES } from "../../lambda/storage/dynamodb/constants.ts";
import { S3_PREFIX } from "../../lambda/storage/dynamodb/layout.ts";
import { sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { dynamoOnEmulators } from "../support/dynamo-on-emulators.ts";
import { inTxn, writeTxn } from "../support/txn.ts";

const dynamo = dynamoOnEmulators();

const segmentOf = (i: number) => new Uint8Array(randomBytes(100 + i));
const nonce = () => randomBytes(8).toString("hex");

interface LegacyClient {
  clientId: Uuid;
  ids: Uuid[];
  segments: Uint8Array[];
  snapshot: Uint8Array;
  bigSegmentKey: string;
}

async function put(item: Record<string, AttributeValue>): Promise<void> {
  await dynamo.raw.dynamodb.send(new PutItemCommand({ TableName: dynamo.tableName, Item: item }));
}

const putObject = (key: string, body: Uint8Array) => dynamo.putObject(key, body);

/** A client as 0.1.0 wrote it: 7 versions (the 4th in S3 under a key without its parent) and a snapshot of the 6th. */
async function legacyClient(): Promise<LegacyClient> {
  const clientId = newUuid();
  const ids = Array.from({ length: 7 }, () => newUuid());
  const segments = ids.map((_, i) => segmentOf(i));
  const created = { N: String(Date.now() - 1000) };
  let bigSegmentKey = "";
  for (const [i, versionId] of ids.entries()) {
    const parentId = i === 0 ? NIL_UUID : ids[i - 1]!;
    const segment = segments[i]!;
    const item: Record<string, AttributeValue> = {
      pk: { S: clientId },
      sk: { S: `CHILD#${parentId}` },
      versionId: { S: versionId },
      parentId: { S: parentId },
      segmentSize: { N: String(segment.byteLength) },
      created,
    };
    if (i === 3) {
      bigSegmentKey = `${S3_PREFIX}${clientId}/segments/${versionId}/${nonce()}`;
      await putObject(bigSegmentKey, segment);
      item.segmentKey = { S: bigSegmentKey };
    } else {
      item.segment = { B: segment };
    }
    await put(item);
    await put({ pk: { S: clientId }, sk: { S: `VERSION#${versionId}` }, parentId: { S: parentId } });
  }
  const snapshot = new Uint8Array(randomBytes(300));
  const snapKey = `${S3_PREFIX}${clientId}/snapshots/${ids[5]}/${nonce()}`;
  await putObject(snapKey, snapshot);
  await put({
    pk: { S: clientId },
    sk: { S: "CLIENT" },
    latest: { S: ids[6]! },
    recent: {
      L: ids
        .slice(2)
        .reverse()
        .map((id) => ({ S: id })),
    },
    versionCount: { N: "7" },
    snapVersion: { S: ids[5]! },
    snapTime: { N: String(Date.now() - 1000) },
    snapAt: { N: "6" },
    snapKey: { S: snapKey },
    created,
  });
  return { clientId, ids, segments, snapshot, bigSegmentKey };
}

const clientItem = (clientId: Uuid) => dynamo.clientItem(clientId);

describe("a client stored by 0.1.0", () => {
  test("syncs as it is: every version by parent and by id, the snapshot, its recent ids", async () => {
    const storage = dynamo.storage();
    const legacy = await legacyClient();
    const sync = new SyncServer(storage, DEFAULT_SYNC_RULES);
    let parent = NIL_UUID;
    for (const [i, id] of legacy.ids.entries()) {
      const got = await sync.getChildVersion(legacy.clientId, parent);
      if (got.kind !== "found") throw new Error(got.kind);
      expect(got.version.versionId).toBe(id);
      expect(Buffer.from(got.version.historySegment).equals(Buffer.from(legacy.segments[i]!))).toBe(true);
      parent = id;
    }
    expect((await sync.getChildVersion(legacy.clientId, parent)).kind).toBe("up-to-date");
    expect(await sync.getSnapshot(legacy.clientId)).toEqual({ kind: "found", versionId: legacy.ids[5], data: legacy.snapshot });
    await inTxn(storage, legacy.clientId, async (txn) => {
      expect((await txn.getClient())?.recentVersionIds).toEqual(legacy.ids.slice(2).reverse());
      // An old version by id, through its index item.
      expect((await txn.getVersion(legacy.ids[1]!))?.parentVersionId).toBe(legacy.ids[0]);
    });
  });

  test("its first added version records the chain's start and the stored bytes, once; the chain goes on", async () => {
    const storage = dynamo.storage();
    const legacy = await legacyClient();
    const sync = new SyncServer(storage, DEFAULT_SYNC_RULES);
    const next = await sync.addVersion(legacy.clientId, legacy.ids[6]!, new Uint8Array([1, 2, 3]));
    expect(next).toMatchObject({ kind: "added" });
    const item = await clientItem(legacy.clientId);
    const segmentsBytes = legacy.segments.reduce((sum, s) => sum + s.byteLength, 0);
    expect(item?.base?.S).toBe(NIL_UUID);
    expect(Number(item?.bytes?.N)).toBe(segmentsBytes + legacy.snapshot.byteLength + 3);
    expect(Number(item?.snapSize?.N)).toBe(legacy.snapshot.byteLength);
    expect(item?.recent).toBeUndefined();
    // Its newest ids carry on in the slots, the new version first.
    expect((await inTxn(storage, legacy.clientId, (txn) => txn.getClient()))?.recentVersionIds).toEqual([
      next.kind === "added" ? next.versionId : undefined,
      ...legacy.ids.slice(3).reverse(),
    ]);
    // A stale parent is still a conflict naming the latest.
    expect(await sync.addVersion(legacy.clientId, legacy.ids[6]!, new Uint8Array([4]))).toEqual({
      kind: "conflict",
      latestVersionId: next.kind === "added" ? next.versionId : undefined,
    });
    expect(await inTxn(storage, legacy.clientId, (txn) => txn.getClientDetails())).toMatchObject({
      versions: 8,
      storedBytes: segmentsBytes + legacy.snapshot.byteLength + 3,
      oldestVersion: { versionId: legacy.ids[0], parentVersionId: NIL_UUID },
    });
  });

  test("takes a snapshot of one of its recent versions; operators see its details; its oldest versions can be removed", async () => {
    const storage = dynamo.storage();
    const legacy = await legacyClient();
    // Always asked for (a threshold of 0): the legacy client's snapshot is recent.
    const sync = new SyncServer(storage, { ...DEFAULT_SYNC_RULES, snapshotVersions: 0 });
    expect(await sync.addSnapshot(legacy.clientId, legacy.ids[6]!, new Uint8Array(50))).toEqual({ kind: "stored" });
    const segmentsBytes = legacy.segments.reduce((sum, s) => sum + s.byteLength, 0);
    expect((await inTxn(storage, legacy.clientId, (txn) => txn.getClientDetails()))?.storedBytes).toBe(segmentsBytes + 50);
    await writeTxn(storage, legacy.clientId, (txn) => txn.removeOldestVersions(legacy.ids.slice(0, 4)));
    expect(await inTxn(storage, legacy.clientId, (txn) => txn.getClientDetails())).toMatchObject({
      versions: 3,
      storedBytes: legacy.segments.slice(4).reduce((sum, s) => sum + s.byteLength, 0) + 50,
      oldestVersion: { versionId: legacy.ids[4], parentVersionId: legacy.ids[3] },
    });
    // The removed versions' index items went with them; their S3 object is marked for the sweep.
    expect(await dynamo.item(legacy.clientId, `VERSION#${legacy.ids[0]}`)).toBeUndefined();
    const segments = () => dynamo.keys(`${S3_PREFIX}${legacy.clientId}/segments/`);
    const removedObjects = await segments();
    expect(removedObjects).toHaveLength(1);
    // Marked by the removal itself (as the snapshot that the new one replaced was by its write):
    // the sweep does not mark them again, and deletes them after the grace.
    const swept = await sweepOrphans(storage, legacy.clientId, { minAgeMs: -60_000, graceMs: 0 });
    expect(swept.marked).toEqual([]);
    expect(swept.deleted).toEqual(expect.arrayContaining(removedObjects));
    expect(swept.deleted.filter((key) => key.includes("/snapshots/"))).toHaveLength(1);
    expect(await segments()).toEqual([]);
    expect((await sync.getChildVersion(legacy.clientId, legacy.ids[0]!)).kind).toBe("gone");
  });

  test("the sweep keeps its referenced objects, keyed the old way, and deletes its orphans", async () => {
    const storage = dynamo.storage();
    const legacy = await legacyClient();
    const orphan = `${S3_PREFIX}${legacy.clientId}/segments/${newUuid()}/${nonce()}`;
    await putObject(orphan, new Uint8Array([9]));
    expect(await sweepOrphans(storage, legacy.clientId, { minAgeMs: -60_000, graceMs: 0 })).toEqual({
      deleted: [orphan],
      marked: [orphan],
    });
    const got = await new SyncServer(storage, DEFAULT_SYNC_RULES).getChildVersion(legacy.clientId, legacy.ids[2]!);
    expect(got.kind === "found" && Buffer.from(got.version.historySegment).equals(Buffer.from(legacy.segments[3]!))).toBe(true);
  });
});

describe("a client item that 0.2.0's function wrote to after this version", () => {
  test("a version it added without counting it (during the deploy, or after a rollback) is counted again when the item is next read", async () => {
    const storage = dynamo.storage();
    const sync = new SyncServer(storage, DEFAULT_SYNC_RULES);
    const clientId = newUuid();
    let parent = NIL_UUID;
    for (let i = 0; i < 3; i++) {
      const outcome = await sync.addVersion(clientId, parent, new Uint8Array(100));
      if (outcome.kind !== "added") throw new Error(outcome.kind);
      parent = outcome.versionId;
    }
    const counted = (await inTxn(storage, clientId, (txn) => txn.getClientDetails()))!;
    // As 0.2.0 adds a version: its bytes and the count, not `used`.
    await dynamo.raw.dynamodb.send(
      new UpdateItemCommand({
        TableName: dynamo.tableName,
        Key: { pk: { S: clientId }, sk: { S: "CLIENT" } },
        UpdateExpression: "ADD #bytes :bytes, #count :one",
        ExpressionAttributeNames: { "#bytes": "bytes", "#count": "versionCount" },
        ExpressionAttributeValues: { ":bytes": { N: "5000" }, ":one": { N: "1" } },
      }),
    );
    const details = await inTxn(storage, clientId, (txn) => txn.getClientDetails());
    expect(details?.usedBytes).toBe(counted.usedBytes + 5000 + VERSION_OVERHEAD_BYTES);
    // Counted once: read again, the same.
    expect((await inTxn(storage, clientId, (txn) => txn.getClientDetails()))?.usedBytes).toBe(details?.usedBytes);
  });
});
