/** Everything a storage holds of one client, read through the storage interface, to compare two of them. */
import type { Client, ClientDetails, Storage, Version, VersionMetadata } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { inTxn } from "./txn.ts";

export interface ClientState {
  client: Client | null;
  details: ClientDetails | null;
  /** The stored chain, oldest first, with segments. */
  versions: Version[];
  /** The same versions' times and sizes. */
  metadata: VersionMetadata[];
  snapshotData: Uint8Array | null;
}

/** The ids of every client the storage holds, in its listing's order. */
export async function storedClientIds(storage: Storage): Promise<Uuid[]> {
  const ids: Uuid[] = [];
  for await (const client of storage.listClients()) ids.push(client.clientId);
  return ids;
}

export async function clientState(storage: Storage, clientId: Uuid): Promise<ClientState> {
  return inTxn(storage, clientId, async (txn) => {
    const [client, details] = await Promise.all([txn.getClient(), txn.getClientDetails()]);
    const metadata = details && details.versions > 0 ? await txn.getOldestVersions(details.versions) : [];
    const versions: Version[] = [];
    for (const { parentVersionId } of metadata) {
      const version = await txn.getVersionByParent(parentVersionId);
      if (version) versions.push({ ...version, historySegment: new Uint8Array(version.historySegment) });
    }
    const snapshotData = client?.snapshot ? await txn.getSnapshotData(client.snapshot.versionId) : null;
    return { client, details, versions, metadata, snapshotData: snapshotData && new Uint8Array(snapshotData) };
  });
}

/** What must survive an export and an import: ids, segments byte for byte, times, the snapshot and its counters. */
export function portable(state: ClientState) {
  const { client, details } = state;
  return {
    latestVersionId: client?.latestVersionId,
    snapshot: client?.snapshot ?? null,
    snapshotDeclined: client?.snapshotDeclined ?? null,
    versions: details?.versions,
    storedBytes: details?.storedBytes,
    oldestVersion: details?.oldestVersion,
    latestAddedAt: details?.latestAddedAt,
    chain: state.versions.map((v) => ({
      id: v.versionId,
      parent: v.parentVersionId,
      segment: Buffer.from(v.historySegment).toString("base64"),
    })),
    addedAt: state.metadata.map((v) => v.addedAt.getTime()),
    snapshotData: state.snapshotData && Buffer.from(state.snapshotData).toString("base64"),
  };
}
