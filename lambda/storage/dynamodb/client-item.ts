/**
 * The client item (`sk` = CLIENT) as the storage works with it, and back: what a transaction
 * reads (`ClientState`), what the core sees (`Client`), and the attributes a write sets.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { type Client, RECENT_CHAIN_LENGTH } from "../types.ts";
import { parseUuid, type Uuid } from "../../uuid.ts";
import { ATTR } from "./layout.ts";

export interface SnapshotState {
  versionId: Uuid;
  timeMs: number;
  /** versionCount when it was stored: versions_since = versionCount - at. */
  at: number;
  /** Its S3 object; undefined only for a snapshot of this transaction not uploaded yet. */
  key: string | undefined;
}

/** The client item, or this transaction's view of it. */
export interface ClientState {
  latest: Uuid;
  recent: Uuid[] | undefined;
  versionCount: number;
  snapshot: SnapshotState | null;
  /** A declined snapshot since the snapshot: when, and versionCount then. */
  declined: { timeMs: number; at: number } | null;
}

export function storedUuid(value: AttributeValue | undefined, what: string): Uuid {
  const id = value?.S !== undefined ? parseUuid(value.S) : undefined;
  if (id === undefined) throw new Error(`corrupt item: ${what} is not a UUID`);
  return id;
}

export function parseClient(item: Record<string, AttributeValue> | undefined): ClientState | null {
  if (!item) return null;
  const recent = item[ATTR.recent]?.L?.map((value) => storedUuid(value, ATTR.recent));
  const versionCount = Number(item[ATTR.versionCount]?.N ?? "0");
  const snapVersion = item[ATTR.snapVersion];
  const declTime = item[ATTR.declTime]?.N;
  return {
    latest: storedUuid(item[ATTR.latest], ATTR.latest),
    recent,
    versionCount,
    declined: declTime === undefined ? null : { timeMs: Number(declTime), at: Number(item[ATTR.declAt]?.N ?? "0") },
    snapshot: snapVersion
      ? {
          versionId: storedUuid(snapVersion, ATTR.snapVersion),
          timeMs: Number(item[ATTR.snapTime]?.N ?? "0"),
          at: Number(item[ATTR.snapAt]?.N ?? "0"),
          key: item[ATTR.snapKey]?.S,
        }
      : null,
  };
}

export function toClient(state: ClientState): Client {
  const client: Client = {
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
  };
  if (state.recent) client.recentVersionIds = [...state.recent];
  return client;
}

/** `recent` after adding version V with parent P: [V, ...old] (old[0] is P), cut. */
export function nextRecent(old: Uuid[] | undefined, versionId: Uuid, parentId: Uuid): Uuid[] | undefined {
  if (!old) return undefined;
  if (old.length > 0 && old[0] !== parentId) return undefined; // inconsistent: drop it, the core then walks the chain
  return [versionId, ...old].slice(0, RECENT_CHAIN_LENGTH);
}

export function snapshotAttributes(snapshot: SnapshotState): Record<string, AttributeValue> {
  if (!snapshot.key) throw new Error("the snapshot has no object");
  return {
    [ATTR.snapVersion]: { S: snapshot.versionId },
    [ATTR.snapTime]: { N: String(snapshot.timeMs) },
    [ATTR.snapAt]: { N: String(snapshot.at) },
    [ATTR.snapKey]: { S: snapshot.key },
  };
}

export function declineAttributes(declined: { timeMs: number; at: number }): Record<string, AttributeValue> {
  return { [ATTR.declTime]: { N: String(declined.timeMs) }, [ATTR.declAt]: { N: String(declined.at) } };
}
