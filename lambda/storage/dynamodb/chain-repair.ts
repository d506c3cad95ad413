/**
 * What `verify` finds wrong with one client of a restored table, and the repair (README.md in
 * this folder, "Verifying a restore"): from the client item, its version items, 0.1.0's index
 * items, its deletion marks and the objects its prefix holds, all as read. Pure: it plans, the
 * caller (client-verify.ts) reads and writes.
 *
 * A table restored from a backup may hold part of a transaction (DynamoDB: "some but not all of
 * the changes made during a recent transaction"): an AddVersion's client update without its
 * version item or the reverse, a prune's deletes without its client update or the reverse. The
 * bucket, restored from a backup of another moment, may lack an object. The repair only follows
 * or shortens the stored chain, never invents a version: no replica is ever handed a chain that
 * forks from what it holds (a replica beyond a cut is told 410 and starts again from the snapshot).
 */
import { NIL_UUID, type Uuid } from "../../uuid.ts";
import type { VerifyFinding } from "../types.ts";
import type { ClientState, SnapshotState } from "./client-item.ts";
import { RECENT_SLOTS, SK } from "./layout.ts";
import { keptWeek, versionUsed } from "./quota.ts";

/** A version item as verify reads it (never its inline segment). */
export interface StoredVersion {
  versionId: Uuid;
  parentId: Uuid;
  /** Its segment's S3 object, if the segment is not inline. */
  segmentKey: string | undefined;
  size: number;
  createdMs: number;
}

/** One client's partition and objects, as read. */
export interface ClientPartition {
  /** The client item, parsed; null when there is none or an operator holds it. */
  client: ClientState | null;
  /** What holds the client item, when an operator's import or removal does. */
  held: string | undefined;
  versions: readonly StoredVersion[];
  /** Ids of the versions that have a 0.1.0 index item (`VERSION#<id>`). */
  indexed: readonly Uuid[];
  /** Keys named by a deletion mark (already counted as kept). */
  marked: ReadonlySet<string>;
  /** The objects under the client's prefix, with their sizes. */
  objects: ReadonlyMap<string, number>;
}

export interface RepairPlan {
  findings: VerifyFinding[];
  /** What a repair changes, for people. */
  repairs: string[];
  /** Something found that no repair may fix (an operator's unfinished work). */
  unrepairable: boolean;
  /** The client item as the repair writes it; undefined when it is left as it is. */
  client: ClientState | undefined;
  /** Items the repair deletes: version items off the chain (with the id each must still hold), index items. */
  deletes: { sk: string; versionId: Uuid | undefined }[];
  /** Objects the repair leaves unreferenced that no mark names: marked and counted as kept with the client item. */
  unreferenced: { key: string; size: number }[];
  latestAfter: Uuid | null;
  droppedVersions: number;
  snapshotDropped: boolean;
}

const SHOWN_IDS = 3;

function ids(versions: readonly StoredVersion[]): string {
  const shown = versions.slice(0, SHOWN_IDS).map((version) => version.versionId);
  return versions.length > SHOWN_IDS ? `${shown.join(", ")} and ${versions.length - SHOWN_IDS} more` : shown.join(", ");
}

