/** Every rule of the sync protocol's four transactions, at the core level, on the in-memory store. */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { beforeEach, describe, expect, it } from "vitest";
import { SyncServer, type SyncRules } from "../../lambda/core/sync.ts";
import { MEMORY_VERSION_OVERHEAD_BYTES as OVERHEAD, MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage, StorageTxn, Version } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { txnOf, withTxn } from "../support/storage-doubles.ts";
import { inTxn } from "../support/txn.ts";

const DAY = 24 * 60 * 60 * 1000;
const bytes = (text: string) => new TextEncoder().encode(text);

let storage: MemoryStorage;
let now: Date;
let clientId: Uuid;

function server(rules: Partial<SyncRules> = {}, store: Storage = storage): SyncServer {
  return new SyncServer(store, { ...DEFAULT_SYNC_RULES, ...rules }, () => now);
}

/** Adds `count` versions on the chain's tip; returns their ids, oldest first. */
async function addChain(sync: SyncServer, count: number, parent: Uuid = NIL_UUID): Promise<Uuid[]> {
  const ids: Uuid[] = [];
  for (let i = 0; i < count; i++) {
    const outcome = await sync.addVersion(clientId, ids.at(-1) ?? parent, bytes(`v${i}`));
    if (outcome.kind !== "added") throw new Error(`expected added, got ${outcome.kind}`);
    ids.push(outcome.versionId);
  }
  return ids;
}

const readClient = () => inTxn(storage, clientId, (txn) => txn.getClient());

beforeEach(() => {
  storage = new MemoryStorage();
  now = new Date("2026-06-01T00:00:00Z");
  clientId = newUuid();
});

