/**
 * Writes a whole client, for operators (an import). First a client item marked `importing`
 * (ATTR.hidden) on the condition that there is none, or only this same import's (a re-run):
 * the protocol sees no client, and no replica can create it or write to it while it is held.
 * Then every version item, each payload that does not fit an item to S3, and the whole client
 * item LAST, replacing the mark on the condition that it is still this import's. So an import
 * completes whole or leaves nothing a replica can see, whatever replicas do meanwhile; a re-run
 * writes the same version items again (a version item is only ever overwritten by the same
 * version) and completes it. Uploads of an interrupted run are orphans for the sweep;
 * `remove-client` removes an interrupted import.
 */
import { type AttributeValue, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import { ClientExistsError } from "../errors.ts";
import type { ClientImport, Progress } from "../types.ts";
import { type ClientState, clientItem, nextTail, type SnapshotState } from "./client-item.ts";
import { ATTR, HIDDEN, itemKey, objectNonce, SK, segmentKey, snapshotKey, TABLE } from "./layout.ts";
import { versionUsed } from "./quota.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { versionItem } from "./version-item.ts";
import { writeRefusal } from "./sdk-errors.ts";

/** Version items written at once. */
const CONCURRENT_WRITES = 16;

export async function importClient(calls: SdkCalls, clientId: Uuid, client: ClientImport, onProgress: Progress = () => {}): Promise<void> {
  // The mark, unless the id is taken: by a client, a removal, or another import.
  await putUnlessTaken(
    calls,
    { ...itemKey(clientId, SK.client), [ATTR.hidden]: { S: HIDDEN.importing }, [ATTR.importOf]: { S: client.latestVersionId } },
    {
      ConditionExpression: "attribute_not_exists(#pk) OR (#hidden = :importing AND #importOf = :latest)",
      ExpressionAttributeNames: { "#hidden": ATTR.hidden, "#importOf": ATTR.importOf },
      ExpressionAttributeValues: { ":importing": { S: HIDDEN.importing }, ":latest": { S: client.latestVersionId } },
    },
    "mark the client as being imported",
  );
  let base: Uuid | undefined;
  let count = 0;
  let bytes = 0;
  let used = 0;
  let lastAddedMs: number | undefined;
  /** The newest ids, newest first, and their start: what the client item's slots hold. */
  let tail: Uuid[] = [];
  /** The parent of the snapshot's version, met on the way. */
  let snapshotParent: Uuid | undefined;
  const inFlight = new Set<Promise<void>>();
  for await (const version of client.versions) {
    base ??= version.parentVersionId;
    count += 1;
    bytes += version.historySegment.byteLength;
    used += versionUsed(version.historySegment.byteLength);
    lastAddedMs = version.addedAt.getTime();
    tail = nextTail(tail, [version.versionId], version.parentVersionId);
    if (version.versionId === client.snapshot?.versionId) snapshotParent = version.parentVersionId;
    const write = writeVersion(calls, clientId, version).then(() => {
      inFlight.delete(write);
      onProgress(count - inFlight.size);
    });
    inFlight.add(write);
    if (inFlight.size >= CONCURRENT_WRITES) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  let snapshot: SnapshotState | null = null;
  if (client.snapshot) {
    const key = snapshotKey(clientId, client.snapshot.versionId, objectNonce());
    await calls.putObject(key, client.snapshot.data, "upload the snapshot");
    snapshot = {
      versionId: client.snapshot.versionId,
      timeMs: client.snapshot.timestamp.getTime(),
      at: count - client.snapshot.versionsSince,
      key,
      size: client.snapshot.data.byteLength,
      parent: snapshotParent,
    };
  }
  const state: ClientState = {
    latest: tail[0] ?? client.latestVersionId,
    tail,
    base: base ?? null,
    versionCount: count,
    pruned: 0,
    bytes: bytes + (snapshot?.size ?? 0),
    used: used + (snapshot?.size ?? 0),
    kept: new Map(),
    lease: null,
    lastAddedMs: lastAddedMs ?? null,
    high: 0,
    snapshot,
    declined: client.declined ? { timeMs: client.declined.timestamp.getTime(), at: count - client.declined.versionsSince } : null,
  };
  const item = clientItem(clientId, state, Date.now());
  // Over this import's own mark only: the client appears whole, at once.
  await putUnlessTaken(
    calls,
    item,
    {
      ConditionExpression: "#hidden = :importing AND #importOf = :latest",
      ExpressionAttributeNames: { "#hidden": ATTR.hidden, "#importOf": ATTR.importOf },
      ExpressionAttributeValues: { ":importing": { S: HIDDEN.importing }, ":latest": { S: client.latestVersionId } },
    },
    "write the imported client",
  );
}

async function writeVersion(
  calls: SdkCalls,
  clientId: Uuid,
  version: { versionId: Uuid; parentVersionId: Uuid; historySegment: Uint8Array; addedAt: Date },
): Promise<void> {
  let key: string | undefined;
  if (version.historySegment.byteLength > calls.inlineSegmentMaxBytes) {
    key = segmentKey(clientId, version.parentVersionId, version.versionId, objectNonce());
    await calls.putObject(key, version.historySegment, "upload a history segment");
  }
  const item = versionItem(clientId, {
    versionId: version.versionId,
    parentId: version.parentVersionId,
    data: version.historySegment,
    addedAtMs: version.addedAt.getTime(),
    segmentKey: key,
  });
  // Never over another version: only this one, written by an interrupted run of this import.
  await putUnlessTaken(
    calls,
    item,
    {
      ConditionExpression: "attribute_not_exists(#pk) OR #versionId = :versionId",
      ExpressionAttributeNames: { "#versionId": ATTR.versionId },
      ExpressionAttributeValues: { ":versionId": { S: version.versionId } },
    },
    "write an imported version",
  );
}

/** A conditional put; its condition failing means the client is (being) stored by someone else. */
async function putUnlessTaken(
  calls: SdkCalls,
  item: Record<string, AttributeValue>,
  condition: {
    ConditionExpression: string;
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Record<string, AttributeValue>;
  },
  what: string,
): Promise<void> {
  try {
    await calls.ddbSend(
      new PutItemCommand({
        TableName: calls.tableName,
        Item: item,
        ...condition,
        ExpressionAttributeNames: {
          ...(condition.ConditionExpression.includes("#pk") ? { "#pk": TABLE.partitionKey.name } : {}),
          ...condition.ExpressionAttributeNames,
        },
      }),
      what,
    );
  } catch (error) {
    if (writeRefusal(error)?.kind === "condition") throw new ClientExistsError();
    throw error;
  }
}
