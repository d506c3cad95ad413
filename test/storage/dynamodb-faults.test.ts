/**
 * Faults injected into DynamoStorage's SDK calls (a middleware on its clients) while it runs
 * against the real emulators: S3 failing, transactions cancelled or conflicting, DynamoDB
 * unavailable, answers lost after a commit, a server that never answers. Each test checks the
 * outcome the protocol needs AND what is left in the table and the bucket.
 */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { createServer, type Server, type Socket } from "node:net";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { createApp } from "../../lambda/app.ts";
import { SyncServer, type SyncRules } from "../../lambda/core/sync.ts";
import { createLogger } from "../../lambda/log.ts";
import { ATTR, KEPT_PREFIX, SK } from "../../lambda/storage/dynamodb/layout.ts";
import { versionUsed } from "../../lambda/storage/dynamodb/quota.ts";
import { sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { ChainMovedError, StorageUnavailableError, VersionExistsError } from "../../lambda/storage/errors.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { emulatorClientOptions } from "../../dev/emulator-endpoints.ts";
import { sdkError } from "../../dev/sdk-interception.ts";
import { httpEvent } from "../../dev/events.ts";
import { type Around, dynamoOnEmulators, emulators, type OpenOptions } from "../support/dynamo-on-emulators.ts";
import { added } from "../support/sync-outcomes.ts";

const RULES: SyncRules = DEFAULT_SYNC_RULES;
/** Segments above this go to S3 in these tests, so that small bodies exercise the S3 path. */
const INLINE = 16;
const BIG = new Uint8Array(4096).map((_, i) => (i * 7) % 256);

const dynamo = dynamoOnEmulators({ inlineSegmentMaxBytes: INLINE });

/** A storage whose calls go through `around` (default: pass) at the given step; records the calls. */
function faulty(around?: Around, options: OpenOptions = {}) {
  const { storage, calls } = dynamo.open({ ...options, around });
  return { storage, sync: new SyncServer(storage, RULES), calls };
}

/** A storage without faults, for setting up and checking. */
function healthy() {
  return faulty();
}

const objects = (clientId: Uuid) => dynamo.objects(clientId);
const clientItem = (clientId: Uuid) => dynamo.clientItem(clientId);
const itemExists = async (clientId: Uuid, sk: string) => (await dynamo.item(clientId, sk)) !== undefined;

/** A client with one version (big: its segment is in S3); returns its id and the version's. */
async function clientWithOneVersion(): Promise<{ clientId: Uuid; v1: Uuid; v1Object: string }> {
  const clientId = newUuid();
  const v1 = added(await healthy().sync.addVersion(clientId, NIL_UUID, BIG));
  const [v1Object] = await objects(clientId);
  return { clientId, v1, v1Object: v1Object! };
}

/** Checks that the client is exactly as before: latest v1, no child of v1, only v1's object. */
async function expectUnchanged(clientId: Uuid, v1: Uuid, v1Object: string): Promise<void> {
  const sync = healthy().sync;
  expect(await sync.getChildVersion(clientId, v1)).toEqual({ kind: "up-to-date" });
  expect(await itemExists(clientId, SK.child(v1))).toBe(false);
  expect(await objects(clientId)).toEqual([v1Object]);
}

function transactionCanceled(...codes: string[]): Error {
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(", ")}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

describe("S3 fails", () => {
  test("the segment upload fails: no version is committed, the request is 'unavailable'", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { sync, calls } = faulty(async (call, send) => {
      if (call.command === "PutObjectCommand") throw sdkError(503, "ServiceUnavailable");
      return send();
    });
    const error = await sync.addVersion(clientId, v1, BIG).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(calls).not.toContain("dynamodb:TransactWriteItems");
    await expectUnchanged(clientId, v1, v1Object);
  });

  test("the upload is refused (not transient): an error, no version, nothing left in the bucket", async () => {
    const clientId = newUuid();
    const { sync } = faulty(async (call, send) => {
      if (call.command === "PutObjectCommand") throw sdkError(403, "AccessDenied");
      return send();
    });
    const error = await sync.addVersion(clientId, NIL_UUID, BIG).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(StorageUnavailableError);
    // The client was created to hold the upload's lease: it stays, empty, its lease given back.
    expect(await healthy().sync.getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "up-to-date" });
    expect(await itemExists(clientId, SK.child(NIL_UUID))).toBe(false);
    expect(await objects(clientId)).toEqual([]);
    expect(added(await healthy().sync.addVersion(clientId, NIL_UUID, BIG))).toBeDefined();
  });

  test("the upload lands but its answer is lost: the object is deleted again, no version", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { sync } = faulty(async (call, send) => {
      if (call.command !== "PutObjectCommand") return send();
      await send();
      throw sdkError(500, "InternalError");
    });
    await expect(sync.addVersion(clientId, v1, BIG)).rejects.toBeInstanceOf(StorageUnavailableError);
    await expectUnchanged(clientId, v1, v1Object);
  });
});