describe("AddVersion", () => {
  it("creates an unknown client and accepts its first version on the nil parent", async () => {
    const outcome = await server().addVersion(clientId, NIL_UUID, bytes("first"));
    expect(outcome).toMatchObject({ kind: "added", snapshotUrgency: "high" });
    const client = await readClient();
    expect(client?.latestVersionId).toBe(outcome.kind === "added" ? outcome.versionId : "");
  });

  it("accepts any parent for the first version", async () => {
    const parent = newUuid();
    const outcome = await server().addVersion(clientId, parent, bytes("first"));
    expect(outcome.kind).toBe("added");
    const child = await server().getChildVersion(clientId, parent);
    expect(child).toMatchObject({ kind: "found", version: { parentVersionId: parent } });
  });

  it("answers unknown-client and creates nothing when client creation is off", async () => {
    const outcome = await server({ createClients: false }).addVersion(clientId, NIL_UUID, bytes("x"));
    expect(outcome).toEqual({ kind: "unknown-client" });
    expect(await readClient()).toBeNull();
  });

  it("adds the version onto a client created meanwhile (as by an operator), between its refused write and its create", async () => {
    let opened = 0;
    const racing = withTxn(storage, async (id) => {
      // The second transaction is the create: just before it, the client appears, empty.
      if (++opened === 2) await inTxn(storage, id, (txn) => txn.newClient(NIL_UUID), true);
      return storage.txn(id);
    });
    const outcome = await server({}, racing).addVersion(clientId, NIL_UUID, bytes("v1"));
    expect(outcome).toMatchObject({ kind: "added" });
    expect((await readClient())?.latestVersionId).toBe(outcome.kind === "added" ? outcome.versionId : undefined);
  });

  it("accepts versions of an existing client when client creation is off", async () => {
    const [v1] = await addChain(server(), 1);
    const outcome = await server({ createClients: false }).addVersion(clientId, v1!, bytes("x"));
    expect(outcome.kind).toBe("added");
  });

  it("answers conflict naming the latest version when the parent is not latest, storing nothing", async () => {
    const sync = server();
    const [v1, v2] = await addChain(sync, 2);
    for (const parent of [v1!, NIL_UUID, newUuid()]) {
      expect(await sync.addVersion(clientId, parent, bytes("late"))).toEqual({ kind: "conflict", latestVersionId: v2 });
    }
    expect((await readClient())?.latestVersionId).toBe(v2);
    expect(await sync.getChildVersion(clientId, v2!)).toEqual({ kind: "up-to-date" });
  });

  it("of concurrent AddVersions on one parent, exactly one wins and every other conflicts naming it", async () => {
    const sync = server();
    const [v1] = await addChain(sync, 1);
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => sync.addVersion(clientId, v1!, bytes(`r${i}`))));
    const added = outcomes.filter((o) => o.kind === "added");
    expect(added).toHaveLength(1);
    const winner = added[0]!.kind === "added" ? added[0]!.versionId : "";
    expect(outcomes.filter((o) => o.kind === "conflict")).toHaveLength(19);
    for (const o of outcomes) if (o.kind === "conflict") expect(o.latestVersionId).toBe(winner);
  });

  it("of concurrent first versions of a new client, exactly one wins", async () => {
    const sync = server();
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => sync.addVersion(clientId, NIL_UUID, bytes("first"))));
    expect(outcomes.filter((o) => o.kind === "added")).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === "conflict")).toHaveLength(9);
  });

  it("adds one to versions_since per version once a snapshot exists", async () => {
    const sync = server();
    const [, v2] = await addChain(sync, 2);
    await sync.addSnapshot(clientId, v2!, bytes("snap"));
    expect((await readClient())?.snapshot?.versionsSince).toBe(0);
    await addChain(sync, 3, v2!);
    expect((await readClient())?.snapshot?.versionsSince).toBe(3);
  });

  it("computes the snapshot urgency from the state before the version is added", async () => {
    const sync = server({ snapshotVersions: 2 });
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("snap"));
    // versions_since before each add: 0, 1, 2 (low at T=2), 3 (high at 3)
    const urgencies = [];
    let parent = v1!;
    for (let i = 0; i < 4; i++) {
      const o = await sync.addVersion(clientId, parent, bytes("x"));
      if (o.kind !== "added") throw new Error(o.kind);
      urgencies.push(o.snapshotUrgency);
      parent = o.versionId;
    }
    expect(urgencies).toEqual(["none", "none", "low", "high"]);
  });

  it("asks by the snapshot's age in days", async () => {
    const sync = server();
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("snap"));
    now = new Date(now.getTime() + 14 * DAY);
    const o = await sync.addVersion(clientId, v1!, bytes("x"));
    expect(o).toMatchObject({ kind: "added", snapshotUrgency: "low" });
    now = new Date(now.getTime() + 7 * DAY);
    const o2 = await sync.addVersion(clientId, o.kind === "added" ? o.versionId : NIL_UUID, bytes("x"));
    expect(o2).toMatchObject({ kind: "added", snapshotUrgency: "high" });
  });
});

describe("AddVersion's read of the client, alongside its write", () => {
  it("takes the new version back out of versions_since when the read already sees it", async () => {
    const sync = server({ snapshotVersions: 2 });
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("snap"));
    // The client is read only after the write committed, as on a store without locks.
    const late = withTxn(storage, async (id) => {
      const txn = await storage.txn(id);
      let committed!: () => void;
      const commit = new Promise<void>((resolve) => (committed = resolve));
      return Object.assign(Object.create(txn) as StorageTxn, {
        getClient: async () => {
          await commit;
          return txn.getClient();
        },
        commit: async () => {
          await txn.commit();
          committed();
        },
      });
    });
    const urgencies = [];
    let parent = v1!;
    for (let i = 0; i < 4; i++) {
      const o = await server({ snapshotVersions: 2 }, late).addVersion(clientId, parent, bytes("x"));
      if (o.kind !== "added") throw new Error(o.kind);
      urgencies.push(o.snapshotUrgency);
      parent = o.versionId;
    }
    // As when the read comes first: versions_since before each add is 0, 1, 2, 3.
    expect(urgencies).toEqual(["none", "none", "low", "high"]);
  });

  it("answers added without a snapshot request when the read fails: the version is stored", async () => {
    const [v1] = await addChain(server(), 1);
    const failingRead = withTxn(storage, async (id) => {
      const txn = await storage.txn(id);
      return Object.assign(Object.create(txn) as StorageTxn, { getClient: () => Promise.reject(new Error("read failed")) });
    });
    const o = await server({}, failingRead).addVersion(clientId, v1!, bytes("x"));
    expect(o).toMatchObject({ kind: "added", snapshotUrgency: "none" });
    expect((await readClient())?.latestVersionId).toBe(o.kind === "added" ? o.versionId : undefined);
  });
});

