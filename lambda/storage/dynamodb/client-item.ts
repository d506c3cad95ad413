/**
 * The client item (`sk` = CLIENT) as the storage works with it, and back: what a transaction
 * reads (`ClientState`), what the core sees (`Client`), and the attributes a write sets.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { parseUuid, type Uuid } from "../../uuid.ts";
import { type Client, type ClientSummary, RECENT_CHAIN_LENGTH } from "../types.ts";
import { storedUsed } from "./quota.ts";
import { ATTR, HIDDEN, type HiddenState, itemKey, KEPT_PREFIX, NO_SLOT, RECENT_SLOTS, SK } from "./layout.ts";

export interface SnapshotState {
  versionId: Uuid;
  timeMs: number;
  /** versionCount when it was stored: versions_since = versionCount - at. */
  at: number;
  /** Its S3 object; undefined only for a snapshot of this transaction not uploaded yet. */
  key: string | undefined;
  /** Its length in bytes (0 for a snapshot stored by 0.1.0, which did not record it). */
  size: number;
  /** The parent of its version (its item is `CHILD#<parent>`), when recorded (not before 0.3.0). */
  parent: Uuid | undefined;
}

/** The client item, or this transaction's view of it. */
export interface ClientState {
  latest: Uuid;
  /**
   * The newest versions, newest first, each the child of the next: up to RECENT_SLOTS ids,
   * ending with the chain's start when the chain is shorter than that.
   */
  tail: Uuid[];
  /** The parent of the oldest stored version; null without versions; undefined for an item of 0.1.0 that never recorded it. */
  base: Uuid | null | undefined;
  versionCount: number;
  pruned: number;
  /** Undefined for an item of 0.1.0 that never recorded it. */
  bytes: number | undefined;
  /** What the quota counts (ATTR.used); undefined for an item written before 0.3.0. */
  used: number | undefined;
  /** Bytes of deleted objects the bucket still keeps, by week (ATTR.kept). */
  kept: Map<number, number>;
  /** The S3 upload in flight, if any (it may have ended without releasing its lease: see `untilMs`). */
  lease: { token: string; untilMs: number } | null;
  lastAddedMs: number | null;
  high: number;
  snapshot: SnapshotState | null;
  /** A declined snapshot since the snapshot: when, and versionCount then. */
  declined: { timeMs: number; at: number } | null;
}

export function storedUuid(value: AttributeValue | undefined, what: string): Uuid {
  const id = value?.S !== undefined ? parseUuid(value.S) : undefined;
  if (id === undefined) throw new Error(`corrupt item: ${what} is not a UUID`);
  return id;
}

function number(value: AttributeValue | undefined): number | undefined {
  return value?.N === undefined ? undefined : Number(value.N);
}

/** The recent slots, or 0.1.0's list of recent ids. */
function tailOf(item: Record<string, AttributeValue>): Uuid[] {
  const tail: Uuid[] = [];
  if (item[ATTR.slot(0)] === undefined) {
    for (const value of item[ATTR.legacyRecent]?.L ?? []) tail.push(storedUuid(value, ATTR.legacyRecent));
    return tail;
  }
  for (let i = 0; i < RECENT_SLOTS; i++) {
    const text = item[ATTR.slot(i)]?.S;
    if (text === undefined || text === NO_SLOT) break;
    tail.push(storedUuid(item[ATTR.slot(i)], ATTR.slot(i)));
  }
  return tail;
}

/** What an operator's work holds the client item for (an import, a removal), if anything. */
export function hiddenStateOf(item: Record<string, AttributeValue> | undefined): HiddenState | undefined {
  const state = item?.[ATTR.hidden]?.S;
  return state === HIDDEN.importing || state === HIDDEN.removing ? state : undefined;
}

/** The client an item holds, or null for none: no item, or one an operator's import or removal holds (the protocol sees no client then). */
export function parseClient(item: Record<string, AttributeValue> | undefined): ClientState | null {
  if (!item || item[ATTR.hidden] !== undefined) return null;
  const snapVersion = item[ATTR.snapVersion];
  const declTime = number(item[ATTR.declTime]);
  const versionCount = number(item[ATTR.versionCount]) ?? 0;
  return {
    latest: storedUuid(item[ATTR.latest], ATTR.latest),
    tail: tailOf(item),
    base: item[ATTR.base] ? storedUuid(item[ATTR.base], ATTR.base) : versionCount === 0 ? null : undefined,
    versionCount,
    pruned: number(item[ATTR.pruned]) ?? 0,
    bytes: number(item[ATTR.bytes]) ?? (versionCount === 0 && !snapVersion ? 0 : undefined),
    used: number(item[ATTR.used]),
    kept: keptOf(item),
    lease: leaseOf(item),
    lastAddedMs: number(item[ATTR.lastAdded]) ?? null,
    high: number(item[ATTR.high]) ?? 0,
    declined: declTime === undefined ? null : { timeMs: declTime, at: number(item[ATTR.declAt]) ?? 0 },
    snapshot: snapVersion
      ? {
          versionId: storedUuid(snapVersion, ATTR.snapVersion),
          timeMs: number(item[ATTR.snapTime]) ?? 0,
          at: number(item[ATTR.snapAt]) ?? 0,
          key: item[ATTR.snapKey]?.S,
          size: number(item[ATTR.snapSize]) ?? 0,
          parent: item[ATTR.snapParent] ? storedUuid(item[ATTR.snapParent], ATTR.snapParent) : undefined,
        }
      : null,
  };
}

function leaseOf(item: Record<string, AttributeValue>): ClientState["lease"] {
  const token = item[ATTR.lease]?.S;
  return token === undefined ? null : { token, untilMs: number(item[ATTR.leaseUntil]) ?? 0 };
}

