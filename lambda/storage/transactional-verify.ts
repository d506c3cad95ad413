/**
 * `verifyClients` for the storages whose transactions commit whole (memory, SQLite): a copy of
 * them (SQLite's online backup) is one transaction's view, so a restore holds no half-written
 * client, and only a corrupted database can fail these checks. They are made through the
 * storage interface, as the protocol sees the client: the chain from its start ends at latest,
 * no version follows latest, the snapshot's version is stored and its data readable. Nothing is
 * repaired: such a database is restored again, or its clients exported and imported.
 */
import { inTxn } from "./in-txn.ts";
import type { ClientVerification, Storage, VerifyFinding, VerifyOptions } from "./types.ts";

export async function* verifyThroughTransactions(storage: Storage, options: VerifyOptions): AsyncGenerator<ClientVerification> {
  for await (const summary of storage.listClients()) {
    const findings = await inTxn(storage, summary.clientId, async (txn): Promise<VerifyFinding[] | null> => {
      const client = await txn.getClient();
      if (!client) return null;
      const found: VerifyFinding[] = [];
      const chain = await txn.getOldestVersions(Number.POSITIVE_INFINITY);
      const end = chain.at(-1)?.versionId;
      if (chain.length > 0 && end !== client.latestVersionId && !chain.some((version) => version.versionId === client.latestVersionId)) {
        found.push({
          problem: "latest-without-version",
          detail: `latest ${client.latestVersionId} is not on the chain, which ends at ${end}`,
        });
      }
      if ((await txn.getVersionByParent(client.latestVersionId)) !== null) {
        found.push({ problem: "version-after-latest", detail: `a version follows latest ${client.latestVersionId}` });
      }
      const snapshot = client.snapshot;
      if (snapshot && !chain.some((version) => version.versionId === snapshot.versionId)) {
        found.push({ problem: "snapshot-off-chain", detail: `the snapshot's version ${snapshot.versionId} is not on the chain` });
      } else if (snapshot && (await txn.getSnapshotData(snapshot.versionId)) === null) {
        found.push({ problem: "snapshot-object-missing", detail: `the snapshot of version ${snapshot.versionId} has no data` });
      }
      return found;
    });
    // Removed since it was listed: nothing to check.
    if (findings === null) continue;
    yield {
      clientId: summary.clientId,
      status: findings.length === 0 ? "ok" : options.repair ? "unrepaired" : "found",
      findings,
      repairs: [],
      latestBefore: summary.latestVersionId,
      latestAfter: summary.latestVersionId,
      droppedVersions: 0,
      snapshotDropped: false,
    };
  }
}