describe("the per-client quota (maxClientBytes)", () => {
  it("refuses a version that would pass it, storing nothing; a version that fits exactly is added", async () => {
    // Each version counts its bytes and the store's overhead.
    const sync = server({ maxClientBytes: 2 + OVERHEAD + 8 + OVERHEAD });
    const [v1] = await addChain(sync, 1); // 2 bytes
    expect(await sync.addVersion(clientId, v1!, bytes("123456789"))).toEqual({
      kind: "quota-exceeded",
      usedBytes: 2 + OVERHEAD,
      maxClientBytes: 2 + OVERHEAD + 8 + OVERHEAD,
    });
    expect((await readClient())?.latestVersionId).toBe(v1);
    expect(await sync.addVersion(clientId, v1!, bytes("12345678"))).toMatchObject({ kind: "added" });
  });

  it("counts each version's overhead, so that tiny versions cannot multiply what is stored", async () => {
    const sync = server({ maxClientBytes: 10 * (1 + OVERHEAD) });
    let parent = NIL_UUID;
    for (let i = 0; i < 10; i++) {
      const outcome = await sync.addVersion(clientId, parent, bytes("x"));
      if (outcome.kind !== "added") throw new Error(outcome.kind);
      parent = outcome.versionId;
    }
    expect(await sync.addVersion(clientId, parent, bytes("x"))).toMatchObject({ kind: "quota-exceeded", usedBytes: 10 * (1 + OVERHEAD) });
  });

  it("refuses a new client's first version larger than the quota, creating no client", async () => {
    expect(await server({ maxClientBytes: 3 }).addVersion(clientId, NIL_UUID, bytes("1234"))).toMatchObject({ kind: "quota-exceeded" });
    expect(await readClient()).toBeNull();
  });

  it("checks the chain first: a stale parent is a conflict, not a quota refusal", async () => {
    const [v1, v2] = await addChain(server(), 2);
    expect(await server({ maxClientBytes: 5 }).addVersion(clientId, v1!, bytes("123456"))).toEqual({
      kind: "conflict",
      latestVersionId: v2,
    });
  });

  it("declines a snapshot that would pass it: answered, not stored, the current one kept, and none asked for a period", async () => {
    const [v1] = await addChain(server(), 1);
    const sync = server({ maxClientBytes: 1000 });
    expect(await sync.addSnapshot(clientId, v1!, new Uint8Array(1000))).toEqual({ kind: "declined", reason: "quota" });
    const client = await readClient();
    expect(client?.snapshot).toBeNull();
    expect(client?.snapshotDeclined).toEqual({ timestamp: now, versionsSince: 0 });
    // Declined: the next AddVersion asks for no snapshot.
    expect(await server().addVersion(clientId, v1!, bytes("x"))).toMatchObject({ kind: "added", snapshotUrgency: "none" });
  });

  it("stores a snapshot that fits; it counts toward the quota", async () => {
    const [v1] = await addChain(server(), 1);
    const sync = server({ maxClientBytes: 2 + OVERHEAD + 100 + 1 + OVERHEAD });
    expect(await sync.addSnapshot(clientId, v1!, new Uint8Array(100))).toEqual({ kind: "stored" });
    expect(await sync.addVersion(clientId, v1!, bytes("xy"))).toMatchObject({ kind: "quota-exceeded" });
    expect(await sync.addVersion(clientId, v1!, bytes("x"))).toMatchObject({ kind: "added" });
  });

  it("has no limit without maxClientBytes", async () => {
    const sync = server({ maxClientBytes: undefined });
    expect(await sync.addVersion(clientId, NIL_UUID, new Uint8Array(5_000_000))).toMatchObject({ kind: "added" });
  });
});

