/**
 * The orphan sweep of every client (`sweepAllOrphans`) and its Lambda entry
 * (lambda/maintenance.ts), on the emulators. Each test gets a table and a bucket of its own: a sweep
 * of the shared bucket would race the other test files' transactions.
 *
 * S3's listing order and pages are applied over s3rver's answers (`asS3`).
 *
 * Orphans are made by uploading objects under a client's prefix directly; referenced objects
 * (segments over the inline limit, snapshots) through SyncServer. s3rver's LastModified has
 * whole seconds and cannot be set, so "old" is made by waiting, or every object is made a
 * candidate by a cutoff in the future (a negative minimum age): then only the references
 * protect the committed objects, which is what is being tested. Deferred deletion (a grace
 * between an object's mark and its deletion) has tests of its own (deferred-deletion.test.ts):
 * here a grace of 0 marks an orphan and deletes it in the same run, as a sweep a grace later would.
 */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { randomBytes } from "node:crypto";
import type { ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import { afterEach, describe, expect, test, vi } from "vitest";
import { SyncServer, type SyncRules } from "../../lambda/core/sync.ts";
import { clientTag, type Logger, type LogFields } from "../../lambda/log.ts";
import type { DynamoStorageOptions } from "../../lambda/storage/dynamodb/storage.ts";
import { S3_PREFIX, segmentKey, snapshotKey, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { sweepAllOrphans, sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { emulatorEnv } from "../../dev/emulator-endpoints.ts";
import { sdkError } from "../../dev/sdk-interception.ts";
import { chainVersions } from "../support/chain-import.ts";
import { type Around, dynamoOnEmulators, emulators } from "../support/dynamo-on-emulators.ts";
import { added } from "../support/sync-outcomes.ts";

/** A snapshot is always asked for (a threshold of 0): the tests replace snapshots at will. */
const RULES: SyncRules = { ...DEFAULT_SYNC_RULES, snapshotVersions: 0 };
/** Segments over this go to S3. */
const INLINE = 10;
/** A cutoff a minute in the future: every object is a candidate, only references protect. */
const EVERY_OBJECT = -60_000;
/** No grace: an orphan is marked and deleted in one run. */
const NOW = 0;

const dynamo = dynamoOnEmulators({ inlineSegmentMaxBytes: INLINE });
afterEach(() => {
  vi.restoreAllMocks();
});

/** A fresh table and bucket, and storages on them (optionally with intercepted calls), their listings as S3 gives them. */
async function place() {
  const here = await dynamo.fresh("sweep");
  const storage = (around?: Around, options: Partial<DynamoStorageOptions> = {}) =>
    here.storage({ ...options, around: (call, send) => (around ? around(call, () => asS3(call, send)) : asS3(call, send)) });
  const put = (key: string, body: Uint8Array = bytes(`stray ${key}`)) => here.putObject(key, body);
  /** An upload that no item references, keyed as the storage keys its uploads. */
  const orphan = (clientId: Uuid, kind: "segments" | "snapshots" = "segments") => {
    const nonce = randomBytes(8).toString("hex");
    return put(kind === "segments" ? segmentKey(clientId, newUuid(), newUuid(), nonce) : snapshotKey(clientId, newUuid(), nonce));
  };
  return { tableName: here.tableName, bucketName: here.bucketName, storage, keys: (prefix = "") => here.keys(prefix), put, orphan };
}

/**
 * S3's listing rules over s3rver's answers: s3rver lists keys in directory order (S3: sorted
 * by key) and fails on MaxKeys, so the full answer is sorted and cut into pages here, with a
 * continuation token that goes on after the last key of the page before.
 */
const asS3: Around = async (call, send) => {
  if (call.command !== "ListObjectsV2Command") return send();
  const input = call.input as { ContinuationToken?: string; StartAfter?: string; MaxKeys?: number };
  const pageSize = input.MaxKeys ?? 1000;
  if (input.ContinuationToken !== undefined) input.StartAfter = input.ContinuationToken.replace(/^after:/, "");
  delete input.ContinuationToken;
  delete input.MaxKeys;
  const result = (await send()) as { output: ListObjectsV2CommandOutput };
  const contents = [...(result.output.Contents ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a.Key!), Buffer.from(b.Key!)));
  const more = contents.length > pageSize;
  const page = contents.slice(0, pageSize);
  return {
    ...result,
    output: { ...result.output, Contents: page, IsTruncated: more, NextContinuationToken: more ? `after:${page.at(-1)!.Key}` : undefined },
  };
};

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function random(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

interface Written {
  clientId: Uuid;
  segments: Uint8Array[];
  latest?: Uuid;
  snapshot?: { versionId: Uuid; data: Uint8Array };
}

/**
 * A client's chain through the protocol core: versions with segments of the given sizes,
 * then a snapshot of the latest version (replacing the one it had). Continues `written`.
 */
async function writeClient(sync: SyncServer, sizes: number[], withSnapshot: boolean, written?: Written): Promise<Written> {
  const client: Written = written ?? { clientId: newUuid(), segments: [] };
  let parent = client.latest ?? NIL_UUID;
  for (const size of sizes) {
    const segment = random(size);
    parent = added(await sync.addVersion(client.clientId, parent, segment));
    client.segments.push(segment);
  }
  client.latest = parent;
  if (withSnapshot) {
    const data = random(300);
    expect(await sync.addSnapshot(client.clientId, parent, data)).toEqual({ kind: "stored" });
    client.snapshot = { versionId: parent, data };
  }
  return client;
}

/** Everything the client wrote reads back byte-exact through the core. */
async function expectRoundTrip(sync: SyncServer, written: Written): Promise<void> {
  let parent = NIL_UUID;
  for (const segment of written.segments) {
    const got = await sync.getChildVersion(written.clientId, parent);
    if (got.kind !== "found") throw new Error(`version after ${parent} of a client: ${got.kind}`);
    expect(Buffer.from(got.version.historySegment).equals(Buffer.from(segment)), "the segment's bytes").toBe(true);
    parent = got.version.versionId;
  }
  expect((await sync.getChildVersion(written.clientId, parent)).kind).toBe("up-to-date");
  const snapshot = await sync.getSnapshot(written.clientId);
  if (written.snapshot) {
    if (snapshot.kind !== "found") throw new Error(`the snapshot of a client: ${snapshot.kind}`);
    expect(snapshot.versionId).toBe(written.snapshot.versionId);
    expect(Buffer.from(snapshot.data).equals(Buffer.from(written.snapshot.data)), "the snapshot's bytes").toBe(true);
  } else {
    expect(snapshot.kind).toBe("none");
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The client ids whose references a sweep read, in order (each client once per run of reads). */
function recordQueries(into: string[]): Around {
  return async (call, send) => {
    const pk = readOf(call);
    if (pk !== undefined && into.at(-1) !== pk) into.push(pk);
    return send();
  };
}

/** The client id of a GetItem (how the sweep reads references), else undefined. */
function readOf(call: { command: string; input: Record<string, unknown> }): string | undefined {
  return call.command === "GetItemCommand" ? (call.input.Key as Record<string, { S?: string }>)[TABLE.partitionKey.name]?.S : undefined;
}

describe("what a client's sweep reads", () => {
  test("only the items that could reference a candidate, one read per segment whatever its age", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    // 12 versions: 11 inline, one in S3; a snapshot; an orphaned snapshot and segment.
    const client = await writeClient(sync, [...Array.from({ length: 11 }, () => 10), 40], true);
    const orphanSnapshot = await p.orphan(client.clientId, "snapshots");
    const orphanSegment = await p.orphan(client.clientId, "segments");
    const referenced = (await p.keys()).filter((key) => key !== orphanSnapshot && key !== orphanSegment);
    expect(referenced).toHaveLength(2);

    // Every object a year old: every orphan still goes (a week of failed sweeps leaks nothing).
    const reads: string[] = [];
    const aged = p.storage(async (call, send) => {
      if (readOf(call) !== undefined) reads.push(JSON.stringify(call.input.Key));
      const result = (await send()) as { output: ListObjectsV2CommandOutput };
      if (call.command === "ListObjectsV2Command") {
        for (const object of result.output.Contents ?? []) object.LastModified = new Date(Date.now() - 365 * 86_400_000);
      }
      return result;
    });
    expect((await sweepOrphans(aged, client.clientId, { graceMs: NOW })).deleted.sort()).toEqual([orphanSnapshot, orphanSegment].sort());
    // The client item (for its snapKey), then one read per segment: the item its key names.
    expect(reads).toHaveLength(1 + 2);
    expect((await p.keys()).sort()).toEqual(referenced.sort());
    await expectRoundTrip(new SyncServer(p.storage(), RULES), client);
  });
});

describe("sweepAllOrphans", () => {
  test("deletes every old orphan of every client, keeps every referenced object, young orphan and foreign key; data round-trips", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    // Referenced objects: segments over the inline limit, snapshots (the first snapshot of
    // `withEverything` is replaced: the commit marked its object for deletion).
    const first = await writeClient(sync, [100, 5], true);
    const [replaced] = await p.keys(`${S3_PREFIX}${first.clientId}/snapshots/`);
    const withEverything = await writeClient(sync, [200, 3_000], true, first);
    const bigOnly = await writeClient(sync, [64, 64], false);
    const inlineOnly = await writeClient(sync, [1, 2, 3], true);
    const clean = await writeClient(sync, [500], true);
    const neverCommitted = newUuid(); // a client whose only upload never committed
    const written = [withEverything, bigOnly, inlineOnly, clean];

    const oldOrphans = [
      await p.orphan(withEverything.clientId, "segments"),
      await p.orphan(withEverything.clientId, "snapshots"),
      await p.orphan(bigOnly.clientId),
      await p.orphan(inlineOnly.clientId, "snapshots"),
      await p.orphan(neverCommitted),
      await p.orphan(neverCommitted, "snapshots"),
    ];
    // Not written by the storage: not a client id, or not under a client's prefix.
    const foreign = [await p.put(`${S3_PREFIX}not-a-client/file`), await p.put(`${S3_PREFIX}README`), await p.put("elsewhere/x")];
    const referenced = (await p.keys(S3_PREFIX)).filter((key) => !oldOrphans.includes(key) && !foreign.includes(key) && key !== replaced);
    // Segments in S3: 3 + 2 + 0 + 1; snapshots: 1 + 0 + 1 + 1.
    expect(referenced).toHaveLength(9);

    // Older than the minimum age below by the time the sweep runs (whole-second LastModified).
    await sleep(2_500);
    const youngOrphan = await p.orphan(clean.clientId);

    const sweeper = p.storage();
    const report = await sweepAllOrphans(sweeper, { minAgeMs: 1_500, graceMs: NOW });
    // The replaced snapshot was marked by its commit: deleted, not marked again.
    expect(report).toEqual({
      clients: 5,
      deleted: oldOrphans.length + 1,
      marked: oldOrphans.length,
      skipped: 1,
      failed: 0,
      failures: [],
      stopped: false,
    });

    const left = await p.keys();
    for (const key of [...oldOrphans, replaced]) expect(left, "an old orphan").not.toContain(key);
    expect(left.sort()).toEqual([...referenced, ...foreign, youngOrphan].sort());

    // All of it still syncs, through a storage on new SDK clients.
    const reader = new SyncServer(p.storage(), RULES);
    for (const client of written) await expectRoundTrip(reader, client);
    expect((await reader.getSnapshot(neverCommitted)).kind).toBe("unknown-client");

    // Nothing more to do, and the default minimum age (one hour) spares the young one.
    expect(await sweepAllOrphans(sweeper)).toMatchObject({ clients: 4, deleted: 0, failed: 0, stopped: false });
    expect((await p.keys()).sort()).toEqual(left.sort());
  });

  test("stopAfterMs: 0 sweeps nothing and says it stopped", async () => {
    const p = await place();
    const orphans = [await p.orphan(newUuid()), await p.orphan(newUuid())];
    const calls: string[] = [];
    const storage = p.storage(async (call, send) => {
      calls.push(call.command);
      return send();
    });
    expect(await sweepAllOrphans(storage, { minAgeMs: EVERY_OBJECT, stopAfterMs: 0 })).toEqual({
      clients: 0,
      deleted: 0,
      marked: 0,
      skipped: 0,
      failed: 0,
      failures: [],
      stopped: true,
    });
    expect(calls).toEqual([]);
    expect(await p.keys()).toEqual(orphans.sort());
  });

  test("a budget that runs out mid-way stops cleanly, inside a client's sweep too; the next runs finish; nothing referenced goes", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    const written: Written[] = [];
    const orphans: string[] = [];
    for (let i = 0; i < 6; i++) {
      const client = await writeClient(sync, [40, 40], true);
      written.push(client);
      orphans.push(await p.orphan(client.clientId));
    }
    const referenced = (await p.keys()).filter((key) => !orphans.includes(key));
    // Every read of a reference takes 40 ms (a client has about 7): a 1 s budget is cut after a few
    // clients, in the middle of some client's query.
    const slow = p.storage(async (call, send) => {
      if (readOf(call) !== undefined) await sleep(40);
      return send();
    });
    const started = Date.now();
    const first = await sweepAllOrphans(slow, { minAgeMs: EVERY_OBJECT, stopAfterMs: 1_000, graceMs: NOW });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(first.stopped).toBe(true);
    expect(first.failed).toBe(0);
    expect(first.clients).toBeGreaterThanOrEqual(1);
    expect(first.clients).toBeLessThan(6);
    expect(first.deleted).toBe(first.clients); // one orphan per client swept to the end
    let left = await p.keys();
    for (const key of referenced) expect(left).toContain(key);
    // (A delete cut in flight may have happened without being counted.)
    expect(left.filter((key) => orphans.includes(key)).length).toBeLessThanOrEqual(6 - first.deleted);
    expect(left.filter((key) => orphans.includes(key)).length).toBeGreaterThanOrEqual(5 - first.deleted);

    // The next run gets the rest.
    const next = await sweepAllOrphans(p.storage(), { minAgeMs: EVERY_OBJECT, stopAfterMs: 20_000, graceMs: NOW });
    expect(next).toMatchObject({ clients: 6, failed: 0, stopped: false });
    left = await p.keys();
    expect(left.sort()).toEqual(referenced.sort());
    const reader = new SyncServer(p.storage(), RULES);
    for (const client of written) await expectRoundTrip(reader, client);
  });

  test("starts after startAfter and wraps around: every client once, in order", async () => {
    const p = await place();
    const ids = Array.from({ length: 7 }, () => newUuid()).sort();
    for (const startAfter of [ids[3]!, ids[0]!, ids[6]!, "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]) {
      for (const id of ids) await p.orphan(id);
      const swept: string[] = [];
      const report = await sweepAllOrphans(p.storage(recordQueries(swept)), {
        minAgeMs: EVERY_OBJECT,
        startAfter: startAfter as Uuid,
        graceMs: NOW,
      });
      expect(report).toMatchObject({ clients: 7, deleted: 7, stopped: false });
      const after = ids.filter((id) => id > startAfter);
      const upTo = ids.filter((id) => id <= startAfter);
      expect(swept, `from ${startAfter}`).toEqual([...after, ...upTo]);
      expect(await p.keys()).toEqual([]);
    }
  });

  test("follows the listing's pages, a client's keys spanning several", async () => {
    const p = await place();
    const ids = Array.from({ length: 5 }, () => newUuid()).sort();
    for (const id of ids) for (let i = 0; i < 3; i++) await p.orphan(id);
    // After every client id: it stays, and ends the second pass.
    const foreign = await p.put(`${S3_PREFIX}zz-not-a-client/x`);
    const listings: { token?: string; startAfter?: string; maxKeys?: number }[] = [];
    const swept: string[] = [];
    const record = recordQueries(swept);
    const storage = p.storage(async (call, send) => {
      if (call.command === "ListObjectsV2Command") {
        const input = call.input as { ContinuationToken?: string; StartAfter?: string; MaxKeys?: number };
        listings.push({ token: input.ContinuationToken, startAfter: input.StartAfter, maxKeys: input.MaxKeys });
      }
      return record(call, send);
    });
    const startAfter = ids[1]! as Uuid;
    expect(await sweepAllOrphans(storage, { minAgeMs: EVERY_OBJECT, startAfter, pageSize: 2, graceMs: NOW })).toEqual({
      clients: 5,
      deleted: 15,
      marked: 15,
      skipped: 1,
      failed: 0,
      failures: [],
      stopped: false,
    });
    expect(swept).toEqual([...ids.slice(2), ...ids.slice(0, 2)]);
    // After ids[1]: 10 keys, 5 pages. From the start: ids[0] and ids[1], 6 keys, 3 pages, and
    // the pass ends at the first key past the starting point (ids[2] and on were swept by the
    // first pass: the foreign key) without reading on.
    expect(listings.map((l) => l.token === undefined)).toEqual([true, false, false, false, false, true, false, false, false]);
    expect(listings[0]).toEqual({ token: undefined, startAfter: `${S3_PREFIX}${startAfter}0`, maxKeys: 2 });
    expect(listings[5]).toEqual({ token: undefined, startAfter: undefined, maxKeys: 2 });
    expect(await p.keys()).toEqual([foreign]);
  });

  test("a client whose sweep fails is reported and the others are swept", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    const good = await writeClient(sync, [80], true);
    const bad = await writeClient(sync, [80], true);
    const goodOrphan = await p.orphan(good.clientId);
    const badOrphan = await p.orphan(bad.clientId);
    const storage = p.storage(async (call, send) => {
      if (readOf(call) === bad.clientId) throw sdkError(400, "AccessDeniedException", "not allowed");
      return send();
    });
    const report = await sweepAllOrphans(storage, { minAgeMs: EVERY_OBJECT, graceMs: NOW });
    expect(report).toMatchObject({ clients: 1, deleted: 1, failed: 1, stopped: false });
    expect(report.failures.map((f) => f.clientId)).toEqual([bad.clientId]);
    const left = await p.keys();
    expect(left).not.toContain(goodOrphan);
    expect(left).toContain(badOrphan); // its references could not be read: nothing deleted
    const reader = new SyncServer(p.storage(), RULES);
    await expectRoundTrip(reader, good);
    await expectRoundTrip(reader, bad);
  });
});

describe("the maintenance function (lambda/maintenance.ts)", () => {
  function capture(): { logger: Logger; lines: { level: string; msg: string; fields: LogFields }[] } {
    const lines: { level: string; msg: string; fields: LogFields }[] = [];
    const at =
      (level: string) =>
      (msg: string, fields: LogFields = {}) =>
        void lines.push({ level, msg, fields });
    return { logger: { info: at("info"), warn: at("warn"), error: at("error") }, lines };
  }

  test("the entry builds the storage from the sync function's settings, sweeps within the invocation's time, logs one JSON line", async () => {
    const p = await place();
    const sync = new SyncServer(p.storage(), RULES);
    const client = await writeClient(sync, [100], true);
    const young = await p.orphan(client.clientId);
    const before = await p.keys();
    const env = emulatorEnv({ ...emulators(), tableName: p.tableName, bucketName: p.bucketName });
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    const written: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const { handler, MAINTENANCE_MARGIN_MS } = await import("../../lambda/maintenance.ts");
    const result = await handler(
      { "detail-type": "Scheduled Event", source: "aws.events" },
      { getRemainingTimeInMillis: () => MAINTENANCE_MARGIN_MS + 20_000 },
    );
    vi.unstubAllEnvs();
    const pruned = { prunedClients: 0, removedVersions: 0, removedBytes: 0, contended: 0 };
    expect(result).toEqual({ clients: 1, deleted: 0, marked: 0, skipped: 0, failed: 0, stopped: false, ...pruned });
    // The default minimum age (an hour): nothing young goes.
    expect(await p.keys()).toEqual(before);
    expect(before).toContain(young);
    const lines = written
      .join("")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: "maintenance",
      clients: 1,
      deleted: 0,
      marked: 0,
      skipped: 0,
      failed: 0,
      stopped: false,
      historyDays: 180,
      ...pruned,
    });
    expect(typeof lines[0]!.durationMs).toBe("number");
    expect(written.join("")).not.toContain(client.clientId);

    // No time left in the invocation: it stops at once.
    expect(await handler({}, { getRemainingTimeInMillis: () => MAINTENANCE_MARGIN_MS - 1 })).toMatchObject({ clients: 0, stopped: true });
  });

  test("failed clients: logged by tag only, with the counts, and the invocation fails (the error alarm)", async () => {
    vi.stubEnv("TABLE_NAME", "unused");
    vi.stubEnv("BUCKET_NAME", "unused");
    const { createMaintenanceHandler } = await import("../../lambda/maintenance.ts");
    vi.unstubAllEnvs();
    const p = await place();
    const bad = newUuid();
    const orphan = await p.orphan(bad);
    const storage = p.storage(async (call, send) => {
      // S3's refusals name the resource: the client id is in the message.
      if (call.command === "DeleteObjectCommand")
        throw sdkError(403, "AccessDenied", `not authorized on resource arn:aws:s3:::bucket/${call.input.Key as string}`);
      return send();
    });
    const { logger, lines } = capture();
    const handler = createMaintenanceHandler({ storage, historyDays: 180, logger, minAgeMs: EVERY_OBJECT, graceMs: NOW });
    await expect(handler({}, { getRemainingTimeInMillis: () => 120_000 })).rejects.toThrow(/failed for 1 client/);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "maintenance of a client failed"],
      ["error", "maintenance"],
    ]);
    expect(lines[0]!.fields.client).toBe(clientTag(bad));
    expect(lines[0]!.fields.error).toContain("AccessDenied");
    expect(lines[0]!.fields.error).toContain(`<${clientTag(bad)}>`);
    expect(lines[1]!.fields).toMatchObject({ clients: 0, deleted: 0, failed: 1, stopped: false });
    expect(JSON.stringify(lines)).not.toContain(bad);
    expect(await p.keys()).toEqual([orphan]);
  });

  test("a failed run (the listing refused): one scrubbed log line, and the invocation's error names no client", async () => {
    vi.stubEnv("TABLE_NAME", "unused");
    vi.stubEnv("BUCKET_NAME", "unused");
    const { createMaintenanceHandler } = await import("../../lambda/maintenance.ts");
    vi.unstubAllEnvs();
    const p = await place();
    const named = newUuid();
    const storage = p.storage(async (call, send) => {
      if (call.command === "ListObjectsV2Command")
        throw sdkError(403, "AccessDenied", `not authorized on resource arn:aws:s3:::bucket/segments/${named}/x`);
      return send();
    });
    const { logger, lines } = capture();
    const handler = createMaintenanceHandler({ storage, historyDays: 180, logger, minAgeMs: EVERY_OBJECT });
    const failure = await handler({}, { getRemainingTimeInMillis: () => 120_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).stack)).not.toContain(named);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([["error", "maintenance failed"]]);
    expect(lines[0]!.fields.error).toContain("AccessDenied");
    expect(JSON.stringify(lines)).not.toContain(named);
  });

  test("removes the history HISTORY_DAYS no longer keeps, for every client with a snapshot, and the objects it referenced a grace later", async () => {
    vi.stubEnv("TABLE_NAME", "unused");
    vi.stubEnv("BUCKET_NAME", "unused");
    const { createMaintenanceHandler } = await import("../../lambda/maintenance.ts");
    vi.unstubAllEnvs();
    const p = await place();
    const storage = p.storage();
    const day = 86_400_000;
    // Ten versions, one a day from 60 days ago (less an hour; the third in S3), a snapshot of the seventh.
    const clientId = newUuid();
    const ids = Array.from({ length: 10 }, () => newUuid());
    const segments = ids.map((_, i) => new Uint8Array(randomBytes(i === 2 ? 400 * 1024 : 100)));
    await storage.importClient(clientId, {
      latestVersionId: ids[9]!,
      snapshot: { versionId: ids[6]!, timestamp: new Date(Date.now() - 54 * day), versionsSince: 3, data: bytes("snapshot") },
      versions: chainVersions(ids, (i) => ({ historySegment: segments[i]!, addedAt: new Date(Date.now() - (60 - i) * day + 3_600_000) })),
    });
    const segmentObject = (await p.keys()).find((key) => key.includes("/segments/"));
    expect(segmentObject).toBeDefined();
    const { logger, lines } = capture();
    // Kept: 55 days. Removed: the versions before the snapshot's and older than that (the first five).
    const report = await createMaintenanceHandler({ storage, historyDays: 55, logger })({}, { getRemainingTimeInMillis: () => 120_000 });
    expect(report).toMatchObject({ clients: 1, prunedClients: 1, removedVersions: 5, failed: 0 });
    expect(report.removedBytes).toBe(segments.slice(0, 5).reduce((sum, s) => sum + s.byteLength, 0));
    expect(lines.at(-1)).toMatchObject({ level: "info", msg: "maintenance", fields: { removedVersions: 5, historyDays: 55 } });
    const sync = new SyncServer(storage, RULES);
    // A replica whose base version went is told to start over; one from the snapshot catches up.
    expect((await sync.getChildVersion(clientId, ids[2]!)).kind).toBe("gone");
    expect((await sync.getChildVersion(clientId, ids[4]!)).kind).toBe("found");
    expect(await sync.getSnapshot(clientId)).toMatchObject({ kind: "found", versionId: ids[6] });
    // The pruned segment's object is marked for deletion: it stays for the grace.
    expect(await p.keys()).toContain(segmentObject);
    // 0 keeps everything; a run after the grace (none here) deletes the object.
    const again = await createMaintenanceHandler({ storage, historyDays: 0, logger, minAgeMs: EVERY_OBJECT, graceMs: NOW })(
      {},
      { getRemainingTimeInMillis: () => 120_000 },
    );
    // Its five removed versions' segments (every segment is in S3 here: an inline limit of 10 bytes).
    expect(again).toMatchObject({ removedVersions: 0, deleted: 5, marked: 0 });
    expect(await p.keys()).not.toContain(segmentObject);
  });
});
