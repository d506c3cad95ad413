/**
 * `npm run admin -- verify [--repair]` on each storage. On DynamoDB + S3 the table is given the
 * states a restore can leave (DynamoDB documents that a restored table may hold part of a recent
 * transaction; a bucket restored from another moment may lack an object): verify reports them
 * and exits 1, --repair repairs them, a second verify finds every client whole, and the protocol
 * serves the repaired chains. SQLite and memory commit whole transactions: nothing to find.
 */
import { DeleteItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { type AddVersionOutcome, SyncServer } from "../../lambda/core/sync.ts";
import { SK, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { versionItem } from "../../lambda/storage/dynamodb/version-item.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { emulatorClientOptions, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { runAdmin } from "../support/admin.ts";
import { dynamoStore, sqliteStore, type Store } from "../support/stores.ts";

const RULES = { ...DEFAULT_SYNC_RULES, snapshotVersions: 0, createClients: true };

function added(outcome: AddVersionOutcome): Uuid {
  if (outcome.kind !== "added") throw new Error(`expected added, got ${JSON.stringify(outcome)}`);
  return outcome.versionId;
}

/** A client of `n` versions of `size` bytes with a snapshot of its `snapshotAt`-th; its ids, oldest first. */
async function writeClient(storage: Storage, n: number, size: number, snapshotAt: number): Promise<{ clientId: Uuid; ids: Uuid[] }> {
  const sync = new SyncServer(storage, RULES);
  const clientId = newUuid();
  const ids: Uuid[] = [];
  let parent = NIL_UUID;
  for (let i = 0; i < n; i++) {
    parent = added(await sync.addVersion(clientId, parent, new Uint8Array(size).fill(i)));
    ids.push(parent);
    if (i === snapshotAt) expect(await sync.addSnapshot(clientId, parent, new Uint8Array(300).fill(i))).toEqual({ kind: "stored" });
  }
  return { clientId, ids };
}

describe("verify on DynamoDB + S3", () => {
  let store: Store;
  let storage: Storage;
  const raw = createAwsClients(emulatorClientOptions(emulatorsFrom(inject("emulators"))));

  beforeAll(async () => {
    // Segments over 200 bytes go to S3.
    store = await dynamoStore("verify", { inlineSegmentMaxBytes: 200 });
    storage = store.open();
  });
  afterAll(async () => {
    await store.close();
    raw.dynamodb.destroy();
    raw.s3.destroy();
  });

  test("reports what a restore left, repairs it, and the protocol then serves each repaired chain", async () => {
    const tableName = store.env.TABLE_NAME!;
    const bucketName = store.env.BUCKET_NAME!;
    const key = (clientId: Uuid, sk: string) => ({ [TABLE.partitionKey.name]: { S: clientId }, [TABLE.sortKey.name]: { S: sk } });
    const whole = await writeClient(storage, 4, 10, 2);
    // An AddVersion whose client update the backup holds, but not its version item (the latest's, CHILD#<its parent>).
    const noVersion = await writeClient(storage, 4, 10, 1);
    await raw.dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: key(noVersion.clientId, SK.child(noVersion.ids[2]!)) }));
    // One whose version item the backup holds, but not its client update.
    const noUpdate = await writeClient(storage, 3, 10, 1);
    const extra = newUuid();
    await raw.dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: versionItem(noUpdate.clientId, {
          versionId: extra,
          parentId: noUpdate.ids[2]!,
          data: new Uint8Array(5),
          addedAtMs: Date.now(),
          segmentKey: undefined,
        }),
      }),
    );
    // A bucket restored from a moment that lacks a segment (of a version after the snapshot's).
    const noSegment = await writeClient(storage, 4, 400, 1);
    const objects = await store.leftovers!(noSegment.clientId);
    expect(objects.objects).toBe(5);
    const segmentOf3 = `clients/${noSegment.clientId}/segments/${noSegment.ids[2]}/${noSegment.ids[3]}/`;
    const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
    const listed = await raw.s3.send(new ListObjectsV2Command({ Bucket: bucketName, Prefix: segmentOf3 }));
    await raw.s3.send(new DeleteObjectCommand({ Bucket: bucketName, Key: listed.Contents![0]!.Key! }));

    const found = await runAdmin(["verify", "--json"], store.env);
    expect(found.code).toBe(1);
    const report = JSON.parse(found.stdout) as { problems: { clientId: string; status: string; findings: { problem: string }[] }[] };
    expect(report).toMatchObject({ repair: false, clients: 4, ok: 1, found: 3, repaired: 0, unrepaired: 0 });
    const byClient = Object.fromEntries(report.problems.map((p) => [p.clientId, p]));
    expect(byClient[noVersion.clientId]).toMatchObject({ status: "found", findings: [{ problem: "latest-without-version" }] });
    expect(byClient[noUpdate.clientId]).toMatchObject({ status: "found", findings: [{ problem: "version-after-latest" }] });
    expect(byClient[noSegment.clientId]).toMatchObject({ status: "found", findings: [{ problem: "segment-object-missing" }] });
    // Nothing changed without --repair.
    expect((await runAdmin(["verify"], store.env)).code).toBe(1);

    const repaired = await runAdmin(["verify", "--repair"], store.env);
    expect(repaired.code).toBe(0);
    expect(repaired.lines.at(-1)).toBe("Verified 4 clients: 1 whole, 3 repaired.");
    expect(repaired.stdout).toContain(`${noVersion.clientId}: repaired`);
    expect(repaired.stdout).toContain(`  latest: ${noVersion.ids[3]} -> ${noVersion.ids[2]}`);
    expect(await runAdmin(["verify"], store.env)).toMatchObject({ code: 0, stdout: "Verified 4 clients: 4 whole.\n" });

    const sync = new SyncServer(store.open(), RULES);
    // Rolled back: the chain ends at the last version stored; a replica beyond it is told 410.
    expect(await sync.getChildVersion(noVersion.clientId, noVersion.ids[2]!)).toEqual({ kind: "up-to-date" });
    expect(await sync.getChildVersion(noVersion.clientId, noVersion.ids[3]!)).toEqual({ kind: "gone" });
    expect(added(await sync.addVersion(noVersion.clientId, noVersion.ids[2]!, new Uint8Array(3)))).toBeDefined();
    // Rolled forward: the stored version is the latest; a new one follows it.
    expect(await sync.getChildVersion(noUpdate.clientId, noUpdate.ids[2]!)).toMatchObject({ kind: "found", version: { versionId: extra } });
    expect(await sync.addVersion(noUpdate.clientId, noUpdate.ids[2]!, new Uint8Array(3))).toMatchObject({
      kind: "conflict",
      latestVersionId: extra,
    });
    added(await sync.addVersion(noUpdate.clientId, extra, new Uint8Array(3)));
    // Cut before the version whose segment is gone; the snapshot (before it) stays.
    expect(await sync.getChildVersion(noSegment.clientId, noSegment.ids[1]!)).toMatchObject({ kind: "found" });
    expect(await sync.getChildVersion(noSegment.clientId, noSegment.ids[2]!)).toEqual({ kind: "up-to-date" });
    expect(await sync.getSnapshot(noSegment.clientId)).toMatchObject({ kind: "found", versionId: noSegment.ids[1] });
    // The whole client, untouched.
    expect(await sync.getChildVersion(whole.clientId, whole.ids[2]!)).toMatchObject({
      kind: "found",
      version: { versionId: whole.ids[3] },
    });
  });

  test("an operator's unfinished removal is reported, left for the operator, and exits 1 even with --repair", async () => {
    const held = await writeClient(storage, 2, 10, 0);
    await storage
      .removeClient(held.clientId, () => {
        throw new Error("interrupted");
      })
      .catch(() => undefined);
    const run = await runAdmin(["verify", "--repair", "--json"], store.env);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { problems: { clientId: string; status: string; findings: { problem: string }[] }[] };
    expect(report.problems.find((p) => p.clientId === held.clientId)).toMatchObject({
      status: "unrepaired",
      findings: [{ problem: "held-by-operator" }],
    });
    expect(await runAdmin(["remove-client", held.clientId, "--yes"], store.env)).toMatchObject({ code: 0 });
    expect((await runAdmin(["verify"], store.env)).code).toBe(0);
  });
});