describe("snapshots the server did not ask for", () => {
  it("stores a snapshot only when the server would ask for one: none yet, or past a threshold", async () => {
    const sync = server({ snapshotVersions: 3 });
    const ids = await addChain(sync, 2);
    // No snapshot: always asked.
    expect(await sync.addSnapshot(clientId, ids[1]!, bytes("first"))).toEqual({ kind: "stored" });
    const more = await addChain(sync, 2, ids[1]);
    // Two versions since, under the threshold of 3: not asked, not stored.
    expect(await sync.addSnapshot(clientId, more[1]!, bytes("early"))).toEqual({ kind: "ignored", reason: "not-requested" });
    expect(await sync.getSnapshot(clientId)).toMatchObject({ versionId: ids[1], data: bytes("first") });
    const last = await addChain(sync, 1, more[1]);
    expect(await sync.addSnapshot(clientId, last[0]!, bytes("due"))).toEqual({ kind: "stored" });
  });

  it("by age too: a snapshot older than snapshotDays is asked for", async () => {
    const sync = server({ snapshotDays: 14 });
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("first"));
    const [v2] = await addChain(sync, 1, v1);
    expect(await sync.addSnapshot(clientId, v2!, bytes("s"))).toMatchObject({ kind: "ignored", reason: "not-requested" });
    now = new Date(now.getTime() + 14 * DAY);
    expect(await sync.addSnapshot(clientId, v2!, bytes("s"))).toEqual({ kind: "stored" });
  });

  it("sets a decline aside: a snapshot that arrives after one was declined is taken", async () => {
    const sync = server({ snapshotVersions: 2 });
    const ids = await addChain(sync, 3);
    await sync.addSnapshot(clientId, ids[0]!, bytes("first"));
    const [, v5] = await addChain(sync, 2, ids[2]);
    expect(await sync.declineSnapshot(clientId, v5!, "too-large")).toMatchObject({ kind: "declined" });
    // The decline stops the requests, but a snapshot the thresholds call for is still welcome.
    expect(await sync.addSnapshot(clientId, v5!, bytes("fits"))).toEqual({ kind: "stored" });
  });
});

describe("snapshot requests that no snapshot answers", () => {
  async function urgenciesOf(sync: SyncServer, count: number, from: Uuid): Promise<{ urgencies: string[]; latest: Uuid }> {
    const urgencies: string[] = [];
    let parent = from;
    for (let i = 0; i < count; i++) {
      const o = await sync.addVersion(clientId, parent, bytes("x"));
      if (o.kind !== "added") throw new Error(o.kind);
      urgencies.push(o.snapshotUrgency);
      parent = o.versionId;
    }
    return { urgencies, latest: parent };
  }

  it("after three answers of urgency high with no AddSnapshot between them, the snapshot counts as declined", async () => {
    const sync = server({ snapshotVersions: 2 });
    const { urgencies } = await urgenciesOf(sync, 5, NIL_UUID);
    // No snapshot: high, high, high; then declined, and asked again only a period later.
    expect(urgencies).toEqual(["high", "high", "high", "none", "none"]);
    expect((await readClient())?.snapshotDeclined).toEqual({ timestamp: now, versionsSince: 2 });
  });

  it("any AddSnapshot between them, even one not stored, starts the count again", async () => {
    const sync = server();
    const first = await urgenciesOf(sync, 2, NIL_UUID);
    expect(await sync.addSnapshot(clientId, newUuid(), bytes("not of a recent version"))).toMatchObject({ kind: "ignored" });
    const next = await urgenciesOf(sync, 2, first.latest);
    expect([...first.urgencies, ...next.urgencies]).toEqual(["high", "high", "high", "high"]);
    expect((await readClient())?.snapshotDeclined).toBeNull();
    expect((await urgenciesOf(sync, 1, next.latest)).urgencies).toEqual(["high"]);
    expect((await readClient())?.snapshotDeclined).toEqual({ timestamp: now, versionsSince: 0 });
  });
});