describe("the transaction is cancelled after the upload", () => {
  test("a competing version commits first: 409 naming it, and the loser's object is gone", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    let winner: Uuid | undefined;
    const { sync, calls } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand" && !winner) {
        winner = added(await healthy().sync.addVersion(clientId, v1, new Uint8Array([1, 2, 3])));
      }
      return send();
    });
    expect(await sync.addVersion(clientId, v1, BIG)).toEqual({ kind: "conflict", latestVersionId: winner });
    // The read and the lease at once; ALL_OLD named the winner: no read after the failed write.
    expect(calls.slice(0, 2).sort()).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    // The upload that lost is deleted, and counted as kept (the bucket keeps it) with the lease given back.
    expect(calls.slice(2)).toEqual(["s3:PutObject", "dynamodb:TransactWriteItems", "s3:DeleteObject", "dynamodb:UpdateItem"]);
    expect(await objects(clientId)).toEqual([v1Object]); // the winner's segment was inline
    const client = await clientItem(clientId);
    expect(client?.[ATTR.lease]).toBeUndefined();
    expect(
      Object.entries(client ?? {})
        .filter(([name]) => name.startsWith(KEPT_PREFIX))
        .map(([, value]) => value.N),
    ).toEqual([String(BIG.length)]);
    expect(Number(client?.[ATTR.used]?.N)).toBe(versionUsed(BIG.length) + versionUsed(3) + BIG.length);
    const child = await healthy().sync.getChildVersion(clientId, v1);
    expect(child.kind === "found" && child.version.versionId).toBe(winner);
  });

  test("a competing first version of a new client: 409 naming it, nothing of the loser left", async () => {
    const clientId = newUuid();
    let winner: Uuid | undefined;
    const { sync } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand" && !winner) {
        winner = added(await healthy().sync.addVersion(clientId, NIL_UUID, new Uint8Array([1])));
      }
      return send();
    });
    expect(await sync.addVersion(clientId, NIL_UUID, BIG)).toEqual({ kind: "conflict", latestVersionId: winner });
    expect(await objects(clientId)).toEqual([]);
  });

  test("cancelled for another reason (ValidationError): an error, the object is gone", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { sync } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand") throw transactionCanceled("None", "ValidationError", "None");
      return send();
    });
    const error = await sync.addVersion(clientId, v1, BIG).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ChainMovedError);
    await expectUnchanged(clientId, v1, v1Object);
  });

  test("a version id that exists already: refused, the object is gone, the existing version intact", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { storage } = healthy();
    const txn = await storage.txn(clientId);
    try {
      await txn.getClient();
      await txn.addVersion(v1, v1, BIG); // v1 again, as v1's child
      await expect(txn.commit()).rejects.toThrow(VersionExistsError);
    } finally {
      await txn.release();
    }
    await expectUnchanged(clientId, v1, v1Object);
    const first = await healthy().sync.getChildVersion(clientId, NIL_UUID);
    expect(first.kind === "found" && Buffer.from(first.version.historySegment).equals(Buffer.from(BIG))).toBe(true);
  });
});

