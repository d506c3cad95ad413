/**
 * Writes one client to an export file (export-format.ts), as a stream: the client as it was at
 * the first read (versions added later are left out), then its versions in chain order, read a
 * few at a time in short transactions, so that syncs go on meanwhile and memory holds one batch
 * of segments (plus the ids and times of the versions: about 150 bytes each).
 */
import type { Client, ClientDetails, Progress, Storage, Version, VersionMetadata } from "../storage/types.ts";
import { NIL_UUID, type Uuid } from "../uuid.ts";
import { ExportWriter, EXPORT_FORMAT, EXPORT_FORMAT_VERSION, toBase64 } from "./export-format.ts";
import { inTxn } from "../storage/in-txn.ts";
import { batchEnd } from "./batches.ts";

/** Version reads in flight at once. */
const PARALLEL_READS = 8;
/** Reads of the client's state before giving up when it keeps changing under them. */
const STATE_ATTEMPTS = 3;

export interface ExportClientOptions {
  /** The export's time. Default: now. */
  now?: Date;
  /** Versions written so far. */
  onProgress?: Progress;
}

export type ExportClientOutcome =
  | { kind: "exported"; versions: number; historyBytes: number; snapshotBytes: number }
  | { kind: "not-found" }
  /** The stored client is not what an import accepts, or changed under the export (a prune ran): `reason` says which. */
  | { kind: "inconsistent"; reason: string };

/** Writes the export through `write` (text to append; it resolves when more may be given). */
export async function exportClient(
  storage: Storage,
  clientId: Uuid,
  write: (text: string) => Promise<void>,
  options: ExportClientOptions = {},
): Promise<ExportClientOutcome> {
  const state = await readState(storage, clientId);
  if (state.kind !== "state") return state;
  const { client, details, oldest, snapshotData } = state;
  const writer = new ExportWriter(write);
  const snapshot = client.snapshot;
  const historyBytes = oldest.reduce((sum, version) => sum + version.bytes, 0);
  await writer.line({
    type: "header",
    format: EXPORT_FORMAT,
    formatVersion: EXPORT_FORMAT_VERSION,
    clientId,
    exportedAt: (options.now ?? new Date()).toISOString(),
    latestVersionId: details.latestVersionId,
    versions: oldest.length,
    historyBytes,
    snapshot: snapshot && {
      versionId: snapshot.versionId,
      timestamp: snapshot.timestamp.toISOString(),
      versionsSince: snapshot.versionsSince,
      bytes: snapshotData?.byteLength ?? 0,
    },
    snapshotDeclined: client.snapshotDeclined
      ? { timestamp: client.snapshotDeclined.timestamp.toISOString(), versionsSince: client.snapshotDeclined.versionsSince }
      : null,
  });
  if (snapshot && snapshotData) await writer.line({ type: "snapshot", versionId: snapshot.versionId, data: toBase64(snapshotData) });
  let written = 0;
  for (let start = 0; start < oldest.length; ) {
    const end = batchEnd(oldest, start);
    const batch = await readBatch(storage, clientId, oldest.slice(start, end));
    if (!batch) return { kind: "inconsistent", reason: "versions were removed from the client's history during the export (a prune?)" };
    for (const [i, version] of batch.entries()) {
      await writer.line({
        type: "version",
        versionId: version.versionId,
        parentVersionId: version.parentVersionId,
        addedAt: (oldest[start + i]?.addedAt ?? new Date()).toISOString(),
        historySegment: toBase64(version.historySegment),
      });
      options.onProgress?.(++written);
    }
    start = end;
  }
  await writer.finish();
  return { kind: "exported", versions: oldest.length, historyBytes, snapshotBytes: snapshotData?.byteLength ?? 0 };
}

type State =
  | { kind: "state"; client: Client; details: ClientDetails; oldest: VersionMetadata[]; snapshotData: Uint8Array | null }
  | { kind: "not-found" }
  | { kind: "inconsistent"; reason: string };

/**
 * The client, every stored version's id and time, and the snapshot's data, as of one moment:
 * read again if a write landed between the reads (a storage without locks allows that).
 */
async function readState(storage: Storage, clientId: Uuid): Promise<State> {
  for (let attempt = 1; ; attempt++) {
    const state = await inTxn(storage, clientId, async (txn): Promise<State | null> => {
      const [client, details] = await Promise.all([txn.getClient(), txn.getClientDetails()]);
      if (!client || !details) return { kind: "not-found" };
      const oldest = details.versions > 0 ? await txn.getOldestVersions(details.versions) : [];
      const snapshotData = client.snapshot ? await txn.getSnapshotData(client.snapshot.versionId) : null;
      const latest = oldest.at(-1)?.versionId ?? NIL_UUID;
      const settled =
        oldest.length === details.versions &&
        latest === details.latestVersionId &&
        client.latestVersionId === details.latestVersionId &&
        (client.snapshot === null || snapshotData !== null);
      return settled ? { kind: "state", client, details, oldest, snapshotData } : null;
    });
    if (state === null) {
      if (attempt === STATE_ATTEMPTS) return { kind: "inconsistent", reason: "the client kept changing while it was read" };
      continue;
    }
    // An import would refuse the file: say so now rather than write it.
    const snapshotVersion = state.kind === "state" ? state.client.snapshot?.versionId : undefined;
    if (state.kind === "state" && snapshotVersion !== undefined && !state.oldest.some((v) => v.versionId === snapshotVersion)) {
      return { kind: "inconsistent", reason: "the client's snapshot is not for one of its stored versions" };
    }
    return state;
  }
}

/** The versions of `expected`, read by their parents; null if one of them is gone. */
function readBatch(storage: Storage, clientId: Uuid, expected: readonly VersionMetadata[]): Promise<Version[] | null> {
  return inTxn(storage, clientId, async (txn) => {
    // Each is found by the parent the first read gave it, so the reads may overlap, a few at a time.
    const versions: (Version | null)[] = [];
    for (let i = 0; i < expected.length; i += PARALLEL_READS) {
      const group = expected.slice(i, i + PARALLEL_READS);
      versions.push(...(await Promise.all(group.map(({ parentVersionId }) => txn.getVersionByParent(parentVersionId)))));
    }
    const intact = versions.filter((version, i): version is Version => version !== null && version.versionId === expected[i]?.versionId);
    return intact.length === expected.length ? intact : null;
  });
}