describe("GetChildVersion", () => {
  it("answers unknown-client for an unknown client", async () => {
    expect(await server().getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "unknown-client" });
  });

  it("returns the child of a parent with its segment", async () => {
    const sync = server();
    const [v1, v2] = await addChain(sync, 2);
    const outcome = await sync.getChildVersion(clientId, v1!);
    expect(outcome).toEqual({ kind: "found", version: { versionId: v2, parentVersionId: v1, historySegment: bytes("v1") } });
    expect(await sync.getChildVersion(clientId, NIL_UUID)).toMatchObject({ kind: "found", version: { versionId: v1 } });
  });

  it("answers up-to-date for the latest version", async () => {
    const sync = server();
    const [, v2] = await addChain(sync, 2);
    expect(await sync.getChildVersion(clientId, v2!)).toEqual({ kind: "up-to-date" });
  });

  it("answers up-to-date for any parent while the client has no versions", async () => {
    const txn = await storage.txn(clientId);
    await txn.newClient(NIL_UUID);
    await txn.commit();
    await txn.release();
    expect(await server().getChildVersion(clientId, newUuid())).toEqual({ kind: "up-to-date" });
    expect(await server().getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "up-to-date" });
  });

  it("answers gone for a parent that is not in the history", async () => {
    const sync = server();
    await addChain(sync, 2);
    expect(await sync.getChildVersion(clientId, newUuid())).toEqual({ kind: "gone" });
  });

  it("answers gone for the nil parent when the chain started elsewhere", async () => {
    const sync = server();
    await addChain(sync, 1, newUuid());
    expect(await sync.getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "gone" });
  });

  it("looks for the child again before answering gone (a child committed between the two reads)", async () => {
    const sync = server();
    const [v1] = await addChain(sync, 1);
    // The first child lookup runs before the racing AddVersion, the client read after it.
    const racing = racingStorage(storage, async () => {
      await sync.addVersion(clientId, v1!, bytes("racer"));
    });
    const outcome = await server({}, racing).getChildVersion(clientId, v1!);
    expect(outcome).toMatchObject({ kind: "found", version: { parentVersionId: v1 } });
  });
});

describe("AddSnapshot", () => {
  it("answers unknown-client for an unknown client", async () => {
    expect(await server().addSnapshot(clientId, newUuid(), bytes("s"))).toEqual({ kind: "unknown-client" });
  });

  it("stores a snapshot of the latest version, and GetSnapshot returns it", async () => {
    const sync = server();
    const [, v2] = await addChain(sync, 2);
    expect(await sync.addSnapshot(clientId, v2!, bytes("snap"))).toEqual({ kind: "stored" });
    expect(await sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: v2, data: bytes("snap") });
    const client = await readClient();
    expect(client?.snapshot).toEqual({ versionId: v2, timestamp: now, versionsSince: 0 });
  });

  it("accepts each of the 5 most recent versions and none older", async () => {
    // A threshold of 0: a snapshot is always asked for, so each one is judged by its version alone.
    const sync = server({ snapshotVersions: 0 });
    const ids = await addChain(sync, 7);
    // ids[6] is latest: ids[2..6] are the 5 most recent.
    for (const [i, expected] of [
      [1, "ignored"],
      [0, "ignored"],
    ] as const) {
      expect((await sync.addSnapshot(clientId, ids[i]!, bytes("s"))).kind).toBe(expected);
    }
    expect(await sync.addSnapshot(clientId, ids[1]!, bytes("s"))).toEqual({ kind: "ignored", reason: "not-recent" });
    expect(await sync.addSnapshot(clientId, ids[2]!, bytes("s2"))).toEqual({ kind: "stored" });
    for (const i of [3, 4, 5, 6]) expect(await sync.addSnapshot(clientId, ids[i]!, bytes(`s${i}`))).toEqual({ kind: "stored" });
  });

  it("ignores the nil version", async () => {
    const sync = server();
    await addChain(sync, 1);
    expect(await sync.addSnapshot(clientId, NIL_UUID, bytes("s"))).toEqual({ kind: "ignored", reason: "nil-version" });
  });

  it("ignores the current snapshot's version, keeping the stored data", async () => {
    const sync = server();
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("first"));
    expect(await sync.addSnapshot(clientId, v1!, bytes("second"))).toEqual({ kind: "ignored", reason: "already-current" });
    expect(await sync.getSnapshot(clientId)).toMatchObject({ data: bytes("first") });
  });

  it("ignores a version older than the current snapshot", async () => {
    const sync = server();
    const [v1, v2] = await addChain(sync, 3);
    await sync.addSnapshot(clientId, v2!, bytes("newer"));
    expect(await sync.addSnapshot(clientId, v1!, bytes("older"))).toEqual({ kind: "ignored", reason: "newer-snapshot-exists" });
    expect(await sync.getSnapshot(clientId)).toMatchObject({ versionId: v2, data: bytes("newer") });
  });

  it("ignores an unknown version and the first version's parent (not a stored version)", async () => {
    const sync = server();
    const origin = newUuid();
    await addChain(sync, 2, origin);
    expect(await sync.addSnapshot(clientId, newUuid(), bytes("s"))).toEqual({ kind: "ignored", reason: "not-recent" });
    expect(await sync.addSnapshot(clientId, origin, bytes("s"))).toEqual({ kind: "ignored", reason: "not-recent" });
  });

  it("stops walking at a missing version", async () => {
    const sync = server();
    const [v1, v2, v3] = await addChain(sync, 3);
    const hiding = new HidingStorage(storage, v2!);
    expect(await server({}, hiding.storage).addSnapshot(clientId, v1!, bytes("s"))).toEqual({ kind: "ignored", reason: "not-recent" });
    expect(await server({}, hiding.storage).addSnapshot(clientId, v3!, bytes("s"))).toEqual({ kind: "stored" });
  });

  it("reads no more versions than the verdict needs", async () => {
    const sync = server();
    const ids = await addChain(sync, 8);
    const counting = new HidingStorage(storage);
    await server({}, counting.storage).addSnapshot(clientId, ids[7]!, bytes("latest"));
    expect(counting.versionReads).toBe(0);
    await server({}, counting.storage).addSnapshot(clientId, ids[0]!, bytes("too old"));
    expect(counting.versionReads).toBeLessThanOrEqual(5);
  });

  it("resets versions_since and the age when a snapshot is stored", async () => {
    const sync = server({ snapshotVersions: 2 });
    const ids = await addChain(sync, 4);
    await sync.addSnapshot(clientId, ids[1]!, bytes("old"));
    const o = await sync.addVersion(clientId, ids[3]!, bytes("x"));
    expect(o).toMatchObject({ snapshotUrgency: "none" });
    const client = await readClient();
    expect(client?.snapshot?.versionsSince).toBe(1);
  });
});

