/**
 * DynamoStorage on the real emulators (DynamoDB Local + s3rver, started by
 * test/support/emulator-setup.ts): the shared conformance suite, then what is particular to
 * DynamoDB + S3: payload placement, object lifecycle, UUID keys and the call counts per
 * protocol operation (the benchmark's targets).
 */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { randomBytes } from "node:crypto";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, test } from "vitest";
import { SyncServer, type SyncRules } from "../../lambda/core/sync.ts";
import { pruneClient } from "../../lambda/operations/prune.ts";
import { DEFAULT_INLINE_SEGMENT_MAX_BYTES } from "../../lambda/storage/dynamodb/constants.ts";
import { ATTR, S3_PREFIX, SK } from "../../lambda/storage/dynamodb/layout.ts";
import { keptWeek, versionUsed } from "../../lambda/storage/dynamodb/quota.ts";
import { sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import type { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { storageConformance } from "./conformance.ts";
import type { StorageTxn } from "../../lambda/storage/types.ts";
import { chainVersions, type VersionContent } from "../support/chain-import.ts";
import { callName, dynamoOnEmulators, type OpenOptions } from "../support/dynamo-on-emulators.ts";
import { added } from "../support/sync-outcomes.ts";
import { inTxn, writeTxn } from "../support/txn.ts";

const RULES: SyncRules = DEFAULT_SYNC_RULES;
/** Rules under which the server always asks for a snapshot: each one is judged by its version alone. */
const ALWAYS_ASKS: SyncRules = { ...RULES, snapshotVersions: 0 };
const MB = 1024 * 1024;

const dynamo = dynamoOnEmulators();

storageConformance("DynamoStorage on DynamoDB Local + s3rver", async () => ({ storage: dynamo.storage() }), {
  parallelClients: true,
  // Snapshots live in S3, billed as their bytes; a replaced one is kept by the versioned bucket.
  accounting: { version: versionUsed, snapshot: (bytes) => bytes, keepsReplaced: true },
});

describe("DynamoStorage specifics", () => {
  /** Each storage's calls: by name, and as spans ("start …" and "end …" of each). */
  const recorded = new WeakMap<DynamoStorage, { calls: string[]; spans: string[] }>();
  const storage = (options: OpenOptions = {}) => {
    const spans: string[] = [];
    const { storage: s, calls } = dynamo.open({
      ...options,
      around: async (call, send) => {
        spans.push(`start ${callName(call)}`);
        try {
          return await send();
        } finally {
          spans.push(`end ${callName(call)}`);
        }
      },
    });
    recorded.set(s, { calls, spans });
    return s;
  };

  const item = (clientId: Uuid, sk: string) => dynamo.item(clientId, sk);
  const objects = (clientId: Uuid) => dynamo.objects(clientId);
  /** The client's items whose sort key starts with `prefix`. */
  const partition = (clientId: Uuid, prefix: string) => dynamo.items(clientId, prefix);

  function same(actual: Uint8Array, expected: Uint8Array): void {
    expect(actual.byteLength).toBe(expected.byteLength);
    expect(Buffer.from(actual).equals(Buffer.from(expected)), "the bytes differ").toBe(true);
  }

  describe("payloads", () => {
    test("segments of 1 MB and 3 MB and a 3 MB snapshot round-trip byte-exact through the core", async () => {
      const sync = new SyncServer(storage(), RULES);
      const clientId = newUuid();
      const one = new Uint8Array(randomBytes(1 * MB));
      const three = new Uint8Array(randomBytes(3 * MB));
      const snapshot = new Uint8Array(randomBytes(3 * MB + 1));
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, one));
      const v2 = added(await sync.addVersion(clientId, v1, three));
      expect(await sync.addSnapshot(clientId, v2, snapshot)).toEqual({ kind: "stored" });

      // Read back through a fresh storage (new SDK clients): nothing cached.
      const reader = new SyncServer(storage(), RULES);
      const first = await reader.getChildVersion(clientId, NIL_UUID);
      const second = await reader.getChildVersion(clientId, v1);
      if (first.kind !== "found" || second.kind !== "found") throw new Error("versions missing");
      same(first.version.historySegment, one);
      same(second.version.historySegment, three);
      const got = await reader.getSnapshot(clientId);
      if (got.kind !== "found") throw new Error("snapshot missing");
      expect(got.versionId).toBe(v2);
      same(got.data, snapshot);
      expect(await objects(clientId)).toHaveLength(3);
    });

    test("a segment up to the inline limit stays in the item; one byte more goes to S3", async () => {
      const limit = 1000;
      const s = storage({ inlineSegmentMaxBytes: limit });
      const clientId = newUuid();
      const v1 = newUuid();
      const v2 = newUuid();
      const atLimit = new Uint8Array(randomBytes(limit));
      const over = new Uint8Array(randomBytes(limit + 1));
      await write(s, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, atLimit);
      });
      await write(s, clientId, (txn) => txn.addVersion(v2, v1, over));

      const inline = await item(clientId, SK.child(NIL_UUID));
      expect(inline?.[ATTR.versionId]?.S).toBe(v1);
      same(inline![ATTR.segment]!.B!, atLimit);
      expect(inline?.[ATTR.segmentKey]).toBeUndefined();

      const big = await item(clientId, SK.child(v1));
      expect(big?.[ATTR.segment]).toBeUndefined();
      const key = big?.[ATTR.segmentKey]?.S;
      // Keyed by its parent too: the sweep finds the one item that can reference it in one read.
      expect(key).toMatch(new RegExp(`^${S3_PREFIX}${clientId}/segments/${v1}/${v2}/[0-9a-f]{16}$`));
      expect(big?.[ATTR.segmentSize]?.N).toBe(String(limit + 1));
      expect(await objects(clientId)).toEqual([key]);
      // No index item by id (0.1.0 wrote one): the client item's slots find the newest by id.
      expect(await item(clientId, SK.version(v2))).toBeUndefined();

      await read(s, clientId, async (txn) => {
        same((await txn.getVersion(v2))!.historySegment, over);
        same((await txn.getVersionByParent(v1))!.historySegment, over);
      });
    });

    test("the default inline limit leaves headroom under DynamoDB's 400 KB item", async () => {
      expect(DEFAULT_INLINE_SEGMENT_MAX_BYTES).toBeLessThanOrEqual(400 * 1024 - 8 * 1024);
      const s = storage();
      const clientId = newUuid();
      const v1 = newUuid();
      const largestInline = new Uint8Array(randomBytes(DEFAULT_INLINE_SEGMENT_MAX_BYTES));
      await write(s, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, largestInline);
      });
      expect((await item(clientId, SK.child(NIL_UUID)))?.[ATTR.segment]?.B?.byteLength).toBe(DEFAULT_INLINE_SEGMENT_MAX_BYTES);
      expect(await objects(clientId)).toEqual([]);
    });

    test("an empty segment round-trips", async () => {
      const s = storage();
      const clientId = newUuid();
      const v1 = newUuid();
      await write(s, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, new Uint8Array(0));
      });
      await read(s, clientId, async (txn) => {
        expect((await txn.getVersion(v1))!.historySegment).toEqual(new Uint8Array(0));
      });
    });
  });

  describe("snapshot objects", () => {
    test("snapshots live in S3 under a client- and version-scoped key; a replaced one's object is marked, deleted a grace later", async () => {
      const s = storage();
      const sync = new SyncServer(s, ALWAYS_ASKS);
      const clientId = newUuid();
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, bytes("v1")));
      const v2 = added(await sync.addVersion(clientId, v1, bytes("v2")));
      expect(await sync.addSnapshot(clientId, v1, bytes("first"))).toEqual({ kind: "stored" });
      const firstKey = (await item(clientId, SK.client))?.[ATTR.snapKey]?.S;
      expect(firstKey).toMatch(new RegExp(`^${S3_PREFIX}${clientId}/snapshots/${v1}/[0-9a-f]{16}$`));
      expect(await objects(clientId)).toEqual([firstKey]);

      expect(await sync.addSnapshot(clientId, v2, bytes("second"))).toEqual({ kind: "stored" });
      const secondKey = (await item(clientId, SK.client))?.[ATTR.snapKey]?.S;
      expect(secondKey).toMatch(new RegExp(`^${S3_PREFIX}${clientId}/snapshots/${v2}/`));
      // The replaced object stays, named by a deletion mark that the replacing write added.
      expect(await objects(clientId)).toEqual([firstKey, secondKey].sort());
      expect(await sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: v2, data: bytes("second") });
      const marks = await partition(clientId, SK.orphansPrefix);
      expect(marks.map((mark) => mark[ATTR.objects]?.SS)).toEqual([[firstKey]]);
      expect(Number(marks[0]?.[ATTR.since]?.N)).toBeLessThanOrEqual(Date.now());
      // A sweep past the grace deletes it, and the mark.
      expect(await sweepOrphans(s, clientId, { minAgeMs: -60_000, graceMs: 0 })).toEqual({ deleted: [firstKey], marked: [] });
      expect(await objects(clientId)).toEqual([secondKey]);
      expect(await partition(clientId, SK.orphansPrefix)).toEqual([]);
    });

    test("getSnapshotData for another version is null, with no S3 read", async () => {
      const s = storage();
      const calls = record(s);
      const clientId = newUuid();
      const v1 = newUuid();
      await write(s, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, bytes("v1"));
        await txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, bytes("snap"));
      });
      calls.length = 0;
      await read(s, clientId, async (txn) => {
        await txn.getClient();
        expect(await txn.getSnapshotData(newUuid())).toBeNull();
        expect(await txn.getSnapshotData(NIL_UUID)).toBeNull();
        expect(text(await txn.getSnapshotData(v1))).toBe("snap");
      });
      expect(calls).toEqual(["dynamodb:GetItem", "s3:GetObject"]);
    });

    test("a snapshot replaced after the client read still reads (its object stays for the grace); once deleted, it reads as none", async () => {
      const s = storage();
      const clientId = newUuid();
      const v1 = newUuid();
      const v2 = newUuid();
      await write(s, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, bytes("v1"));
        await txn.addVersion(v2, v1, bytes("v2"));
        await txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 1 }, bytes("old"));
      });
      let oldKey: string | undefined;
      await read(s, clientId, async (txn) => {
        expect((await txn.getClient())!.snapshot?.versionId).toBe(v1);
        oldKey = (await item(clientId, SK.client))?.[ATTR.snapKey]?.S;
        // Another transaction replaces the snapshot in between: the old object stays (marked).
        await write(storage(), clientId, (other) =>
          other.setSnapshot({ versionId: v2, timestamp: new Date(), versionsSince: 0 }, bytes("new")),
        );
        expect(text(await txn.getSnapshotData(v1))).toBe("old");
      });
      await read(s, clientId, async (txn) => {
        expect((await txn.getClient())!.snapshot?.versionId).toBe(v2);
      });
      await read(s, clientId, async (txn) => {
        await txn.getClient();
        // A read that outlived the grace: the sweep deleted the old object meanwhile.
        await dynamo.raw.s3.send(new DeleteObjectCommand({ Bucket: dynamo.bucketName, Key: oldKey }));
        expect(await txn.getSnapshotData(v1)).toBeNull();
      });
    });
  });

  describe("keys", () => {
    test("ids must be canonical UUIDs before they become keys", async () => {
      const s = storage();
      await expect(s.txn("not-a-uuid" as Uuid)).rejects.toThrow(TypeError);
      await expect(s.txn("0666D464-418A-4A08-AD53-6F15C78270CD" as Uuid)).rejects.toThrow(TypeError);
      await expect(s.txn(`${newUuid()}#CLIENT` as Uuid)).rejects.toThrow(TypeError);
      const txn = await s.txn(newUuid());
      try {
        await expect(txn.getVersionByParent("x" as Uuid)).rejects.toThrow(TypeError);
        await expect(txn.getVersion("CHILD#x" as Uuid)).rejects.toThrow(TypeError);
        await expect(txn.getSnapshotData("" as Uuid)).rejects.toThrow(TypeError);
        await txn.newClient(NIL_UUID);
        await expect(txn.addVersion("v" as Uuid, NIL_UUID, bytes("x"))).rejects.toThrow(TypeError);
        await expect(txn.addVersion(newUuid(), "p" as Uuid, bytes("x"))).rejects.toThrow(TypeError);
      } finally {
        await txn.release();
      }
    });
  });

  describe("orphans", () => {
    test("sweepOrphans deletes unreferenced objects of the client, old enough, and nothing referenced", async () => {
      const s = storage({ inlineSegmentMaxBytes: 10 });
      const sync = new SyncServer(s, RULES);
      const clientId = newUuid();
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, new Uint8Array(100)));
      expect(await sync.addSnapshot(clientId, v1, bytes("snapshot"))).toEqual({ kind: "stored" });
      const stray = `${S3_PREFIX}${clientId}/segments/${newUuid()}/0123456789abcdef`;
      await dynamo.putObject(stray, bytes("orphan"));
      const before = await objects(clientId);
      expect(before).toHaveLength(3);

      expect(await sweepOrphans(s, clientId)).toEqual({ deleted: [], marked: [] }); // too young to be sure
      const used = Number((await item(clientId, SK.client))?.[ATTR.used]?.N);
      // Without a grace, the orphan is marked (and counted) and deleted in one run.
      expect(await sweepOrphans(s, clientId, { minAgeMs: -60_000, graceMs: 0 })).toEqual({ deleted: [stray], marked: [stray] });
      expect(await objects(clientId)).toEqual(before.filter((key) => key !== stray));
      // The orphan is kept by the bucket (current for the grace, then noncurrent): the client's quota counts it.
      const after = await item(clientId, SK.client);
      expect(Number(after?.[ATTR.used]?.N)).toBe(used + "orphan".length);
      expect(after?.[ATTR.kept(keptWeek(Date.now()))]?.N).toBe(String("orphan".length));
      const got = await sync.getChildVersion(clientId, NIL_UUID);
      expect(got.kind === "found" && got.version.historySegment.byteLength).toBe(100);
      expect((await sync.getSnapshot(clientId)).kind).toBe("found");
    });
  });

  describe("calls per protocol operation (the benchmark's targets)", () => {
    test("AddVersion of an existing client: its read and its TransactWriteItems at once, one round trip; a conflict: the same, no more", async () => {
      const s = storage();
      const sync = new SyncServer(s, RULES);
      const clientId = newUuid();
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, bytes("v1")));
      expect(await sync.addSnapshot(clientId, v1, bytes("snapshot"))).toEqual({ kind: "stored" });
      const calls = record(s, true);
      const v2 = added(await sync.addVersion(clientId, v1, bytes("v2")));
      // Both in flight together: the write did not wait for the read.
      const inFlightTogether = (recorded: string[]) => {
        expect(recorded.slice(0, 2).sort()).toEqual(["start dynamodb:GetItem", "start dynamodb:TransactWriteItems"]);
        expect(recorded.slice(2).sort()).toEqual(["end dynamodb:GetItem", "end dynamodb:TransactWriteItems"]);
      };
      inFlightTogether(calls.splice(0));
      // A stale parent: the refused write's ALL_OLD names the real latest, without another read.
      expect(await sync.addVersion(clientId, v1, bytes("stale"))).toEqual({ kind: "conflict", latestVersionId: v2 });
      inFlightTogether(calls.splice(0));
    });

    test("AddVersion of a new client: the refused write, then the client and its version in one write; then the count of the high urgency", async () => {
      const s = storage();
      const calls = record(s);
      added(await new SyncServer(s, RULES).addVersion(newUuid(), NIL_UUID, bytes("v1")));
      expect(calls).toEqual([
        ...["dynamodb:GetItem", "dynamodb:TransactWriteItems"].sort(),
        "dynamodb:TransactWriteItems",
        // The count: one atomic update, no read before it.
        "dynamodb:UpdateItem",
      ]);
    });

    test("AddVersion with a big segment: its read and the lease at once, then one S3 put, then the transaction", async () => {
      const s = storage({ inlineSegmentMaxBytes: 10 });
      const sync = new SyncServer(s, RULES);
      const clientId = newUuid();
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, bytes("v1")));
      expect(await sync.addSnapshot(clientId, v1, bytes("snapshot"))).toEqual({ kind: "stored" });
      const calls = record(s);
      added(await sync.addVersion(clientId, v1, new Uint8Array(11)));
      // The lease (an UpdateItem that decides every refusal) before anything goes to S3.
      expect(calls.slice(0, 2).sort()).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
      expect(calls.slice(2)).toEqual(["s3:PutObject", "dynamodb:TransactWriteItems"]);
    });

    test("GetChildVersion: two GetItems in one round trip", async () => {
      const s = storage();
      const sync = new SyncServer(s, RULES);
      const clientId = newUuid();
      const v1 = added(await sync.addVersion(clientId, NIL_UUID, bytes("v1")));
      const calls = record(s, true);
      expect((await sync.getChildVersion(clientId, NIL_UUID)).kind).toBe("found");
      expect((await sync.getChildVersion(clientId, v1)).kind).toBe("up-to-date");
      // Both calls of each request were in flight together.
      expect(calls).toEqual([
        "start dynamodb:GetItem",
        "start dynamodb:GetItem",
        "end dynamodb:GetItem",
        "end dynamodb:GetItem",
        "start dynamodb:GetItem",
        "start dynamodb:GetItem",
        "end dynamodb:GetItem",
        "end dynamodb:GetItem",
      ]);
    });

    test("AddSnapshot: one read, no walk-back, the lease, one S3 put, one write (with the old object's deletion mark, no delete); GetSnapshot: GetItem + GetObject", async () => {
      const s = storage();
      const sync = new SyncServer(s, ALWAYS_ASKS);
      const clientId = newUuid();
      const ids: Uuid[] = [];
      let latest = NIL_UUID;
      for (let i = 0; i < 6; i++) {
        latest = added(await sync.addVersion(clientId, latest, bytes(`v${i}`)));
        ids.push(latest);
      }
      const calls = record(s);
      // The 5th most recent: accepted from the client item's recent ids alone.
      expect(await sync.addSnapshot(clientId, ids[1]!, bytes("s1"))).toEqual({ kind: "stored" });
      const stored = ["dynamodb:GetItem", "dynamodb:UpdateItem", "s3:PutObject", "dynamodb:UpdateItem"];
      expect(calls.splice(0)).toEqual(stored);
      expect(await sync.addSnapshot(clientId, ids[0]!, bytes("older"))).toEqual({ kind: "ignored", reason: "newer-snapshot-exists" });
      expect(calls.splice(0)).toEqual(["dynamodb:GetItem"]);
      expect(await sync.addSnapshot(clientId, ids[5]!, bytes("s2"))).toEqual({ kind: "stored" });
      // Replacing one: the write is a transaction (the client item and the replaced object's mark); nothing is deleted.
      expect(calls.splice(0)).toEqual([...stored.slice(0, 3), "dynamodb:TransactWriteItems"]);
      expect(await sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: ids[5], data: bytes("s2") });
      expect(calls.splice(0)).toEqual(["dynamodb:GetItem", "s3:GetObject"]);
    });
  });

  test("pruning a batch walks the chain once: the removal uses the walk its transaction made", async () => {
    const s = storage();
    const { clientId } = await imported(s, 8, 5, (i) => ({ historySegment: bytes(`v${i}`), addedAt: i < 5 ? LONG_AGO : new Date() }));
    const calls = record(s);
    expect(await pruneClient(s, clientId, { historyDays: 180 })).toMatchObject({ removedVersions: 5, status: "complete" });
    // The client item, then the walk up to the first version that stays (the snapshot's); then the removal.
    const firstWrite = calls.indexOf("dynamodb:TransactWriteItems");
    expect(calls.slice(0, firstWrite)).toEqual(Array.from({ length: 1 + 6 }, () => "dynamodb:GetItem"));
  });

  test("pruning costs reads in proportion to what it removes: no query, no segment read, the snapshot's version checked in one read", async () => {
    const s = storage({ inlineSegmentMaxBytes: 10 });
    // The snapshot's version, far from the start, has its segment in S3.
    const { clientId } = await imported(s, 60, 55, (i) => ({
      historySegment: i === 55 ? new Uint8Array(100) : bytes(`v${i}`),
      addedAt: LONG_AGO,
    }));
    const calls = record(s);
    expect(await pruneClient(s, clientId, { historyDays: 180 })).toMatchObject({ removedVersions: 55, status: "complete" });
    expect(calls.filter((call) => call === "dynamodb:Query" || call === "s3:GetObject")).toEqual([]);
    // Two batches (40, 15): each reads the client and walks what it removes plus the one that stays;
    // the first checks the snapshot's version once. Then the last look finds nothing more.
    const reads = calls.filter((call) => call === "dynamodb:GetItem").length;
    expect(reads).toBeLessThanOrEqual(55 + 2 * 2 + 1 + 2);
    expect(calls.filter((call) => call === "dynamodb:TransactWriteItems")).toHaveLength(2);
  });

  test("a batch of 40 removed segments in S3 is deleted without piling listeners on one abort signal (no MaxListeners warning)", async () => {
    const s = storage({ inlineSegmentMaxBytes: 10 });
    const { clientId } = await imported(s, 45, 42, (i) => ({ historySegment: new Uint8Array(20).fill(i), addedAt: LONG_AGO }));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      expect(await pruneClient(s, clientId, { historyDays: 180 })).toMatchObject({ removedVersions: 42, status: "complete" });
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((name) => name === "MaxListenersExceededWarning")).toEqual([]);
  });

  /** The calls of `s` from now on, named as `callName` names them ("start …" and "end …" of each, `withEnds`). */
  function record(s: DynamoStorage, withEnds = false): string[] {
    const { calls, spans } = recorded.get(s)!;
    const into = withEnds ? spans : calls;
    into.length = 0;
    return into;
  }
});