/** The `kept<week>` attributes. */
function keptOf(item: Record<string, AttributeValue>): Map<number, number> {
  const kept = new Map<number, number>();
  for (const [name, value] of Object.entries(item)) {
    const week = name.startsWith(KEPT_PREFIX) ? Number(name.slice(KEPT_PREFIX.length)) : Number.NaN;
    if (Number.isSafeInteger(week) && value.N !== undefined) kept.set(week, Number(value.N));
  }
  return kept;
}

/**
 * Whether the item was written before this version and lacks what quotas and pruning need:
 * by 0.1.0 (no chain start, no bytes) or by 0.2.0 (no `used`). Filled in once (legacy.ts).
 */
export function isLegacy(state: ClientState): boolean {
  return state.base === undefined || state.bytes === undefined || state.used === undefined || usedFallsShort(state);
}

/**
 * Whether `used` counts less than the item's own payloads and versions' overhead, which it never
 * does when this version writes it: an older version's function added versions (during the
 * deploy that replaced it, or after a rollback to it) without counting them. Counted again once.
 */
export function usedFallsShort(state: ClientState): boolean {
  if (state.used === undefined || state.bytes === undefined) return false;
  return state.used < storedUsed(state.bytes, state.versionCount - state.pruned);
}

/** The ids of the stored versions among `tail`: the chain's start, when it is there, is not one. */
export function recentVersionIds(state: ClientState): Uuid[] {
  // Stored, not ever added: after pruning, the slots past the stored versions name removed ones.
  return state.tail.slice(0, Math.min(state.versionCount - state.pruned, RECENT_CHAIN_LENGTH));
}

export function toClient(state: ClientState): Client {
  return {
    latestVersionId: state.latest,
    snapshot: state.snapshot && {
      versionId: state.snapshot.versionId,
      timestamp: new Date(state.snapshot.timeMs),
      versionsSince: Math.max(0, state.versionCount - state.snapshot.at),
    },
    snapshotDeclined: state.declined && {
      timestamp: new Date(state.declined.timeMs),
      versionsSince: Math.max(0, state.versionCount - state.declined.at),
    },
    recentVersionIds: recentVersionIds(state),
    highUrgencyRequests: state.high,
  };
}

/** What operators see of a client (its listing's line). */
export function summaryOf(clientId: Uuid, state: ClientState): ClientSummary {
  return {
    clientId,
    latestVersionId: state.latest,
    versions: state.versionCount - state.pruned,
    storedBytes: state.bytes ?? null,
    usedBytes: state.used ?? null,
    snapshot: toClient(state).snapshot,
    latestAddedAt: state.lastAddedMs === null ? null : new Date(state.lastAddedMs),
  };
}

/** The slots after adding versions (newest first) on top of `tail`, the first of them a child of `parentId`. */
export function nextTail(tail: readonly Uuid[], added: readonly Uuid[], parentId: Uuid): Uuid[] {
  return [...added, parentId, ...tail.slice(1)].slice(0, RECENT_SLOTS);
}

export function snapshotAttributes(snapshot: SnapshotState): Record<string, AttributeValue> {
  if (!snapshot.key) throw new Error("the snapshot has no object");
  return {
    [ATTR.snapVersion]: { S: snapshot.versionId },
    [ATTR.snapTime]: { N: String(snapshot.timeMs) },
    [ATTR.snapAt]: { N: String(snapshot.at) },
    [ATTR.snapKey]: { S: snapshot.key },
    [ATTR.snapSize]: { N: String(snapshot.size) },
    ...(snapshot.parent === undefined ? {} : { [ATTR.snapParent]: { S: snapshot.parent } }),
  };
}

export function declineAttributes(declined: { timeMs: number; at: number }): Record<string, AttributeValue> {
  return { [ATTR.declTime]: { N: String(declined.timeMs) }, [ATTR.declAt]: { N: String(declined.at) } };
}

/** The whole client item holding `state`: a new client's (with its first writes), or an imported one's. */
export function clientItem(clientId: Uuid, state: ClientState, createdMs: number): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    ...itemKey(clientId, SK.client),
    [ATTR.latest]: { S: state.latest },
    ...slotAttributes(state.tail),
    [ATTR.versionCount]: { N: String(state.versionCount) },
    [ATTR.pruned]: { N: String(state.pruned) },
    [ATTR.bytes]: { N: String(state.bytes ?? 0) },
    [ATTR.used]: { N: String(state.used ?? 0) },
    [ATTR.high]: { N: String(state.high) },
    [ATTR.created]: { N: String(createdMs) },
  };
  if (state.base) item[ATTR.base] = { S: state.base };
  if (state.lastAddedMs !== null) item[ATTR.lastAdded] = { N: String(state.lastAddedMs) };
  if (state.snapshot?.key) Object.assign(item, snapshotAttributes(state.snapshot));
  if (state.declined) Object.assign(item, declineAttributes(state.declined));
  for (const [week, bytes] of state.kept) item[ATTR.kept(week)] = { N: String(bytes) };
  if (state.lease) Object.assign(item, leaseAttributes(state.lease));
  return item;
}

export function leaseAttributes(lease: { token: string; untilMs: number }): Record<string, AttributeValue> {
  return { [ATTR.lease]: { S: lease.token }, [ATTR.leaseUntil]: { N: String(lease.untilMs) } };
}

/** Every slot's value for `tail`. */
export function slotAttributes(tail: readonly Uuid[]): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (let i = 0; i < RECENT_SLOTS; i++) attributes[ATTR.slot(i)] = { S: tail[i] ?? NO_SLOT };
  return attributes;
}
