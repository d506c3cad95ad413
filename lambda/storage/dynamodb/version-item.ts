/** The version item (`sk` = CHILD#<parent id>): one version, its segment inline or in S3. */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../../uuid.ts";
import { ATTR, SK, itemKey } from "./layout.ts";

export interface VersionItem {
  versionId: Uuid;
  parentId: Uuid;
  data: Uint8Array;
  /** When it was added, milliseconds since the epoch. */
  addedAtMs: number;
  /** Its segment's S3 object, when the segment does not stay in the item. */
  segmentKey: string | undefined;
}

export function versionItem(clientId: Uuid, version: VersionItem): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    ...itemKey(clientId, SK.child(version.parentId)),
    [ATTR.versionId]: { S: version.versionId },
    [ATTR.parentId]: { S: version.parentId },
    [ATTR.segmentSize]: { N: String(version.data.byteLength) },
    [ATTR.created]: { N: String(version.addedAtMs) },
  };
  if (version.segmentKey) item[ATTR.segmentKey] = { S: version.segmentKey };
  else if (version.data.byteLength > 0) item[ATTR.segment] = { B: version.data };
  return item;
}