describe("TransactionConflict", () => {
  test("once, with latest unchanged: re-read, retried, added", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    let conflicts = 0;
    const { sync, calls } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand" && conflicts++ === 0)
        throw transactionCanceled("TransactionConflict", "None", "None");
      return send();
    });
    const v2 = added(await sync.addVersion(clientId, v1, BIG));
    expect(calls.slice(0, 2).sort()).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    expect(calls.slice(2)).toEqual([
      "s3:PutObject",
      "dynamodb:TransactWriteItems",
      "dynamodb:GetItem",
      "dynamodb:TransactWriteItems",
      // Then an answer of urgency high is counted (the client has no snapshot): one update, no read.
      "dynamodb:UpdateItem",
    ]);
    const child = await healthy().sync.getChildVersion(clientId, v1);
    expect(child.kind === "found" && child.version.versionId).toBe(v2);
    expect(await objects(clientId)).toHaveLength(2);
    expect(await objects(clientId)).toContain(v1Object);
  });

  test("while another version commits: 409 naming it, the object is gone", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    let winner: Uuid | undefined;
    const { sync } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand" && !winner) {
        winner = added(await healthy().sync.addVersion(clientId, v1, new Uint8Array([9])));
        throw transactionCanceled("TransactionConflict", "None", "None");
      }
      return send();
    });
    expect(await sync.addVersion(clientId, v1, BIG)).toEqual({ kind: "conflict", latestVersionId: winner });
    expect(await objects(clientId)).toEqual([v1Object]);
  });

  test("every time: 'unavailable' after a bounded number of attempts, nothing written, the object is gone", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { sync, calls } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand") throw transactionCanceled("TransactionConflict", "None", "None");
      return send();
    });
    await expect(sync.addVersion(clientId, v1, BIG)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(calls.filter((c) => c === "dynamodb:TransactWriteItems").length).toBeLessThanOrEqual(4);
    await expectUnchanged(clientId, v1, v1Object);
  });

  test("on the snapshot's single-item write (TransactionConflictException): retried, stored", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    let conflicts = 0;
    const { sync } = faulty(async (call, send) => {
      if (call.command === "UpdateItemCommand" && conflicts++ === 0) throw sdkError(400, "TransactionConflictException");
      return send();
    });
    expect(await sync.addSnapshot(clientId, v1, new Uint8Array([5, 5]))).toEqual({ kind: "stored" });
    expect(await healthy().sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: v1, data: new Uint8Array([5, 5]) });
  });
});

describe("two snapshots at once", () => {
  test("the one written second finds the snapshot changed: dropped, its object deleted, the first kept", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    let first = false;
    const { sync } = faulty(async (call, send) => {
      if (call.command === "UpdateItemCommand" && !first) {
        first = true;
        expect(await healthy().sync.addSnapshot(clientId, v1, new Uint8Array([1]))).toEqual({ kind: "stored" });
      }
      return send();
    });
    expect(await sync.addSnapshot(clientId, v1, new Uint8Array([2]))).toEqual({ kind: "stored" });
    expect(await healthy().sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: v1, data: new Uint8Array([1]) });
    const left = await objects(clientId);
    expect(left).toHaveLength(2); // v1's segment and the first snapshot
    expect(left).toContain(v1Object);
  });
});