describe("AddSnapshot of a snapshot too large to accept (declineSnapshot)", () => {
  it("records the decline where the snapshot would have been stored, keeping the current snapshot", async () => {
    const sync = server({ snapshotVersions: 2 });
    const [v1] = await addChain(sync, 1);
    await sync.addSnapshot(clientId, v1!, bytes("kept"));
    const [, v3] = await addChain(sync, 2, v1);
    now = new Date(now.getTime() + DAY);
    expect(await sync.declineSnapshot(clientId, v3!, "too-large")).toEqual({ kind: "declined", reason: "too-large" });
    const client = await readClient();
    expect(client?.snapshotDeclined).toEqual({ timestamp: now, versionsSince: 0 });
    expect(client?.snapshot?.versionId).toBe(v1);
    expect(await sync.getSnapshot(clientId)).toMatchObject({ versionId: v1, data: bytes("kept") });
  });

  it("stops the server asking for a snapshot until a period later, and a stored snapshot ends that", async () => {
    const sync = server({ snapshotVersions: 2 });
    const [v1] = await addChain(sync, 1);
    await sync.declineSnapshot(clientId, v1!, "too-large");
    const urgencies = [];
    let parent = v1!;
    for (let i = 0; i < 3; i++) {
      const o = await sync.addVersion(clientId, parent, bytes("x"));
      if (o.kind !== "added") throw new Error(o.kind);
      urgencies.push(o.snapshotUrgency);
      parent = o.versionId;
    }
    expect(urgencies).toEqual(["none", "none", "low"]);
    expect((await readClient())?.snapshotDeclined?.versionsSince).toBe(3);
    expect(await sync.addSnapshot(clientId, parent, bytes("fits"))).toEqual({ kind: "stored" });
    expect((await readClient())?.snapshotDeclined).toBeNull();
  });

  it("ignores what AddSnapshot would ignore, and answers unknown-client", async () => {
    const sync = server();
    expect(await sync.declineSnapshot(clientId, newUuid(), "too-large")).toEqual({ kind: "unknown-client" });
    const [v1, v2] = await addChain(sync, 2);
    await sync.addSnapshot(clientId, v2!, bytes("s"));
    expect(await sync.declineSnapshot(clientId, v1!, "too-large")).toEqual({ kind: "ignored", reason: "newer-snapshot-exists" });
    expect(await sync.declineSnapshot(clientId, NIL_UUID, "too-large")).toEqual({ kind: "ignored", reason: "nil-version" });
    const [v3] = await addChain(sync, 1, v2);
    expect(await sync.declineSnapshot(clientId, v3!, "too-large")).toEqual({ kind: "ignored", reason: "not-requested" });
    expect((await readClient())?.snapshotDeclined).toBeNull();
  });
});

