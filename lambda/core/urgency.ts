import type { Client } from "../storage/types.ts";

/** How much the server wants a snapshot, sent to the client after an accepted AddVersion. */
export type SnapshotUrgency = "none" | "low" | "high";

const RANK: Record<SnapshotUrgency, number> = { none: 0, low: 1, high: 2 };
const DAY_MS = 24 * 60 * 60 * 1000;

export interface SnapshotThresholds {
  /** Days since the snapshot after which one is wanted (low; high at 3/2 of it). */
  snapshotDays: number;
  /** Versions since the snapshot after which one is wanted (low; high at 3/2 of it). */
  snapshotVersions: number;
}

/** x >= T*3/2 (integer division) is high, x >= T is low, anything less is none. */
function urgencyFor(value: number, threshold: number): SnapshotUrgency {
  if (value >= Math.floor((threshold * 3) / 2)) return "high";
  if (value >= threshold) return "low";
  return "none";
}

/**
 * The urgency of a snapshot, from the client's state before the version being added: no
 * snapshot is high; otherwise the larger of the urgencies by age in whole days and by
 * versions since the snapshot. A snapshot the server could not accept (too large) counts as
 * one taken then: asking again at once would only fail again, so it asks a period later.
 */
export function snapshotUrgency(client: Client, now: Date, thresholds: SnapshotThresholds): SnapshotUrgency {
  const baseline = client.snapshotDeclined ?? client.snapshot;
  if (!baseline) return "high";
  // Whole days, truncated like the reference server's `num_days`.
  const ageDays = Math.trunc((now.getTime() - baseline.timestamp.getTime()) / DAY_MS);
  const byAge = urgencyFor(ageDays, thresholds.snapshotDays);
  const byVersions = urgencyFor(baseline.versionsSince, thresholds.snapshotVersions);
  return RANK[byAge] >= RANK[byVersions] ? byAge : byVersions;
}

/**
 * Whether the server would ask this client for a snapshot now, whatever it declined before: it
 * has none, or its snapshot is past a threshold. TaskChampion replicas send a snapshot only
 * right after an AddVersion answered with a snapshot request (taskchampion's
 * `src/taskdb/sync.rs`), so a snapshot the rules would not ask for comes from no real replica:
 * it need not be stored (each stored snapshot replaces one, whose data a versioned bucket keeps).
 * A decline is set aside: a snapshot that arrives after one is what the server wanted.
 */
export function snapshotRequested(client: Client, now: Date, thresholds: SnapshotThresholds): boolean {
  if (!client.snapshot) return true;
  return snapshotUrgency({ ...client, snapshotDeclined: null }, now, thresholds) !== "none";
}
