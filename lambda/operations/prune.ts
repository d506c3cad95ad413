/**
 * History retention (HISTORY_DAYS): a client's versions that precede its snapshot's version and
 * were added more than `historyDays` ago are removed, oldest first, in batches of at most
 * MAX_REMOVED_VERSIONS. Never the snapshot's version or anything after it, never anything of a
 * client without a snapshot: a replica can always start from the snapshot and catch up, and a
 * replica whose base version is gone is told so (410) instead of being served a partial chain.
 *
 * Each batch is its own transaction, read and removal together; a batch refused because another
 * removal ran first is read again. Stopping between batches (the signal) loses nothing: the next
 * run starts again from the oldest version.
 */
import { MAX_REMOVED_VERSIONS, type Storage, type VersionMetadata } from "../storage/types.ts";
import type { Uuid } from "../uuid.ts";
import { inTxn } from "../storage/in-txn.ts";
import { OldestVersionsMovedError } from "../storage/errors.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Refused batches in a row before a client is left for the next run. */
const MAX_REFUSALS = 5;

export interface PruneOptions {
  /** Versions added more than this many days ago may go; 0 keeps every version. */
  historyDays: number;
  /** Default: the time the call starts. */
  now?: Date;
  /** Stops between batches once aborted (a time budget: `AbortSignal.timeout(ms)`). */
  signal?: AbortSignal;
}

export interface PruneResult {
  removedVersions: number;
  /** The bytes of the removed versions' history segments. */
  removedBytes: number;
  /**
   * `complete`: nothing more may go now. `stopped`: the signal ended it first. `contended`:
   * batches kept being refused (other removals running); the next run goes on.
   * `unknown-client`: there is no such client.
   */
  status: "complete" | "stopped" | "contended" | "unknown-client";
}

/** Prunes one client's history. */
export async function pruneClient(storage: Storage, clientId: Uuid, options: PruneOptions): Promise<PruneResult> {
  const result: PruneResult = { removedVersions: 0, removedBytes: 0, status: "complete" };
  if (options.historyDays <= 0) return result;
  const cutoff = (options.now ?? new Date()).getTime() - options.historyDays * DAY_MS;
  /** The snapshot version known to be stored, hence after every version of a batch that stops before it. */
  let storedSnapshot: Uuid | undefined;
  let refusals = 0;
  for (;;) {
    if (options.signal?.aborted) return { ...result, status: "stopped" };
    const attempt = await inTxn(storage, clientId, async (txn) => {
      const client = await txn.getClient();
      if (!client) return { kind: "unknown-client" } as const;
      const snapshot = client.snapshot;
      if (!snapshot) return { kind: "done" } as const;
      // The walk reads no further than the first version that must stay: reads in proportion to what goes.
      const stays = (v: VersionMetadata) => v.versionId === snapshot.versionId || v.addedAt.getTime() >= cutoff;
      const oldest = await txn.getOldestVersions(MAX_REMOVED_VERSIONS, stays);
      const end = oldest.findIndex(stays);
      const batch = end === -1 ? oldest : oldest.slice(0, end);
      if (batch.length === 0) return { kind: "done" } as const;
      if (end === -1 && storedSnapshot !== snapshot.versionId) {
        // The snapshot's version is further on: unless it is not a stored version at all.
        if (!(await txn.hasVersion(snapshot.versionId))) return { kind: "done" } as const;
        storedSnapshot = snapshot.versionId;
      }
      try {
        await txn.removeOldestVersions(batch.map((v) => v.versionId));
        await txn.commit();
        return { kind: "removed", batch } as const;
      } catch (error) {
        return { kind: "refused", batch, error } as const;
      }
    });
    switch (attempt.kind) {
      case "unknown-client":
        return result.removedVersions === 0 ? { ...result, status: "unknown-client" } : result;
      case "done":
        return result;
      case "removed":
        result.removedVersions += attempt.batch.length;
        result.removedBytes += attempt.batch.reduce((sum, v) => sum + v.bytes, 0);
        refusals = 0;
        break;
      case "refused":
        // Refused because another removal ran first: read the oldest again. Anything else is a failure.
        if (!(attempt.error instanceof OldestVersionsMovedError)) throw attempt.error;
        refusals += 1;
        if (refusals >= MAX_REFUSALS) return { ...result, status: "contended" };
        break;
    }
  }
}

export interface PruneAllResult {
  /** Clients looked at (those with a snapshot; the others have nothing that may go). */
  clients: number;
  /** Of those, clients that lost versions. */
  prunedClients: number;
  removedVersions: number;
  removedBytes: number;
  /** Whether the signal ended the run before every client was looked at. */
  stopped: boolean;
  /** Clients left for the next run: batches kept being refused. */
  contended: number;
  /** Clients whose pruning failed, with why; the run goes on with the others. */
  failures: { clientId: Uuid; error: unknown }[];
}

/** What pruning many clients adds up to. */
export interface PruneTally {
  /** Clients that lost versions. */
  prunedClients: number;
  removedVersions: number;
  removedBytes: number;
  /** Clients left for the next run: batches kept being refused. */
  contended: number;
}

export function emptyPruneTally(): PruneTally {
  return { prunedClients: 0, removedVersions: 0, removedBytes: 0, contended: 0 };
}

/** Adds one client's pruning to `tally`. */
export function tallyPrune(tally: PruneTally, result: PruneResult): void {
  tally.removedVersions += result.removedVersions;
  tally.removedBytes += result.removedBytes;
  if (result.removedVersions > 0) tally.prunedClients += 1;
  if (result.status === "contended") tally.contended += 1;
}

/** Prunes every client's history (listing them a page at a time); reports each client pruned. */
export async function pruneAllClients(
  storage: Storage,
  options: PruneOptions & { onClient?: (clientId: Uuid, result: PruneResult) => void | Promise<void> },
): Promise<PruneAllResult> {
  const now = options.now ?? new Date();
  const total: PruneAllResult = { clients: 0, ...emptyPruneTally(), stopped: false, failures: [] };
  if (options.historyDays <= 0) return total;
  for await (const summary of storage.listClients()) {
    if (options.signal?.aborted) return { ...total, stopped: true };
    if (!summary.snapshot) continue;
    total.clients += 1;
    try {
      const result = await pruneClient(storage, summary.clientId, { ...options, now });
      tallyPrune(total, result);
      await options.onClient?.(summary.clientId, result);
      if (result.status === "stopped") return { ...total, stopped: true };
    } catch (error) {
      total.failures.push({ clientId: summary.clientId, error });
    }
  }
  return total;
}
