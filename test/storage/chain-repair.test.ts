/**
 * What verify finds in a restored DynamoDB table and how it repairs it (chain-repair.ts, pure):
 * the partial transactions DynamoDB documents a restored table may hold (an AddVersion's client
 * update without its version item or the reverse, a prune's deletes without its client update
 * or the reverse), objects a restored bucket lacks, and operators' unfinished work. Each repair
 * only follows or shortens the stored chain.
 */
import { describe, expect, test } from "vitest";
import { type ClientPartition, planRepair, type StoredVersion } from "../../lambda/storage/dynamodb/chain-repair.ts";
import type { ClientState } from "../../lambda/storage/dynamodb/client-item.ts";
import { VERSION_OVERHEAD_BYTES } from "../../lambda/storage/dynamodb/constants.ts";
import { objectNonce, SK, segmentKey, snapshotKey } from "../../lambda/storage/dynamodb/layout.ts";
import { keptWeek } from "../../lambda/storage/dynamodb/quota.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";

const NOW = Date.UTC(2025, 5, 1);
const clientId = newUuid();

/** A chain of `n` versions from `start`: v[0]'s parent is `start`; sizes 100, 101, ...; `inS3` indices keep their segment in S3. */
function chain(n: number, start: Uuid = NIL_UUID, inS3: readonly number[] = []): StoredVersion[] {
  const versions: StoredVersion[] = [];
  let parent = start;
  for (let i = 0; i < n; i++) {
    const versionId = newUuid();
    versions.push({
      versionId,
      parentId: parent,
      segmentKey: inS3.includes(i) ? segmentKey(clientId, parent, versionId, objectNonce()) : undefined,
      size: 100 + i,
      createdMs: NOW - (n - i) * 1000,
    });
    parent = versionId;
  }
  return versions;
}

/** The client item that holds exactly `versions` (a chain), pruned of `pruned` before them, with a snapshot of `snapshotAt`. */
function clientOf(versions: readonly StoredVersion[], options: { pruned?: number; snapshotAt?: number; snapshotSize?: number } = {}) {
  const pruned = options.pruned ?? 0;
  const tail = [...versions.map((v) => v.versionId).reverse(), versions[0]?.parentId ?? NIL_UUID].slice(0, 6);
  const snapshotVersion = options.snapshotAt === undefined ? undefined : versions[options.snapshotAt];
  const snapshotSize = options.snapshotSize ?? 500;
  const bytes = versions.reduce((sum, v) => sum + v.size, 0) + (snapshotVersion ? snapshotSize : 0);
  const state: ClientState = {
    latest: versions.at(-1)?.versionId ?? NIL_UUID,
    tail,
    base: versions[0]?.parentId ?? null,
    versionCount: pruned + versions.length,
    pruned,
    bytes,
    used: bytes + versions.length * VERSION_OVERHEAD_BYTES,
    kept: new Map(),
    lease: null,
    lastAddedMs: versions.at(-1)?.createdMs ?? null,
    high: 0,
    snapshot: snapshotVersion
      ? {
          versionId: snapshotVersion.versionId,
          timeMs: NOW,
          at: pruned + (options.snapshotAt ?? 0) + 1,
          key: snapshotKey(clientId, snapshotVersion.versionId, objectNonce()),
          size: snapshotSize,
          parent: snapshotVersion.parentId,
        }
      : null,
    declined: null,
  };
  return state;
}

/** The partition: `client`, `versions`, and every object they reference (but `without`). */
function partition(client: ClientState | null, versions: readonly StoredVersion[], without: readonly string[] = []): ClientPartition {
  const objects = new Map<string, number>();
  for (const version of versions) if (version.segmentKey) objects.set(version.segmentKey, version.size);
  if (client?.snapshot?.key) objects.set(client.snapshot.key, client.snapshot.size);
  for (const key of without) objects.delete(key);
  return { client, held: undefined, versions, indexed: [], marked: new Set(), objects };
}

