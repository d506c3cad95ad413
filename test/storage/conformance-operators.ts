/**
 * The part of the storage contract that serves operators and bounds a client, run on every
 * store by `storageConformance`: a client's details and stored bytes, the quota bound on
 * addVersion, the oldest versions and their removal, the count of unanswered snapshot
 * requests, and listing, removing and importing whole clients.
 */
import { describe, expect, test } from "vitest";
import { ClientExistsError, ClientNotFoundError, OldestVersionsMovedError, QuotaExceededError } from "../../lambda/storage/errors.ts";
import { MAX_REMOVED_VERSIONS, type Storage, type StorageTxn, type Version } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { chainVersions } from "../support/chain-import.ts";
import { inTxn as runInTxn } from "../support/txn.ts";

/** What a store's `usedBytes` counts (lambda/storage/types.ts, "the quota"). */
export interface QuotaAccounting {
  /** A stored version whose segment has `bytes`. */
  version(bytes: number): number;
  /** The snapshot of `bytes`. */
  snapshot(bytes: number): number;
  /** Whether a replaced snapshot's bytes stay counted (a versioned bucket keeps them for a while). */
  keepsReplaced: boolean;
}

export function operatorConformance(storage: () => Storage, accounting: QuotaAccounting): void {
  const inTxn = <T>(clientId: Uuid, work: (txn: StorageTxn) => Promise<T>, commit = false) => runInTxn(storage(), clientId, work, commit);
  const write = <T>(clientId: Uuid, work: (txn: StorageTxn) => Promise<T>) => inTxn(clientId, work, true);
  const details = (clientId: Uuid) => inTxn(clientId, (txn) => txn.getClientDetails());
  const bytesOf = (size: number, seed = 0) => Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);

  /** A committed client with versions of the given sizes; returns their ids, oldest first. */
  async function clientWith(clientId: Uuid, sizes: readonly number[]): Promise<Uuid[]> {
    await write(clientId, (txn) => txn.newClient(NIL_UUID));
    const ids: Uuid[] = [];
    let parent = NIL_UUID;
    for (const [i, size] of sizes.entries()) {
      const versionId = newUuid();
      await write(clientId, (txn) => txn.addVersion(versionId, parent, bytesOf(size, i)));
      ids.push(versionId);
      parent = versionId;
    }
    return ids;
  }

  /** The versions from the oldest stored one to latest, through getVersionByParent. */
  async function storedChain(clientId: Uuid): Promise<Version[]> {
    const start = (await details(clientId))?.oldestVersion?.parentVersionId;
    return inTxn(clientId, async (txn) => {
      const chain: Version[] = [];
      for (let v = start === undefined ? null : await txn.getVersionByParent(start); v; v = await txn.getVersionByParent(v.versionId)) {
        chain.push(v);
      }
      return chain;
    });
  }

  describe("details and stored bytes", () => {
    test("an unknown client has none; a new one has nothing stored", async () => {
      expect(await details(newUuid())).toBeNull();
      const clientId = newUuid();
      await write(clientId, (txn) => txn.newClient(NIL_UUID));
      expect(await details(clientId)).toEqual({
        clientId,
        latestVersionId: NIL_UUID,
        oldestVersion: null,
        versions: 0,
        storedBytes: 0,
        usedBytes: 0,
        snapshot: null,
        latestAddedAt: null,
      });
    });

    test("every segment and the snapshot count; a replaced snapshot stops counting as stored", async () => {
      const clientId = newUuid();
      const before = Date.now();
      const ids = await clientWith(clientId, [100, 250, 1000]);
      const after = Date.now();
      let got = await details(clientId);
      expect(got).toMatchObject({
        latestVersionId: ids[2],
        oldestVersion: { versionId: ids[0], parentVersionId: NIL_UUID },
        versions: 3,
        storedBytes: 1350,
        snapshot: null,
      });
      expect(got?.latestAddedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(got?.latestAddedAt?.getTime()).toBeLessThanOrEqual(after + 1000);
      const timestamp = new Date();
      await write(clientId, (txn) => txn.setSnapshot({ versionId: ids[1]!, timestamp, versionsSince: 1 }, bytesOf(500)));
      got = await details(clientId);
      expect(got?.storedBytes).toBe(1850);
      expect(got?.snapshot).toEqual({ versionId: ids[1], timestamp, versionsSince: 1 });
      await write(clientId, (txn) => txn.setSnapshot({ versionId: ids[2]!, timestamp, versionsSince: 0 }, bytesOf(200)));
      expect((await details(clientId))?.storedBytes).toBe(1550);
    });

    test("what the quota counts: each version with its overhead, the snapshot, and a replaced one if the store keeps it", async () => {
      const clientId = newUuid();
      await clientWith(clientId, [100, 250, 1000]);
      const versions = accounting.version(100) + accounting.version(250) + accounting.version(1000);
      expect((await details(clientId))?.usedBytes).toBe(versions);
      // Tiny versions cannot multiply the footprint uncounted: each counts its overhead.
      expect(accounting.version(1)).toBeGreaterThan(100);
      const latest = (await details(clientId))!.latestVersionId;
      await write(clientId, (txn) => txn.setSnapshot({ versionId: latest, timestamp: new Date(), versionsSince: 0 }, bytesOf(500)));
      expect((await details(clientId))?.usedBytes).toBe(versions + accounting.snapshot(500));
      await write(clientId, (txn) => txn.setSnapshot({ versionId: latest, timestamp: new Date(), versionsSince: 0 }, bytesOf(200)));
      const replaced = accounting.keepsReplaced ? 500 : 0;
      expect((await details(clientId))?.usedBytes).toBe(versions + accounting.snapshot(200) + replaced);
    });

    test("the first version's parent may be any id: the stored chain starts there", async () => {
      const clientId = newUuid();
      const origin = newUuid();
      const v1 = newUuid();
      await write(clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, origin, bytesOf(10));
      });
      expect((await details(clientId))?.oldestVersion).toEqual({ versionId: v1, parentVersionId: origin });
    });
  });

  describe("the quota", () => {
    test("a version that would pass it is refused with QuotaExceededError; nothing is kept", async () => {
      const clientId = newUuid();
      const [v1] = await clientWith(clientId, [600]);
      const used = accounting.version(600);
      const bound = used + accounting.version(10);
      const refused = write(clientId, (txn) => txn.addVersion(newUuid(), v1!, bytesOf(10), { maxClientBytes: bound - 1 }));
      await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
      await expect(refused).rejects.toMatchObject({ usedBytes: used });
      expect(await details(clientId)).toMatchObject({ latestVersionId: v1, versions: 1, storedBytes: 600, usedBytes: used });
      // At the bound exactly, it is added.
      const v2 = newUuid();
      await write(clientId, (txn) => txn.addVersion(v2, v1!, bytesOf(10), { maxClientBytes: bound }));
      expect(await details(clientId)).toMatchObject({ latestVersionId: v2, versions: 2, storedBytes: 610, usedBytes: bound });
    });

    test("a new client's first version over the bound is refused too", async () => {
      const clientId = newUuid();
      const refused = write(clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(newUuid(), NIL_UUID, bytesOf(10), { maxClientBytes: accounting.version(10) - 1 });
      });
      await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
      expect(await details(clientId)).toBeNull();
    });

    test("the chain's rule comes first: a stale parent is a ChainMovedError even over the bound", async () => {
      const clientId = newUuid();
      const [v1, v2] = await clientWith(clientId, [10, 10]);
      await expect(write(clientId, (txn) => txn.addVersion(newUuid(), v1!, bytesOf(10), { maxClientBytes: 0 }))).rejects.toMatchObject({
        latestVersionId: v2,
      });
    });

    test("a snapshot that would pass it is refused with QuotaExceededError; the current one stays", async () => {
      const clientId = newUuid();
      const [v1, v2] = await clientWith(clientId, [100, 100]);
      const timestamp = new Date();
      await write(clientId, (txn) => txn.setSnapshot({ versionId: v1!, timestamp, versionsSince: 1 }, bytesOf(300)));
      const used = (await details(clientId))!.usedBytes;
      // The new snapshot counts; the replaced one is freed, or still counted where the store keeps it.
      const bound = used + accounting.snapshot(400) - (accounting.keepsReplaced ? 0 : accounting.snapshot(300));
      const refused = write(clientId, (txn) =>
        txn.setSnapshot({ versionId: v2!, timestamp: new Date(), versionsSince: 0 }, bytesOf(400), { maxClientBytes: bound - 1 }),
      );
      await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
      await expect(refused).rejects.toMatchObject({ usedBytes: used });
      expect(await details(clientId)).toMatchObject({ usedBytes: used, snapshot: { versionId: v1 } });
      expect(await inTxn(clientId, (txn) => txn.getSnapshotData(v1!))).toEqual(bytesOf(300));
      await write(clientId, (txn) =>
        txn.setSnapshot({ versionId: v2!, timestamp: new Date(), versionsSince: 0 }, bytesOf(400), { maxClientBytes: bound }),
      );
      expect(await details(clientId)).toMatchObject({ usedBytes: bound, snapshot: { versionId: v2 } });
    });

    test("removed versions stop counting", async () => {
      const clientId = newUuid();
      const ids = await clientWith(clientId, [100, 200, 300]);
      await write(clientId, (txn) => txn.removeOldestVersions([ids[0]!]));
      expect((await details(clientId))?.usedBytes).toBe(accounting.version(200) + accounting.version(300));
    });
  });

  describe("the oldest versions and their removal", () => {
    test("the oldest come oldest first, with their time and size, as many as asked", async () => {
      const clientId = newUuid();
      const before = Date.now();
      const ids = await clientWith(clientId, [1, 2, 3, 4]);
      const oldest = await inTxn(clientId, (txn) => txn.getOldestVersions(3));
      expect(oldest.map((v) => [v.versionId, v.parentVersionId, v.bytes])).toEqual([
        [ids[0], NIL_UUID, 1],
        [ids[1], ids[0], 2],
        [ids[2], ids[1], 3],
      ]);
      for (const v of oldest) expect(v.addedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(await inTxn(clientId, (txn) => txn.getOldestVersions(10))).toHaveLength(4);
      expect(await inTxn(newUuid(), (txn) => txn.getOldestVersions(10))).toEqual([]);
    });

    test("removing the two oldest: the rest of the chain and every other byte stay; the bytes and counts follow", async () => {
      const clientId = newUuid();
      const ids = await clientWith(clientId, [100, 200, 300, 400]);
      await write(clientId, (txn) => txn.removeOldestVersions([ids[0]!, ids[1]!]));
      expect(await details(clientId)).toMatchObject({
        latestVersionId: ids[3],
        oldestVersion: { versionId: ids[2], parentVersionId: ids[1] },
        versions: 2,
        storedBytes: 700,
      });
      await inTxn(clientId, async (txn) => {
        expect(await txn.getVersionByParent(NIL_UUID)).toBeNull();
        expect(await txn.getVersion(ids[0]!)).toBeNull();
        expect(await txn.getVersion(ids[1]!)).toBeNull();
        expect((await txn.getVersion(ids[2]!))?.historySegment).toEqual(bytesOf(300, 2));
      });
      expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual([ids[2], ids[3]]);
      // The newest ids name stored versions only, never a removed one.
      const client = await inTxn(clientId, (txn) => txn.getClient());
      if (client?.recentVersionIds) expect(client.recentVersionIds).toEqual([ids[3], ids[2]]);
      // The chain goes on from latest as before.
      const v5 = newUuid();
      await write(clientId, (txn) => txn.addVersion(v5, ids[3]!, bytesOf(5)));
      expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual([ids[2], ids[3], v5]);
    });

    test("anything but the oldest, in order, is refused and nothing is removed", async () => {
      const clientId = newUuid();
      const ids = await clientWith(clientId, [1, 1, 1, 1]);
      const refuse = async (versionIds: Uuid[], error: new (...args: never[]) => Error = OldestVersionsMovedError) => {
        await expect(write(clientId, (txn) => txn.removeOldestVersions(versionIds))).rejects.toThrow(error);
        expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual(ids);
      };
      await refuse([ids[1]!]);
      await refuse([ids[1]!, ids[0]!]);
      await refuse([ids[0]!, ids[2]!]);
      await refuse([newUuid()]);
      // The latest version stays, whatever comes before it (a caller's mistake, not a race).
      await refuse([...ids], Error);
      await expect(
        write(clientId, (txn) => txn.removeOldestVersions(Array.from({ length: MAX_REMOVED_VERSIONS + 1 }, newUuid))),
      ).rejects.toThrow(RangeError);
    });

    test("of two removals of the same versions, the second is refused", async () => {
      const clientId = newUuid();
      const ids = await clientWith(clientId, [1, 1, 1]);
      await write(clientId, (txn) => txn.removeOldestVersions([ids[0]!]));
      await expect(write(clientId, (txn) => txn.removeOldestVersions([ids[0]!]))).rejects.toThrow(OldestVersionsMovedError);
      expect((await details(clientId))?.versions).toBe(2);
    });

    test("a removal released without commit removes nothing", async () => {
      const clientId = newUuid();
      const ids = await clientWith(clientId, [1, 1]);
      await inTxn(clientId, (txn) => txn.removeOldestVersions([ids[0]!]));
      expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual(ids);
      expect((await details(clientId))?.storedBytes).toBe(2);
    });
  });

  describe("the count of snapshot requests of urgency high", () => {
    test("counts up; a stored snapshot, a decline or a reset ends it", async () => {
      const clientId = newUuid();
      const [v1] = await clientWith(clientId, [1]);
      const count = () => write(clientId, (txn) => txn.countHighUrgencyRequest());
      const current = async () => (await inTxn(clientId, (txn) => txn.getClient()))?.highUrgencyRequests;
      expect(await current()).toBe(0);
      expect(await count()).toBe(1);
      expect(await count()).toBe(2);
      await write(clientId, (txn) => txn.declineSnapshot(new Date()));
      expect(await current()).toBe(0);
      expect(await count()).toBe(1);
      await write(clientId, (txn) => txn.setSnapshot({ versionId: v1!, timestamp: new Date(), versionsSince: 0 }, bytesOf(3)));
      expect(await current()).toBe(0);
      expect(await count()).toBe(1);
      await write(clientId, (txn) => txn.resetHighUrgencyRequests());
      expect(await current()).toBe(0);
    });

    test("answers counted at the same time get distinct counts; a decline in the counting transaction ends the series", async () => {
      const clientId = newUuid();
      await clientWith(clientId, [1]);
      const counts = await Promise.all(Array.from({ length: 4 }, () => write(clientId, (txn) => txn.countHighUrgencyRequest())));
      expect(counts.sort()).toEqual([1, 2, 3, 4]);
      const fifth = await write(clientId, async (txn) => {
        const n = await txn.countHighUrgencyRequest();
        await txn.declineSnapshot(new Date());
        return n;
      });
      expect(fifth).toBe(5);
      const client = await inTxn(clientId, (txn) => txn.getClient());
      expect(client?.highUrgencyRequests).toBe(0);
      expect(client?.snapshotDeclined).not.toBeNull();
    });

    test("counting for a client that does not exist is ClientNotFoundError, and creates nothing", async () => {
      const clientId = newUuid();
      await expect(write(clientId, (txn) => txn.countHighUrgencyRequest())).rejects.toBeInstanceOf(ClientNotFoundError);
      expect(await inTxn(clientId, (txn) => txn.getClient())).toBeNull();
    });
  });

  describe("whole clients", () => {
    test("listing finds every client once, with its summary; a removed one is gone", async () => {
      const ours = new Map<Uuid, number>();
      for (let i = 0; i < 7; i++) {
        const clientId = newUuid();
        await clientWith(
          clientId,
          Array.from({ length: i }, () => 10),
        );
        ours.set(clientId, i);
      }
      const removed = [...ours.keys()][3]!;
      await storage().removeClient(removed);
      ours.delete(removed);
      const seen = new Map<Uuid, number>();
      for await (const summary of storage().listClients()) {
        if (summary.clientId === removed) throw new Error("a removed client is listed");
        const versions = ours.get(summary.clientId);
        if (versions === undefined) continue; // another test's client
        expect(seen.has(summary.clientId), "listed once").toBe(false);
        seen.set(summary.clientId, summary.versions);
        expect(summary.storedBytes).toBe(versions * 10);
      }
      expect(seen).toEqual(ours);
    });

    test("removal leaves nothing of the client, and nothing else goes; a second removal finds nothing", async () => {
      const clientId = newUuid();
      const other = newUuid();
      const ids = await clientWith(clientId, [10, 10, 10]);
      const otherIds = await clientWith(other, [10]);
      await write(clientId, (txn) => txn.setSnapshot({ versionId: ids[2]!, timestamp: new Date(), versionsSince: 0 }, bytesOf(5)));
      expect(await storage().removeClient(clientId)).toBe(true);
      expect(await details(clientId)).toBeNull();
      await inTxn(clientId, async (txn) => {
        expect(await txn.getClient()).toBeNull();
        expect(await txn.getVersionByParent(NIL_UUID)).toBeNull();
        expect(await txn.getVersion(ids[1]!)).toBeNull();
        expect(await txn.getSnapshotData(ids[2]!)).toBeNull();
      });
      expect(await storage().removeClient(clientId)).toBe(false);
      expect((await storedChain(other)).map((v) => v.versionId)).toEqual(otherIds);
      // The id can start over.
      const again = await clientWith(clientId, [7]);
      expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual(again);
    });

    test("an import holds every version byte for byte, the snapshot, the decline and the counters", async () => {
      const clientId = newUuid();
      const origin = newUuid();
      const ids = Array.from({ length: 8 }, () => newUuid());
      const addedAt = (i: number) => new Date(Date.UTC(2026, 0, 1 + i));
      const segments = ids.map((_, i) => bytesOf(50 + i, i));
      const snapshotTime = new Date(Date.UTC(2026, 0, 5));
      await storage().importClient(clientId, {
        latestVersionId: ids[7]!,
        snapshot: { versionId: ids[5]!, timestamp: snapshotTime, versionsSince: 2, data: bytesOf(77) },
        declined: { timestamp: new Date(Date.UTC(2026, 0, 7)), versionsSince: 1 },
        versions: chainVersions(ids, (i) => ({ historySegment: segments[i]!, addedAt: addedAt(i) }), origin),
      });
      const client = await inTxn(clientId, (txn) => txn.getClient());
      expect(client).toMatchObject({
        latestVersionId: ids[7],
        snapshot: { versionId: ids[5], timestamp: snapshotTime, versionsSince: 2 },
        snapshotDeclined: { timestamp: new Date(Date.UTC(2026, 0, 7)), versionsSince: 1 },
      });
      if (client?.recentVersionIds) expect(client.recentVersionIds).toEqual(ids.slice(3).reverse());
      const chain = await storedChain(clientId);
      expect(chain.map((v) => v.versionId)).toEqual(ids);
      for (const [i, v] of chain.entries()) expect(Buffer.from(v.historySegment).equals(Buffer.from(segments[i]!))).toBe(true);
      expect(await inTxn(clientId, (txn) => txn.getSnapshotData(ids[5]!))).toEqual(bytesOf(77));
      expect(await details(clientId)).toMatchObject({
        oldestVersion: { versionId: ids[0], parentVersionId: origin },
        versions: 8,
        storedBytes: segments.reduce((sum, s) => sum + s.byteLength, 0) + 77,
        usedBytes: segments.reduce((sum, s) => sum + accounting.version(s.byteLength), 0) + accounting.snapshot(77),
        latestAddedAt: addedAt(7),
      });
      expect((await inTxn(clientId, (txn) => txn.getOldestVersions(2))).map((v) => v.addedAt)).toEqual([addedAt(0), addedAt(1)]);
      // Replicas carry on: latest takes a child, a stale parent is refused.
      const next = newUuid();
      await write(clientId, (txn) => txn.addVersion(next, ids[7]!, bytesOf(1)));
      await expect(write(clientId, (txn) => txn.addVersion(newUuid(), ids[6]!, bytesOf(1)))).rejects.toMatchObject({
        latestVersionId: next,
      });
    });

    test("an import of a client without versions; an import over an existing client is refused and changes nothing", async () => {
      const empty = newUuid();
      await storage().importClient(empty, { latestVersionId: NIL_UUID, snapshot: null, versions: (async function* () {})() });
      expect(await details(empty)).toMatchObject({ latestVersionId: NIL_UUID, versions: 0, storedBytes: 0, oldestVersion: null });

      const clientId = newUuid();
      const ids = await clientWith(clientId, [10, 10]);
      const intruder = newUuid();
      await expect(
        storage().importClient(clientId, {
          latestVersionId: intruder,
          snapshot: null,
          versions: (async function* () {
            yield { versionId: intruder, parentVersionId: NIL_UUID, historySegment: bytesOf(3), addedAt: new Date() };
          })(),
        }),
      ).rejects.toBeInstanceOf(ClientExistsError);
      expect((await storedChain(clientId)).map((v) => v.versionId)).toEqual(ids);
      expect((await details(clientId))?.storedBytes).toBe(20);
    });
  });
}
