/**
 * The restore runbook rehearsed on the emulators (README, "Restoring a deployment";
 * lambda/storage/dynamodb/README.md, "Backups: why a table backup and a later bucket backup
 * pair"). A deployment (the real handler over real sockets, on DynamoDB Local and s3rver) serves
 * real replicas (client/replica.ts) while its table and its bucket are copied at two different
 * moments, the way AWS Backup's recovery points hold them (the emulators have no AWS Backup):
 *
 *  - T1, the table: a consistent Scan of every item (DynamoDB's backup of the table). As a
 *    variant, it holds half of two transactions, as DynamoDB documents a restored table may
 *    ("some but not all of the changes made during a recent transaction"): one AddVersion's
 *    client update without its version item, another's version item without its client update.
 *  - between: more syncs, snapshots replaced, history pruned (its clock a year ahead), a client
 *    removed, and the maintenance sweep, with the deletion grace the test passes;
 *  - T2, the bucket: every current object (AWS Backup restores an S3 backup's latest versions
 *    only, and s3rver has no versioning anyway);
 *  - after: more syncs, then the incident.
 *
 * Both copies are restored into a fresh table and bucket, `admin verify --repair` runs on them,
 * the smoke test passes, and every replica, whether it last synced before T1, between T1 and T2
 * or after T2, syncs with the restored deployment: nothing dangles (every object an item
 * references is there), each replica either carries on (its version is on the restored chain)
 * or is told 410 (and a 409 naming the restored latest for a push on its version: nothing
 * stored), starts over from the snapshot, and all converge. With a grace shorter than the gap
 * between the copies, the same run finds dangling references: the grace is what pairs them.
 */
import { randomBytes } from "node:crypto";
import { type AttributeValue, BatchWriteItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, inject, test } from "vitest";
import { runSmoke } from "../../bin/smoke.ts";
import { HttpStatusError, Replica } from "../../client/replica.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer } from "../../lambda/core/sync.ts";
import { pruneClient } from "../../lambda/operations/prune.ts";
import { inTxn } from "../../lambda/storage/in-txn.ts";
import { ATTR, SK, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { sweepAllOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { newUuid, type Uuid } from "../../lambda/uuid.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import { emulatorClientOptions, emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { serveStorage } from "../support/local-server.ts";
import { runAdmin } from "../support/admin.ts";

const emulators = emulatorsFrom(inject("emulators"));
const raw = createAwsClients(emulatorClientOptions(emulators));
afterAll(() => {
  raw.dynamodb.destroy();
  raw.s3.destroy();
});

/** A snapshot is wanted after 2 versions (high at 3): the churning replica replaces it often. */
const RULES = { ...DEFAULT_SYNC_RULES, createClients: true, snapshotVersions: 2 };
/** Segments over this go to S3 (a change with a long description does). */
const INLINE = 2_000;
const DAY_MS = 24 * 60 * 60 * 1000;
const BIG = () => randomBytes(1_600).toString("base64");
/** The name replicas reach the deployment by. */
const DEPLOYMENT = "http://deployment.invalid";

type Item = Record<string, AttributeValue>;

let counter = 0;

/** A table and a bucket, and a storage on them. */
async function place(prefix: string) {
  counter += 1;
  const name = `${prefix}-${Date.now().toString(36)}-${counter}-${randomBytes(3).toString("hex")}`;
  await createTableAndBucket({ ...emulators, tableName: name, bucketName: name });
  const storage = new DynamoStorage({
    ...createAwsClients(emulatorClientOptions(emulators)),
    tableName: name,
    bucketName: name,
    inlineSegmentMaxBytes: INLINE,
    ownsClients: true,
  });
  return { name, storage };
}

/** Every item of the table: a consistent Scan (what a backup of the table holds). */
async function copyTable(table: string): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await raw.dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Every current object of the bucket and its bytes (what a restore of a bucket backup brings back). */
async function copyBucket(bucket: string): Promise<Map<string, Uint8Array>> {
  const objects = new Map<string, Uint8Array>();
  const listed = await raw.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const object of listed.Contents ?? []) {
    const got = await raw.s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
    objects.set(object.Key!, await got.Body!.transformToByteArray());
  }
  return objects;
}

async function restore(items: readonly Item[], objects: ReadonlyMap<string, Uint8Array>, name: string): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    const requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    const result = await raw.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [name]: requests } }));
    expect(result.UnprocessedItems?.[name] ?? []).toEqual([]);
  }
  for (const [key, body] of objects) await raw.s3.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }));
}