const problems = (plan: ReturnType<typeof planRepair>) => plan.findings.map((finding) => finding.problem);

describe("a whole client", () => {
  test("nothing found, nothing written: with versions, a snapshot and segments in S3; pruned; without versions", () => {
    const versions = chain(8, NIL_UUID, [2, 6]);
    const whole = planRepair(partition(clientOf(versions, { snapshotAt: 5 }), versions), NOW);
    expect(whole.findings).toEqual([]);
    expect(whole.client).toBeUndefined();
    expect(whole.deletes).toEqual([]);
    const pruned = versions.slice(3);
    expect(planRepair(partition(clientOf(pruned, { pruned: 3, snapshotAt: 2 }), pruned), NOW).findings).toEqual([]);
    expect(planRepair(partition(clientOf([]), []), NOW).findings).toEqual([]);
    // A client created with a latest version and none stored (an import of a client without versions).
    const created = { ...clientOf([]), latest: newUuid() };
    expect(planRepair(partition(created, []), NOW).findings).toEqual([]);
  });
});

describe("an AddVersion caught half-way", () => {
  test("its client update without its version item: latest moves back to the last version stored", () => {
    const versions = chain(6);
    const client = clientOf(versions, { snapshotAt: 2 });
    const plan = planRepair(partition(client, versions.slice(0, 5)), NOW);
    expect(problems(plan)).toEqual(["latest-without-version"]);
    expect(plan.client).toMatchObject({ latest: versions[4]!.versionId, versionCount: 5, pruned: 0, base: NIL_UUID });
    expect(plan.client?.tail).toEqual([
      ...versions
        .slice(0, 5)
        .map((v) => v.versionId)
        .reverse(),
      NIL_UUID,
    ]);
    expect(plan.client?.bytes).toBe(client.bytes! - versions[5]!.size);
    expect(plan.client?.used).toBe(client.used! - versions[5]!.size - VERSION_OVERHEAD_BYTES);
    expect(plan.client?.lastAddedMs).toBe(versions[4]!.createdMs);
    expect(plan.client?.snapshot?.versionId).toBe(versions[2]!.versionId);
    expect(plan.deletes).toEqual([]);
    expect(plan.latestAfter).toBe(versions[4]!.versionId);
  });

  test("its version item without its client update: latest moves forward to it", () => {
    const versions = chain(6, NIL_UUID, [5]);
    const client = clientOf(versions.slice(0, 5), { snapshotAt: 2 });
    const plan = planRepair(partition(client, versions), NOW);
    expect(problems(plan)).toEqual(["version-after-latest"]);
    expect(plan.client).toMatchObject({ latest: versions[5]!.versionId, versionCount: 6 });
    expect(plan.client?.tail[0]).toBe(versions[5]!.versionId);
    expect(plan.client?.bytes).toBe(client.bytes! + versions[5]!.size);
    expect(plan.deletes).toEqual([]);
  });

  test("a client's first version, its item without the client update: followed from latest (nil)", () => {
    const versions = chain(1);
    const plan = planRepair(partition(clientOf([]), versions), NOW);
    expect(problems(plan)).toEqual(["version-after-latest"]);
    expect(plan.client).toMatchObject({ latest: versions[0]!.versionId, base: NIL_UUID, versionCount: 1, pruned: 0 });
  });

  test("two in a row, the first's item missing: back to the chain before it, the second's item deleted", () => {
    const versions = chain(7);
    const client = clientOf(versions, { snapshotAt: 2 });
    const stored = [...versions.slice(0, 5), versions[6]!];
    const plan = planRepair(partition(client, stored), NOW);
    expect(problems(plan)).toEqual(["latest-without-version", "unreachable-versions"]);
    expect(plan.client).toMatchObject({ latest: versions[4]!.versionId, versionCount: 5 });
    expect(plan.deletes).toEqual([{ sk: SK.child(versions[5]!.versionId), versionId: versions[6]!.versionId }]);
    expect(plan.droppedVersions).toBe(1);
  });

  test("a client stored by 0.1.0 (no recorded start) whose latest item is missing: back through its slots", () => {
    const versions = chain(4);
    const client: ClientState = { ...clientOf(versions), base: undefined, bytes: undefined, used: undefined };
    expect(planRepair(partition(client, versions), NOW).findings).toEqual([]);
    const plan = planRepair(partition(client, versions.slice(0, 3)), NOW);
    expect(problems(plan)).toEqual(["latest-without-version"]);
    expect(plan.client).toMatchObject({ latest: versions[2]!.versionId, base: NIL_UUID, versionCount: 3 });
  });
});

