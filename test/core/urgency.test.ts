import { describe, expect, it } from "vitest";
import { snapshotUrgency } from "../../lambda/core/urgency.ts";
import type { Client } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";

const DAY = 24 * 60 * 60 * 1000;
const now = new Date("2026-06-01T12:00:00Z");
const thresholds = { snapshotDays: 14, snapshotVersions: 100 };

function client(daysOld: number, versionsSince: number): Client {
  return {
    latestVersionId: NIL_UUID,
    snapshot: { versionId: newUuid(), timestamp: new Date(now.getTime() - daysOld * DAY), versionsSince },
  };
}

describe("snapshot urgency", () => {
  it("is high when there is no snapshot", () => {
    expect(snapshotUrgency({ latestVersionId: NIL_UUID, snapshot: null }, now, thresholds)).toBe("high");
  });

  it.each([
    [0, "none"],
    [99, "none"],
    [100, "low"],
    [149, "low"],
    [150, "high"],
    [10_000, "high"],
  ])("by versions: %i versions since the snapshot is %s", (versions, expected) => {
    expect(snapshotUrgency(client(0, versions), now, thresholds)).toBe(expected);
  });

  it.each([
    [13, "none"],
    [14, "low"],
    [20, "low"],
    [21, "high"],
  ])("by age: %i days is %s", (days, expected) => {
    expect(snapshotUrgency(client(days, 0), now, thresholds)).toBe(expected);
  });

  it("counts whole days only", () => {
    const c = client(14, 0);
    c.snapshot!.timestamp = new Date(now.getTime() - 14 * DAY + 1000);
    expect(snapshotUrgency(c, now, thresholds)).toBe("none");
  });

  it("uses integer division for the high threshold (T=5 → high at 7)", () => {
    const t = { snapshotDays: 5, snapshotVersions: 5 };
    expect(snapshotUrgency(client(0, 6), now, t)).toBe("low");
    expect(snapshotUrgency(client(0, 7), now, t)).toBe("high");
    expect(snapshotUrgency(client(7, 0), now, t)).toBe("high");
    expect(snapshotUrgency(client(6, 0), now, t)).toBe("low");
  });

  it("takes the larger of the two urgencies", () => {
    expect(snapshotUrgency(client(21, 0), now, thresholds)).toBe("high");
    expect(snapshotUrgency(client(0, 150), now, thresholds)).toBe("high");
    expect(snapshotUrgency(client(14, 150), now, thresholds)).toBe("high");
    expect(snapshotUrgency(client(21, 100), now, thresholds)).toBe("high");
    expect(snapshotUrgency(client(14, 99), now, thresholds)).toBe("low");
    expect(snapshotUrgency(client(13, 100), now, thresholds)).toBe("low");
  });

  it("counts from a declined snapshot when there is one, with or without a snapshot", () => {
    const declined = { timestamp: new Date(now.getTime() - 2 * DAY), versionsSince: 3 };
    expect(snapshotUrgency({ latestVersionId: NIL_UUID, snapshot: null, snapshotDeclined: declined }, now, thresholds)).toBe("none");
    const old = client(30, 500);
    expect(snapshotUrgency({ ...old, snapshotDeclined: declined }, now, thresholds)).toBe("none");
    expect(snapshotUrgency({ ...old, snapshotDeclined: { ...declined, versionsSince: 100 } }, now, thresholds)).toBe("low");
    expect(
      snapshotUrgency({ ...old, snapshotDeclined: { timestamp: new Date(now.getTime() - 21 * DAY), versionsSince: 0 } }, now, thresholds),
    ).toBe("high");
    expect(snapshotUrgency({ ...old, snapshotDeclined: null }, now, thresholds)).toBe("high");
  });
});
