/**
 * History pruning (lambda/operations/prune.ts) on every storage: only versions that precede the
 * snapshot's version and are older than the retention go, in bounded batches, safely beside other
 * prunes and syncs, stoppable and resumable; afterwards the protocol tells a replica whose base
 * was removed that it is gone (410), and a fresh replica starts from the snapshot and catches up.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LocalHttpServer } from "../../bin/local-http.ts";
import { HttpStatusError, Replica } from "../../client/replica.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer } from "../../lambda/core/sync.ts";
import { pruneAllClients, pruneClient } from "../../lambda/operations/prune.ts";
import type { Storage, StorageTxn } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { serveStorage } from "../support/local-server.ts";
import { dynamoStore, memoryStore, sqliteStore, type Store } from "../support/stores.ts";
import { inTxn } from "../support/txn.ts";

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date(Date.UTC(2026, 5, 1));
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);
const segment = (i: number) => Uint8Array.from({ length: 20 + i }, (_, j) => (i * 31 + j) % 256);

interface Imported {
  clientId: Uuid;
  ids: Uuid[];
  sizes: number[];
}

/** A client whose versions were added the given numbers of days before NOW, with a snapshot at index `snapshotAt`. */
async function clientAged(storage: Storage, ages: readonly number[], snapshotAt: number | null): Promise<Imported> {
  const clientId = newUuid();
  const ids = ages.map(() => newUuid());
  await storage.importClient(clientId, {
    latestVersionId: ids.at(-1) ?? NIL_UUID,
    snapshot:
      snapshotAt === null
        ? null
        : {
            versionId: ids[snapshotAt]!,
            timestamp: daysAgo(ages[snapshotAt]!),
            versionsSince: ages.length - 1 - snapshotAt,
            data: segment(99),
          },
    versions: (async function* () {
      for (const [i, versionId] of ids.entries()) {
        yield { versionId, parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!, historySegment: segment(i), addedAt: daysAgo(ages[i]!) };
      }
    })(),
  });
  return { clientId, ids, sizes: ids.map((_, i) => segment(i).byteLength) };
}

const details = (storage: Storage, clientId: Uuid) => inTxn(storage, clientId, (txn) => txn.getClientDetails());

/** The ids of the stored chain, oldest first, read through getVersionByParent. */
async function storedChain(storage: Storage, clientId: Uuid): Promise<Uuid[]> {
  const start = (await details(storage, clientId))?.oldestVersion?.parentVersionId;
  return inTxn(storage, clientId, async (txn) => {
    const ids: Uuid[] = [];
    for (let v = start === undefined ? null : await txn.getVersionByParent(start); v; v = await txn.getVersionByParent(v.versionId)) {
      ids.push(v.versionId);
    }
    return ids;
  });
}