/** The objects the items reference (snapshots, segments) that the objects lack. */
function dangling(items: readonly Item[], objects: ReadonlyMap<string, unknown>): string[] {
  const referenced = items.flatMap((item) => [item[ATTR.snapKey]?.S, item[ATTR.segmentKey]?.S]).filter((key) => key !== undefined);
  return referenced.filter((key) => !objects.has(key));
}

const keyOf = (item: Item) => `${item[TABLE.partitionKey.name]?.S} ${item[TABLE.sortKey.name]?.S}`;

/** How a replica fares on its first sync with the restored deployment. */
async function firstSync(replica: Replica): Promise<"carries on" | 410> {
  return replica.sync().then(
    () => "carries on" as const,
    (error: unknown) => {
      if (error instanceof HttpStatusError && error.status === 410) return 410 as const;
      throw error;
    },
  );
}

/** Every replica of a client syncs, one after another, until all are at one version with one database. */
async function converge(replicas: readonly Replica[]): Promise<void> {
  const agreed = () =>
    replicas.every(
      (r) => r.pendingOperations.length === 0 && r.baseVersionId === replicas[0]!.baseVersionId && r.tasks() === replicas[0]!.tasks(),
    );
  for (let pass = 0; pass < 4 && !agreed(); pass++) for (const replica of replicas) await replica.sync();
  expect(agreed(), replicas.map((r) => `${r.name} @ ${r.baseVersionId}`).join(", ")).toBe(true);
}

interface Variant {
  name: string;
  /** The deletion grace of the sweeps between the copies. */
  graceMs: number;
  /** Whether the table's copy holds half of two transactions. */
  partial: boolean;
  /** Whether the pair is consistent (else: the copies must be found to dangle). */
  pairs: boolean;
}

const VARIANTS: Variant[] = [
  { name: "a grace longer than the gap between the copies", graceMs: 60 * 60 * 1000, partial: false, pairs: true },
  { name: "the same, the table's copy holding half of two transactions", graceMs: 60 * 60 * 1000, partial: true, pairs: true },
  { name: "a grace shorter than the gap between the copies (the test can fail)", graceMs: 300, partial: false, pairs: false },
];

