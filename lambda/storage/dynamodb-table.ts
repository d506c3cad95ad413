/**
 * The one DynamoDB table of the AWS deployment, as plain data: the CDK stack and the emulator
 * setup both build the table from `TABLE`, and `dynamodb.ts` reads and writes the items
 * described here. Change the schema here and nowhere else.
 *
 * ## Items (partition key `pk` = the client id, sort key `sk`)
 *
 * | sk                    | what                          | attributes |
 * | --------------------- | ----------------------------- | ---------- |
 * | `CLIENT`              | the client                    | `latest`, `recent`, `versionCount`, `snapVersion`, `snapTime`, `snapAt`, `snapKey`, `declTime`, `declAt`, `created` |
 * | `CHILD#<parentId>`    | the version whose parent is `<parentId>`: the version itself | `versionId`, `parentId`, `segment` (inline bytes) or `segmentKey` (S3 key), `segmentSize`, `created` |
 * | `VERSION#<versionId>` | index by id: "version `<versionId>` is the child of `parentId`" | `parentId` |
 *
 * The version is stored under its *parent*: a parent has at most one child by construction
 * (a key is unique), so the chain cannot fork even if the client item's condition were wrong,
 * and GetChildVersion (the hot read of every sync) is one GetItem. Lookup by id is the rare
 * path (AddSnapshot walk-back, only for clients written before `recent` existed): two
 * GetItems, `VERSION#<id>` then `CHILD#<parentId>`.
 *
 * `versionsSince` of the snapshot is not stored as a counter that every AddVersion bumps and
 * every AddSnapshot resets (a reset racing an AddVersion would lose the increment); instead
 * `versionCount` counts every version ever added and the snapshot records `snapAt`, the count
 * it was taken at: versions_since = versionCount - snapAt.
 *
 * `recent` is the list of the newest stored version ids, latest first (at most
 * RECENT_CHAIN_LENGTH; a chain that short ends with the first version), so AddSnapshot decides
 * from the client item alone. It changes only together with `latest`, under the same condition.
 *
 * ## Consistency: why every protocol read is strongly consistent
 *
 * Every decision of the protocol reads one of three things, each a **base-table GetItem with
 * `ConsistentRead: true`** on a key computed from the request: the client (`CLIENT`), a version
 * by parent (`CHILD#<parentId>`), a version by id (`VERSION#<id>`, then `CHILD#<parentId>`).
 * A strongly consistent read returns every write acknowledged before it started, so a replica
 * that pushed a version and then asks for its child sees it (the "out of sync" failure of an
 * eventually consistent read cannot happen). There is **no GSI**: a GSI is eventually
 * consistent and would let GetChildVersion answer "up to date" or "gone" right after a child
 * was written. There is no LSI either: keying the version by its parent gives the lookup an LSI
 * would, without an index's extra write per version and without the 10 GB per-client limit
 * that any LSI imposes on an item collection.
 *
 * Writes are conditional `TransactWriteItems` (all or nothing, serializable against other
 * writes to the same items): the client item's `latest` must still be what this request read,
 * and `CHILD#<parentId>` / `VERSION#<id>` must not exist. See `dynamodb.ts`.
 *
 * ## No TTL
 * Nothing expires: the protocol never deletes versions (a lagging replica pulls them), and a
 * client's snapshot lives until it is replaced. Large payloads live in S3 (see `dynamodb.ts`
 * for the object keys and what sweeps orphans).
 */
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import type { Uuid } from "../uuid.ts";

/** DynamoDB scalar attribute types, with the same strings as the CDK's `AttributeType`. */
export type KeyType = "S" | "N" | "B";

export interface TableDefinition {
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey: { readonly name: string; readonly type: KeyType };
  /** On-demand capacity: the load is bursty and per client tiny. */
  readonly billingMode: "PAY_PER_REQUEST";
  /** None: see the consistency notes above. */
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
  childPrefix: "CHILD#",
  versionPrefix: "VERSION#",
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
  /** L of S: the newest stored version ids, latest first (see above). */
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

/**
 * DynamoDB's item limit is 400 KB including attribute names and values; a segment up to this
 * size stays in the item (the rest of a version item is well under 1 KB), a bigger one goes
 * to S3.
 */
export const DEFAULT_INLINE_SEGMENT_MAX_BYTES = 350 * 1024;

/** The `CreateTable` request for `TABLE` under the given name (emulators, scripts). */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: TABLE.billingMode,
    AttributeDefinitions: [
      { AttributeName: TABLE.partitionKey.name, AttributeType: TABLE.partitionKey.type },
      { AttributeName: TABLE.sortKey.name, AttributeType: TABLE.sortKey.type },
    ],
    KeySchema: [
      { AttributeName: TABLE.partitionKey.name, KeyType: "HASH" },
      { AttributeName: TABLE.sortKey.name, KeyType: "RANGE" },
    ],
  };
}
