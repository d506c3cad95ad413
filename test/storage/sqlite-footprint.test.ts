/**
 * The SQLite storage's quota counts what a version and a snapshot cost in the database file
 * (lambda/storage/sqlite/footprint.ts): measured here as the file's used pages before and after,
 * for segments around the sizes where SQLite's page packing wastes the most.
 */
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { snapshotFootprint, versionFootprint } from "../../lambda/storage/sqlite/footprint.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { writeTxn } from "../support/txn.ts";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The bytes of the file's pages in use. */
function usedPages(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    const pages = (db.pragma("page_count", { simple: true }) as number) - (db.pragma("freelist_count", { simple: true }) as number);
    return pages * (db.pragma("page_size", { simple: true }) as number);
  } finally {
    db.close();
  }
}

async function measure(work: (storage: SqliteStorage, clientId: Uuid) => Promise<void>): Promise<number> {
  // In memory where the machine has it: a commit's fsync is what takes the time here.
  const dir = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "tc-footprint-"));
  dirs.push(dir);
  const path = join(dir, "db.sqlite3");
  const storage = new SqliteStorage(path);
  const clientId = newUuid();
  await writeTxn(storage, clientId, (txn) => txn.newClient(NIL_UUID));
  await storage.close();
  const before = usedPages(path);
  const again = new SqliteStorage(path);
  await work(again, clientId);
  await again.close();
  return usedPages(path) - before;
}

/** Enough versions that the indexes' own page-by-page growth (a page or two) averages out. */
const VERSIONS = 300;
/** The pages the file may grow by beyond the versions' share: a new page of each index. */
const SLACK_BYTES = 2 * 4096;

describe("SQLite: what the quota counts is what the file grows by, at most", () => {
  for (const size of [1, 250, 1250, 2000, 2100, 3000, 3900, 4100, 8200, 50_000]) {
    test(`versions of ${size} bytes`, async () => {
      const grown = await measure(async (storage, clientId) => {
        let parent = NIL_UUID;
        for (let i = 0; i < VERSIONS; i++) {
          const versionId = newUuid();
          await writeTxn(storage, clientId, (txn) => txn.addVersion(versionId, parent, new Uint8Array(size).fill(i)));
          parent = versionId;
        }
      });
      const perVersion = grown / VERSIONS;
      expect(perVersion).toBeLessThanOrEqual(versionFootprint(size) + SLACK_BYTES / VERSIONS);
      // An upper bound that stays close: tiny versions are not counted many times over.
      expect(perVersion).toBeGreaterThanOrEqual(versionFootprint(size) / 2);
    });
  }

  for (const size of [100, 5000, 1_000_000]) {
    test(`a snapshot of ${size} bytes`, async () => {
      const grown = await measure(async (storage, clientId) => {
        const versionId = newUuid();
        await writeTxn(storage, clientId, (txn) => txn.addVersion(versionId, NIL_UUID, new Uint8Array(1)));
        await writeTxn(storage, clientId, (txn) =>
          txn.setSnapshot({ versionId, timestamp: new Date(), versionsSince: 0 }, new Uint8Array(size)),
        );
      });
      expect(grown - versionFootprint(1)).toBeLessThanOrEqual(snapshotFootprint(size));
    });
  }
});
