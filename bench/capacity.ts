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

/** What one item of one call costs: a read, or one item a write (or a transaction) wrote. */
export interface ItemCharge {
  /** Which of the request's calls (0-based, in the order they started). */
  call: number;
  /** The SDK command: "GetItem", "TransactWriteItems", ... */
  command: string;
  /** What the call did to the item. */
  action: "read" | "put" | "update" | "delete" | "check";
  /** The item by the kind of its sort key: "CLIENT", "CHILD#…". */
  item: string;
  /** The size the charge is computed from (for a write: the larger of before and after). */
  bytes: number;
  rru: number;
  wru: number;
  /** Written by a TransactWriteItems. */
  transactional: boolean;
  /** The write was refused (a failed condition): charged as if it had run (see README). */
  refused: boolean;
}

/** An item's kind from its key: its sort key up to the `#`, e.g. "CHILD#…". */
function itemKind(key: Item | undefined): string {
  const sk = key?.[TABLE.sortKey.name]?.S ?? "?";
  const hash = sk.indexOf("#");
  return hash < 0 ? sk : `${sk.slice(0, hash + 1)}…`;
}

const writeUnits = (size: number) => Math.max(1, Math.ceil(size / CAPACITY.writeStepBytes));

/**
 * What each item of one request's DynamoDB calls costs, estimated from the item sizes:
 *  - GetItem (strongly consistent): ceil(size / 4 KB) RRU, at least 1 (also for a missing item);
 *  - PutItem: ceil(size / 1 KB) WRU; UpdateItem: ceil(max(before, after) / 1 KB) WRU;
 *  - TransactWriteItems: twice that, for each item it writes.
 * `before` of an item is what this request's GetItem of it returned; `after` is read once the
 * request has finished (`after` map), outside the timed part. A refused write is charged as if
 * it had run: AWS's documentation does not say what a cancelled transaction costs, so this is
 * the upper bound.
 */
export function itemCharges(calls: readonly CallRecord[], after: ReadonlyMap<string, number>): ItemCharge[] {
  const charges: ItemCharge[] = [];
  const before = new Map<string, number>();
  const sizeOf = (key: Item | undefined) => Math.max(before.get(keyOf(key)) ?? 0, after.get(keyOf(key)) ?? 0);
  for (const [index, call] of [...calls].sort((a, b) => a.start - b.start).entries()) {
    if (call.service === "s3") continue;
    const typed = dynamoCall(call);
    if (!typed) throw new Error(`no capacity estimate for DynamoDB ${call.command}: add it to itemCharges`);
    const write = { call: index, command: typed.command, rru: 0, transactional: false, refused: typed.failed };
    switch (typed.command) {
      case "GetItem": {
        const size = itemSize(typed.output?.Item);
        before.set(keyOf(typed.input.Key), size);
        const rru = Math.max(1, Math.ceil(size / CAPACITY.readStepBytes));
        charges.push({
          ...write,
          action: "read",
          item: itemKind(typed.input.Key),
          bytes: size,
          rru: typed.input.ConsistentRead ? rru : rru / 2,
          wru: 0,
        });
        break;
      }
      case "PutItem": {
        const bytes = itemSize(typed.input.Item);
        charges.push({ ...write, action: "put", item: itemKind(typed.input.Item), bytes, wru: writeUnits(bytes) });
        break;
      }
      case "UpdateItem": {
        const bytes = sizeOf(typed.input.Key);
        charges.push({ ...write, action: "update", item: itemKind(typed.input.Key), bytes, wru: writeUnits(bytes) });
        break;
      }
      case "TransactWriteItems":
        for (const entry of typed.input.TransactItems ?? []) {
          const [action, key, bytes]: [ItemCharge["action"], Item | undefined, number] = entry.Put
            ? ["put", entry.Put.Item, itemSize(entry.Put.Item)]
            : entry.Update
              ? ["update", entry.Update.Key, sizeOf(entry.Update.Key)]
              : entry.Delete
                ? ["delete", entry.Delete.Key, sizeOf(entry.Delete.Key)]
                : ["check", entry.ConditionCheck?.Key, sizeOf(entry.ConditionCheck?.Key)];
          charges.push({
            ...write,
            action,
            item: itemKind(key),
            bytes,
            wru: CAPACITY.transactionalWriteFactor * writeUnits(bytes),
            transactional: true,
          });
        }
        break;
    }
  }
  return charges;
}

/** Request units of one request's calls: its items' charges, and its S3 requests by price class. */
export function estimateUnits(calls: readonly CallRecord[], after: ReadonlyMap<string, number>): Units {
  const units: Units = { rru: 0, wru: 0, s3Put: 0, s3Get: 0, s3Delete: 0 };
  for (const charge of itemCharges(calls, after)) {
    units.rru += charge.rru;
    units.wru += charge.wru;
  }
  for (const call of calls) {
    if (call.service !== "s3") continue;
    if (S3_PUT_CLASS.has(call.command)) units.s3Put += 1;
    else if (S3_GET_CLASS.has(call.command)) units.s3Get += 1;
    else if (call.command === "DeleteObject") units.s3Delete += 1;
  }
  return units;
}

/**
 * The write units DynamoDB Local reports for these charges, by its own rule (found by probing
 * it, see bench/README.md): a single-item write as AWS documents it; a TransactWriteItems 4 per
 * started KB of each item (twice AWS's documented 2), where items with the same figure count
 * once; a refused write reports nothing. It checks that the item sizes behind the estimate
 * are the sizes DynamoDB Local saw.
 */
export function dynamodbLocalWriteUnits(charges: readonly ItemCharge[]): number {
  let units = 0;
  /** Per transaction (by call), the distinct figures of its items. */
  const transactions = new Map<number, Set<number>>();
  for (const charge of charges) {
    if (charge.action === "read" || charge.refused) continue;
    if (!charge.transactional) {
      units += charge.wru;
      continue;
    }
    const figures = transactions.get(charge.call) ?? new Set<number>();
    figures.add(DYNAMODB_LOCAL_TRANSACTION_UNITS_PER_KB * writeUnits(charge.bytes));
    transactions.set(charge.call, figures);
  }
  for (const figures of transactions.values()) for (const figure of figures) units += figure;
  return units;
}

/** DynamoDB Local's write units per started KB of an item in a TransactWriteItems. */
const DYNAMODB_LOCAL_TRANSACTION_UNITS_PER_KB = 4;

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