describe("DynamoDB unavailable", () => {
  test("the client read fails: reads answer 503 with Retry-After; an AddVersion, whose write needs no read, is added without a snapshot request", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    const { storage } = faulty(async (call, send) => {
      if (call.command === "GetItemCommand") throw sdkError(503, "ServiceUnavailable");
      return send();
    });
    const handler = createApp(
      storage,
      { rules: RULES, maxBodyBytes: 10_000_000 },
      createLogger(() => {}),
    );
    const headers = { "x-client-id": clientId };
    const read = await handler(httpEvent("GET", `/v1/client/get-child-version/${v1}`, { headers }));
    expect(read.statusCode).toBe(503);
    expect(Number(read.headers?.["retry-after"])).toBeGreaterThanOrEqual(1);
    const response = await handler(
      httpEvent("POST", `/v1/client/add-version/${v1}`, {
        headers: { ...headers, "content-type": "application/vnd.taskchampion.history-segment" },
        body: BIG,
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(response.headers?.["x-snapshot-request"]).toBeUndefined();
    const child = await healthy().sync.getChildVersion(clientId, v1);
    expect(child.kind === "found" && child.version.versionId).toBe(response.headers?.["x-version-id"]);
  });

  test("the write fails: 'unavailable', and the HTTP handler answers 503 with Retry-After; nothing is written", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { storage, sync, calls } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand") throw sdkError(503, "ServiceUnavailable");
      return send();
    });
    await expect(sync.addVersion(clientId, v1, BIG)).rejects.toBeInstanceOf(StorageUnavailableError);
    // The write's outcome is unknown: its upload stays (an orphan for the sweep); no version.
    expect((await healthy().sync.getChildVersion(clientId, v1)).kind).toBe("up-to-date");
    const left = await objects(clientId);
    expect(left).toHaveLength(2);
    expect(left).toContain(v1Object);
    // Through the HTTP handler, for another client: this one's upload lease stays until it
    // expires (the write may yet have committed), and a request would wait for it.
    const other = await clientWithOneVersion();
    calls.length = 0;
    const handler = createApp(
      storage,
      { rules: RULES, maxBodyBytes: 10_000_000 },
      createLogger(() => {}),
    );
    const response = await handler(
      httpEvent("POST", `/v1/client/add-version/${other.v1}`, {
        headers: { "x-client-id": other.clientId, "content-type": "application/vnd.taskchampion.history-segment" },
        body: BIG,
      }),
    );
    expect(response.statusCode).toBe(503);
    expect(Number(response.headers?.["retry-after"])).toBeGreaterThanOrEqual(1);
    // The 503 is the failed write's, not a wait's.
    expect(calls).toContain("dynamodb:TransactWriteItems");
    expect((await healthy().sync.getChildVersion(other.clientId, other.v1)).kind).toBe("up-to-date");
  });

  test("throttling after the SDK's retries: 'unavailable' with a longer Retry-After", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    const { sync } = faulty(async (call, send) => {
      if (call.command === "GetItemCommand") throw sdkError(400, "ProvisionedThroughputExceededException");
      return send();
    });
    const error = await sync.getChildVersion(clientId, v1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryAfterSeconds).toBe(2);
  });

  test("the SDK retries a 5xx within maxAttempts: two failures then success", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    let failures = 0;
    const { sync } = faulty(
      async (call, send) => {
        if (call.command === "GetItemCommand" && failures < 2) {
          failures++;
          throw sdkError(503, "ServiceUnavailable");
        }
        return send();
      },
      { step: "deserialize" },
    );
    expect(await sync.getChildVersion(clientId, v1)).toEqual({ kind: "up-to-date" });
    expect(failures).toBe(2);
  });

  test("the transaction fails with a 5xx before reaching DynamoDB: 'unavailable', nothing in the table; the upload stays for the sweep", async () => {
    const { clientId, v1, v1Object } = await clientWithOneVersion();
    const { storage, sync } = faulty(async (call, send) => {
      if (call.command === "TransactWriteItemsCommand") throw sdkError(500, "InternalServerError");
      return send();
    });
    await expect(sync.addVersion(clientId, v1, BIG)).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await healthy().sync.getChildVersion(clientId, v1)).toEqual({ kind: "up-to-date" });
    expect(await itemExists(clientId, SK.child(v1))).toBe(false);
    // The outcome was unknown to the storage, so it kept the object (it might have been committed).
    const left = await objects(clientId);
    expect(left).toHaveLength(2);
    const orphan = left.find((key) => key !== v1Object)!;
    expect(await sweepOrphans(storage, clientId, { minAgeMs: -60_000, graceMs: 0 })).toMatchObject({ deleted: [orphan] });
    expect(await objects(clientId)).toEqual([v1Object]);
  });

  test("the transaction commits but its answer is lost: 'unavailable', and the committed version is whole", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    const { sync } = faulty(async (call, send) => {
      if (call.command !== "TransactWriteItemsCommand") return send();
      await send();
      throw sdkError(504, "GatewayTimeout");
    });
    await expect(sync.addVersion(clientId, v1, BIG)).rejects.toBeInstanceOf(StorageUnavailableError);
    const child = await healthy().sync.getChildVersion(clientId, v1);
    expect(child.kind).toBe("found");
    expect(child.kind === "found" && Buffer.from(child.version.historySegment).equals(Buffer.from(BIG))).toBe(true);
    expect(await objects(clientId)).toHaveLength(2);
  });

  test("an attempt commits, its answer is lost, the SDK retries: the request token makes it one success", async () => {
    const { clientId, v1 } = await clientWithOneVersion();
    let lost = 0;
    const { sync } = faulty(
      async (call, send) => {
        if (call.command !== "TransactWriteItemsCommand" || lost > 0) return send();
        lost++;
        await send();
        throw sdkError(503, "ServiceUnavailable");
      },
      { step: "deserialize" },
    );
    const v2 = added(await sync.addVersion(clientId, v1, BIG));
    expect(lost).toBe(1);
    const child = await healthy().sync.getChildVersion(clientId, v1);
    expect(child.kind === "found" && child.version.versionId).toBe(v2);
    expect(child.kind === "found" && Buffer.from(child.version.historySegment).equals(Buffer.from(BIG))).toBe(true);
    expect(await objects(clientId)).toHaveLength(2);
  });

  for (const [which, nth] of [
    ["the upload's lease", 1],
    ["a snapshot write", 2],
  ] as const) {
    test(`${which} commits, its answer is lost, the SDK retries: stored, and its object is not deleted`, async () => {
      const { clientId, v1 } = await clientWithOneVersion();
      let updates = 0;
      let lost = 0;
      const { sync } = faulty(
        async (call, send) => {
          if (call.command !== "UpdateItemCommand" || ++updates !== nth) return send();
          lost++;
          await send();
          throw sdkError(503, "ServiceUnavailable");
        },
        { step: "deserialize" },
      );
      expect(await sync.addSnapshot(clientId, v1, new Uint8Array([7, 7, 7]))).toEqual({ kind: "stored" });
      expect(lost).toBe(1);
      expect(await healthy().sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: v1, data: new Uint8Array([7, 7, 7]) });
      expect((await clientItem(clientId))?.[ATTR.lease]).toBeUndefined();
    });
  }

  test("a DynamoDB that never answers: 'unavailable' at the transaction's deadline, not a hang", async () => {
    const sockets = new Set<Socket>();
    const blackhole: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    const port = (blackhole.address() as { port: number }).port;
    try {
      const clients = createAwsClients({ ...emulatorClientOptions(emulators()), dynamodbEndpoint: `http://127.0.0.1:${port}` });
      const storage = new DynamoStorage({
        ...clients,
        tableName: dynamo.tableName,
        bucketName: dynamo.bucketName,
        ownsClients: true,
        deadlineMs: 1_500,
      });
      const started = Date.now();
      const error = await new SyncServer(storage, RULES)
        .getChildVersion(newUuid(), NIL_UUID)
        .catch((e: unknown) => e)
        .finally(() => storage.close());
      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackhole.close(resolve));
    }
  });
});

