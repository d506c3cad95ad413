/** SQLite rows ⇄ the storage interface's objects. */
import type { Uuid } from "../../uuid.ts";
import type { Client, ClientDetails, Snapshot, Version, VersionMetadata } from "../types.ts";
import type { ClientRow, SummaryRow, VersionMetadataRow, VersionRow } from "./statements.ts";

function snapshotOf(row: ClientRow): Snapshot | null {
  return row.snapshot_version_id === null || row.snapshot_timestamp === null
    ? null
    : { versionId: row.snapshot_version_id as Uuid, timestamp: new Date(row.snapshot_timestamp), versionsSince: row.versions_since };
}

export function toClient(row: ClientRow): Client {
  return {
    latestVersionId: row.latest_version_id as Uuid,
    snapshot: snapshotOf(row),
    snapshotDeclined:
      row.declined_timestamp === null || row.declined_versions_since === null
        ? null
        : { timestamp: new Date(row.declined_timestamp), versionsSince: row.declined_versions_since },
    highUrgencyRequests: row.high_urgency_requests,
  };
}

/** A summary row as the operators' view (a summary is its details without the oldest version). */
export function toDetails(row: SummaryRow): ClientDetails {
  return {
    clientId: row.client_id as Uuid,
    latestVersionId: row.latest_version_id as Uuid,
    oldestVersion:
      row.oldest_version_id === null || row.chain_start === null
        ? null
        : { versionId: row.oldest_version_id as Uuid, parentVersionId: row.chain_start as Uuid },
    versions: row.versions,
    storedBytes: row.stored_bytes,
    usedBytes: row.used_bytes,
    snapshot: snapshotOf(row),
    latestAddedAt: row.latest_added_at === null ? null : new Date(row.latest_added_at),
  };
}

export function toVersion(row: VersionRow | undefined): Version | null {
  if (!row) return null;
  return {
    versionId: row.version_id as Uuid,
    parentVersionId: row.parent_version_id as Uuid,
    historySegment: new Uint8Array(row.history_segment),
  };
}

export function toVersionMetadata(row: VersionMetadataRow): VersionMetadata {
  return {
    versionId: row.version_id as Uuid,
    parentVersionId: row.parent_version_id as Uuid,
    addedAt: new Date(row.added_at),
    bytes: row.bytes,
  };
}

/** A Buffer view of the caller's bytes (no copy: SQLite copies them when binding). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
