/**
 * A SQLite database of schema version 1 (before quotas and pruning) opens under the current
 * schema: its clients get their stored bytes and chain start from what is stored, their
 * versions a time (the upgrade's), and they keep syncing.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test } from "vitest";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer } from "../../lambda/core/sync.ts";
import { SCHEMA_VERSION } from "../../lambda/storage/sqlite/schema.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { inTxn, writeTxn } from "../support/txn.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The schema this server created as version 1. */
const SCHEMA_1 = `
CREATE TABLE clients (
  client_id TEXT PRIMARY KEY NOT NULL, latest_version_id TEXT NOT NULL, snapshot_version_id TEXT,
  snapshot_timestamp INTEGER, versions_since INTEGER NOT NULL DEFAULT 0, declined_timestamp INTEGER,
  declined_versions_since INTEGER,
  CHECK ((snapshot_version_id IS NULL) = (snapshot_timestamp IS NULL)),
  CHECK ((declined_timestamp IS NULL) = (declined_versions_since IS NULL))
) STRICT;
CREATE TABLE snapshot_data (client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id), data BLOB NOT NULL) STRICT;
CREATE TABLE versions (
  client_id TEXT NOT NULL REFERENCES clients (client_id), version_id TEXT NOT NULL, parent_version_id TEXT NOT NULL,
  history_segment BLOB NOT NULL, PRIMARY KEY (client_id, version_id), UNIQUE (client_id, parent_version_id)
) STRICT;
PRAGMA user_version = 1;
`;

describe("SQLite schema migration", () => {
  test("from version 1: counters from what is stored, versions timed at the upgrade, syncing goes on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlite-migration-"));
    dirs.push(dir);
    const path = join(dir, "db.sqlite3");
    const clientId = newUuid();
    const origin = newUuid();
    const [v1, v2, v3] = [newUuid(), newUuid(), newUuid()];
    const old = new Database(path);
    old.exec(SCHEMA_1);
    old.prepare("INSERT INTO clients VALUES (?, ?, ?, ?, 1, NULL, NULL)").run(clientId, v3, v2, Date.now() - 86_400_000);
    old.prepare("INSERT INTO snapshot_data VALUES (?, ?)").run(clientId, Buffer.alloc(40));
    const insert = old.prepare("INSERT INTO versions VALUES (?, ?, ?, ?)");
    insert.run(clientId, v1, origin, Buffer.alloc(10));
    insert.run(clientId, v2, v1, Buffer.alloc(20));
    insert.run(clientId, v3, v2, Buffer.alloc(30));
    old.close();

    const before = Date.now();
    const storage = new SqliteStorage(path);
    try {
      expect(await inTxn(storage, clientId, (txn) => txn.getClientDetails())).toMatchObject({
        latestVersionId: v3,
        oldestVersion: { versionId: v1, parentVersionId: origin },
        versions: 3,
        storedBytes: 100,
        snapshot: { versionId: v2, versionsSince: 1 },
      });
      const oldest = await inTxn(storage, clientId, (txn) => txn.getOldestVersions(3));
      for (const version of oldest) expect(version.addedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
      const sync = new SyncServer(storage, DEFAULT_SYNC_RULES);
      expect(await sync.addVersion(clientId, v3, new Uint8Array(5))).toMatchObject({ kind: "added" });
      expect(await sync.addVersion(clientId, v3, new Uint8Array(5))).toMatchObject({ kind: "conflict" });
      expect((await inTxn(storage, clientId, (txn) => txn.getClientDetails()))?.storedBytes).toBe(105);
    } finally {
      await storage.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    // Opening again does not migrate twice.
    const again = new SqliteStorage(path);
    expect((await inTxn(again, clientId, (txn) => txn.getClientDetails()))?.storedBytes).toBe(105);
    await again.close();
  });

  test("a new database and its directory are readable by their owner only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlite-perms-"));
    dirs.push(dir);
    const path = join(dir, "nested", "db.sqlite3");
    const storage = new SqliteStorage(path);
    await writeTxn(storage, newUuid(), (txn) => txn.newClient(NIL_UUID));
    await storage.close();
    expect(statSync(join(dir, "nested")).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
