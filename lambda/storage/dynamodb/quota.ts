/**
 * What the quota counts on DynamoDB + S3 (README.md in this folder, "The quota"), as plain
 * arithmetic: a version's share, and the weeks of deleted bytes that the bucket still keeps.
 * Pure: no SDK call.
 */
import { DELETED_OBJECT_RETENTION_DAYS, DELETION_GRACE_DAYS, KEPT_WEEK_DAYS, VERSION_OVERHEAD_BYTES } from "./constants.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the quota counts for a stored version whose segment has `segmentBytes`. */
export function versionUsed(segmentBytes: number): number {
  return segmentBytes + VERSION_OVERHEAD_BYTES;
}

/** What the quota counts for what a client stores (deleted bytes aside): its payloads, `storedVersions` versions' overhead. */
export function storedUsed(payloadBytes: number, storedVersions: number): number {
  return payloadBytes + storedVersions * VERSION_OVERHEAD_BYTES;
}

/** The week (days since the epoch / KEPT_WEEK_DAYS) in which an object unreferenced at `ms` is counted. */
export function keptWeek(ms: number): number {
  return Math.floor(Math.floor(ms / DAY_MS) / KEPT_WEEK_DAYS);
}

/**
 * Whether the bucket has expired every object unreferenced in `week` by `nowMs`: such an object
 * stays current DELETION_GRACE_DAYS (deferred deletion), then S3 expires its noncurrent version
 * DELETED_OBJECT_RETENTION_DAYS after it became noncurrent, rounded up to the next midnight UTC,
 * and stops billing it then (even if the removal itself comes later).
 */
export function keptWeekExpired(week: number, nowMs: number): boolean {
  const lastDay = week * KEPT_WEEK_DAYS + KEPT_WEEK_DAYS - 1;
  return Math.floor(nowMs / DAY_MS) >= lastDay + 1 + DELETION_GRACE_DAYS + DELETED_OBJECT_RETENTION_DAYS;
}

/** The weeks of `kept` that have expired by `nowMs`, and their bytes. */
export function expiredKept(kept: ReadonlyMap<number, number>, nowMs: number): { weeks: number[]; bytes: number } {
  const weeks = [...kept.keys()].filter((week) => keptWeekExpired(week, nowMs));
  return { weeks, bytes: weeks.reduce((sum, week) => sum + (kept.get(week) ?? 0), 0) };
}