export function planRepair(partition: ClientPartition, nowMs: number): RepairPlan {
  const { client, versions } = partition;
  const plan: RepairPlan = {
    findings: [],
    repairs: [],
    unrepairable: false,
    client: undefined,
    deletes: [],
    unreferenced: [],
    latestAfter: client?.latest ?? null,
    droppedVersions: 0,
    snapshotDropped: false,
  };
  if (!client) {
    if (partition.held !== undefined) {
      plan.unrepairable = true;
      plan.findings.push({
        problem: "held-by-operator",
        detail: `an operator's ${partition.held === "importing" ? "import" : "removal"} did not finish (the protocol sees no client): run it again`,
      });
    } else if (versions.length + partition.indexed.length > 0) {
      plan.findings.push({
        problem: "items-without-client",
        detail: `${versions.length} version items of no client (an unfinished removal)`,
      });
      plan.repairs.push(`deleted ${versions.length} version items of no client (their objects are left to the sweep)`);
      plan.deletes = [
        ...versions.map((version) => ({ sk: SK.child(version.parentId), versionId: version.versionId })),
        ...partition.indexed.map((versionId) => ({ sk: SK.version(versionId), versionId: undefined })),
      ];
      plan.droppedVersions = versions.length;
    }
    return plan;
  }

  const byParent = new Map(versions.map((version) => [version.parentId, version]));
  const byId = new Map(versions.map((version) => [version.versionId, version]));
  const { latest } = client;

  // The run forward from the recorded start (for a client without versions: latest, the parent
  // its first version must have; unknown for a client of 0.1.0), and the run back from latest,
  // or when latest's item is gone, from the newest of its ancestors that the slots name and
  // that is stored.
  const start = client.base === null ? latest : client.base;
  const forward: StoredVersion[] = [];
  const seen = new Set<Uuid>();
  for (let parent = start; parent !== undefined && byParent.has(parent) && !seen.has(parent); ) {
    const version = byParent.get(parent) as StoredVersion;
    seen.add(parent);
    forward.push(version);
    parent = version.versionId;
  }
  const anchor = [latest, ...client.tail.slice(1)].find((id) => byId.has(id));
  const backward: StoredVersion[] = [];
  for (let version = anchor && byId.get(anchor); version && !backward.includes(version); version = byId.get(version.parentId)) {
    backward.unshift(version);
  }
  const reaches = start === latest || forward.some((version) => version.versionId === latest);
  let chain: StoredVersion[];
  if (reaches || forward.some((version) => version.versionId === anchor)) {
    chain = forward;
  } else if (forward.length > 0 && backward.length > 0) {
    // Two runs with a gap between: the prune's that the backup caught half-way (keep the run to
    // latest, which holds the snapshot's version: pruning never removes it), or an AddVersion's
    // whose version item the backup missed (keep the run from the start).
    const snapshotVersion = client.snapshot?.versionId;
    chain = backward.some((version) => version.versionId === snapshotVersion) ? backward : forward;
  } else {
    chain = forward.length > 0 ? forward : backward;
  }
  let chainStart: Uuid = chain[0]?.parentId ?? (reaches && start !== undefined ? start : (client.base ?? NIL_UUID));

  const endId = chain.at(-1)?.versionId ?? chainStart;
  if (endId !== latest) {
    if (reaches) {
      const after = chain.slice(chain.findIndex((version) => version.versionId === latest) + 1);
      plan.findings.push({
        problem: "version-after-latest",
        detail: `${after.length} stored versions follow latest ${latest}: ${ids(after)}`,
      });
      plan.repairs.push(`latest moved forward along them to ${endId}`);
    } else {
      plan.findings.push({
        problem: "latest-without-version",
        detail: `latest ${latest} is not stored; the stored chain ends at ${endId}`,
      });
      plan.repairs.push(`latest moved back to ${endId}`);
    }
  }
  if (client.base !== undefined && client.base !== null && chain.length > 0 && chainStart !== client.base) {
    plan.findings.push({ problem: "chain-start-moved", detail: `the stored chain starts after ${chainStart}, not after ${client.base}` });
    plan.repairs.push(`the chain's start moved to ${chainStart}`);
  }

  // The snapshot: on the chain, with its object.
  let snapshot: SnapshotState | null = client.snapshot;
  if (snapshot && !chain.some((version) => version.versionId === snapshot?.versionId)) {
    plan.findings.push({
      problem: "snapshot-off-chain",
      detail: `the snapshot's version ${snapshot.versionId} is not on the stored chain`,
    });
    snapshot = null;
  } else if (snapshot && (snapshot.key === undefined || !partition.objects.has(snapshot.key))) {
    plan.findings.push({ problem: "snapshot-object-missing", detail: `the snapshot of version ${snapshot.versionId} has no object` });
    snapshot = null;
  }

  // Segments: a version before the snapshot's whose object is missing is pruned, with every
  // version before it (a replica behind it starts again from the snapshot, as after pruning);
  // one at the snapshot's version or after cuts the chain before it.
  const cutOff = new Set<Uuid>();
  const missing = chain.flatMap((version, i) => (version.segmentKey && !partition.objects.has(version.segmentKey) ? [i] : []));
  if (missing.length > 0) {
    plan.findings.push({
      problem: "segment-object-missing",
      detail: `${missing.length} versions' segment objects are missing: ${ids(missing.map((i) => chain[i] as StoredVersion))}`,
    });
    const snapshotIndex = snapshot ? chain.findIndex((version) => version.versionId === snapshot?.versionId) : -1;
    const tipCut = missing.find((i) => i >= snapshotIndex);
    if (tipCut !== undefined) {
      const cut = chain.slice(tipCut);
      for (const version of cut) cutOff.add(version.versionId);
      chain = chain.slice(0, tipCut);
      plan.repairs.push(
        `the chain cut before ${cut[0]?.versionId} (${cut.length} versions dropped), latest ${chain.at(-1)?.versionId ?? chainStart}`,
      );
      if (tipCut <= snapshotIndex) snapshot = null;
    }
    const startCut = missing.filter((i) => i < snapshotIndex).at(-1);
    if (startCut !== undefined) {
      chainStart = (chain[startCut] as StoredVersion).versionId;
      plan.repairs.push(`the chain's start moved to ${chainStart} (${startCut + 1} versions dropped)`);
      for (const version of chain.slice(0, startCut + 1)) cutOff.add(version.versionId);
      chain = chain.slice(startCut + 1);
    }
  }

  // Everything off the final chain goes: version items (each on the condition that it still
  // holds that version) and index items.
  const kept = new Set(chain.map((version) => version.versionId));
  const dropped = versions.filter((version) => !kept.has(version.versionId));
  const unexplained = dropped.filter((version) => !cutOff.has(version.versionId));
  if (unexplained.length > 0) {
    plan.findings.push({
      problem: "unreachable-versions",
      detail: `${unexplained.length} stored versions are on no chain to latest: ${ids(unexplained)}`,
    });
  }
  if (plan.findings.length === 0) return plan;
  if (client.snapshot && !snapshot) {
    plan.snapshotDropped = true;
    plan.repairs.push("the snapshot dropped (replicas are asked for a new one)");
  }

  plan.deletes = [
    ...dropped.map((version) => ({ sk: SK.child(version.parentId), versionId: version.versionId })),
    ...partition.indexed.filter((id) => !kept.has(id)).map((versionId) => ({ sk: SK.version(versionId), versionId: undefined })),
  ];
  plan.droppedVersions = dropped.length;
  if (dropped.length > 0) plan.repairs.push(`${dropped.length} version items off the chain deleted`);

  // Objects the repair leaves unreferenced: marked and counted as kept with the client item,
  // unless a mark names them already (counted then).
  const leftKeys = [...dropped.map((version) => version.segmentKey), client.snapshot && !snapshot ? client.snapshot.key : undefined].filter(
    (key): key is string => key !== undefined && partition.objects.has(key) && !partition.marked.has(key),
  );
  plan.unreferenced = leftKeys.map((key) => ({ key, size: partition.objects.get(key) ?? 0 }));

  const stored = chain.length;
  const tipDelta = tipChange(client, chain, chainStart);
  const versionCount = Math.max(stored, client.versionCount + tipDelta);
  const bytes = chain.reduce((sum, version) => sum + version.size, 0) + (snapshot?.size ?? 0);
  const keptWeeks = new Map(client.kept);
  const newlyKept = plan.unreferenced.reduce((sum, object) => sum + object.size, 0);
  if (newlyKept > 0) keptWeeks.set(keptWeek(nowMs), (keptWeeks.get(keptWeek(nowMs)) ?? 0) + newlyKept);
  const keptBytes = [...keptWeeks.values()].reduce((sum, value) => sum + value, 0);
  const newLatest = chain.at(-1)?.versionId ?? chainStart;
  const snapshotParent = snapshot ? chain.find((version) => version.versionId === snapshot?.versionId)?.parentId : undefined;
  plan.client = {
    latest: newLatest,
    tail: [...chain.map((version) => version.versionId).reverse(), chainStart].slice(0, RECENT_SLOTS),
    base: stored > 0 ? chainStart : null,
    versionCount,
    pruned: versionCount - stored,
    bytes,
    used: chain.reduce((sum, version) => sum + versionUsed(version.size), 0) + (snapshot?.size ?? 0) + keptBytes,
    kept: keptWeeks,
    lease: null,
    lastAddedMs: chain.at(-1)?.createdMs ?? null,
    high: client.high,
    snapshot: snapshot && { ...snapshot, at: Math.min(snapshot.at, versionCount), parent: snapshotParent },
    declined: client.declined && { ...client.declined, at: Math.min(client.declined.at, versionCount) },
  };
  plan.latestAfter = newLatest;
  return plan;
}

/**
 * How many versions the tip moved: forward along stored children (+), back along the chain (-,
 * from the client item's slots when latest's own item is gone). The start's moves are pruning's
 * (they count in `pruned`, not here).
 */
function tipChange(client: ClientState, chain: readonly StoredVersion[], chainStart: Uuid): number {
  const newLatest = chain.at(-1)?.versionId ?? chainStart;
  if (newLatest === client.latest) return 0;
  const position = chain.findIndex((version) => version.versionId === client.latest);
  if (position >= 0) return chain.length - 1 - position;
  // Back: the new latest is an ancestor of the old one; the slots say how far, for the newest.
  const back = client.tail.indexOf(newLatest);
  return back > 0 ? -back : 0;
}