describe.each(VARIANTS)("a restore of a table and a bucket copied at two moments: $name", (variant) => {
  test("nothing dangles, nobody forks, every replica carries on or is told 410 and starts over, and all converge", async () => {
    const live = await place("rehearse");
    const server = await serveStorage(live.storage, RULES);
    const sweep = async () => {
      const report = await sweepAllOrphans(live.storage, { minAgeMs: -60_000, graceMs: variant.graceMs });
      expect(report.failed).toBe(0);
      return report;
    };
    // Replicas reach "the deployment" by a name that the incident moves from the old server to
    // the restored one (a custom domain's DNS, in the runbook).
    let deployment = server.url;
    const routed: typeof fetch = (input, init) => fetch(String(input).replace(DEPLOYMENT, deployment), init);
    const secrets = new Map<string, string>();
    const replica = (clientId: Uuid, name: string, lowUrgency = false) =>
      new Replica({ baseUrl: DEPLOYMENT, fetch: routed, clientId, secret: secrets.get(clientId)!, name, snapshotOnLowUrgency: lowUrgency });
    // Three clients: a steady one with replicas that last sync at different moments; a churning
    // one (snapshots replaced, history pruned); one removed between the copies.
    const steadyId = newUuid();
    const churnId = newUuid();
    const removedId = newUuid();
    for (const id of [steadyId, churnId, removedId]) secrets.set(id, randomBytes(16).toString("hex"));

    let replicasAtRestore: { replica: Replica; lastSynced: "before T1" | "at T1" | "between" | "after T2" }[] = [];
    let tableCopy: Item[] = [];
    let bucketCopy = new Map<string, Uint8Array>();
    try {
      // Before T1.
      const steadyBefore = replica(steadyId, "steady: before T1");
      const steadyBetween = replica(steadyId, "steady: between");
      const steadyAfter = replica(steadyId, "steady: after T2");
      const steadyAtT1 = replica(steadyId, "steady: at T1");
      for (let i = 0; i < 4; i++) {
        steadyBefore.createTask({ description: i === 1 ? BIG() : `steady ${i}`, status: "pending" });
        await steadyBefore.sync();
      }
      for (const r of [steadyBetween, steadyAfter, steadyAtT1]) await r.sync();
      const churner = replica(churnId, "churn: after T2", true);
      const churnBefore = replica(churnId, "churn: before T1");
      const churnAtT1 = replica(churnId, "churn: at T1");
      for (let i = 0; i < 6; i++) {
        churner.createTask({ description: i % 2 === 0 ? BIG() : `churn ${i}`, status: "pending" });
        await churner.sync();
        if (i === 2) await churnBefore.sync();
      }
      await churnAtT1.sync();
      const removedReplica = replica(removedId, "removed: before T1");
      for (let i = 0; i < 3; i++) {
        removedReplica.createTask({ description: i === 0 ? BIG() : `removed ${i}`, status: "pending" });
        await removedReplica.sync();
      }
      await sweep();

      // T1: the table's copy.
      tableCopy = await copyTable(live.name);
      // At T1: a sync of each of two replicas, half in the copy (variant) or not at all.
      steadyAtT1.createTask({ description: "at T1 (steady)", status: "pending" });
      await steadyAtT1.sync();
      churnAtT1.createTask({ description: "at T1 (churn)", status: "pending" });
      await churnAtT1.sync();
      if (variant.partial) {
        const now = await copyTable(live.name);
        const before = new Set(tableCopy.map(keyOf));
        const steadyClient = now.find((item) => keyOf(item) === `${steadyId} ${SK.client}`)!;
        const churnVersion = now.find(
          (item) =>
            item[TABLE.partitionKey.name]?.S === churnId && !before.has(keyOf(item)) && item[ATTR.versionId]?.S === churnAtT1.baseVersionId,
        )!;
        expect(churnVersion).toBeDefined();
        // The steady client's update without its version item; the churn client's version item without its update.
        tableCopy = [...tableCopy.filter((item) => keyOf(item) !== keyOf(steadyClient)), steadyClient, churnVersion];
      }

      // Between T1 and T2.
      for (let i = 0; i < 2; i++) {
        steadyBetween.createTask({ description: `between ${i}`, status: "pending" });
        await steadyBetween.sync();
      }
      for (let i = 0; i < 3; i++) {
        churner.createTask({ description: i === 1 ? BIG() : `churn between ${i}`, status: "pending" });
        await churner.sync();
      }
      // A year later by the pruning's clock: every version before the snapshot goes.
      const pruned = await pruneClient(live.storage, churnId, { historyDays: 180, now: new Date(Date.now() + 365 * DAY_MS) });
      expect(pruned.removedVersions).toBeGreaterThan(3);
      expect(await live.storage.removeClient(removedId)).toBe(true);
      await sweep();
      // The gap between the copies: past a short grace, the next sweep deletes what was marked.
      await new Promise((resolve) => setTimeout(resolve, variant.graceMs < 1000 ? variant.graceMs + 200 : 0));
      const second = await sweep();
      if (variant.pairs) expect(second.deleted).toBe(0);
      else expect(second.deleted).toBeGreaterThan(0);

      // T2: the bucket's copy.
      bucketCopy = await copyBucket(live.name);

      // After T2, until the incident.
      steadyAfter.createTask({ description: "after T2", status: "pending" });
      await steadyAfter.sync();
      churner.createTask({ description: "churn after T2", status: "pending" });
      await churner.sync();
      replicasAtRestore = [
        { replica: steadyBefore, lastSynced: "before T1" },
        { replica: steadyAtT1, lastSynced: "at T1" },
        { replica: steadyBetween, lastSynced: "between" },
        { replica: steadyAfter, lastSynced: "after T2" },
        { replica: churnBefore, lastSynced: "before T1" },
        { replica: churnAtT1, lastSynced: "at T1" },
        { replica: churner, lastSynced: "after T2" },
        { replica: removedReplica, lastSynced: "before T1" },
      ];
    } finally {
      await server.close();
      await live.storage.close();
    }

    // What the pair holds, before anything repairs it.
    const danglingBefore = dangling(tableCopy, bucketCopy);
    if (!variant.pairs) {
      expect(danglingBefore.length, "a grace shorter than the gap leaves references dangling").toBeGreaterThan(0);
    } else {
      expect(danglingBefore).toEqual([]);
    }

    // The restore: a fresh table and bucket, then verify --repair.
    const restored = await place("restored");
    await restore(tableCopy, bucketCopy, restored.name);
    const env = emulatorEnv({ ...emulators, tableName: restored.name, bucketName: restored.name });
    // The AWS SDK reads its region, endpoints and credentials from the process's environment.
    Object.assign(process.env, env);
    const verified = await runAdmin(["verify", "--repair", "--json"], env);
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as { clients: number; problems: { clientId: string; findings: { problem: string }[] }[] };
    expect(report.clients).toBe(3);
    const found = new Map(report.problems.map((p) => [p.clientId, p.findings.map((f) => f.problem)]));
    if (variant.partial) {
      expect(found.get(steadyId)).toContain("latest-without-version");
      expect(found.get(churnId)).toContain("version-after-latest");
    }
    const missingObjects = [...found.values()].flat().filter((problem) => problem.endsWith("-object-missing"));
    if (variant.pairs) {
      expect(missingObjects).toEqual([]);
      if (!variant.partial) expect(report.problems).toEqual([]);
    } else {
      expect(missingObjects.length).toBeGreaterThan(0);
    }
    expect((await runAdmin(["verify"], env)).code).toBe(0);
    // After the repair nothing dangles, whatever the pair.
    expect(dangling(await copyTable(restored.name), await copyBucket(restored.name))).toEqual([]);
    if (!variant.pairs) {
      await restored.storage.close();
      return;
    }

    // The restored deployment: the smoke test, then every replica pointed at it.
    const restoredServer = await serveStorage(restored.storage, RULES);
    try {
      expect((await runSmoke({ url: restoredServer.url, log: () => {} })).ok).toBe(true);
      const sync = new SyncServer(restored.storage, RULES);
      const byClient = new Map<string, Replica[]>();
      // The replicas are pointed at the restored deployment: their databases carry over.
      deployment = restoredServer.url;
      for (const { replica: r, lastSynced } of replicasAtRestore) {
        const base = r.baseVersionId as Uuid;
        // Whether the replica's version is on the restored chain: what the protocol decides on.
        const onChain = (await sync.getChildVersion(r.clientId as Uuid, base)).kind !== "gone";
        r.createTask({ description: `after the restore, from ${r.name}`, status: "pending" });
        const outcome = await firstSync(r);
        // Who carries on: a replica whose version the restored chain holds. Every one that synced
        // only before T1 does; one whose last version is newer than the table's copy is told 410.
        expect(outcome, `${r.name} (last synced ${lastSynced})`).toBe(onChain ? "carries on" : 410);
        if (lastSynced === "before T1") expect(outcome, r.name).toBe("carries on");
        if (lastSynced === "between" || lastSynced === "after T2") expect(outcome, r.name).toBe(410);
        if (lastSynced === "at T1") {
          // Rolled back (its version item was not in the copy) or forward (it was): 410 or on.
          const expected = variant.partial && r.clientId === churnId ? "carries on" : 410;
          expect(outcome, r.name).toBe(expected);
        }
        let member = r;
        if (outcome === 410) {
          // Nothing stored for a push on a version the server does not have: 409 naming its latest.
          const latest = (await inTxn(restored.storage, r.clientId as Uuid, (txn) => txn.getClient()))?.latestVersionId;
          const push = await fetch(`${restoredServer.url}/v1/client/add-version/${base}`, {
            method: "POST",
            headers: { "X-Client-Id": r.clientId, "Content-Type": "application/vnd.taskchampion.history-segment" },
            body: new Uint8Array(16),
          });
          expect(push.status).toBe(409);
          expect(push.headers.get("x-parent-version-id")).toBe(latest);
          expect((await sync.getChildVersion(r.clientId as Uuid, base)).kind).toBe("gone");
          // It starts over (the README's procedure): a fresh replica from the snapshot.
          member = replica(r.clientId as Uuid, `${r.name}, reset`);
          const start = await member.sync();
          if (r.clientId === churnId) expect(start.fetchedSnapshot, "the pruned client starts from its snapshot").toBe(true);
        }
        byClient.set(r.clientId, [...(byClient.get(r.clientId) ?? []), member]);
      }
      for (const replicas of byClient.values()) await converge(replicas);
      // The restore brought the removed client back (its table copy is from before the removal).
      expect(byClient.get(removedId)).toHaveLength(1);
      // Every chain is linear from the snapshot or its start to latest, every object readable.
      expect((await runAdmin(["verify"], env)).code).toBe(0);
    } finally {
      await restoredServer.close();
      await restored.storage.close();
    }
  });
});
