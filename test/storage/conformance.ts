/**
 * The contract every `Storage` must meet (lambda/storage/types.ts, the reference server's storage trait),
 * as a vitest suite to run on each implementation:
 *
 *   storageConformance("MyStorage", async () => ({ storage: new MyStorage(), cleanup }), { parallelClients: true });
 *
 * It holds for both kinds of correct store: those that serialize a client's transactions (a
 * lock from `txn` to `release`: memory, SQLite) and those that let them run and detect a lost
 * race at write or commit time (`ChainMovedError`: DynamoDB). The race tests accept either
 * outcome for a loser, and fail a store that lets two writers extend the same parent.
 *
 * What it deliberately does not require: reading one's own uncommitted writes inside a
 * transaction (beyond `newClient` followed by `addVersion`, which the core does), and any
 * particular error for misuse other than those the interface names.
 */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { SyncServer, type AddVersionOutcome, type SyncRules } from "../../lambda/core/sync.ts";
import { ChainMovedError, ClientExistsError, ClientNotFoundError } from "../../lambda/storage/errors.ts";
import { RECENT_CHAIN_LENGTH, type Client, type Storage, type StorageTxn } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { inTxn as runInTxn } from "../support/txn.ts";
import { operatorConformance, type QuotaAccounting } from "./conformance-operators.ts";

export type { QuotaAccounting } from "./conformance-operators.ts";

export interface OpenedStorage {
  storage: Storage;
  /** Runs after `storage.close()`: remove files, tables, buckets. */
  cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /**
   * Whether a transaction open on one client leaves transactions on other clients free to run
   * (the interface allows it; a store with one global lock, like SQLite here, does not offer it).
   */
  parallelClients: boolean;
  /** How the store counts what the quota counts (each store measures its own). */
  accounting: QuotaAccounting;
}

const RULES: SyncRules = DEFAULT_SYNC_RULES;
const MB = 1024 * 1024;

