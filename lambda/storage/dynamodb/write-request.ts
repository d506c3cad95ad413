/**
 * The one conditional request a transaction's commit sends (README.md, "Writes"): from the
 * writes it recorded and the client item it read, a `PutItem` (a new client) or `UpdateItem`
 * (the client item alone) or a `TransactWriteItems` (the client item plus, per version, its
 * `CHILD#<parent>` item and its `VERSION#<id>` index item). Pure: it builds, it does not send.
 */
import type { AttributeValue, Put, TransactWriteItem, Update } from "@aws-sdk/client-dynamodb";
import type { Snapshot } from "../types.ts";
import type { Uuid } from "../../uuid.ts";
import { type ClientState, declineAttributes, snapshotAttributes } from "./client-item.ts";
import { ATTR, SK, TABLE } from "./layout.ts";
import { itemKey } from "./sdk-calls.ts";

/** A write a transaction records until its commit. */
export type PendingWrite =
  | { kind: "version"; versionId: Uuid; parentId: Uuid; data: Uint8Array }
  | { kind: "snapshot"; snapshot: Snapshot; data: Uint8Array; at: number }
  | { kind: "decline"; timeMs: number; at: number };

export type VersionWrite = Extract<PendingWrite, { kind: "version" }>;

export interface WriteInput {
  tableName: string;
  clientId: Uuid;
  /** The client item the transaction read, or null when it creates the client. */
  base: ClientState | null;
  /** The client item as it will be: the base with every pending write applied. */
  final: ClientState;
  writes: readonly PendingWrite[];
  /** The S3 key of each write whose payload was uploaded. */
  uploads: ReadonlyMap<PendingWrite, string>;
  /** Milliseconds since the epoch, for `created`. */
  now: number;
}

export type WriteRequest =
  | { kind: "put"; put: Put }
  | { kind: "update"; update: Update }
  | { kind: "transaction"; items: TransactWriteItem[] };

export function writeRequest(input: WriteInput): WriteRequest {
  const client = clientWrite(input);
  const versions = input.writes.filter((write) => write.kind === "version");
  if (versions.length === 0) return "Put" in client ? { kind: "put", put: client.Put } : { kind: "update", update: client.Update };
  return { kind: "transaction", items: [client, ...versions.flatMap((version) => versionItems(input, version))] };
}

/** The one write of the client item: a Put when it is created, else an Update. */
function clientWrite({ tableName, clientId, base, final, writes, now }: WriteInput): { Put: Put } | { Update: Update } {
  if (base === null) {
    const item: Record<string, AttributeValue> = {
      ...itemKey(clientId, SK.client),
      [ATTR.latest]: { S: final.latest },
      [ATTR.versionCount]: { N: String(final.versionCount) },
      [ATTR.created]: { N: String(now) },
    };
    if (final.recent) item[ATTR.recent] = { L: final.recent.map((id) => ({ S: id })) };
    if (final.snapshot?.key) Object.assign(item, snapshotAttributes(final.snapshot));
    if (final.declined) Object.assign(item, declineAttributes(final.declined));
    return { Put: { TableName: tableName, Item: item, ...notExists() } };
  }
  const names: Record<string, string> = { "#pk": TABLE.partitionKey.name };
  const values: Record<string, AttributeValue> = {};
  const set: string[] = [];
  const remove: string[] = [];
  const add: string[] = [];
  const conditions = ["attribute_exists(#pk)"];
  const versionCount = writes.filter((write) => write.kind === "version").length;
  if (versionCount > 0) {
    names["#latest"] = ATTR.latest;
    names["#recent"] = ATTR.recent;
    names["#count"] = ATTR.versionCount;
    values[":latest"] = { S: final.latest };
    values[":baseLatest"] = { S: base.latest };
    values[":n"] = { N: String(versionCount) };
    set.push("#latest = :latest");
    if (final.recent) {
      values[":recent"] = { L: final.recent.map((id) => ({ S: id })) };
      set.push("#recent = :recent");
    } else {
      remove.push("#recent");
    }
    add.push("#count :n");
    // The chain's guard: latest is still what this transaction read.
    conditions.push("#latest = :baseLatest");
  }
  if (writes.some((write) => write.kind === "snapshot") && final.snapshot?.key) {
    for (const [name, value] of Object.entries(snapshotAttributes(final.snapshot))) {
      names[`#${name}`] = name;
      values[`:${name}`] = value;
      set.push(`#${name} = :${name}`);
    }
    if (base.snapshot?.key) {
      values[":baseSnapKey"] = { S: base.snapshot.key };
      conditions.push(`#${ATTR.snapKey} = :baseSnapKey`);
    } else {
      conditions.push(`attribute_not_exists(#${ATTR.snapKey})`);
    }
  }
  // A declined snapshot is recorded; a stored snapshot clears the record. Neither needs a
  // condition: a decline racing a snapshot at worst delays the next request for one.
  if (writes.some((write) => write.kind === "snapshot" || write.kind === "decline")) {
    names["#declTime"] = ATTR.declTime;
    names["#declAt"] = ATTR.declAt;
    if (final.declined) {
      for (const [name, value] of Object.entries(declineAttributes(final.declined))) values[`:${name}`] = value;
      set.push("#declTime = :declTime", "#declAt = :declAt");
    } else {
      remove.push("#declTime", "#declAt");
    }
  }
  const clauses = [
    set.length > 0 ? `SET ${set.join(", ")}` : "",
    remove.length > 0 ? `REMOVE ${remove.join(", ")}` : "",
    add.length > 0 ? `ADD ${add.join(", ")}` : "",
  ].filter((clause) => clause !== "");
  if (clauses.length === 0) {
    // Nothing to change (should not happen): a no-op guarded write keeps one code path.
    names["#latest"] = ATTR.latest;
    clauses.push("SET #latest = #latest");
  }
  return {
    Update: {
      TableName: tableName,
      Key: itemKey(clientId, SK.client),
      UpdateExpression: clauses.join(" "),
      ConditionExpression: conditions.join(" AND "),
      ExpressionAttributeNames: names,
      ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    },
  };
}

/** A version's two items, each on the condition that it does not exist yet. */
function versionItems({ tableName, clientId, uploads, now }: WriteInput, version: VersionWrite): TransactWriteItem[] {
  const key = uploads.get(version);
  const item: Record<string, AttributeValue> = {
    ...itemKey(clientId, SK.child(version.parentId)),
    [ATTR.versionId]: { S: version.versionId },
    [ATTR.parentId]: { S: version.parentId },
    [ATTR.segmentSize]: { N: String(version.data.byteLength) },
    [ATTR.created]: { N: String(now) },
  };
  if (key) item[ATTR.segmentKey] = { S: key };
  else if (version.data.byteLength > 0) item[ATTR.segment] = { B: version.data };
  const index = { ...itemKey(clientId, SK.version(version.versionId)), [ATTR.parentId]: { S: version.parentId } };
  return [{ Put: { TableName: tableName, Item: item, ...notExists() } }, { Put: { TableName: tableName, Item: index, ...notExists() } }];
}

function notExists(): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ReturnValuesOnConditionCheckFailure: "ALL_OLD";
} {
  return {
    ConditionExpression: "attribute_not_exists(#pk)",
    ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name },
    ReturnValuesOnConditionCheckFailure: "ALL_OLD",
  };
}
