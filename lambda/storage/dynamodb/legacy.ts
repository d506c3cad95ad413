/**
 * Client items written by 0.1.0 lack the chain's start (`base`) and the stored bytes
 * (`bytes`, `snapSize`): the first write that needs them (an added version, a snapshot, a
 * prune) or an operator's read fills them in once, from the client's version items. Until then
 * the protocol reads them as they are (0.1.0's `recent` list, its `VERSION#` index items).
 */
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import { type ClientState, isLegacy, slotAttributes, storedUuid } from "./client-item.ts";
import { ATTR, SK, TABLE, itemKey } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { writeRefusal } from "./sdk-errors.ts";

/** The client item with `base` and `bytes` recorded (read again if another write won). */
export async function upgradeLegacyClient(calls: SdkCalls, clientId: Uuid, state: ClientState): Promise<ClientState | null> {
  if (!isLegacy(state)) return state;
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
  try {
    await calls.ddbSend(
      new UpdateItemCommand({
        TableName: calls.tableName,
        Key: itemKey(clientId, SK.client),
        // Only over the item as read: a version added meanwhile would change what is counted.
        ConditionExpression: "attribute_exists(#pk) AND #latest = :latest AND attribute_not_exists(#base)",
        UpdateExpression: `SET #base = :base, #bytes = :bytes, ${Object.keys(slots)
          .map((name) => `#${name} = :${name}`)
          .join(", ")}${state.snapshot ? ", #snapSize = :snapSize" : ""} REMOVE #recent`,
        ExpressionAttributeNames: {
          "#pk": TABLE.partitionKey.name,
          "#latest": ATTR.latest,
          "#base": ATTR.base,
          "#bytes": ATTR.bytes,
          "#recent": ATTR.legacyRecent,
          ...Object.fromEntries(Object.keys(slots).map((name) => [`#${name}`, name])),
          ...(state.snapshot ? { "#snapSize": ATTR.snapSize } : {}),
        },
        ExpressionAttributeValues: {
          ":latest": { S: state.latest },
          ":base": { S: starts[0] },
          ":bytes": { N: String(bytes + snapSize) },
          ...Object.fromEntries(Object.entries(slots).map(([name, value]) => [`:${name}`, value])),
          ...(state.snapshot ? { ":snapSize": { N: String(snapSize) } } : {}),
        },
      }),
      "record what a 0.1.0 client lacks",
    );
  } catch (error) {
    if (writeRefusal(error)?.kind !== "condition") throw error;
  }
  return calls.readClient(clientId);
}