describe("removing a client", () => {
  test("deletes its items and makes no S3 call: the sweep marks its objects and deletes them a grace later", async () => {
    const healthyStorage = healthy().storage;
    const clientId = newUuid();
    const sync = new SyncServer(healthyStorage, RULES);
    let parent = NIL_UUID;
    // Twenty segments in S3 (BIG does not fit an item here).
    for (let i = 0; i < 20; i++) parent = added(await sync.addVersion(clientId, parent, BIG));
    const { storage, calls } = faulty();
    expect(await storage.removeClient(clientId)).toBe(true);
    expect(calls.filter((call) => call.startsWith("s3:"))).toEqual([]);
    expect(await clientItem(clientId)).toBeUndefined();
    const left = await objects(clientId);
    expect(left).toHaveLength(20);
    // Found unreferenced: marked now (a removed client counts nothing), kept for the grace.
    expect(await sweepOrphans(storage, clientId, { minAgeMs: -60_000 })).toEqual({ deleted: [], marked: left });
    expect(await objects(clientId)).toEqual(left);
    // A run past the grace deletes them, and their mark: nothing of the client is left.
    expect(await sweepOrphans(storage, clientId, { minAgeMs: -60_000, graceMs: 0 })).toEqual({ deleted: left, marked: [] });
    expect(await objects(clientId)).toEqual([]);
    expect(await healthyStorage.removeClient(clientId)).toBe(false);
  });

  test("a delete of its items refused midway fails the removal; the client stays gone, and a re-run finishes it", async () => {
    const healthyStorage = healthy().storage;
    const clientId = newUuid();
    const sync = new SyncServer(healthyStorage, RULES);
    let parent = NIL_UUID;
    // More items than one batch of deletes holds (25).
    const parents: Uuid[] = [];
    for (let i = 0; i < 30; i++) {
      parents.push(parent);
      parent = added(await sync.addVersion(clientId, parent, new Uint8Array([i])));
    }
    // An item of the second batch: the last in key order (a query returns the items in that order).
    const lastItem = SK.child(parents.sort().at(-1)!);
    let batches = 0;
    const { storage } = faulty(async (call, send) => {
      if (call.command === "BatchWriteItemCommand" && ++batches === 2) throw sdkError(403, "AccessDenied", "not authorized");
      return send();
    });
    await expect(storage.removeClient(clientId)).rejects.toMatchObject({ name: "AccessDenied" });
    expect(await sync.getChildVersion(clientId, parent)).toEqual({ kind: "unknown-client" });
    expect(await itemExists(clientId, lastItem)).toBe(true);
    expect(await healthyStorage.removeClient(clientId)).toBe(true);
    expect(await itemExists(clientId, lastItem)).toBe(false);
    expect(await clientItem(clientId)).toBeUndefined();
  });
});
