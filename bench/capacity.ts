/**
 * DynamoDB capacity units from the sizes of the items a request's calls read and wrote, and
 * S3 requests by price class; also what DynamoDB Local itself reported, for the capacity check.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { TABLE } from "../lambda/storage/dynamodb/layout.ts";
import { KiB } from "./bytes.ts";
import { type CallRecord, dynamoCall } from "./recorder.ts";

/** DynamoDB capacity units (on-demand request units). */
export const CAPACITY = {
  /** A strongly consistent read: 1 RRU per started 4 KB of the item (a missing item: 1). */
  readStepBytes: 4 * KiB,
  /** A standard write: 1 WRU per started 1 KB of the item (larger of before and after, for updates). */
  writeStepBytes: 1 * KiB,
  /** A transactional write costs twice a standard one, per item. */
  transactionalWriteFactor: 2,
  /** DynamoDB's per-item storage overhead (index), bytes. */
  storageOverheadBytesPerItem: 100,
} as const;

export interface Units {
  rru: number;
  wru: number;
  s3Put: number;
  s3Get: number;
  s3Delete: number;
}

type Item = Record<string, AttributeValue>;

/** DynamoDB's item size: attribute names plus values (numbers ~ 1 byte per 2 digits + 1). */
export function itemSize(item: Item | undefined): number {
  if (!item) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(value);
  return size;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k) + valueSize(v), 0);
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  return 0;
}

function numberSize(text: string): number {
  const digits = text.replace(/^[-+]/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** An item's key as one string (partition key | sort key), to match reads with writes. */
export function keyOf(key: Item | undefined): string {
  return `${key?.[TABLE.partitionKey.name]?.S ?? "?"}|${key?.[TABLE.sortKey.name]?.S ?? "?"}`;
}

const S3_PUT_CLASS: ReadonlySet<string> = new Set([
  "PutObject",
  "CopyObject",
  "ListObjectsV2",
  "ListObjects",
  "CreateMultipartUpload",
  "UploadPart",
  "CompleteMultipartUpload",
]);
const S3_GET_CLASS: ReadonlySet<string> = new Set(["GetObject", "HeadObject"]);
export const DDB_READS: ReadonlySet<string> = new Set(["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"]);
export const DDB_WRITES: ReadonlySet<string> = new Set(["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"]);

/**
 * Request units of one request's calls, estimated from the item sizes:
 *  - GetItem (strongly consistent): ceil(size / 4 KB) RRU, at least 1 (also for a missing item);
 *  - PutItem: ceil(size / 1 KB) WRU; UpdateItem: ceil(max(before, after) / 1 KB) WRU;
 *  - TransactWriteItems: twice that, for each item it writes.
 * `before` of the client item is what this request's GetItem returned; `after` is read once
 * the request has finished (`after` map), outside the timed part.
 */
export function estimateUnits(calls: readonly CallRecord[], after: ReadonlyMap<string, number>): Units {
  const units: Units = { rru: 0, wru: 0, s3Put: 0, s3Get: 0, s3Delete: 0 };
  const before = new Map<string, number>();
  const writeUnits = (size: number) => Math.max(1, Math.ceil(size / CAPACITY.writeStepBytes));
  for (const call of [...calls].sort((a, b) => a.start - b.start)) {
    if (call.service === "s3") {
      if (S3_PUT_CLASS.has(call.command)) units.s3Put += 1;
      else if (S3_GET_CLASS.has(call.command)) units.s3Get += 1;
      else if (call.command === "DeleteObject") units.s3Delete += 1;
      continue;
    }
    const typed = dynamoCall(call);
    if (!typed) throw new Error(`no capacity estimate for DynamoDB ${call.command}: add it to estimateUnits`);
    switch (typed.command) {
      case "GetItem": {
        const size = itemSize(typed.output?.Item);
        before.set(keyOf(typed.input.Key), size);
        const rru = Math.max(1, Math.ceil(size / CAPACITY.readStepBytes));
        units.rru += typed.input.ConsistentRead ? rru : rru / 2;
        break;
      }
      case "PutItem":
        units.wru += writeUnits(itemSize(typed.input.Item));
        break;
      case "UpdateItem": {
        const key = keyOf(typed.input.Key);
        units.wru += writeUnits(Math.max(before.get(key) ?? 0, after.get(key) ?? 0));
        break;
      }
      case "TransactWriteItems":
        for (const item of typed.input.TransactItems ?? []) {
          let size = 0;
          if (item.Put) size = itemSize(item.Put.Item);
          else if (item.Update) size = Math.max(before.get(keyOf(item.Update.Key)) ?? 0, after.get(keyOf(item.Update.Key)) ?? 0);
          else if (item.Delete) size = before.get(keyOf(item.Delete.Key)) ?? 0;
          else if (item.ConditionCheck) size = before.get(keyOf(item.ConditionCheck.Key)) ?? 0;
          units.wru += CAPACITY.transactionalWriteFactor * writeUnits(size);
        }
        break;
    }
  }
  return units;
}

/** Keys of items this request updated (their size after the update is read afterwards). */
export function updatedKeys(calls: readonly CallRecord[]): Item[] {
  const keys: Item[] = [];
  for (const call of calls) {
    const typed = dynamoCall(call);
    if (typed?.command === "UpdateItem" && typed.input.Key) keys.push(typed.input.Key);
    if (typed?.command === "TransactWriteItems") {
      for (const item of typed.input.TransactItems ?? []) if (item.Update?.Key) keys.push(item.Update.Key);
    }
  }
  return keys;
}

/** The sizes of the items that this request's transactions put (new items). */
export function transactionPutSizes(calls: readonly CallRecord[]): number[] {
  const sizes: number[] = [];
  for (const call of calls) {
    const typed = dynamoCall(call);
    if (typed?.command !== "TransactWriteItems") continue;
    for (const item of typed.input.TransactItems ?? []) if (item.Put) sizes.push(itemSize(item.Put.Item));
  }
  return sizes;
}

/** What DynamoDB Local reported (capacity-check pass only). */
export function reportedCapacity(calls: readonly CallRecord[]): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const call of calls) {
    if (call.service !== "dynamodb" || call.failed) continue;
    // Every DynamoDB command's output has it: one for a single-item call, a list for a transaction.
    const consumed = (call.output as { ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }> } | undefined)
      ?.ConsumedCapacity;
    const total = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
    if (DDB_READS.has(call.command)) read += total;
    else write += total;
  }
  return { read, write };
}