describe("a prune caught half-way", () => {
  test("its deletes without its client update: the start moves past the gap, what is left before it deleted", () => {
    const versions = chain(10, NIL_UUID, [1]);
    const client = clientOf(versions, { snapshotAt: 6 });
    // The prune removed versions 0..5; the backup holds the deletes of 0, 2 and 4 only.
    const stored = versions.filter((_, i) => ![0, 2, 4].includes(i));
    const plan = planRepair(partition(client, stored), NOW);
    expect(problems(plan)).toEqual(["chain-start-moved", "unreachable-versions"]);
    expect(plan.client).toMatchObject({ latest: client.latest, base: versions[4]!.versionId, versionCount: 10, pruned: 5 });
    expect(plan.deletes.map((d) => d.versionId)).toEqual([versions[1]!.versionId, versions[3]!.versionId]);
    expect(plan.client?.snapshot?.versionId).toBe(versions[6]!.versionId);
    // Version 1's segment object is left unreferenced: marked and counted now.
    expect(plan.unreferenced).toEqual([{ key: versions[1]!.segmentKey, size: versions[1]!.size }]);
    expect(plan.client?.kept).toEqual(new Map([[keptWeek(NOW), versions[1]!.size]]));
  });

  test("its deletes without its client update, the first item still there: the run holding the snapshot is the chain", () => {
    const versions = chain(10);
    const client = clientOf(versions, { snapshotAt: 6 });
    const stored = versions.filter((_, i) => i !== 3);
    const plan = planRepair(partition(client, stored), NOW);
    expect(plan.client).toMatchObject({ latest: client.latest, base: versions[3]!.versionId, pruned: 4 });
    expect(plan.deletes.map((d) => d.versionId)).toEqual(versions.slice(0, 3).map((v) => v.versionId));
  });

  test("its client update without all its deletes: the versions before the start deleted", () => {
    const versions = chain(8);
    const client = clientOf(versions.slice(4), { pruned: 4, snapshotAt: 1 });
    const plan = planRepair(
      partition(
        client,
        versions.filter((_, i) => i !== 1),
      ),
      NOW,
    );
    expect(problems(plan)).toEqual(["unreachable-versions"]);
    expect(plan.client).toMatchObject({ latest: client.latest, base: client.base, versionCount: 8, pruned: 4 });
    expect(plan.deletes.map((d) => d.versionId).sort()).toEqual([versions[0], versions[2], versions[3]].map((v) => v!.versionId).sort());
  });
});

