/**
 * The layout of the AWS deployment's data, as plain data with no SDK import: the one DynamoDB
 * table (keys, items, attributes) and the S3 object keys. The CDK construct builds the table
 * from `TABLE`; the storage reads and writes the items and objects described here. Change the
 * schema here and nowhere else. Why it is shaped this way: README.md in this folder.
 *
 * | sk                    | item                          | attributes |
 * | --------------------- | ----------------------------- | ---------- |
 * | `CLIENT`              | the client                    | `latest`, `r0`..`r5`, `base`, `versionCount`, `pruned`, `bytes`, `used`, `kept<week>`, `lease`, `leaseUntil`, `lastAdded`, `high`, `highTok`, `snapVersion`, `snapTime`, `snapAt`, `snapKey`, `snapSize`, `snapParent`, `declTime`, `declAt`, `created`; while an operator imports or removes it: `hidden`, `importOf` |
 * | `CHILD#<parentId>`    | the version whose parent is `<parentId>` | `versionId`, `parentId`, `segment` or `segmentKey`, `segmentSize`, `created` |
 * | `VERSION#<versionId>` | (written by 0.1.0 only) index by id: the version's parent | `parentId` |
 * | `ORPHAN#<nonce>`      | a deletion mark: objects no item references any more, since when | `since`, `objects` |
 */
import { randomBytes } from "node:crypto";
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

/** Sort keys of the kinds of item. */
export const SK = {
  client: "CLIENT",
  /** The version whose parent is `parentId` (the version item itself). */
  child: (parentId: Uuid): string => `CHILD#${parentId}`,
  /** The prefix of every version item. */
  childPrefix: "CHILD#",
  /** The index item of version `versionId`, pointing at its parent: 0.1.0 wrote one per version. */
  version: (versionId: Uuid): string => `VERSION#${versionId}`,
  /** The prefix of 0.1.0's index items. */
  versionPrefix: "VERSION#",
  /**
   * A deletion mark (README.md, "Deferred deletion"): S3 objects of the client that no item
   * references any more, and since when; the sweep deletes them DELETION_GRACE_DAYS later.
   */
  orphans: (nonce: string): string => `ORPHAN#${nonce}`,
  /** The prefix of every deletion mark. */
  orphansPrefix: "ORPHAN#",
} as const;

/**
 * How many `r<i>` slots the client item has: the ids of its newest versions, newest first, and
 * after the last of them its parent. Slot i+1 is the parent of slot i, so the newest
 * RECENT_CHAIN_LENGTH versions can be read by id (`CHILD#<slot i+1>`) without an index item.
 * A slot past the chain's start holds NO_SLOT.
 */
export const RECENT_SLOTS = 6;

/** The value of a slot that holds no id. */
export const NO_SLOT = "-";

/** Attribute names of the items (besides the keys `pk` and `sk`). */
export const ATTR = {
  // the client item
  /** S: the latest version id (nil while the client has none). */
  latest: "latest",
  /** S, i = 0..RECENT_SLOTS-1: the i-th newest version id, or the chain's start, or NO_SLOT. */
  slot: (i: number): string => `r${i}`,
  /** L of S: the newest version ids, latest first, as 0.1.0 wrote them (read only). */
  legacyRecent: "recent",
  /** S: the parent of the oldest stored version (where the stored chain starts); absent without versions. */
  base: "base",
  /** N: how many versions were ever added. */
  versionCount: "versionCount",
  /** N: how many versions were removed by pruning (stored versions = versionCount - pruned). */
  pruned: "pruned",
  /** N: the bytes of the stored history segments and of the snapshot. */
  bytes: "bytes",
  /**
   * N: what the quota counts: `bytes`, VERSION_OVERHEAD_BYTES per stored version, and every
   * `kept<week>`. Absent on items written before 0.3.0, until their first write fills it in.
   */
  used: "used",
  /**
   * N, one attribute per week (days since the epoch / KEPT_WEEK_DAYS): the bytes of this
   * client's objects deleted that week, whose data the versioned bucket still keeps; removed
   * (and taken out of `used`) once the bucket has expired them.
   */
  kept: (week: number): string => `kept${week}`,
  /** S: the token of the S3 upload in flight for this client (at most one at a time); absent without one. */
  lease: "lease",
  /** N: when that upload's lease ends, milliseconds since the epoch: past it, another may take it. */
  leaseUntil: "leaseUntil",
  /** N: when the latest version was added, milliseconds since the epoch. */
  lastAdded: "lastAdded",
  /** N: AddVersions answered with urgency high since the client last sent a snapshot. */
  high: "high",
  /** S: the token of the last answer counted in `high`: a retried count of the same answer adds nothing. */
  highToken: "highTok",
  /**
   * S, while an operator's work owns the client: `importing` (an import writing it) or
   * `removing` (a removal deleting it). The protocol sees no client then, and no protocol write
   * (nor a new client's create) can touch the item: each write is conditioned on its absence.
   */
  hidden: "hidden",
  /** S: the latest version id of the import that holds the item `importing` (a re-run of it resumes). */
  importOf: "importOf",
  /** S: the snapshot's version id; absent while there is no snapshot. */
  snapVersion: "snapVersion",
  /** N: when the snapshot was stored, milliseconds since the epoch. */
  snapTime: "snapTime",
  /** N: `versionCount` at the moment the snapshot was stored (versions_since = versionCount - snapAt). */
  snapAt: "snapAt",
  /** S: the S3 key of the snapshot's bytes (unique per upload). */
  snapKey: "snapKey",
  /** N: the snapshot's length in bytes. */
  snapSize: "snapSize",
  /** S: the parent of the snapshot's version (its item is `CHILD#<snapParent>`); absent on items written before 0.3.0. */
  snapParent: "snapParent",
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
  // a deletion mark (ORPHAN#<nonce>)
  /** N: when its objects stopped being referenced (or were found unreferenced), ms since the epoch. */
  since: "since",
  /** SS: the S3 keys of its objects (their bytes were counted as kept when the mark was written). */
  objects: "objects",
} as const;