/** Older than any history retention. */
const LONG_AGO = new Date(Date.now() - 300 * 24 * 60 * 60 * 1000);

/** A client imported with `count` versions and a snapshot of the version at `snapshotAt`; returns its id and the versions'. */
async function imported(s: DynamoStorage, count: number, snapshotAt: number, content: VersionContent) {
  const clientId = newUuid();
  const ids = Array.from({ length: count }, () => newUuid());
  await s.importClient(clientId, {
    latestVersionId: ids[count - 1]!,
    snapshot: { versionId: ids[snapshotAt]!, timestamp: new Date(), versionsSince: count - 1 - snapshotAt, data: bytes("snapshot") },
    versions: chainVersions(ids, content),
  });
  return { clientId, ids };
}

/** A committed transaction of the client. */
const write = (s: DynamoStorage, clientId: Uuid, work: (txn: StorageTxn) => Promise<void>) => writeTxn(s, clientId, work);
/** A read-only transaction of the client. */
const read = <T>(s: DynamoStorage, clientId: Uuid, work: (txn: StorageTxn) => Promise<T>) => inTxn(s, clientId, work);

function bytes(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "utf8"));
}

function text(value: Uint8Array | null): string | null {
  return value === null ? null : Buffer.from(value).toString("utf8");
}
