/**
 * Client items written by 0.1.0 lack the chain's start (`base`) and the stored bytes
 * (`bytes`, `snapSize`), and those written by 0.1.0 and 0.2.0 what the quota counts (`used`):
 * the first write that needs them (an added version, a snapshot, a prune) or an operator's read
 * fills them in once, from the client's version items (0.1.0) or from the item itself (0.2.0).
 * Until then the protocol reads them as they are (0.1.0's `recent` list, its `VERSION#` index
 * items). Deletions made before the upgrade are not counted: 0.2.0 kept no record of them.
 */
import { UpdateItemCommand, type UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import { type ClientState, isLegacy, slotAttributes, storedUuid } from "./client-item.ts";
import { ATTR, SK, TABLE, itemKey } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { writeRefusal } from "./sdk-errors.ts";
import { storedUsed } from "./quota.ts";

/** The client item with `base`, `bytes` and `used` recorded (read again if another write won). */
export async function upgradeLegacyClient(calls: SdkCalls, clientId: Uuid, state: ClientState): Promise<ClientState | null> {
  if (!isLegacy(state)) return state;
  if (state.base !== undefined && state.bytes !== undefined) return upgradeFrom020(calls, clientId, { ...state, bytes: state.bytes });
  const parentOf = new Map<Uuid, Uuid>();
  let bytes = 0;
  for await (const item of calls.queryItems(clientId, SK.childPrefix, "read the versions of a 0.1.0 client", [
    ATTR.versionId,
    ATTR.parentId,
    ATTR.segmentSize,
  ])) {
    parentOf.set(storedUuid(item[ATTR.versionId], ATTR.versionId), storedUuid(item[ATTR.parentId], ATTR.parentId));
    bytes += Number(item[ATTR.segmentSize]?.N ?? "0");
  }
  // The chain's start is the one parent that is not a version of the client.
  const starts = [...parentOf.values()].filter((id) => !parentOf.has(id));
  if (starts.length !== 1 || !starts[0]) throw new Error(`the chain of a 0.1.0 client has ${starts.length} starts`);
  // The slots, from 0.1.0's list of the newest ids and the parent of the last of them.
  const last = state.tail.at(-1);
  const lastParent = last === undefined ? undefined : parentOf.get(last);
  const slots = slotAttributes(lastParent === undefined ? state.tail : [...state.tail, lastParent]);
  // A snapshot whose size cannot be read (gone, or a role allowed only to list under the
  // prefix answered 403) counts as 0: the next stored snapshot corrects it.
  const snapSize = state.snapshot?.key
    ? ((await calls.objectSize(state.snapshot.key, "measure a 0.1.0 snapshot").catch(() => null)) ?? 0)
    : 0;
  // Only over the item as read: a version added meanwhile would change what is counted.
  return recordOnce(calls, clientId, "record what a 0.1.0 client lacks", {
    ConditionExpression: "attribute_exists(#pk) AND attribute_not_exists(#hidden) AND #latest = :latest AND attribute_not_exists(#base)",
    UpdateExpression: `SET #base = :base, #bytes = :bytes, #used = :used, ${Object.keys(slots)
      .map((name) => `#${name} = :${name}`)
      .join(", ")}${state.snapshot ? ", #snapSize = :snapSize" : ""} REMOVE #recent`,
    ExpressionAttributeNames: {
      "#pk": TABLE.partitionKey.name,
      "#hidden": ATTR.hidden,
      "#latest": ATTR.latest,
      "#base": ATTR.base,
      "#bytes": ATTR.bytes,
      "#used": ATTR.used,
      "#recent": ATTR.legacyRecent,
      ...Object.fromEntries(Object.keys(slots).map((name) => [`#${name}`, name])),
      ...(state.snapshot ? { "#snapSize": ATTR.snapSize } : {}),
    },
    ExpressionAttributeValues: {
      ":latest": { S: state.latest },
      ":base": { S: starts[0] },
      ":bytes": { N: String(bytes + snapSize) },
      ":used": { N: String(storedUsed(bytes + snapSize, parentOf.size)) },
      ...Object.fromEntries(Object.entries(slots).map(([name, value]) => [`:${name}`, value])),
      ...(state.snapshot ? { ":snapSize": { N: String(snapSize) } } : {}),
    },
  });
}

/**
 * A 0.2.0 item, or one whose `used` an older version's function left short: `used` from what it
 * records, the payloads, the overhead of its stored versions and the deleted bytes still kept,
 * on the condition that nothing changed since it was read.
 */
async function upgradeFrom020(calls: SdkCalls, clientId: Uuid, state: ClientState & { bytes: number }): Promise<ClientState | null> {
  const kept = [...state.kept.values()].reduce((sum, bytes) => sum + bytes, 0);
  const used = storedUsed(state.bytes, state.versionCount - state.pruned) + kept;
  const usedAsRead = state.used === undefined ? "attribute_not_exists(#used)" : "#used = :usedAsRead";
  return recordOnce(calls, clientId, "record what a 0.2.0 client's quota counts", {
    ConditionExpression:
      `attribute_exists(#pk) AND attribute_not_exists(#hidden) AND ${usedAsRead} AND #bytes = :bytes AND #latest = :latest` +
      (state.pruned === 0 ? " AND (attribute_not_exists(#pruned) OR #pruned = :pruned)" : " AND #pruned = :pruned"),
    UpdateExpression: "SET #used = :used",
    ExpressionAttributeNames: {
      "#pk": TABLE.partitionKey.name,
      "#hidden": ATTR.hidden,
      "#used": ATTR.used,
      "#bytes": ATTR.bytes,
      "#latest": ATTR.latest,
      "#pruned": ATTR.pruned,
    },
    ExpressionAttributeValues: {
      ":used": { N: String(used) },
      ":bytes": { N: String(state.bytes) },
      ":latest": { S: state.latest },
      ":pruned": { N: String(state.pruned) },
      ...(state.used === undefined ? {} : { ":usedAsRead": { N: String(state.used) } }),
    },
  });
}

/**
 * Updates the client item on the condition that it is still as read; either way (another
 * write may have recorded the same first, or changed it), the item is read again.
 */
async function recordOnce(
  calls: SdkCalls,
  clientId: Uuid,
  what: string,
  update: Pick<
    UpdateItemCommandInput,
    "ConditionExpression" | "UpdateExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"
  >,
): Promise<ClientState | null> {
  try {
    await calls.ddbSend(new UpdateItemCommand({ TableName: calls.tableName, Key: itemKey(clientId, SK.client), ...update }), what);
  } catch (error) {
    if (writeRefusal(error)?.kind !== "condition") throw error;
  }
  return calls.readClient(clientId);
}
