/**
 * The one conditional request a transaction's commit sends (README.md, "Writes"): from the
 * writes it recorded (and, for those that need it, the client item it read), a `PutItem` (a
 * new client), an `UpdateItem` (the client item alone) or a `TransactWriteItems` (the client
 * item plus each added version's `CHILD#<parent>` item, or each removed version's items). Pure:
 * it builds, it does not send.
 *
 * Added versions need no earlier read: the update's condition is the chain's rule itself
 * (latest is the first version's parent, or nil), the recent slots shift in the update
 * expression (its right-hand sides read the item as it was), and the counters are added to.
 *
 * A write that leaves objects unreferenced (a replaced snapshot, removed versions' segments in
 * S3) records them in a deletion mark (`ORPHAN#<nonce>`) in the same transaction: the objects
 * stay until the sweep deletes them DELETION_GRACE_DAYS later (README.md, "Deferred deletion"),
 * and the mark says that their bytes were counted as kept by this very write.
 */
import type { AttributeValue, Delete, Put, TransactWriteItem, Update, UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import { NIL_UUID, type Uuid } from "../../uuid.ts";
import type { Snapshot } from "../types.ts";
import { type ClientState, clientItem, declineAttributes, snapshotAttributes } from "./client-item.ts";
import { ATTR, NO_SLOT, objectNonce, RECENT_SLOTS, SK, TABLE, itemKey } from "./layout.ts";
import { expiredKept, keptWeek, versionUsed } from "./quota.ts";
import { versionItem } from "./version-item.ts";

/** A write a transaction records until its commit. */
export type PendingWrite =
  | { kind: "version"; versionId: Uuid; parentId: Uuid; data: Uint8Array }
  | { kind: "snapshot"; snapshot: Snapshot; data: Uint8Array; at: number; parent: Uuid | undefined }
  | { kind: "decline"; timeMs: number; at: number }
  | { kind: "reset-high-urgency" }
  | { kind: "remove-oldest"; expectedBase: Uuid; versions: readonly RemovedVersion[] };

export type VersionWrite = Extract<PendingWrite, { kind: "version" }>;

export interface RemovedVersion {
  versionId: Uuid;
  parentId: Uuid;
  bytes: number;
  /** Its segment's S3 object, if it has one. */
  segmentKey: string | undefined;
}

export interface WriteInput {
  tableName: string;
  clientId: Uuid;
  /** The client item as it will be, when the transaction creates it (a Put); else undefined. */
  created: ClientState | undefined;
  /** The client item the transaction read, when one of its writes needs it. */
  base: ClientState | null | undefined;
  writes: readonly PendingWrite[];
  /** The S3 key of each write whose payload was uploaded. */
  uploads: ReadonlyMap<PendingWrite, string>;
  /** The quota: what `used` may be with these writes. */
  maxClientBytes: number | undefined;
  /** The token of the upload lease this transaction holds, released by this write. */
  lease: string | undefined;
  /** Milliseconds since the epoch, for `created`, `lastAdded` and the weeks of deleted bytes. */
  now: number;
}

export type WriteRequest =
  | { kind: "put"; put: Put }
  | { kind: "update"; update: Update }
  | { kind: "transaction"; items: TransactWriteItem[] };

export function writeRequest(input: WriteInput): WriteRequest {
  const client: TransactWriteItem = input.created ? { Put: createClient(input, input.created) } : { Update: updateClient(input) };
  const others = input.writes.flatMap((write): TransactWriteItem[] => {
    if (write.kind === "version") return [addedVersionItem(input, write)];
    if (write.kind === "remove-oldest") return write.versions.flatMap((version) => removedItems(input, version));
    return [];
  });
  const unreferenced = input.created ? [] : unreferencedBy(input.writes, input.base);
  if (unreferenced.length > 0) others.push({ Update: markRequest(input.tableName, input.clientId, unreferenced, input.now) });
  if (others.length > 0) return { kind: "transaction", items: [client, ...others] };
  if (client.Put) return { kind: "put", put: client.Put };
  if (client.Update) return { kind: "update", update: client.Update };
  throw new Error("no write of the client item");
}

/** A new client, with everything this transaction wrote. */
function createClient({ tableName, clientId, now }: WriteInput, final: ClientState): Put {
  return { TableName: tableName, Item: clientItem(clientId, final, now), ...notExists() };
}

/** The update expression's parts, filled in by each kind of write. */
class Expression {
  readonly names: Record<string, string> = { "#pk": TABLE.partitionKey.name, "#hidden": ATTR.hidden };
  readonly values: Record<string, AttributeValue> = {};
  readonly set: string[] = [];
  readonly remove: string[] = [];
  readonly add: string[] = [];
  /** Every write of the client item: it exists, and no operator's import or removal holds it. */
  readonly conditions = ["attribute_exists(#pk)", "attribute_not_exists(#hidden)"];

  name(attribute: string): string {
    this.names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  }

  value(id: string, value: AttributeValue): string {
    this.values[`:${id}`] = value;
    return `:${id}`;
  }

  /** The chain's rule: latest is the first added version's parent (`:parent`), or nil. */
  chainAllows(parentId: Uuid): void {
    const latest = this.name(ATTR.latest);
    this.conditions.push(`(${latest} = ${this.value("parent", { S: parentId })} OR ${latest} = ${this.value("nil", { S: NIL_UUID })})`);
  }

  /** The snapshot is still the one read (`key`), or there is still none (null). */
  snapshotIs(key: string | null): void {
    const snapKey = this.name(ATTR.snapKey);
    this.conditions.push(key ? `${snapKey} = ${this.value("replaced", { S: key })}` : `attribute_not_exists(${snapKey})`);
  }

  /** The quota: `used`, less `freed` (what the write folds out) and plus `added`, is at most `maxClientBytes`. */
  quotaAllows(maxClientBytes: number | undefined, added: number, freed = 0): void {
    if (maxClientBytes === undefined || added <= 0) return;
    this.conditions.push(`${this.name(ATTR.used)} <= ${this.value("usedAtMost", { N: String(maxClientBytes - added + freed) })}`);
  }

  toUpdate(tableName: string, key: Record<string, AttributeValue>): Update {
    const clauses = [
      this.set.length > 0 ? `SET ${this.set.join(", ")}` : "",
      this.remove.length > 0 ? `REMOVE ${this.remove.join(", ")}` : "",
      this.add.length > 0 ? `ADD ${this.add.join(", ")}` : "",
    ].filter((clause) => clause !== "");
    // Nothing to change (should not happen): a no-op guarded write keeps one code path.
    if (clauses.length === 0) clauses.push(`SET ${this.name(ATTR.latest)} = ${this.name(ATTR.latest)}`);
    return {
      TableName: tableName,
      Key: key,
      UpdateExpression: clauses.join(" "),
      ConditionExpression: this.conditions.join(" AND "),
      ExpressionAttributeNames: this.names,
      ...(Object.keys(this.values).length > 0 ? { ExpressionAttributeValues: this.values } : {}),
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    };
  }
}

function updateClient(input: WriteInput): Update {
  const { writes, base, now } = input;
  const e = new Expression();
  let bytesDelta = 0;
  /** What these writes add to what the quota counts (versions, a snapshot): checked against the quota. */
  let usedAdded = 0;
  /** What they free (a removal): never refused. */
  let usedFreed = 0;
  /**
   * Bytes of objects these writes leave unreferenced (marked, deleted by the sweep later), which
   * the bucket keeps: they move from stored to kept, and the quota counts them either way.
   */
  let keptAdded = 0;
  const versions = writes.filter((write) => write.kind === "version");
  const first = versions[0];
  if (first) {
    e.chainAllows(first.parentId);
    const latest = e.name(ATTR.latest);
    const added = versions.map((version) => version.versionId).reverse();
    e.set.push(`${latest} = ${e.value("latest", { S: added[0] ?? first.versionId })}`);
    // Shift the slots: the new ids, then the first one's parent, then the old slots after the
    // old latest (a right-hand side reads the item as it was before this update).
    for (let i = 0; i < RECENT_SLOTS; i++) {
      const slot = e.name(ATTR.slot(i));
      const newId = added[i];
      if (newId !== undefined) e.set.push(`${slot} = ${e.value(`r${i}`, { S: newId })}`);
      else if (i === added.length) e.set.push(`${slot} = :parent`);
      else e.set.push(`${slot} = if_not_exists(${e.name(ATTR.slot(i - added.length))}, ${e.value("none", { S: NO_SLOT })})`);
    }
    // The chain starts at the first version's parent (a client without versions has no start).
    e.set.push(`${e.name(ATTR.base)} = if_not_exists(${e.name(ATTR.base)}, :parent)`);
    e.set.push(`${e.name(ATTR.lastAdded)} = ${e.value("now", { N: String(now) })}`);
    e.remove.push(e.name(ATTR.legacyRecent));
    e.add.push(`${e.name(ATTR.versionCount)} ${e.value("count", { N: String(versions.length) })}`);
    bytesDelta += versions.reduce((sum, version) => sum + version.data.byteLength, 0);
    usedAdded += versions.reduce((sum, version) => sum + versionUsed(version.data.byteLength), 0);
  }
  const snapshotWrite = writes.findLast((write) => write.kind === "snapshot");
  if (snapshotWrite) {
    const final = base?.snapshot;
    if (!base) throw new Error("a snapshot write needs the client it replaces");
    const key = input.uploads.get(snapshotWrite);
    if (!key) throw new Error("the snapshot was not uploaded");
    const snapshot = {
      versionId: snapshotWrite.snapshot.versionId,
      timeMs: snapshotWrite.snapshot.timestamp.getTime(),
      at: snapshotWrite.at,
      key,
      size: snapshotWrite.data.byteLength,
      parent: snapshotWrite.parent,
    };
    for (const [name, value] of Object.entries(snapshotAttributes(snapshot))) e.set.push(`${e.name(name)} = ${e.value(name, value)}`);
    if (snapshot.parent === undefined) e.remove.push(e.name(ATTR.snapParent));
    e.snapshotIs(final?.key ?? null);
    bytesDelta += snapshot.size - (final?.size ?? 0);
    // The replaced snapshot's object is marked for deletion: the bucket keeps it, still counted.
    usedAdded += snapshot.size;
    keptAdded += final?.key ? final.size : 0;
  }
  // A declined snapshot is recorded; a stored snapshot clears the record. Neither needs a
  // condition: a decline racing a snapshot at worst delays the next request for one.
  const declineWrite = writes.findLast((write) => write.kind === "decline");
  if (declineWrite && !snapshotWrite) {
    for (const [name, value] of Object.entries(declineAttributes(declineWrite))) e.set.push(`${e.name(name)} = ${e.value(name, value)}`);
  } else if (snapshotWrite) {
    e.remove.push(e.name(ATTR.declTime), e.name(ATTR.declAt));
  }
  if (writes.some((write) => write.kind === "snapshot" || write.kind === "decline" || write.kind === "reset-high-urgency")) {
    e.set.push(`${e.name(ATTR.high)} = ${e.value("zero", { N: "0" })}`);
  }
  const removal = writes.find((write) => write.kind === "remove-oldest");
  const last = removal?.versions.at(-1);
  if (removal && last) {
    e.conditions.push(`${e.name(ATTR.base)} = ${e.value("expectedBase", { S: removal.expectedBase })}`);
    e.set.push(`#base = ${e.value("newBase", { S: last.versionId })}`);
    e.add.push(`${e.name(ATTR.pruned)} ${e.value("removed", { N: String(removal.versions.length) })}`);
    bytesDelta -= removal.versions.reduce((sum, version) => sum + version.bytes, 0);
    // A segment in S3 is marked for deletion, and kept by the bucket: only its overhead is freed.
    usedFreed += removal.versions.reduce((sum, version) => sum + versionUsed(version.segmentKey ? 0 : version.bytes), 0);
    keptAdded += removal.versions.reduce((sum, version) => sum + (version.segmentKey ? version.bytes : 0), 0);
  }
  const countsUsed = first !== undefined || snapshotWrite !== undefined || removal !== undefined;
  if (countsUsed) {
    const used = e.name(ATTR.used);
    // An item written before 0.3.0 has no `used` yet (one of 0.1.0 not even the chain's start,
    // which the `base` below needs): refused, then filled in once (legacy.ts).
    e.conditions.push(`attribute_exists(${used})`);
    // Weeks of deleted bytes that the bucket has expired stop counting (when the item was read).
    const expired = base ? expiredKept(base.kept, now) : { weeks: [], bytes: 0 };
    for (const [i, week] of expired.weeks.entries()) {
      const name = e.name(ATTR.kept(week));
      e.conditions.push(`${name} = ${e.value(`expired${i}`, { N: String(base?.kept.get(week) ?? 0) })}`);
      e.remove.push(name);
    }
    // usedAdded = usedAddedBy(writes); the expired weeks are folded out by this same write.
    e.quotaAllows(input.maxClientBytes, usedAdded, expired.bytes);
    if (keptAdded > 0) e.add.push(`${e.name(ATTR.kept(keptWeek(now)))} ${e.value("kept", { N: String(keptAdded) })}`);
    const usedDelta = usedAdded - usedFreed - expired.bytes;
    if (usedDelta !== 0) e.add.push(`${used} ${e.value("used", { N: String(usedDelta) })}`);
  }
  if (input.lease !== undefined) {
    // Only the holder of the upload's lease writes what it uploaded.
    e.conditions.push(`${e.name(ATTR.lease)} = ${e.value("lease", { S: input.lease })}`);
    e.remove.push(e.name(ATTR.lease), e.name(ATTR.leaseUntil));
  }
  if (bytesDelta !== 0) e.add.push(`${e.name(ATTR.bytes)} ${e.value("bytes", { N: String(bytesDelta) })}`);
  return e.toUpdate(input.tableName, itemKey(input.clientId, SK.client));
}

/** A version's item, on the condition that it does not exist yet. */
function addedVersionItem({ tableName, clientId, uploads, now }: WriteInput, version: VersionWrite): TransactWriteItem {
  const item = versionItem(clientId, { ...version, addedAtMs: now, segmentKey: uploads.get(version) });
  return { Put: { TableName: tableName, Item: item, ...notExists() } };
}

/** A removed version's item (if it is still that version) and the index item 0.1.0 may have written for it. */
function removedItems({ tableName, clientId }: WriteInput, version: RemovedVersion): TransactWriteItem[] {
  const child: Delete = {
    TableName: tableName,
    Key: itemKey(clientId, SK.child(version.parentId)),
    ConditionExpression: "#versionId = :versionId",
    ExpressionAttributeNames: { "#versionId": ATTR.versionId },
    ExpressionAttributeValues: { ":versionId": { S: version.versionId } },
  };
  return [{ Delete: child }, { Delete: { TableName: tableName, Key: itemKey(clientId, SK.version(version.versionId)) } }];
}

/**
 * The S3 objects that `writes`, once committed, leave unreferenced: the snapshot a new one
 * replaces (the one in `base`, the client item the write is conditioned on), removed versions'
 * segments in S3. The write counts their bytes as kept and marks them for deferred deletion.
 */
export function unreferencedBy(writes: readonly PendingWrite[], base: ClientState | null | undefined): string[] {
  const keys: string[] = [];
  const replaced = writes.some((write) => write.kind === "snapshot") ? base?.snapshot?.key : undefined;
  if (replaced) keys.push(replaced);
  for (const write of writes) {
    if (write.kind === "remove-oldest") for (const version of write.versions) if (version.segmentKey) keys.push(version.segmentKey);
  }
  return keys;
}

/**
 * A deletion mark (`ORPHAN#<nonce>`) of `keys`, unreferenced since `since`: an Update, which
 * creates the item (as a Put would), so that every role that writes the client item may write
 * it. README.md in this folder, "Deferred deletion".
 */
export function markRequest(tableName: string, clientId: Uuid, keys: readonly string[], since: number): Update {
  return {
    TableName: tableName,
    Key: itemKey(clientId, SK.orphans(`${objectNonce()}${objectNonce()}`)),
    UpdateExpression: "SET #since = :since, #objects = :objects",
    ExpressionAttributeNames: { "#since": ATTR.since, "#objects": ATTR.objects },
    ExpressionAttributeValues: { ":since": { N: String(since) }, ":objects": { SS: [...new Set(keys)] } },
  };
}

/** What `writes` add to what the quota counts: their versions, and the snapshot that replaces the current one. */
export function usedAddedBy(writes: readonly PendingWrite[]): number {
  let added = 0;
  for (const write of writes) if (write.kind === "version") added += versionUsed(write.data.byteLength);
  const snapshot = writes.findLast((write) => write.kind === "snapshot");
  return added + (snapshot ? snapshot.data.byteLength : 0);
}

export interface LeaseInput {
  tableName: string;
  clientId: Uuid;
  writes: readonly PendingWrite[];
  /** The snapshot the transaction read, which its snapshot write replaces (undefined: it writes none). */
  replacedSnapshotKey: string | null | undefined;
  maxClientBytes: number | undefined;
  token: string;
  untilMs: number;
  now: number;
}

/**
 * Takes the client's upload lease before anything goes to S3 (README.md, "The quota"): an
 * `UpdateItem` on the conditions the commit's write will have (the client exists, the chain
 * allows the versions, the snapshot is still the one replaced, the quota allows what is added)
 * and that no other upload holds a live lease. On success it returns the item (ALL_NEW), on a
 * failed condition the item as it was (ALL_OLD): the commit decides from either without a read.
 */
export function leaseRequest(input: LeaseInput): UpdateItemCommandInput {
  const e = new Expression();
  const used = e.name(ATTR.used);
  const lease = e.name(ATTR.lease);
  const leaseUntil = e.name(ATTR.leaseUntil);
  e.conditions.push(`attribute_exists(${used})`);
  e.conditions.push(`(attribute_not_exists(${lease}) OR ${leaseUntil} < ${e.value("now", { N: String(input.now) })})`);
  const first = input.writes.find((write) => write.kind === "version");
  if (first) e.chainAllows(first.parentId);
  if (input.replacedSnapshotKey !== undefined) e.snapshotIs(input.replacedSnapshotKey);
  e.quotaAllows(input.maxClientBytes, usedAddedBy(input.writes));
  e.set.push(`${lease} = ${e.value("token", { S: input.token })}`, `${leaseUntil} = ${e.value("until", { N: String(input.untilMs) })}`);
  return { ...e.toUpdate(input.tableName, itemKey(input.clientId, SK.client)), ReturnValues: "ALL_NEW" };
}

/**
 * Counts `keptBytes` of objects deleted now (the versioned bucket keeps them: the quota counts
 * them this week) on a client that counts what its quota counts, and with `token` gives back
 * the upload lease if that token still holds it.
 */
export function countKeptRequest(
  tableName: string,
  clientId: Uuid,
  keptBytes: number,
  now: number,
  token?: string,
): UpdateItemCommandInput {
  const e = new Expression();
  if (keptBytes > 0) {
    const used = e.name(ATTR.used);
    e.conditions.push(`attribute_exists(${used})`);
    e.add.push(`${used} ${e.value("kept", { N: String(keptBytes) })}`);
    e.add.push(`${e.name(ATTR.kept(keptWeek(now)))} :kept`);
  }
  if (token !== undefined) {
    e.conditions.push(`${e.name(ATTR.lease)} = ${e.value("token", { S: token })}`);
    e.remove.push(e.name(ATTR.lease), e.name(ATTR.leaseUntil));
  }
  const { ReturnValuesOnConditionCheckFailure: _, ...update } = e.toUpdate(tableName, itemKey(clientId, SK.client));
  return update;
}

/** Takes the weeks of deleted bytes that the bucket has expired out of what the quota counts, if they are as read. */
export function foldExpiredRequest(
  tableName: string,
  clientId: Uuid,
  kept: ReadonlyMap<number, number>,
  now: number,
): UpdateItemCommandInput | undefined {
  const expired = expiredKept(kept, now);
  if (expired.weeks.length === 0) return undefined;
  const e = new Expression();
  for (const [i, week] of expired.weeks.entries()) {
    const name = e.name(ATTR.kept(week));
    e.conditions.push(`${name} = ${e.value(`expired${i}`, { N: String(kept.get(week) ?? 0) })}`);
    e.remove.push(name);
  }
  e.add.push(`${e.name(ATTR.used)} ${e.value("freed", { N: String(-expired.bytes) })}`);
  const { ReturnValuesOnConditionCheckFailure: _, ...update } = e.toUpdate(tableName, itemKey(clientId, SK.client));
  return update;
}

/**
 * Counts an answer of urgency high at once (README.md, "Writes"): an atomic ADD, so answers
 * given at the same time get distinct counts, returning the whole item as it is then, which
 * serves the rest of its transaction (a decline) without a read.
 */
export function countHighUrgencyRequest(tableName: string, clientId: Uuid, token: string): UpdateItemCommandInput {
  return {
    TableName: tableName,
    Key: itemKey(clientId, SK.client),
    UpdateExpression: "SET #highTok = :token ADD #high :one",
    // A retry of an ADD whose answer was lost (the SDK's) finds its own token: refused, not counted twice.
    ConditionExpression:
      "attribute_exists(#pk) AND attribute_not_exists(#hidden) AND (attribute_not_exists(#highTok) OR #highTok <> :token)",
    ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name, "#hidden": ATTR.hidden, "#high": ATTR.high, "#highTok": ATTR.highToken },
    ExpressionAttributeValues: { ":one": { N: "1" }, ":token": { S: token } },
    ReturnValues: "ALL_NEW",
    ReturnValuesOnConditionCheckFailure: "ALL_OLD",
  };
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
