/**
 * `verify [--repair]` on DynamoDB + S3, for operators, after a restore (README.md in this
 * folder, "Verifying a restore"). A consistent Scan finds every partition (a client item, or
 * items a removal left without one); each partition is read (its client item, version items,
 * 0.1.0 index items and deletion marks, consistently) with the objects under its prefix, and
 * planned (chain-repair.ts). A repair writes the client item whole, on the condition that it is
 * still as read (with a deletion mark of the objects the repair leaves unreferenced, in one
 * transaction: marked and counted together), and then deletes the items off the chain, each on
 * the condition that it still holds the version read. A crash between the two leaves what a
 * second run finds and finishes.
 */
import { type AttributeValue, DeleteItemCommand, PutItemCommand, TransactWriteItemsCommand } from "@aws-sdk/client-dynamodb";
import { parseUuid, type Uuid } from "../../uuid.ts";
import type { ClientVerification, VerifyOptions } from "../types.ts";
import { type ClientPartition, planRepair, type RepairPlan, type StoredVersion } from "./chain-repair.ts";
import { clientItem, hiddenStateOf, parseClient, storedUuid } from "./client-item.ts";
import { ATTR, clientPrefix, objectNonce, SK, TABLE } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { scanTable } from "./table-scan.ts";
import { writeRefusal } from "./sdk-errors.ts";
import { markRequest } from "./write-request.ts";

/** Clients read and repaired at once. */
const CONCURRENT_CLIENTS = 8;

export async function* verifyClients(calls: SdkCalls, options: VerifyOptions): AsyncGenerator<ClientVerification> {
  const clientIds = await partitionKeys(calls);
  yield* pooled(clientIds, CONCURRENT_CLIENTS, (clientId) => verifyClient(calls, clientId, options));
}

/**
 * Every partition key of the table that is a client id: one consistent Scan of the keys (it
 * reads, and is billed for, the whole table). The ids are held in memory, 36 bytes each.
 */
async function partitionKeys(calls: SdkCalls): Promise<Uuid[]> {
  const keys = new Set<Uuid>();
  for await (const item of scanTable(calls, "list the partitions", undefined, [TABLE.partitionKey.name])) {
    const text = item[TABLE.partitionKey.name]?.S;
    const id = text === undefined ? undefined : parseUuid(text);
    if (id !== undefined && id === text) keys.add(id);
  }
  return [...keys];
}

async function verifyClient(calls: SdkCalls, clientId: Uuid, options: VerifyOptions): Promise<ClientVerification> {
  const { partition, raw } = await readPartition(calls, clientId);
  const plan = planRepair(partition, Date.now());
  const result: ClientVerification = {
    clientId,
    status: plan.findings.length === 0 ? "ok" : plan.unrepairable ? "unrepaired" : options.repair ? "repaired" : "found",
    findings: plan.findings,
    repairs: [],
    latestBefore: partition.client?.latest ?? null,
    latestAfter: partition.client?.latest ?? null,
    droppedVersions: 0,
    snapshotDropped: false,
  };
  if (result.status !== "repaired") return result;
  if (!(await writeClient(calls, clientId, plan, raw))) {
    return {
      ...result,
      status: "unrepaired",
      repairs: ["nothing changed: the client was written to while it was verified; run verify again"],
    };
  }
  for (const { sk, versionId } of plan.deletes) await deleteItem(calls, clientId, sk, versionId);
  return {
    ...result,
    repairs: plan.repairs,
    latestAfter: plan.latestAfter,
    droppedVersions: plan.droppedVersions,
    snapshotDropped: plan.snapshotDropped,
  };
}

/** What verify reads of one client: its items (never an inline segment) and its objects. */
async function readPartition(
  calls: SdkCalls,
  clientId: Uuid,
): Promise<{ partition: ClientPartition; raw: Record<string, AttributeValue> | undefined }> {
  const raw = await calls.getItem(clientId, SK.client, "read the client");
  const versions: StoredVersion[] = [];
  const attributes = [ATTR.versionId, ATTR.parentId, ATTR.segmentKey, ATTR.segmentSize, ATTR.created];
  for await (const item of calls.queryItems(clientId, SK.childPrefix, "read the versions", attributes)) {
    versions.push({
      versionId: storedUuid(item[ATTR.versionId], ATTR.versionId),
      parentId: storedUuid(item[ATTR.parentId], ATTR.parentId),
      segmentKey: item[ATTR.segmentKey]?.S,
      size: Number(item[ATTR.segmentSize]?.N ?? "0"),
      createdMs: Number(item[ATTR.created]?.N ?? "0"),
    });
  }
  const indexed: Uuid[] = [];
  for await (const item of calls.queryItems(clientId, SK.versionPrefix, "read the version index", [TABLE.sortKey.name])) {
    const id = parseUuid((item[TABLE.sortKey.name]?.S ?? "").slice(SK.versionPrefix.length));
    if (id !== undefined) indexed.push(id);
  }
  const marked = new Set<string>();
  for await (const item of calls.queryItems(clientId, SK.orphansPrefix, "read the deletion marks", [ATTR.objects])) {
    for (const key of item[ATTR.objects]?.SS ?? []) marked.add(key);
  }
  const objects = new Map<string, number>();
  for await (const object of calls.listObjects(clientPrefix(clientId), "list the client's objects")) {
    if (object.Key) objects.set(object.Key, object.Size ?? 0);
  }
  return { partition: { client: parseClient(raw), held: hiddenStateOf(raw), versions, indexed, marked, objects }, raw };
}

