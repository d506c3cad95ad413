/**
 * The layout of the AWS deployment's data, as plain data with no SDK import: the one DynamoDB
 * table (keys, items, attributes) and the S3 object keys. The CDK construct builds the table
 * from `TABLE`; the storage reads and writes the items and objects described here. Change the
 * schema here and nowhere else. Why it is shaped this way: README.md in this folder.
 *
 * | sk                    | item                          | attributes |
 * | --------------------- | ----------------------------- | ---------- |
 * | `CLIENT`              | the client                    | `latest`, `recent`, `versionCount`, `snapVersion`, `snapTime`, `snapAt`, `snapKey`, `declTime`, `declAt`, `created` |
 * | `CHILD#<parentId>`    | the version whose parent is `<parentId>` | `versionId`, `parentId`, `segment` or `segmentKey`, `segmentSize`, `created` |
 * | `VERSION#<versionId>` | index by id: the version's parent | `parentId` |
 */
import { parseUuid, type Uuid } from "../../uuid.ts";

/** DynamoDB scalar attribute types, with the same strings as the CDK's `AttributeType`. */
export type KeyType = "S" | "N" | "B";

export interface TableDefinition {
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey: { readonly name: string; readonly type: KeyType };
  /** On-demand capacity: the load is bursty and per client tiny. */
  readonly billingMode: "PAY_PER_REQUEST";
  /** None: a version is keyed by its parent (README.md, "Consistency"). */
  readonly localSecondaryIndexes: readonly [];
  /** None, ever, on a protocol path: GSIs are eventually consistent. */
  readonly globalSecondaryIndexes: readonly [];
  /** None: nothing expires. */
  readonly timeToLiveAttribute: undefined;
}

export const TABLE: TableDefinition = {
  partitionKey: { name: "pk", type: "S" },
  sortKey: { name: "sk", type: "S" },
  billingMode: "PAY_PER_REQUEST",
  localSecondaryIndexes: [],
  globalSecondaryIndexes: [],
  timeToLiveAttribute: undefined,
};

/** Sort keys of the three kinds of item. */
export const SK = {
  client: "CLIENT",
  /** The version whose parent is `parentId` (the version item itself). */
  child: (parentId: Uuid): string => `CHILD#${parentId}`,
  /** The index item of version `versionId`, pointing at its parent. */
  version: (versionId: Uuid): string => `VERSION#${versionId}`,
} as const;

/** Attribute names of the items (besides the keys `pk` and `sk`). */
export const ATTR = {
  // the client item
  /** S: the latest version id (nil while the client has none). */
  latest: "latest",
  /** L of S: the newest stored version ids, latest first (at most RECENT_CHAIN_LENGTH). */
  recent: "recent",
  /** N: how many versions were ever added. */
  versionCount: "versionCount",
  /** S: the snapshot's version id; absent while there is no snapshot. */
  snapVersion: "snapVersion",
  /** N: when the snapshot was stored, milliseconds since the epoch. */
  snapTime: "snapTime",
  /** N: `versionCount` at the moment the snapshot was stored (versions_since = versionCount - snapAt). */
  snapAt: "snapAt",
  /** S: the S3 key of the snapshot's bytes (unique per upload). */
  snapKey: "snapKey",
  /** N: when a snapshot too large to accept was declined, ms since the epoch; absent if none since the snapshot. */
  declTime: "declTime",
  /** N: `versionCount` when it was declined (its versions_since = versionCount - declAt). */
  declAt: "declAt",
  /** N: when the item was written first, milliseconds since the epoch (for operators). */
  created: "created",
  // the version item (CHILD#<parentId>)
  /** S: the version's id. */
  versionId: "versionId",
  /** S: the version's parent id (also on VERSION#<id>). */
  parentId: "parentId",
  /** B: the history segment, when it fits the item. */
  segment: "segment",
  /** S: the S3 key of the history segment, when it does not fit the item. */
  segmentKey: "segmentKey",
  /** N: the segment's length in bytes. */
  segmentSize: "segmentSize",
} as const;

/** Where payload objects live in the bucket: `clients/<client id>/...`. */
export const S3_PREFIX = "clients/";

/** The two kinds of payload object, as the path segment after the client id. */
export const OBJECT_KIND = { segment: "segments", snapshot: "snapshots" } as const;
export type ObjectKind = (typeof OBJECT_KIND)[keyof typeof OBJECT_KIND];

/** `clients/<client id>/`: every object of one client. */
export function clientPrefix(clientId: Uuid): string {
  return `${S3_PREFIX}${clientId}/`;
}

/**
 * `clients/<client id>/<kind>/<version id>/<nonce>`: the nonce makes every upload's key its
 * own, so no upload ever overwrites or deletes another one's object.
 */
export function objectKey(clientId: Uuid, kind: ObjectKind, versionId: Uuid, nonce: string): string {
  return `${clientPrefix(clientId)}${kind}/${versionId}/${nonce}`;
}

/** The parts of a key `objectKey` made, or undefined for any other key (not this storage's). */
export function parseObjectKey(key: string): { clientId: Uuid; kind: ObjectKind; versionId: Uuid } | undefined {
  const [root, clientText, kind, versionText, nonce, ...rest] = key.split("/");
  if (`${root}/` !== S3_PREFIX || !nonce || rest.length > 0) return undefined;
  if (kind !== OBJECT_KIND.segment && kind !== OBJECT_KIND.snapshot) return undefined;
  const clientId = parseUuid(clientText ?? "");
  const versionId = parseUuid(versionText ?? "");
  // Canonical ids only: the storage writes no other form.
  if (clientId === undefined || clientId !== clientText || versionId === undefined || versionId !== versionText) return undefined;
  return { clientId, kind, versionId };
}