describe("the snapshot and the objects", () => {
  test("a snapshot whose version is not on the chain is dropped; its object is left unreferenced (marked, counted)", () => {
    const versions = chain(5);
    const client = clientOf(versions, { snapshotAt: 4 });
    // Its version's item missing too: the AddVersion and the AddSnapshot after it, both half there.
    const plan = planRepair(partition(client, versions.slice(0, 4)), NOW);
    expect(problems(plan)).toEqual(["latest-without-version", "snapshot-off-chain"]);
    expect(plan.snapshotDropped).toBe(true);
    expect(plan.client?.snapshot).toBeNull();
    expect(plan.client?.bytes).toBe(versions.slice(0, 4).reduce((sum, v) => sum + v.size, 0));
    expect(plan.unreferenced).toEqual([{ key: client.snapshot!.key, size: 500 }]);
    // Unless a deletion mark names it already (counted then).
    const marked = planRepair({ ...partition(client, versions.slice(0, 4)), marked: new Set([client.snapshot!.key!]) }, NOW);
    expect(marked.unreferenced).toEqual([]);
  });

  test("a snapshot without its object is dropped", () => {
    const versions = chain(5);
    const client = clientOf(versions, { snapshotAt: 3 });
    const plan = planRepair(partition(client, versions, [client.snapshot!.key!]), NOW);
    expect(problems(plan)).toEqual(["snapshot-object-missing"]);
    expect(plan.client).toMatchObject({ latest: client.latest, snapshot: null });
    expect(plan.unreferenced).toEqual([]);
  });

  test("a missing segment at or after the snapshot's version cuts the chain before it", () => {
    const versions = chain(8, NIL_UUID, [6]);
    const client = clientOf(versions, { snapshotAt: 3 });
    const plan = planRepair(partition(client, versions, [versions[6]!.segmentKey!]), NOW);
    expect(problems(plan)).toEqual(["segment-object-missing"]);
    expect(plan.client).toMatchObject({ latest: versions[5]!.versionId, versionCount: 6 });
    expect(plan.client?.snapshot?.versionId).toBe(versions[3]!.versionId);
    expect(plan.deletes.map((d) => d.versionId)).toEqual([versions[6]!.versionId, versions[7]!.versionId]);
  });

  test("a missing segment before the snapshot's version moves the start past it (as pruning does)", () => {
    const versions = chain(8, NIL_UUID, [2]);
    const client = clientOf(versions, { snapshotAt: 5 });
    const plan = planRepair(partition(client, versions, [versions[2]!.segmentKey!]), NOW);
    expect(problems(plan)).toEqual(["segment-object-missing"]);
    expect(plan.client).toMatchObject({ latest: client.latest, base: versions[2]!.versionId, versionCount: 8, pruned: 3 });
    expect(plan.client?.snapshot?.versionId).toBe(versions[5]!.versionId);
    expect(plan.deletes.map((d) => d.versionId)).toEqual(versions.slice(0, 3).map((v) => v.versionId));
  });

  test("without a snapshot, a missing segment cuts the chain before it; the first version's: no versions left", () => {
    const versions = chain(3, NIL_UUID, [0]);
    const plan = planRepair(partition(clientOf(versions), versions, [versions[0]!.segmentKey!]), NOW);
    expect(plan.client).toMatchObject({ latest: NIL_UUID, base: null, versionCount: 0, pruned: 0, tail: [NIL_UUID] });
    expect(plan.deletes).toHaveLength(3);
  });
});

describe("operators' work left half-done", () => {
  test("a client held by an import or a removal: reported, not for a repair", () => {
    const versions = chain(2);
    const plan = planRepair({ ...partition(null, versions), held: "removing" }, NOW);
    expect(problems(plan)).toEqual(["held-by-operator"]);
    expect(plan.unrepairable).toBe(true);
    expect(plan.deletes).toEqual([]);
  });

  test("version items of no client (a removal that did not finish): deleted", () => {
    const versions = chain(2);
    const plan = planRepair({ ...partition(null, versions), indexed: [versions[0]!.versionId] }, NOW);
    expect(problems(plan)).toEqual(["items-without-client"]);
    expect(plan.deletes).toEqual([
      { sk: SK.child(NIL_UUID), versionId: versions[0]!.versionId },
      { sk: SK.child(versions[0]!.versionId), versionId: versions[1]!.versionId },
      { sk: SK.version(versions[0]!.versionId), versionId: undefined },
    ]);
    // Only deletion marks (a removed client's objects waiting for the sweep): nothing to say.
    expect(planRepair(partition(null, []), NOW).findings).toEqual([]);
  });
});