/**
 * Writes the repaired client item whole, on the condition that the item is as read (latest, the
 * chain's start, the count of versions, the snapshot), with the mark of what it leaves
 * unreferenced; false when the condition failed (nothing written).
 */
async function writeClient(
  calls: SdkCalls,
  clientId: Uuid,
  plan: RepairPlan,
  raw: Record<string, AttributeValue> | undefined,
): Promise<boolean> {
  if (!plan.client || !raw) return true;
  const names: Record<string, string> = { "#pk": TABLE.partitionKey.name, "#hidden": ATTR.hidden };
  const values: Record<string, AttributeValue> = {};
  const conditions = ["attribute_exists(#pk)", "attribute_not_exists(#hidden)"];
  for (const attribute of [ATTR.latest, ATTR.base, ATTR.versionCount, ATTR.snapKey]) {
    names[`#${attribute}`] = attribute;
    const value = raw[attribute];
    if (value === undefined) {
      conditions.push(`attribute_not_exists(#${attribute})`);
    } else {
      values[`:${attribute}`] = value;
      conditions.push(`#${attribute} = :${attribute}`);
    }
  }
  const created = Number(raw[ATTR.created]?.N ?? String(Date.now()));
  const put = {
    TableName: calls.tableName,
    Item: clientItem(clientId, plan.client, created),
    ConditionExpression: conditions.join(" AND "),
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
  try {
    if (plan.unreferenced.length === 0) {
      await calls.ddbSend(new PutItemCommand(put), "write the repaired client");
    } else {
      const mark = markRequest(
        calls.tableName,
        clientId,
        plan.unreferenced.map((object) => object.key),
        Date.now(),
      );
      await calls.ddbSend(
        new TransactWriteItemsCommand({
          TransactItems: [{ Put: put }, { Update: mark }],
          ClientRequestToken: `${objectNonce()}${objectNonce()}`,
        }),
        "write the repaired client and mark what it leaves",
      );
    }
    return true;
  } catch (error) {
    if (writeRefusal(error)?.kind === "condition") return false;
    throw error;
  }
}

/** Deletes an item off the chain; a version item only while it still holds the version read. */
async function deleteItem(calls: SdkCalls, clientId: Uuid, sk: string, versionId: Uuid | undefined): Promise<void> {
  try {
    await calls.ddbSend(
      new DeleteItemCommand({
        TableName: calls.tableName,
        Key: { [TABLE.partitionKey.name]: { S: clientId }, [TABLE.sortKey.name]: { S: sk } },
        ...(versionId === undefined
          ? {}
          : {
              ConditionExpression: "#versionId = :versionId",
              ExpressionAttributeNames: { "#versionId": ATTR.versionId },
              ExpressionAttributeValues: { ":versionId": { S: versionId } },
            }),
      }),
      "delete an item off the chain",
    );
  } catch (error) {
    // Gone already, or another version there now (a replica wrote it after the repair): not ours.
    if (writeRefusal(error)?.kind !== "condition") throw error;
  }
}

/** `work` for each item, `limit` at a time, results as they come; the first failure is thrown once all in flight have settled. */
async function* pooled<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): AsyncGenerator<R> {
  const running = new Map<number, Promise<{ id: number; outcome: { result: R } | { error: unknown } }>>();
  let next = 0;
  while (next < items.length || running.size > 0) {
    while (running.size < limit && next < items.length) {
      const id = next++;
      running.set(
        id,
        work(items[id] as T).then(
          (result) => ({ id, outcome: { result } }),
          (error: unknown) => ({ id, outcome: { error } }),
        ),
      );
    }
    const { id, outcome } = await Promise.race(running.values());
    running.delete(id);
    if ("error" in outcome) {
      await Promise.all(running.values());
      throw outcome.error;
    }
    yield outcome.result;
  }
}
