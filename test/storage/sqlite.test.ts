import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { SyncServer } from "../../lambda/core/sync.ts";
import { ChainMovedError, StorageUnavailableError } from "../../lambda/storage/errors.ts";
import { snapshotFootprint, versionFootprint } from "../../lambda/storage/sqlite/footprint.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { storageConformance } from "./conformance.ts";
import { inTxn, writeTxn } from "../support/txn.ts";

const FILE = "taskchampion-sync-server.sqlite3";

// One in-process lock for the whole database: transactions of different clients wait for
// each other, so parallelClients is false.
storageConformance(
  "SqliteStorage",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "tc-sqlite-conformance-"));
    // A DATA_DIR that does not exist yet: the storage creates it.
    return { storage: new SqliteStorage(join(dir, "data", FILE)), cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
  { parallelClients: false, accounting: { version: versionFootprint, snapshot: snapshotFootprint, keepsReplaced: false } },
);

describe("SqliteStorage specifics", () => {
  let dir: string;
  let path: string;
  const opened: Storage[] = [];

  function openStorage(options?: ConstructorParameters<typeof SqliteStorage>[1]): SqliteStorage {
    const storage = new SqliteStorage(path, options);
    opened.push(storage);
    return storage;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tc-sqlite-"));
    path = join(dir, "nested", "data", FILE);
  });

  afterEach(async () => {
    for (const storage of opened.splice(0)) {
      // A failed test may have left a transaction open: do not hang on it.
      await Promise.race([storage.close(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** A raw, separate connection to the file, to look under the storage. */
  function raw(): Database.Database {
    return new Database(path, { readonly: true, fileMustExist: true });
  }

  test("creates the data directory and the file, in WAL mode", async () => {
    expect(existsSync(join(dir, "nested"))).toBe(false);
    openStorage();
    expect(existsSync(path)).toBe(true);
    const db = raw();
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(["clients", "snapshot_data", "versions"]);
    } finally {
      db.close();
    }
  });

  test("data survives close and reopen (and opening again is idempotent)", async () => {
    const clientId = newUuid();
    const v1 = newUuid();
    const v2 = newUuid();
    const segment = new Uint8Array(256).map((_, i) => i);
    const snapshotData = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7) % 256);
    const timestamp = new Date(1_712_345_678_901);

    const first = openStorage();
    await writeTxn(first, clientId, async (txn) => {
      await txn.newClient(NIL_UUID);
      await txn.addVersion(v1, NIL_UUID, segment);
      await txn.setSnapshot({ versionId: v1, timestamp, versionsSince: 0 }, snapshotData);
    });
    await writeTxn(first, clientId, (txn) => txn.addVersion(v2, v1, new Uint8Array([1, 2, 3])));
    await first.close();

    for (let reopen = 0; reopen < 2; reopen++) {
      const again = openStorage();
      await inTxn(again, clientId, async (txn) => {
        expect(await txn.getClient()).toEqual({
          latestVersionId: v2,
          snapshot: { versionId: v1, timestamp, versionsSince: 1 },
          snapshotDeclined: null,
          highUrgencyRequests: 0,
        });
        expect(await txn.getVersion(v1)).toEqual({ versionId: v1, parentVersionId: NIL_UUID, historySegment: segment });
        expect((await txn.getVersionByParent(v1))?.historySegment).toEqual(new Uint8Array([1, 2, 3]));
        expect(Buffer.from((await txn.getSnapshotData(v1))!).equals(Buffer.from(snapshotData))).toBe(true);
      });
      await again.close();
    }
  });

  test("close waits for the transaction in flight, and the storage refuses new ones after", async () => {
    const storage = openStorage();
    const clientId = newUuid();
    const txn = await storage.txn(clientId);
    const queued = storage.txn(clientId); // waiting for the lock when close() is called
    let closed = false;
    const closing = storage.close().then(() => (closed = true));
    try {
      await txn.newClient(NIL_UUID);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closed).toBe(false);
      await txn.commit();
    } finally {
      await txn.release();
    }
    // The transaction that was already waiting still runs, and close waits for it too.
    const second = await queued;
    try {
      expect(await second.getClient()).not.toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closed).toBe(false);
    } finally {
      await second.release();
    }
    await closing;
    await storage.close(); // a second close is harmless
    await expect(storage.txn(clientId)).rejects.toThrow(/closed/);

    const reopened = openStorage();
    expect(await inTxn(reopened, clientId, (txn) => txn.getClient())).not.toBeNull();
  });

  test("the UNIQUE parent constraint refuses a fork even when latest says otherwise", async () => {
    const storage = openStorage();
    const clientId = newUuid();
    const [v1, v2] = [newUuid(), newUuid()];
    await writeTxn(storage, clientId, async (txn) => {
      await txn.newClient(NIL_UUID);
      await txn.addVersion(v1, NIL_UUID, new Uint8Array([1]));
      await txn.addVersion(v2, v1, new Uint8Array([2]));
    });
    // Corrupt latest behind the storage's back, as if a bug had rolled it back.
    const db = new Database(path);
    db.prepare("UPDATE clients SET latest_version_id = ? WHERE client_id = ?").run(v1, clientId);
    db.close();

    const fork = newUuid();
    const error = await inTxn(storage, clientId, async (txn) => {
      try {
        await txn.addVersion(fork, v1, new Uint8Array([3]));
        await txn.commit();
      } catch (error) {
        return error;
      }
      return undefined;
    });
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ChainMovedError);
    expect(String(error)).toMatch(/fork/);
    const check = raw();
    try {
      expect(check.prepare("SELECT COUNT(*) FROM versions WHERE client_id = ? AND parent_version_id = ?").pluck().get(clientId, v1)).toBe(
        1,
      );
      expect(check.prepare("SELECT COUNT(*) FROM versions WHERE version_id = ?").pluck().get(fork)).toBe(0);
    } finally {
      check.close();
    }
  });

  describe("two SqliteStorage instances on one file (as two processes would be)", () => {
    test("a commit through one is seen at once through the other", async () => {
      const a = openStorage();
      const b = openStorage();
      const clientId = newUuid();
      const v1 = newUuid();
      await writeTxn(a, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(v1, NIL_UUID, new Uint8Array([9]));
      });
      expect((await inTxn(b, clientId, (txn) => txn.getClient()))?.latestVersionId).toBe(v1);
    });

    test("concurrent addVersions on one parent through both never fork", async () => {
      const instances = [openStorage(), openStorage()];
      const clientId = newUuid();
      const parent = newUuid();
      await writeTxn(instances[0]!, clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(parent, NIL_UUID, new Uint8Array([0]));
      });

      const contenders = Array.from({ length: 12 }, () => newUuid());
      const results = await Promise.all(
        contenders.map((versionId, i) =>
          inTxn(instances[i % 2]!, clientId, async (txn) => {
            const client = await txn.getClient();
            if (client!.latestVersionId !== parent) return { kind: "saw", latest: client!.latestVersionId };
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
            try {
              await txn.addVersion(versionId, parent, new Uint8Array([i]));
              await txn.commit();
              return { kind: "added", latest: versionId };
            } catch (error) {
              if (error instanceof ChainMovedError) return { kind: "moved", latest: error.latestVersionId };
              throw error;
            }
          }),
        ),
      );
      const added = results.filter((r) => r.kind === "added");
      expect(added).toHaveLength(1);
      const winner = added[0]!.latest;
      expect(results.every((r) => r.latest === winner)).toBe(true);

      const db = raw();
      try {
        expect(
          db.prepare("SELECT version_id FROM versions WHERE client_id = ? AND parent_version_id = ?").pluck().all(clientId, parent),
        ).toEqual([winner]);
        expect(db.prepare("SELECT COUNT(*) FROM versions WHERE client_id = ?").pluck().get(clientId)).toBe(2);
        expect(db.prepare("SELECT latest_version_id FROM clients WHERE client_id = ?").pluck().get(clientId)).toBe(winner);
      } finally {
        db.close();
      }
    });

    test("20 concurrent AddVersions through two SyncServers: one added, the rest conflict naming it", async () => {
      const rules = DEFAULT_SYNC_RULES;
      const servers = [new SyncServer(openStorage(), rules), new SyncServer(openStorage(), rules)];
      const clientId = newUuid();
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => servers[i % 2]!.addVersion(clientId, NIL_UUID, new Uint8Array([i]))),
      );
      const added = outcomes.filter((o) => o.kind === "added");
      expect(added).toHaveLength(1);
      const winner = (added[0] as { versionId: Uuid }).versionId;
      for (const outcome of outcomes) {
        if (outcome.kind !== "added") expect(outcome).toEqual({ kind: "conflict", latestVersionId: winner });
      }
      const db = raw();
      try {
        expect(db.prepare("SELECT COUNT(*) FROM clients").pluck().get()).toBe(1);
        expect(db.prepare("SELECT version_id FROM versions").pluck().all()).toEqual([winner]);
      } finally {
        db.close();
      }
    });

    test("a write lock held too long by the other gives StorageUnavailableError, then recovers", async () => {
      const holder = openStorage();
      const waiter = openStorage({ lockTimeoutMs: 150 });
      const clientId = newUuid();
      const held = await holder.txn(clientId);
      try {
        await held.newClient(NIL_UUID);
        // Opening the file meanwhile needs no write lock.
        opened.push(new SqliteStorage(path, { lockTimeoutMs: 150 }));
        const started = Date.now();
        const outcome = await waiter.txn(clientId).then(
          async (txn) => {
            await txn.release();
            return "got a transaction while the other instance held the write lock";
          },
          (error: unknown) => error,
        );
        expect(outcome).toBeInstanceOf(StorageUnavailableError);
        expect(Date.now() - started).toBeGreaterThanOrEqual(100);
        await held.commit();
      } finally {
        await held.release();
      }
      expect(await inTxn(waiter, clientId, (txn) => txn.getClient())).toEqual({
        latestVersionId: NIL_UUID,
        snapshot: null,
        snapshotDeclined: null,
        highUrgencyRequests: 0,
      });
    });
  });
});