export function storageConformance(name: string, open: () => Promise<OpenedStorage>, options: ConformanceOptions): void {
  describe(`storage conformance: ${name}`, () => {
    let storage: Storage;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ storage, cleanup } = await open());
    });

    afterEach(async () => {
      try {
        // A test that failed with a transaction still open must not hang the suite here.
        await within(10_000, storage.close(), "close() did not finish: is a transaction still open?");
      } finally {
        await cleanup?.();
      }
    });

    const inTxn = <T>(clientId: Uuid, work: (txn: StorageTxn) => Promise<T>, commit = false) => runInTxn(storage, clientId, work, commit);
    const read = (clientId: Uuid) => inTxn(clientId, (txn) => txn.getClient());
    const write = <T>(clientId: Uuid, work: (txn: StorageTxn) => Promise<T>) => inTxn(clientId, work, true);

    /** A committed client whose chain is `count` versions from `firstParent`; returns their ids, oldest first. */
    async function clientWithChain(clientId: Uuid, count: number, firstParent: Uuid = NIL_UUID): Promise<Uuid[]> {
      await write(clientId, (txn) => txn.newClient(NIL_UUID));
      const ids: Uuid[] = [];
      let parent = firstParent;
      for (let i = 0; i < count; i++) {
        const versionId = newUuid();
        await write(clientId, (txn) => txn.addVersion(versionId, parent, segmentFor(versionId)));
        ids.push(versionId);
        parent = versionId;
      }
      return ids;
    }

    /** Checks `recentVersionIds`, when the store provides it, against a walk with `getVersion`. */
    async function expectRecentIdsConsistent(clientId: Uuid): Promise<void> {
      await inTxn(clientId, async (txn) => {
        const client = await txn.getClient();
        if (client?.recentVersionIds === undefined) return;
        const walked: Uuid[] = [];
        let id = client.latestVersionId;
        // Stored versions only: the first version's parent is not one.
        while (id !== NIL_UUID && walked.length < RECENT_CHAIN_LENGTH) {
          const version = await txn.getVersion(id);
          if (!version) break;
          walked.push(id);
          id = version.parentVersionId;
        }
        expect([...client.recentVersionIds]).toEqual(walked);
      });
    }

    /** Walks the chain from latest back to `stop` (exclusive) via getVersion; newest first. */
    async function chainBackTo(clientId: Uuid, stop: Uuid): Promise<Uuid[]> {
      return inTxn(clientId, async (txn) => {
        const client = await txn.getClient();
        const ids: Uuid[] = [];
        let id = client!.latestVersionId;
        while (id !== stop) {
          const version = await txn.getVersion(id);
          if (!version) throw new Error(`the chain is broken at ${id}`);
          ids.push(id);
          id = version.parentVersionId;
          if (ids.length > 10_000) throw new Error("the chain does not end");
        }
        return ids;
      });
    }

    describe("for operators and bounds", () => operatorConformance(() => storage, options.accounting));

    describe("clients", () => {
      test("an unknown client is null, and reads about it find nothing", async () => {
        const clientId = newUuid();
        await inTxn(clientId, async (txn) => {
          expect(await txn.getClient()).toBeNull();
          expect(await txn.getVersion(newUuid())).toBeNull();
          expect(await txn.getVersionByParent(NIL_UUID)).toBeNull();
          expect(await txn.getSnapshotData(newUuid())).toBeNull();
        });
      });

      test("newClient, commit, then the client is there in a new transaction", async () => {
        const clientId = newUuid();
        await write(clientId, (txn) => txn.newClient(NIL_UUID));
        const client = await read(clientId);
        expect(client).not.toBeNull();
        expect(client!.latestVersionId).toBe(NIL_UUID);
        expect(client!.snapshot).toBeNull();
        if (client!.recentVersionIds !== undefined) expect(client!.recentVersionIds).toEqual([]);
      });

      test("newClient keeps the latest version it is given", async () => {
        const clientId = newUuid();
        const latest = newUuid();
        await write(clientId, (txn) => txn.newClient(latest));
        const client = await read(clientId);
        expect(client!.latestVersionId).toBe(latest);
        expect(client!.snapshot).toBeNull();
        await expectRecentIdsConsistent(clientId);
        // Its first version goes on that latest (no stored version precedes it), and only there.
        await expect(write(clientId, (txn) => txn.addVersion(newUuid(), NIL_UUID, bytes("x")))).rejects.toMatchObject({
          latestVersionId: latest,
        });
        const v1 = newUuid();
        await write(clientId, (txn) => txn.addVersion(v1, latest, bytes("v1")));
        expect((await read(clientId))?.latestVersionId).toBe(v1);
        expect(await inTxn(clientId, (txn) => txn.getVersionByParent(latest))).toMatchObject({ versionId: v1 });
        await expectRecentIdsConsistent(clientId);
      });

      test("newClient on an existing client fails and changes nothing", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        await expect(write(clientId, (txn) => txn.newClient(NIL_UUID))).rejects.toBeInstanceOf(ClientExistsError);
        const client = await read(clientId);
        expect(client!.latestVersionId).toBe(v1);
        expect((await inTxn(clientId, (txn) => txn.getVersion(v1!)))?.versionId).toBe(v1);
      });

      test("a write for a client that does not exist fails with ClientNotFoundError and creates nothing", async () => {
        const clientId = newUuid();
        await expect(write(clientId, (txn) => txn.addVersion(newUuid(), NIL_UUID, new Uint8Array([1])))).rejects.toBeInstanceOf(
          ClientNotFoundError,
        );
        await expect(
          write(clientId, (txn) => txn.setSnapshot({ versionId: newUuid(), timestamp: new Date(), versionsSince: 0 }, new Uint8Array([1]))),
        ).rejects.toBeInstanceOf(ClientNotFoundError);
        await expect(write(clientId, (txn) => txn.declineSnapshot(new Date()))).rejects.toBeInstanceOf(ClientNotFoundError);
        expect(await read(clientId)).toBeNull();
      });

      test("commit may be called only once", async () => {
        const clientId = newUuid();
        const txn = await storage.txn(clientId);
        try {
          await txn.newClient(NIL_UUID);
          await txn.commit();
          await expect(txn.commit()).rejects.toThrow();
        } finally {
          await txn.release();
        }
        expect(await read(clientId)).not.toBeNull();
      });

      test("two clients' data are independent", async () => {
        const a = newUuid();
        const b = newUuid();
        const [a1, a2] = await clientWithChain(a, 2);
        expect(await read(b)).toBeNull();
        const [b1] = await clientWithChain(b, 1);
        await write(a, (txn) => txn.setSnapshot({ versionId: a2!, timestamp: new Date(1_700_000_000_000), versionsSince: 0 }, bytes("a")));

        const clientA = await read(a);
        const clientB = await read(b);
        expect(clientA!.latestVersionId).toBe(a2);
        expect(clientA!.snapshot?.versionId).toBe(a2);
        expect(clientB!.latestVersionId).toBe(b1);
        expect(clientB!.snapshot).toBeNull();

        await inTxn(b, async (txn) => {
          // Both chains start at nil: each client finds only its own first version.
          expect((await txn.getVersionByParent(NIL_UUID))?.versionId).toBe(b1);
          expect(await txn.getVersion(a1!)).toBeNull();
          expect(await txn.getVersionByParent(a1!)).toBeNull();
          expect(await txn.getSnapshotData(a2!)).toBeNull();
        });
        await inTxn(a, async (txn) => {
          expect((await txn.getVersionByParent(NIL_UUID))?.versionId).toBe(a1);
          expect(await txn.getVersion(b1!)).toBeNull();
        });

        // A version added to one client moves only that client.
        const b2 = newUuid();
        await write(b, (txn) => txn.addVersion(b2, b1!, bytes("b2")));
        expect((await read(a))!.latestVersionId).toBe(a2);
        expect((await read(a))!.snapshot?.versionsSince).toBe(0);
        expect((await read(b))!.latestVersionId).toBe(b2);
      });
    });

    describe("a transaction released without commit leaves no trace", () => {
      test("newClient", async () => {
        const clientId = newUuid();
        await inTxn(clientId, (txn) => txn.newClient(NIL_UUID));
        expect(await read(clientId)).toBeNull();
        // Nothing left behind that would stop creating it for real.
        await write(clientId, (txn) => txn.newClient(NIL_UUID));
        expect((await read(clientId))!.latestVersionId).toBe(NIL_UUID);
      });

      test("newClient, addVersion and setSnapshot together", async () => {
        const clientId = newUuid();
        const v1 = newUuid();
        await inTxn(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, bytes("v1"));
          await txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, bytes("snap"));
        });
        expect(await read(clientId)).toBeNull();
        await inTxn(clientId, async (txn) => {
          expect(await txn.getVersion(v1)).toBeNull();
          expect(await txn.getVersionByParent(NIL_UUID)).toBeNull();
          expect(await txn.getSnapshotData(v1)).toBeNull();
        });
      });

      test("addVersion", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        await write(clientId, (txn) =>
          txn.setSnapshot({ versionId: v1!, timestamp: new Date(1_700_000_000_000), versionsSince: 0 }, bytes("s")),
        );
        const dropped = newUuid();
        await inTxn(clientId, async (txn) => {
          await txn.getClient();
          await txn.addVersion(dropped, v1!, bytes("dropped"));
        });

        const client = await read(clientId);
        expect(client!.latestVersionId).toBe(v1);
        expect(client!.snapshot?.versionsSince).toBe(0);
        await inTxn(clientId, async (txn) => {
          expect(await txn.getVersion(dropped)).toBeNull();
          expect(await txn.getVersionByParent(v1!)).toBeNull();
        });
        await expectRecentIdsConsistent(clientId);

        // Nothing left behind that would stop the parent getting its child for real.
        const kept = newUuid();
        await write(clientId, (txn) => txn.addVersion(kept, v1!, bytes("kept")));
        await inTxn(clientId, async (txn) => {
          expect((await txn.getVersionByParent(v1!))?.versionId).toBe(kept);
          expect((await txn.getClient())!.snapshot?.versionsSince).toBe(1);
        });
      });

      test("setSnapshot, replacing an existing snapshot", async () => {
        const clientId = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2);
        const before = { versionId: v1!, timestamp: new Date(1_700_000_000_123), versionsSince: 0 };
        await write(clientId, (txn) => txn.setSnapshot(before, bytes("first snapshot")));
        await inTxn(clientId, (txn) => txn.setSnapshot({ versionId: v2!, timestamp: new Date(), versionsSince: 0 }, bytes("second")));
        const client = await read(clientId);
        expect(client!.snapshot).toEqual(before);
        await inTxn(clientId, async (txn) => {
          expect(text(await txn.getSnapshotData(v1!))).toBe("first snapshot");
          expect(await txn.getSnapshotData(v2!)).toBeNull();
        });
      });

      test("setSnapshot, on a client without one", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        await inTxn(clientId, (txn) => txn.setSnapshot({ versionId: v1!, timestamp: new Date(), versionsSince: 0 }, bytes("dropped")));
        expect((await read(clientId))!.snapshot).toBeNull();
        expect(await inTxn(clientId, (txn) => txn.getSnapshotData(v1!))).toBeNull();
      });
    });

    describe("versions", () => {
      test("a chain of committed versions reads back by id and by parent", async () => {
        const clientId = newUuid();
        const ids = await clientWithChain(clientId, 7);
        const client = await read(clientId);
        expect(client!.latestVersionId).toBe(ids[6]);
        expect(client!.snapshot).toBeNull(); // versions_since needs a snapshot to count in
        await inTxn(clientId, async (txn) => {
          let parent = NIL_UUID;
          for (const id of ids) {
            const byId = await txn.getVersion(id);
            const byParent = await txn.getVersionByParent(parent);
            expect(byId).toEqual({ versionId: id, parentVersionId: parent, historySegment: segmentFor(id) });
            expect(byParent).toEqual(byId);
            parent = id;
          }
          expect(await txn.getVersionByParent(ids[6]!)).toBeNull();
          expect(await txn.getVersion(NIL_UUID)).toBeNull();
          expect(await txn.getVersion(newUuid())).toBeNull();
        });
        await expectRecentIdsConsistent(clientId);
      });

      test("newClient then addVersion in one transaction", async () => {
        const clientId = newUuid();
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, bytes("first"));
        });
        expect((await read(clientId))!.latestVersionId).toBe(v1);
        expect(text((await inTxn(clientId, (txn) => txn.getVersionByParent(NIL_UUID)))!.historySegment)).toBe("first");
      });

      test("the first version may have any parent, not only nil", async () => {
        const clientId = newUuid();
        const parent = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2, parent);
        await inTxn(clientId, async (txn) => {
          expect((await txn.getClient())!.latestVersionId).toBe(v2);
          expect((await txn.getVersionByParent(parent))?.versionId).toBe(v1);
          expect((await txn.getVersion(v1!))?.parentVersionId).toBe(parent);
          expect(await txn.getVersion(parent)).toBeNull();
          expect(await txn.getVersionByParent(NIL_UUID)).toBeNull();
        });
        await expectRecentIdsConsistent(clientId);
      });

      test("versions_since counts the versions added after a snapshot, and only then", async () => {
        const clientId = newUuid();
        const ids = await clientWithChain(clientId, 2);
        expect((await read(clientId))!.snapshot).toBeNull();

        const timestamp = new Date(1_700_000_000_000);
        await write(clientId, (txn) => txn.setSnapshot({ versionId: ids[1]!, timestamp, versionsSince: 0 }, bytes("s")));
        let parent = ids[1]!;
        for (let expected = 1; expected <= 3; expected++) {
          const versionId = newUuid();
          await write(clientId, (txn) => txn.addVersion(versionId, parent, bytes(`v${expected}`)));
          parent = versionId;
          const snapshot = (await read(clientId))!.snapshot;
          expect(snapshot).toEqual({ versionId: ids[1], timestamp, versionsSince: expected });
        }

        // The count starts from whatever setSnapshot stores.
        await write(clientId, (txn) => txn.setSnapshot({ versionId: parent, timestamp, versionsSince: 7 }, bytes("t")));
        expect((await read(clientId))!.snapshot?.versionsSince).toBe(7);
        const next = newUuid();
        await write(clientId, (txn) => txn.addVersion(next, parent, bytes("next")));
        expect((await read(clientId))!.snapshot?.versionsSince).toBe(8);
      });

      test("addVersion on a parent that is not latest is refused with ChainMovedError naming latest", async () => {
        const clientId = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2);
        const stale = newUuid();
        const error = await inTxn(clientId, async (txn) => {
          try {
            // The caller's check (getClient) would have caught this; the store must too, at
            // addVersion or at commit.
            await txn.addVersion(stale, v1!, bytes("stale"));
            await txn.commit();
          } catch (error) {
            return error;
          }
          return undefined;
        });
        expect(error).toBeInstanceOf(ChainMovedError);
        expect((error as ChainMovedError).latestVersionId).toBe(v2);

        expect((await read(clientId))!.latestVersionId).toBe(v2);
        await inTxn(clientId, async (txn) => {
          expect(await txn.getVersion(stale)).toBeNull();
          expect((await txn.getVersionByParent(v1!))?.versionId).toBe(v2);
        });
      });
    });

    describe("snapshots", () => {
      test("setSnapshot stores metadata and data; getSnapshotData answers only for its version", async () => {
        const clientId = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2);
        const snapshot = { versionId: v1!, timestamp: new Date(1_712_345_678_901), versionsSince: 3 };
        await write(clientId, (txn) => txn.setSnapshot(snapshot, bytes("snapshot at v1")));

        const client = await read(clientId);
        expect(client!.snapshot).toEqual(snapshot);
        expect(client!.snapshot!.timestamp.getTime()).toBe(1_712_345_678_901); // millisecond exact
        expect(client!.latestVersionId).toBe(v2); // a snapshot does not move the chain
        await inTxn(clientId, async (txn) => {
          expect(text(await txn.getSnapshotData(v1!))).toBe("snapshot at v1");
          expect(await txn.getSnapshotData(v2!)).toBeNull();
          expect(await txn.getSnapshotData(NIL_UUID)).toBeNull();
          expect(await txn.getSnapshotData(newUuid())).toBeNull();
        });
      });

      test("setSnapshot replaces the previous snapshot and its data", async () => {
        const clientId = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2);
        await write(clientId, (txn) =>
          txn.setSnapshot({ versionId: v1!, timestamp: new Date(1_700_000_000_000), versionsSince: 0 }, new Uint8Array(5000).fill(7)),
        );
        const second = { versionId: v2!, timestamp: new Date(1_700_000_001_000), versionsSince: 0 };
        await write(clientId, (txn) => txn.setSnapshot(second, bytes("new")));

        expect((await read(clientId))!.snapshot).toEqual(second);
        await inTxn(clientId, async (txn) => {
          // Exactly the new bytes: no tail of the longer old snapshot.
          expect(text(await txn.getSnapshotData(v2!))).toBe("new");
          expect(await txn.getSnapshotData(v1!)).toBeNull();
        });
      });

      test("a snapshot may be replaced by one at the same version", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        await write(clientId, (txn) => txn.setSnapshot({ versionId: v1!, timestamp: new Date(1), versionsSince: 0 }, bytes("one")));
        await write(clientId, (txn) => txn.setSnapshot({ versionId: v1!, timestamp: new Date(2), versionsSince: 0 }, bytes("two")));
        expect((await read(clientId))!.snapshot?.timestamp.getTime()).toBe(2);
        expect(text(await inTxn(clientId, (txn) => txn.getSnapshotData(v1!)))).toBe("two");
      });
    });

    describe("declined snapshots", () => {
      test("a new client has none; declineSnapshot records one that counts added versions", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        expect((await read(clientId))!.snapshotDeclined).toBeNull();
        const at = new Date(1_712_345_678_901);
        await write(clientId, (txn) => txn.declineSnapshot(at));
        expect((await read(clientId))!.snapshotDeclined).toEqual({ timestamp: at, versionsSince: 0 });
        let parent = v1!;
        for (let i = 0; i < 3; i++) {
          const id = newUuid();
          await write(clientId, async (txn) => {
            await txn.getClient();
            await txn.addVersion(id, parent, bytes(`after ${i}`));
          });
          parent = id;
        }
        const client = await read(clientId);
        expect(client!.snapshotDeclined).toEqual({ timestamp: at, versionsSince: 3 });
        expect(client!.snapshot).toBeNull(); // a decline is not a snapshot
        // A later decline replaces it.
        const later = new Date(1_712_345_679_000);
        await write(clientId, (txn) => txn.declineSnapshot(later));
        expect((await read(clientId))!.snapshotDeclined).toEqual({ timestamp: later, versionsSince: 0 });
      });

      test("a decline keeps the snapshot and its data; a stored snapshot clears the decline", async () => {
        const clientId = newUuid();
        const [v1, v2] = await clientWithChain(clientId, 2);
        const snapshot = { versionId: v1!, timestamp: new Date(1_700_000_000_000), versionsSince: 0 };
        await write(clientId, (txn) => txn.setSnapshot(snapshot, bytes("kept")));
        await write(clientId, (txn) => txn.declineSnapshot(new Date(1_700_000_005_000)));
        const client = await read(clientId);
        expect(client!.snapshot).toEqual(snapshot);
        expect(client!.snapshotDeclined).toEqual({ timestamp: new Date(1_700_000_005_000), versionsSince: 0 });
        expect(text(await inTxn(clientId, (txn) => txn.getSnapshotData(v1!)))).toBe("kept");
        await write(clientId, (txn) =>
          txn.setSnapshot({ versionId: v2!, timestamp: new Date(1_700_000_009_000), versionsSince: 0 }, bytes("new")),
        );
        expect((await read(clientId))!.snapshotDeclined).toBeNull();
      });

      test("a decline released without commit leaves no trace", async () => {
        const clientId = newUuid();
        await clientWithChain(clientId, 1);
        await inTxn(clientId, (txn) => txn.declineSnapshot(new Date(1)));
        expect((await read(clientId))!.snapshotDeclined).toBeNull();
      });
    });

    describe("visibility between transactions", () => {
      test("committed changes are visible to every later transaction", async () => {
        const clientId = newUuid();
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, bytes("v1"));
          await txn.setSnapshot({ versionId: v1, timestamp: new Date(5), versionsSince: 0 }, bytes("s1"));
        });
        for (let i = 0; i < 3; i++) {
          await inTxn(clientId, async (txn) => {
            const client = await txn.getClient();
            expect(client!.latestVersionId).toBe(v1);
            expect(client!.snapshot?.versionId).toBe(v1);
            expect(text((await txn.getVersion(v1))!.historySegment)).toBe("v1");
            expect(text(await txn.getSnapshotData(v1))).toBe("s1");
          });
        }
      });

      test("uncommitted changes are invisible to other transactions (then dropped)", async () => {
        const clientId = newUuid();
        const [v1] = await clientWithChain(clientId, 1);
        const snapshot = { versionId: v1!, timestamp: new Date(1_700_000_000_000), versionsSince: 0 };
        await write(clientId, (txn) => txn.setSnapshot(snapshot, bytes("old snapshot")));

        const pending = newUuid();
        const writer = await storage.txn(clientId);
        let seen: Promise<{ client: Client | null; pending: unknown; child: unknown; data: string | null }>;
        try {
          await writer.getClient();
          await writer.addVersion(pending, v1!, bytes("pending"));
          await writer.setSnapshot({ versionId: pending, timestamp: new Date(), versionsSince: 0 }, bytes("new snapshot"));
          // A store that serializes makes this reader wait for the writer; one that does not
          // lets it read now. Either way it must not see the pending changes.
          seen = inTxn(clientId, async (txn) => ({
            client: await txn.getClient(),
            pending: await txn.getVersion(pending),
            child: await txn.getVersionByParent(v1!),
            data: text(await txn.getSnapshotData(v1!)),
          }));
          seen.catch(() => {}); // awaited below
          await sleep(30);
        } finally {
          await writer.release();
        }
        const result = await seen;
        expect(result.client!.latestVersionId).toBe(v1);
        expect(result.client!.snapshot).toEqual(snapshot);
        expect(result.pending).toBeNull();
        expect(result.child).toBeNull();
        expect(result.data).toBe("old snapshot");
      });

      test("an uncommitted new client is invisible to other transactions (then dropped)", async () => {
        const clientId = newUuid();
        const writer = await storage.txn(clientId);
        let seen: Promise<Client | null>;
        try {
          await writer.newClient(NIL_UUID);
          await writer.addVersion(newUuid(), NIL_UUID, bytes("pending"));
          seen = read(clientId);
          seen.catch(() => {});
          await sleep(30);
        } finally {
          await writer.release();
        }
        expect(await seen).toBeNull();
        expect(await read(clientId)).toBeNull();
      });
    });

    describe("bytes", () => {
      test("every byte value 0..255 survives, in a history segment and in a snapshot", async () => {
        const clientId = newUuid();
        const all = new Uint8Array(256 * 4).map((_, i) => i % 256);
        const reversed = all.slice().reverse();
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, all);
        });
        await write(clientId, (txn) => txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, reversed));
        await inTxn(clientId, async (txn) => {
          const byId = await txn.getVersion(v1);
          const byParent = await txn.getVersionByParent(NIL_UUID);
          const data = await txn.getSnapshotData(v1);
          for (const got of [byId!.historySegment, byParent!.historySegment]) {
            expect(got).toBeInstanceOf(Uint8Array);
            expectSameBytes(got, all);
          }
          expect(data).toBeInstanceOf(Uint8Array);
          expectSameBytes(data!, reversed);
        });
      });

      test("a 3 MB history segment and a 3 MB snapshot survive byte for byte", async () => {
        const clientId = newUuid();
        const segment = new Uint8Array(randomBytes(3 * MB));
        const snapshot = new Uint8Array(randomBytes(3 * MB + 17));
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, segment);
        });
        await write(clientId, (txn) => txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, snapshot));
        await inTxn(clientId, async (txn) => {
          expectSameBytes((await txn.getVersion(v1))!.historySegment, segment);
          expectSameBytes((await txn.getVersionByParent(NIL_UUID))!.historySegment, segment);
          expectSameBytes((await txn.getSnapshotData(v1))!, snapshot);
        });
      });

      test("a sub-array view is stored as its own bytes, not its whole buffer", async () => {
        const clientId = newUuid();
        const backing = new Uint8Array(100).map((_, i) => i);
        const view = backing.subarray(10, 20);
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, view);
          await txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, backing.subarray(50, 53));
        });
        await inTxn(clientId, async (txn) => {
          expectSameBytes((await txn.getVersion(v1))!.historySegment, backing.slice(10, 20));
          expectSameBytes((await txn.getSnapshotData(v1))!, backing.slice(50, 53));
        });
      });

      test("stored bytes do not change when the caller's arrays do", async () => {
        const clientId = newUuid();
        const segment = bytes("segment");
        const snapshot = bytes("snapshot");
        const v1 = newUuid();
        await write(clientId, async (txn) => {
          await txn.newClient(NIL_UUID);
          await txn.addVersion(v1, NIL_UUID, segment);
          await txn.setSnapshot({ versionId: v1, timestamp: new Date(), versionsSince: 0 }, snapshot);
        });
        segment.fill(0);
        snapshot.fill(0);
        await inTxn(clientId, async (txn) => {
          (await txn.getVersion(v1))!.historySegment.fill(1);
          (await txn.getSnapshotData(v1))!.fill(1);
        });
        await inTxn(clientId, async (txn) => {
          expect(text((await txn.getVersion(v1))!.historySegment)).toBe("segment");
          expect(text(await txn.getSnapshotData(v1))).toBe("snapshot");
        });
      });
    });

    describe("races", () => {
      type RaceResult =
        | { kind: "added"; versionId: Uuid }
        | { kind: "moved"; latestVersionId: Uuid }
        | { kind: "saw"; latestVersionId: Uuid }
        | { kind: "error"; error: unknown };

      /**
       * One contender: read the client, and if latest is still `parent` (or nil), add a version
       * on it and commit, the way the core does. Creates the client if it is missing.
       */
      async function contend(clientId: Uuid, parent: Uuid, versionId: Uuid): Promise<RaceResult> {
        try {
          return await inTxn(clientId, async (txn): Promise<RaceResult> => {
            const client = await txn.getClient();
            if (!client) await txn.newClient(NIL_UUID);
            const latest = client?.latestVersionId ?? NIL_UUID;
            if (latest !== NIL_UUID && latest !== parent) return { kind: "saw", latestVersionId: latest };
            await sleep(Math.random() * 3); // widen the window between the read and the write
            try {
              await txn.addVersion(versionId, parent, segmentFor(versionId));
              await sleep(Math.random() * 3);
              await txn.commit();
            } catch (error) {
              if (error instanceof ChainMovedError) return { kind: "moved", latestVersionId: error.latestVersionId };
              throw error;
            }
            return { kind: "added", versionId };
          });
        } catch (error) {
          return { kind: "error", error };
        }
      }

      /** Exactly one winner; every loser names it; no loser's version exists. Returns the winner. */
      async function expectOneWinner(clientId: Uuid, parent: Uuid, contenders: Uuid[], results: RaceResult[]): Promise<Uuid> {
        expect(results.filter((r) => r.kind === "error")).toEqual([]);
        const winners = results.filter((r) => r.kind === "added");
        expect(winners).toHaveLength(1);
        const winner = (winners[0] as { versionId: Uuid }).versionId;
        for (const result of results) {
          if (result.kind !== "added") expect(result).toEqual({ kind: expect.any(String), latestVersionId: winner });
        }

        await inTxn(clientId, async (txn) => {
          const client = await txn.getClient();
          expect(client!.latestVersionId).toBe(winner);
          const child = await txn.getVersionByParent(parent);
          expect(child).toEqual({ versionId: winner, parentVersionId: parent, historySegment: segmentFor(winner) });
          expect(await txn.getVersionByParent(winner)).toBeNull();
          for (const versionId of contenders) {
            if (versionId !== winner) expect(await txn.getVersion(versionId)).toBeNull();
          }
        });
        await expectRecentIdsConsistent(clientId);
        return winner;
      }

      test("10 transactions adding a version on the same parent: one wins, the chain stays linear", async () => {
        const clientId = newUuid();
        const ids = await clientWithChain(clientId, 3);
        const parent = ids[2]!;
        // A snapshot, so that a second increment of versions_since would show.
        await write(clientId, (txn) =>
          txn.setSnapshot({ versionId: parent, timestamp: new Date(1_700_000_000_000), versionsSince: 0 }, bytes("s")),
        );

        const contenders = Array.from({ length: 10 }, () => newUuid());
        const results = await Promise.all(contenders.map((versionId) => contend(clientId, parent, versionId)));
        const winner = await expectOneWinner(clientId, parent, contenders, results);

        expect((await read(clientId))!.snapshot?.versionsSince).toBe(1);
        expect(await chainBackTo(clientId, NIL_UUID)).toEqual([winner, ...ids.slice().reverse()]);
      });

      test("10 transactions creating a new client with its first version: one client, one version", async () => {
        const clientId = newUuid();
        const contenders = Array.from({ length: 10 }, () => newUuid());
        const results = await Promise.all(contenders.map((versionId) => contend(clientId, NIL_UUID, versionId)));
        const winner = await expectOneWinner(clientId, NIL_UUID, contenders, results);
        expect(await chainBackTo(clientId, NIL_UUID)).toEqual([winner]);
        expect((await read(clientId))!.snapshot).toBeNull();
      });

      test("rounds of races keep one linear chain", async () => {
        const clientId = newUuid();
        await clientWithChain(clientId, 0);
        const winners: Uuid[] = [];
        let parent = NIL_UUID;
        for (let round = 0; round < 5; round++) {
          const contenders = Array.from({ length: 6 }, () => newUuid());
          const results = await Promise.all(contenders.map((versionId) => contend(clientId, parent, versionId)));
          parent = await expectOneWinner(clientId, parent, contenders, results);
          winners.unshift(parent);
        }
        expect(await chainBackTo(clientId, NIL_UUID)).toEqual(winners);
      });

      test("many clients at once keep separate, complete chains", async () => {
        const clients = Array.from({ length: 5 }, () => newUuid());
        const chains = await Promise.all(clients.map((clientId) => clientWithChain(clientId, 8)));
        for (const [i, clientId] of clients.entries()) {
          expect(await chainBackTo(clientId, NIL_UUID)).toEqual(chains[i]!.slice().reverse());
        }
      });

      // Registered only for stores that promise it (SQLite has one writer for all clients).
      if (options.parallelClients)
        test("a transaction open on one client does not hold up transactions on another", async () => {
          const a = newUuid();
          const b = newUuid();
          const held = await storage.txn(a);
          try {
            await held.newClient(NIL_UUID);
            const other = write(b, async (txn) => {
              await txn.getClient();
              await txn.newClient(NIL_UUID);
            });
            other.catch(() => {});
            await within(2_000, other, "a transaction on client B waited for the one open on client A");
            await held.commit();
          } finally {
            await held.release();
          }
          expect(await read(a)).not.toBeNull();
          expect(await read(b)).not.toBeNull();
        });
    });

    describe("the protocol core on this storage", () => {
      const server = () => new SyncServer(storage, RULES);

      /** Follows the chain from `parent` by GetChildVersion; returns the versions' payloads. */
      async function pullAll(sync: SyncServer, clientId: Uuid, parent: Uuid): Promise<{ ids: Uuid[]; payloads: string[] }> {
        const ids: Uuid[] = [];
        const payloads: string[] = [];
        for (;;) {
          const outcome = await sync.getChildVersion(clientId, parent);
          // Both are a 404 to a replica: nothing (more) to pull.
          if (outcome.kind === "up-to-date" || outcome.kind === "unknown-client") return { ids, payloads };
          if (outcome.kind !== "found") throw new Error(`GetChildVersion(${parent}) was ${outcome.kind}`);
          ids.push(outcome.version.versionId);
          payloads.push(text(outcome.version.historySegment)!);
          parent = outcome.version.versionId;
          if (ids.length > 10_000) throw new Error("the chain does not end");
        }
      }

      test("20 concurrent AddVersions on one parent: one added, 19 conflicts naming it", async () => {
        const sync = server();
        const clientId = newUuid();
        const first = await sync.addVersion(clientId, NIL_UUID, bytes("first"));
        expect(first.kind).toBe("added");
        const parent = (first as { versionId: Uuid }).versionId;
        expect(await sync.addSnapshot(clientId, parent, bytes("snapshot"))).toEqual({ kind: "stored" });

        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) => sync.addVersion(clientId, parent, bytes(`contender ${i}`))),
        );
        const added = outcomes.filter((o): o is Extract<AddVersionOutcome, { kind: "added" }> => o.kind === "added");
        expect(added).toHaveLength(1);
        const winner = added[0]!.versionId;
        expect(outcomes.filter((o) => o.kind === "conflict")).toHaveLength(19);
        for (const outcome of outcomes) {
          if (outcome.kind !== "added") expect(outcome).toEqual({ kind: "conflict", latestVersionId: winner });
        }

        // Read after write: the winner is there at once, and nothing else is.
        const child = await sync.getChildVersion(clientId, parent);
        expect(child.kind).toBe("found");
        const version = (child as { version: { versionId: Uuid; historySegment: Uint8Array } }).version;
        expect(version.versionId).toBe(winner);
        expect(text(version.historySegment)).toMatch(/^contender \d+$/);
        expect(await sync.getChildVersion(clientId, winner)).toEqual({ kind: "up-to-date" });
        expect((await pullAll(sync, clientId, NIL_UUID)).ids).toEqual([parent, winner]);
        expect((await read(clientId))!.snapshot?.versionsSince).toBe(1);
      });

      test("20 concurrent first AddVersions of a new client: one added, the rest conflict naming it", async () => {
        const sync = server();
        const clientId = newUuid();
        const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => sync.addVersion(clientId, NIL_UUID, bytes(`first ${i}`))));
        const added = outcomes.filter((o): o is Extract<AddVersionOutcome, { kind: "added" }> => o.kind === "added");
        expect(added).toHaveLength(1);
        const winner = added[0]!.versionId;
        for (const outcome of outcomes) {
          if (outcome.kind !== "added") expect(outcome).toEqual({ kind: "conflict", latestVersionId: winner });
        }
        expect((await pullAll(sync, clientId, NIL_UUID)).ids).toEqual([winner]);
      });

      test("replicas syncing at once (pull, push, retry on conflict) build one chain holding every change once", async () => {
        const sync = server();
        const clientId = newUuid();
        const replicas = 4;
        const perReplica = 5;

        async function replica(r: number): Promise<void> {
          let latest = NIL_UUID;
          for (let i = 0; i < perReplica; i++) {
            for (let attempt = 0; ; attempt++) {
              if (attempt > 200) throw new Error(`replica ${r} never got change ${i} in`);
              const pulled = await pullAll(sync, clientId, latest);
              latest = pulled.ids.at(-1) ?? latest;
              const outcome = await sync.addVersion(clientId, latest, bytes(`${r}:${i}`));
              if (outcome.kind === "added") {
                latest = outcome.versionId;
                break;
              }
              expect(outcome.kind).toBe("conflict");
              await sleep(Math.random() * 2);
            }
          }
        }

        await Promise.all(Array.from({ length: replicas }, (_, r) => replica(r)));
        const { payloads } = await pullAll(sync, clientId, NIL_UUID);
        expect(payloads).toHaveLength(replicas * perReplica);
        expect(new Set(payloads).size).toBe(replicas * perReplica);
        for (let r = 0; r < replicas; r++) {
          // Each replica's own changes appear in the order it made them.
          expect(payloads.filter((p) => p.startsWith(`${r}:`))).toEqual(Array.from({ length: perReplica }, (_, i) => `${r}:${i}`));
        }
      });

      test("versions_since reaches the core: snapshot urgency rises with versions added", async () => {
        const sync = new SyncServer(storage, { ...RULES, snapshotVersions: 2 });
        const clientId = newUuid();
        const first = await sync.addVersion(clientId, NIL_UUID, bytes("v0"));
        expect(first).toMatchObject({ kind: "added", snapshotUrgency: "high" }); // no snapshot yet
        let latest = (first as { versionId: Uuid }).versionId;
        expect(await sync.addSnapshot(clientId, latest, bytes("snap"))).toEqual({ kind: "stored" });
        // Urgency is computed before each add: versions_since 0, 1 → none; 2 → low; 3 → high.
        for (const expected of ["none", "none", "low", "high"]) {
          const outcome = await sync.addVersion(clientId, latest, bytes("v"));
          expect(outcome).toMatchObject({ kind: "added", snapshotUrgency: expected });
          latest = (outcome as { versionId: Uuid }).versionId;
        }
      });

      test("AddSnapshot takes only one of the 5 most recent versions; GetSnapshot returns it byte for byte", async () => {
        // Snapshots always asked for (a threshold of 0): each one is judged by its version alone.
        const sync = new SyncServer(storage, { ...RULES, snapshotVersions: 0 });
        const clientId = newUuid();
        const ids: Uuid[] = [];
        let latest = NIL_UUID;
        for (let i = 0; i < 7; i++) {
          const outcome = await sync.addVersion(clientId, latest, bytes(`v${i}`));
          latest = (outcome as { versionId: Uuid }).versionId;
          ids.push(latest);
        }
        // ids[6] is latest; ids[2] is the 5th most recent, ids[1] the 6th.
        expect(await sync.addSnapshot(clientId, ids[1]!, bytes("too old"))).toEqual({ kind: "ignored", reason: "not-recent" });
        expect(await sync.getSnapshot(clientId)).toEqual({ kind: "none" });
        expect(await sync.addSnapshot(clientId, newUuid(), bytes("unknown"))).toEqual({ kind: "ignored", reason: "not-recent" });
        const data = new Uint8Array(randomBytes(3 * MB));
        expect(await sync.addSnapshot(clientId, ids[2]!, data)).toEqual({ kind: "stored" });
        expect(await sync.addSnapshot(clientId, ids[2]!, bytes("again"))).toEqual({ kind: "ignored", reason: "already-current" });
        const got = await sync.getSnapshot(clientId);
        expect(got.kind).toBe("found");
        expect((got as { versionId: Uuid }).versionId).toBe(ids[2]);
        expectSameBytes((got as { data: Uint8Array }).data, data);

        // A newer one replaces it; an older one is then refused.
        expect(await sync.addSnapshot(clientId, ids[5]!, bytes("newer"))).toEqual({ kind: "stored" });
        expect(await sync.addSnapshot(clientId, ids[3]!, bytes("older"))).toEqual({
          kind: "ignored",
          reason: "newer-snapshot-exists",
        });
        expect(await sync.getSnapshot(clientId)).toEqual({ kind: "found", versionId: ids[5], data: bytes("newer") });
      });

      test("GetChildVersion: found, up to date, gone, unknown client", async () => {
        const sync = server();
        const clientId = newUuid();
        expect(await sync.getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "unknown-client" });
        const added = await sync.addVersion(clientId, NIL_UUID, bytes("v1"));
        const v1 = (added as { versionId: Uuid }).versionId;
        expect(await sync.getChildVersion(clientId, NIL_UUID)).toEqual({
          kind: "found",
          version: { versionId: v1, parentVersionId: NIL_UUID, historySegment: bytes("v1") },
        });
        expect(await sync.getChildVersion(clientId, v1)).toEqual({ kind: "up-to-date" });
        expect(await sync.getChildVersion(clientId, newUuid())).toEqual({ kind: "gone" });
      });
    });
  });
}

function bytes(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "utf8"));
}

function text(value: Uint8Array | null): string | null {
  return value === null ? null : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8");
}

/** A history segment unique to a version, so a test can tell whose bytes it reads. */
function segmentFor(versionId: Uuid): Uint8Array {
  return bytes(`segment of ${versionId}`);
}

/** Byte equality without a per-element diff (3 MB arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  expect(a.equals(b), "the bytes differ").toBe(true);
}

async function within<T>(ms: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