describe("verify on storages that commit whole transactions", () => {
  test("SQLite: every client whole; --repair has nothing to do; bad usage is exit 2", async () => {
    const store = await sqliteStore();
    try {
      const storage = store.open();
      await writeClient(storage, 3, 10, 1);
      await writeClient(storage, 2, 10, 0);
      const run = await runAdmin(["verify", "--json"], store.env);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ repair: false, clients: 2, ok: 2, found: 0, repaired: 0, unrepaired: 0, problems: [] });
      expect(await runAdmin(["verify", "--repair"], store.env)).toMatchObject({ code: 0, stdout: "Verified 2 clients: 2 whole.\n" });
      expect(await runAdmin(["verify", "extra"], store.env)).toMatchObject({ code: 2 });
      expect(await runAdmin(["verify", "--yes"], store.env)).toMatchObject({ code: 2, stderr: "error: verify takes no --yes\n" });
    } finally {
      await store.close();
    }
  });

  test("memory: a whole client is whole", async () => {
    const storage = new MemoryStorage();
    const { clientId } = await writeClient(storage, 3, 10, 1);
    const results = [];
    for await (const result of storage.verifyClients({ repair: true })) results.push(result);
    expect(results).toEqual([
      expect.objectContaining({ clientId, status: "ok", findings: [], latestBefore: expect.any(String), droppedVersions: 0 }),
    ]);
  });
});