/** The values of `hidden`. */
export const HIDDEN = { importing: "importing", removing: "removing" } as const;
export type HiddenState = (typeof HIDDEN)[keyof typeof HIDDEN];

/** The prefix of the `kept<week>` attributes. */
export const KEPT_PREFIX = "kept";

/** Where payload objects live in the bucket: `clients/<client id>/...`. */
export const S3_PREFIX = "clients/";

/** The two kinds of payload object, as the path segment after the client id. */
export const OBJECT_KIND = { segment: "segments", snapshot: "snapshots" } as const;
export type ObjectKind = (typeof OBJECT_KIND)[keyof typeof OBJECT_KIND];

/** `clients/<client id>/`: every object of one client. */
/** The key of a client's item (an AttributeValue map, typed here without the SDK). */
export function itemKey(clientId: Uuid, sk: string): Record<string, { S: string }> {
  return { [TABLE.partitionKey.name]: { S: clientId }, [TABLE.sortKey.name]: { S: sk } };
}

/** The nonce of an object key: random, so that every upload has a key of its own. */
export function objectNonce(): string {
  return randomBytes(8).toString("hex");
}

export function clientPrefix(clientId: Uuid): string {
  return `${S3_PREFIX}${clientId}/`;
}

/**
 * `clients/<client id>/snapshots/<version id>/<nonce>`: the nonce makes every upload's key its
 * own, so no upload ever overwrites or deletes another one's object.
 */
export function snapshotKey(clientId: Uuid, versionId: Uuid, nonce: string): string {
  return `${clientPrefix(clientId)}${OBJECT_KIND.snapshot}/${versionId}/${nonce}`;
}

/**
 * `clients/<client id>/segments/<parent id>/<version id>/<nonce>`: the parent names the one item
 * that can reference it (`CHILD#<parent id>`).
 */
export function segmentKey(clientId: Uuid, parentId: Uuid, versionId: Uuid, nonce: string): string {
  return `${clientPrefix(clientId)}${OBJECT_KIND.segment}/${parentId}/${versionId}/${nonce}`;
}

export type ParsedObjectKey =
  | { clientId: Uuid; kind: typeof OBJECT_KIND.snapshot; versionId: Uuid }
  /** `parentId` is undefined in the keys 0.1.0 wrote: `segments/<version id>/<nonce>`. */
  | { clientId: Uuid; kind: typeof OBJECT_KIND.segment; versionId: Uuid; parentId: Uuid | undefined };

/** The parts of a key this storage wrote, or undefined for any other key. */
export function parseObjectKey(key: string): ParsedObjectKey | undefined {
  const [root, clientText, kind, ...rest] = key.split("/");
  const clientId = canonical(clientText);
  if (`${root}/` !== S3_PREFIX || clientId === undefined) return undefined;
  if (kind === OBJECT_KIND.snapshot && rest.length === 2 && rest[1]) {
    const versionId = canonical(rest[0]);
    return versionId === undefined ? undefined : { clientId, kind, versionId };
  }
  if (kind === OBJECT_KIND.segment && rest.length === 3 && rest[2]) {
    const parentId = canonical(rest[0]);
    const versionId = canonical(rest[1]);
    return parentId === undefined || versionId === undefined ? undefined : { clientId, kind, versionId, parentId };
  }
  if (kind === OBJECT_KIND.segment && rest.length === 2 && rest[1]) {
    const versionId = canonical(rest[0]);
    return versionId === undefined ? undefined : { clientId, kind, versionId, parentId: undefined };
  }
  return undefined;
}

/** `text` if it is a canonical UUID: the storage writes no other form. */
function canonical(text: string | undefined): Uuid | undefined {
  const id = parseUuid(text ?? "");
  return id !== undefined && id === text ? id : undefined;
}
