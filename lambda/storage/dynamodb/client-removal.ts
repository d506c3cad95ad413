/**
 * Removes a client for good, for operators. First the client item is marked `removing`: from
 * then on the protocol answers "unknown client", and no replica can write to it or create the
 * client anew (every protocol write is conditioned on the mark's absence, a create on the item's).
 * Then every other item of its partition (but the deletion marks), and the client item last.
 * Its S3 objects are left to the sweep: referenced by nothing any more, they are marked and
 * deleted DELETION_GRACE_DAYS later (README.md in this folder, "Deferred deletion"), so that a
 * bucket backup taken within the grace after a table backup still holds every object that
 * table references. Each step finds what is left by itself, so a re-run after a crash finishes
 * the job, and until it does the client stays gone for the protocol.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  UpdateItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import type { Progress } from "../types.ts";
import { ATTR, HIDDEN, SK, TABLE, itemKey } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { writeRefusal } from "./sdk-errors.ts";

/** DynamoDB's limit of one BatchWriteItem. */
const BATCH_WRITE_ITEMS = 25;

export async function removeClient(calls: SdkCalls, clientId: Uuid, onProgress: Progress = () => {}): Promise<boolean> {
  let found = await markRemoving(calls, clientId);
  let done = 0;
  let batch: Record<string, AttributeValue>[] = [];
  const flush = async () => {
    await batchDelete(calls, batch);
    done += batch.length;
    batch = [];
    onProgress(done);
  };
  for await (const item of calls.queryItems(clientId, "", "list the client's items", [TABLE.partitionKey.name, TABLE.sortKey.name])) {
    const sk = item[TABLE.sortKey.name]?.S ?? "";
    // The client item goes last: until then it keeps the client gone for the protocol. The
    // deletion marks stay: the sweep's record of when objects stopped being referenced.
    if (sk === SK.client || sk.startsWith(SK.orphansPrefix)) continue;
    batch.push(item);
    if (batch.length === BATCH_WRITE_ITEMS) await flush();
  }
  if (batch.length > 0) await flush();
  await calls.ddbSend(
    new DeleteItemCommand({
      TableName: calls.tableName,
      Key: itemKey(clientId, SK.client),
      // Only the item this removal marked (or none): never a client created after it.
      ConditionExpression: "attribute_not_exists(#pk) OR #hidden = :removing",
      ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name, "#hidden": ATTR.hidden },
      ExpressionAttributeValues: { ":removing": { S: HIDDEN.removing } },
    }),
    "delete the client",
  );
  found ||= done > 0;
  return found;
}

/** Marks the client item `removing` (ATTR.hidden); whether there was one. */
async function markRemoving(calls: SdkCalls, clientId: Uuid): Promise<boolean> {
  try {
    await calls.ddbSend(
      new UpdateItemCommand({
        TableName: calls.tableName,
        Key: itemKey(clientId, SK.client),
        UpdateExpression: "SET #hidden = :removing REMOVE #importOf",
        ConditionExpression: "attribute_exists(#pk)",
        ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name, "#hidden": ATTR.hidden, "#importOf": ATTR.importOf },
        ExpressionAttributeValues: { ":removing": { S: HIDDEN.removing } },
      }),
      "mark the client as being removed",
    );
    return true;
  } catch (error) {
    // No client item: a removal that got further already, or nothing at all; the rest may remain.
    if (writeRefusal(error)?.kind === "condition") return false;
    throw error;
  }
}

/** Deletes the items by key, retrying what DynamoDB leaves unprocessed (throttling). */
async function batchDelete(calls: SdkCalls, keys: readonly Record<string, AttributeValue>[]): Promise<void> {
  let requests: WriteRequest[] = keys.map((key) => ({ DeleteRequest: { Key: key } }));
  for (let attempt = 0; requests.length > 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
    const result = await calls.ddbSend(
      new BatchWriteItemCommand({ RequestItems: { [calls.tableName]: requests } }),
      "delete the client's items",
    );
    requests = result.UnprocessedItems?.[calls.tableName] ?? [];
  }
}