describe("GetSnapshot", () => {
  it("answers unknown-client for an unknown client and none without a snapshot", async () => {
    const sync = server();
    expect(await sync.getSnapshot(clientId)).toEqual({ kind: "unknown-client" });
    await addChain(sync, 1);
    expect(await sync.getSnapshot(clientId)).toEqual({ kind: "none" });
  });
});

describe("GetSnapshot racing a replacement", () => {
  it("reads again when the snapshot it saw was replaced before its data was read", async () => {
    const sync = server();
    const [v1, v2] = await addChain(sync, 2);
    await sync.addSnapshot(clientId, v1!, bytes("old"));
    // The first data read misses (the snapshot moved on to v2 in between, as on DynamoDB).
    let replaced = false;
    const racing = withTxn(storage, async (id) => {
      const txn = await storage.txn(id);
      return Object.assign(Object.create(txn) as StorageTxn, {
        async getSnapshotData(versionId: Uuid) {
          if (!replaced) {
            replaced = true;
            await txn.setSnapshot({ versionId: v2!, timestamp: now, versionsSince: 0 }, bytes("new"));
            return null;
          }
          return txn.getSnapshotData(versionId);
        },
      });
    });
    expect(await server({}, racing).getSnapshot(clientId)).toEqual({ kind: "found", versionId: v2, data: bytes("new") });
  });
});

describe("allowlist", () => {
  it("lets everyone in without a list, and only listed ids with one", () => {
    expect(server().isAllowed(clientId)).toBe(true);
    const other = newUuid();
    const sync = server({ allowedClientIds: new Set([other]) });
    expect(sync.isAllowed(other)).toBe(true);
    expect(sync.isAllowed(clientId)).toBe(false);
  });
});

/** Passes through to a store, hiding one version (as if deleted) and counting version reads. */
class HidingStorage {
  versionReads = 0;
  readonly storage: Storage;
  constructor(inner: Storage, hidden?: Uuid) {
    this.storage = withTxn(inner, async (id) => {
      const txn = await inner.txn(id);
      return Object.assign(Object.create(txn) as StorageTxn, {
        getVersion: async (versionId: Uuid): Promise<Version | null> => {
          this.versionReads++;
          return versionId === hidden ? null : txn.getVersion(versionId);
        },
      });
    });
  }
}

/** Runs `between` after the first child lookup and before the client read of one transaction. */
/** A store whose child lookup lets `between` run before the client read, without the store's lock. */
function racingStorage(inner: MemoryStorage, between: () => Promise<void>): Storage {
  return withTxn(inner, async (id) => {
    // Read-only views without the store's lock, so the racing write can run in between.
    const view = (): Promise<StorageTxn> => inner.txn(id);
    let lookups = 0;
    let raceDone!: () => void;
    const raced = new Promise<void>((resolve) => (raceDone = resolve));
    return txnOf({
      async getVersionByParent(parent: Uuid) {
        const t = await view();
        try {
          return await t.getVersionByParent(parent);
        } finally {
          await t.release();
          if (lookups++ === 0) await between().then(raceDone);
        }
      },
      async getClient() {
        await raced;
        const t = await view();
        try {
          return await t.getClient();
        } finally {
          await t.release();
        }
      },
    });
  });
}
