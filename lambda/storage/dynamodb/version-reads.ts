/**
 * Reading version items (README.md, "Data model"): a version with its segment (inline, or its
 * S3 object), a version by id, and the walk from the chain's start that pruning and operators
 * use (metadata only, never a segment).
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import type { Version, VersionMetadata } from "../types.ts";
import { storedUuid } from "./client-item.ts";
import { ATTR, SK } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";

/** A version's metadata, with its segment's S3 object if it has one (what its removal deletes). */
export type StoredVersionMetadata = VersionMetadata & { segmentKey: string | undefined };

/** What the walk reads of each version item (never its inline segment). */
const VERSION_METADATA = [ATTR.versionId, ATTR.parentId, ATTR.segmentSize, ATTR.created, ATTR.segmentKey];

/** The version a `CHILD#<parent>` item holds, its segment read from S3 when it lives there. */
export async function versionFrom(calls: SdkCalls, item: Record<string, AttributeValue>): Promise<Version> {
  const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
  const parentVersionId = storedUuid(item[ATTR.parentId], ATTR.parentId);
  const key = item[ATTR.segmentKey]?.S;
  let historySegment: Uint8Array;
  if (key) {
    const data = await calls.getObject(key, "read a history segment");
    if (!data) throw new Error(`the segment object of version ${versionId} is missing: ${key}`);
    historySegment = data;
  } else {
    historySegment = item[ATTR.segment]?.B ?? new Uint8Array(0);
  }
  return { versionId, parentVersionId, historySegment };
}

/**
 * The stored version `id`, given the client item's newest ids (`tail`, newest first, each the
 * child of the next): one of the newest is one read (its parent is the next slot); an older one
 * of a 0.1.0 client is found through its index item; any other through a query of the client's
 * version items (a rare path: the protocol asks only for the newest).
 */
export async function findVersion(calls: SdkCalls, clientId: Uuid, id: Uuid, tail: readonly Uuid[]): Promise<Version | null> {
  const item = await findVersionItem(calls, clientId, id, tail);
  return item ? versionFrom(calls, item) : null;
}

/** The item of the stored version `id` (as `findVersion` finds it), or null; its segment is not read. */
export async function findVersionItem(
  calls: SdkCalls,
  clientId: Uuid,
  id: Uuid,
  tail: readonly Uuid[],
): Promise<Record<string, AttributeValue> | null> {
  const parentId = tail[tail.indexOf(id) + 1];
  if (tail.includes(id) && parentId !== undefined) {
    const item = await calls.getItem(clientId, SK.child(parentId), "read the version");
    // No child of that parent: the version is not stored (pruned, say).
    if (!item) return null;
    if (storedUuid(item[ATTR.versionId], ATTR.versionId) === id) return item;
    // Another version there: slots out of step with the chain (README.md, "Known benign
    // races"): look the slow way.
  }
  const index = await calls.getItem(clientId, SK.version(id), "read the version index");
  if (index) {
    const item = await calls.getItem(clientId, SK.child(storedUuid(index[ATTR.parentId], ATTR.parentId)), "read the version");
    if (item && storedUuid(item[ATTR.versionId], ATTR.versionId) === id) return item;
  }
  for await (const item of calls.queryItems(clientId, SK.childPrefix, "look for a version by id", [ATTR.versionId, ATTR.parentId])) {
    if (item[ATTR.versionId]?.S === id) {
      return (await calls.getItem(clientId, SK.child(storedUuid(item[ATTR.parentId], ATTR.parentId)), "read the version")) ?? null;
    }
  }
  return null;
}

/**
 * Up to `limit` versions from the chain's start (the parent of the first stored version), oldest
 * first: one consistent read each, stopping after the first one `until` holds true for.
 */
export async function oldestVersions(
  calls: SdkCalls,
  clientId: Uuid,
  start: Uuid | null,
  limit: number,
  until?: (version: VersionMetadata) => boolean,
): Promise<StoredVersionMetadata[]> {
  const oldest: StoredVersionMetadata[] = [];
  let parent = start;
  while (parent !== null && oldest.length < limit) {
    const item = await calls.getItem(clientId, SK.child(parent), "read an old version", VERSION_METADATA);
    if (!item) break;
    const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
    const version: StoredVersionMetadata = {
      versionId,
      parentVersionId: parent,
      addedAt: new Date(Number(item[ATTR.created]?.N ?? "0")),
      bytes: Number(item[ATTR.segmentSize]?.N ?? "0"),
      segmentKey: item[ATTR.segmentKey]?.S,
    };
    oldest.push(version);
    if (until?.(version)) break;
    parent = versionId;
  }
  return oldest;
}