/** The storage, with `afterCommit` run after each committed transaction (to stop a prune between batches). */
function withCommitHook(storage: Storage, afterCommit: () => void): Storage {
  const hooked = (txn: StorageTxn): StorageTxn =>
    new Proxy(txn, {
      get(target, property) {
        if (property === "commit") {
          return async () => {
            await target.commit();
            afterCommit();
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return new Proxy(storage, {
    get(target, property) {
      if (property === "txn") return async (clientId: Uuid) => hooked(await target.txn(clientId));
      const value: unknown = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const STORES: [string, () => Promise<Store>][] = [
  ["memory", memoryStore],
  ["SQLite", sqliteStore],
  ["DynamoDB + S3", () => dynamoStore("prune", { inlineSegmentMaxBytes: 30 })],
];

describe.each(STORES)("pruning on %s", (_name, makeStore) => {
  let store: Store;
  let storage: Storage;

  beforeAll(async () => {
    store = await makeStore();
    storage = store.open();
  });
  afterAll(async () => {
    await store.close();
  });

  test("only versions older than the retention that precede the snapshot go; bytes and counts drop with them", async () => {
    const { clientId, ids, sizes } = await clientAged(storage, [300, 300, 300, 200, 100, 100, 10, 5], 6);
    const before = await details(storage, clientId);
    const result = await pruneClient(storage, clientId, { historyDays: 180, now: NOW });
    const removedBytes = sizes.slice(0, 4).reduce((a, b) => a + b, 0);
    expect(result).toEqual({ removedVersions: 4, removedBytes, status: "complete" });
    expect(await details(storage, clientId)).toMatchObject({
      versions: 4,
      storedBytes: (before?.storedBytes ?? 0) - removedBytes,
      oldestVersion: { versionId: ids[4], parentVersionId: ids[3] },
      latestVersionId: ids[7],
      snapshot: { versionId: ids[6] },
    });
    expect(await storedChain(storage, clientId)).toEqual(ids.slice(4));
    // What stays is intact, byte for byte.
    await inTxn(storage, clientId, async (txn) => {
      for (const i of [4, 5, 6, 7]) expect((await txn.getVersion(ids[i]!))?.historySegment).toEqual(segment(i));
    });
    // A shorter retention reaches the snapshot's version and stops there, whatever its age.
    expect(await pruneClient(storage, clientId, { historyDays: 1, now: NOW })).toMatchObject({ removedVersions: 2, status: "complete" });
    expect(await storedChain(storage, clientId)).toEqual(ids.slice(6));
    expect(await pruneClient(storage, clientId, { historyDays: 1, now: NOW })).toMatchObject({ removedVersions: 0, status: "complete" });
  });

  test("never the snapshot's version or after it, nothing without a snapshot, nothing with 0 days", async () => {
    const atFirst = await clientAged(storage, [400, 400, 400], 0);
    expect(await pruneClient(storage, atFirst.clientId, { historyDays: 30, now: NOW })).toMatchObject({ removedVersions: 0 });
    expect(await storedChain(storage, atFirst.clientId)).toEqual(atFirst.ids);

    const without = await clientAged(storage, [400, 400, 400], null);
    expect(await pruneClient(storage, without.clientId, { historyDays: 30, now: NOW })).toMatchObject({ removedVersions: 0 });
    expect(await storedChain(storage, without.clientId)).toEqual(without.ids);

    const kept = await clientAged(storage, [400, 400, 400], 2);
    expect(await pruneClient(storage, kept.clientId, { historyDays: 0, now: NOW })).toMatchObject({ removedVersions: 0 });
    expect(await storedChain(storage, kept.clientId)).toEqual(kept.ids);

    expect(await pruneClient(storage, newUuid(), { historyDays: 30, now: NOW })).toMatchObject({ status: "unknown-client" });
  });

  test("a long history goes in batches; a stop between batches loses nothing and the next run finishes", async () => {
    const { clientId, ids } = await clientAged(
      storage,
      Array.from({ length: 100 }, () => 365),
      95,
    );
    const controller = new AbortController();
    const first = await pruneClient(
      withCommitHook(storage, () => controller.abort()),
      clientId,
      { historyDays: 180, now: NOW, signal: controller.signal },
    );
    expect(first).toEqual({ removedVersions: 40, removedBytes: expect.any(Number), status: "stopped" });
    expect(await storedChain(storage, clientId)).toEqual(ids.slice(40));
    expect(await pruneClient(storage, clientId, { historyDays: 180, now: NOW, signal: AbortSignal.abort() })).toMatchObject({
      removedVersions: 0,
      status: "stopped",
    });
    expect(await pruneClient(storage, clientId, { historyDays: 180, now: NOW })).toMatchObject({ removedVersions: 55, status: "complete" });
    expect(await storedChain(storage, clientId)).toEqual(ids.slice(95));
    expect((await details(storage, clientId))?.versions).toBe(5);
  });

  test("two prunes and a syncing replica at once: each version goes once, the chain goes on", async () => {
    const { clientId, ids } = await clientAged(
      storage,
      Array.from({ length: 90 }, () => 365),
      85,
    );
    const sync = new SyncServer(store.open(), DEFAULT_SYNC_RULES);
    const syncing = (async () => {
      let parent = ids.at(-1)!;
      for (let i = 0; i < 10; i++) {
        const outcome = await sync.addVersion(clientId, parent, segment(i));
        if (outcome.kind !== "added") throw new Error(`a sync was refused: ${JSON.stringify(outcome)}`);
        parent = outcome.versionId;
      }
      return parent;
    })();
    const [a, b, latest] = await Promise.all([
      pruneClient(store.open(), clientId, { historyDays: 180, now: NOW }),
      pruneClient(store.open(), clientId, { historyDays: 180, now: NOW }),
      syncing,
    ]);
    expect(a.removedVersions + b.removedVersions).toBe(85);
    expect([a.status, b.status]).toEqual(["complete", "complete"]);
    const chain = await storedChain(storage, clientId);
    expect(chain.slice(0, 5)).toEqual(ids.slice(85));
    expect(chain).toHaveLength(15);
    expect(chain.at(-1)).toBe(latest);
  });

  test("after pruning, the protocol answers 'gone' for a removed base, never 'up to date'", async () => {
    const { clientId, ids } = await clientAged(storage, [300, 300, 300, 300, 300, 1], 4);
    await pruneClient(storage, clientId, { historyDays: 180, now: NOW });
    const sync = new SyncServer(storage, DEFAULT_SYNC_RULES);
    // The children of NIL, ids[0], ids[1] and ids[2] are gone; ids[3]'s child is the snapshot's version.
    for (const parent of [NIL_UUID, ids[0]!, ids[1]!, ids[2]!])
      expect(await sync.getChildVersion(clientId, parent)).toEqual({ kind: "gone" });
    expect(await sync.getChildVersion(clientId, ids[3]!)).toMatchObject({ kind: "found", version: { versionId: ids[4] } });
    expect(await sync.getChildVersion(clientId, ids[5]!)).toEqual({ kind: "up-to-date" });
  });

  test("every client at once: those with a snapshot lose what they may, the others nothing", async () => {
    const a = await clientAged(storage, [300, 300, 300, 1], 2);
    const b = await clientAged(storage, [300, 300], null);
    const reported: Uuid[] = [];
    const total = await pruneAllClients(storage, { historyDays: 180, now: NOW, onClient: (clientId) => void reported.push(clientId) });
    expect(total.failures).toEqual([]);
    expect(total.stopped).toBe(false);
    expect(total.removedVersions).toBeGreaterThanOrEqual(2);
    expect(reported).toContain(a.clientId);
    expect(reported).not.toContain(b.clientId);
    expect(await storedChain(storage, a.clientId)).toEqual(a.ids.slice(2));
    expect(await storedChain(storage, b.clientId)).toEqual(b.ids);
  });

  test("real replicas: the one left behind is told 410, a fresh one starts from the snapshot and catches up", async () => {
    const rules = { ...DEFAULT_SYNC_RULES, snapshotVersions: 3 };
    const http: LocalHttpServer = await serveStorage(store.open(), rules);
    try {
      const clientId = newUuid();
      const options = { baseUrl: http.url, clientId, secret: "prune test secret", snapshotOnLowUrgency: true };
      const active = new Replica({ ...options, name: "active" });
      const behind = new Replica({ ...options, name: "behind" });
      active.createTask({ description: "first", status: "pending" });
      await active.sync();
      await behind.sync();
      for (let i = 0; i < 12; i++) {
        active.createTask({ description: `task ${i}`, status: "pending" });
        await active.sync();
      }
      const before = await details(storage, clientId);
      const snapshot = before?.snapshot;
      expect(snapshot).toBeTruthy();
      // A year from now, every version before the snapshot is past the retention.
      const result = await pruneClient(storage, clientId, { historyDays: 180, now: new Date(Date.now() + 365 * DAY) });
      expect(result.removedVersions).toBeGreaterThan(5);
      const after = await details(storage, clientId);
      expect(after?.versions).toBe((before?.versions ?? 0) - result.removedVersions);
      expect(after?.storedBytes).toBe((before?.storedBytes ?? 0) - result.removedBytes);
      expect(after?.oldestVersion?.versionId).toBe(snapshot?.versionId);

      const refused = await behind.sync().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(HttpStatusError);
      expect((refused as HttpStatusError).status).toBe(410);

      const fresh = new Replica({ ...options, name: "fresh" });
      const bootstrap = await fresh.sync();
      expect(bootstrap.fetchedSnapshot).toBe(true);
      expect(fresh.tasks()).toBe(active.tasks());
      expect(fresh.baseVersionId).toBe(active.baseVersionId);
      // Both carry on together.
      fresh.createTask({ description: "after the prune", status: "pending" });
      await fresh.sync();
      await active.sync();
      expect(active.tasks()).toBe(fresh.tasks());
    } finally {
      await http.close();
    }
  });
});
