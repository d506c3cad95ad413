/**
 * The SQLite storage's files are their owner's only: new ones are created so whatever the
 * umask, and those of an older data directory (0.1.0: directory 0755, database 0644, its -wal
 * and -shm too) are tightened when the storage opens them, and said once.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { looseFileLines, SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { secureDatabaseFiles } from "../../lambda/storage/sqlite/files.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { runAdmin } from "../support/admin.ts";
import { writeTxn } from "../support/txn.ts";

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "tc-sqlite-files-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o7777;
const uid = process.getuid?.() ?? 0;

/**
 * A data directory as 0.1.0 left it: the directory 0755, the database and its -wal and -shm
 * 0644 (a connection keeps those two in place, as a running server would).
 */
async function oldDataDirectory(): Promise<{ dir: string; path: string; connection: Database.Database }> {
  const dir = join(work, `old-${newUuid()}`);
  const path = join(dir, SQLITE_FILE_NAME);
  const storage = new SqliteStorage(path);
  await writeTxn(storage, newUuid(), (txn) => txn.newClient(NIL_UUID));
  await storage.close();
  const connection = new Database(path);
  connection.pragma("journal_mode = WAL");
  connection.exec("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1)");
  chmodSync(dir, 0o755);
  for (const file of [path, `${path}-wal`, `${path}-shm`]) chmodSync(file, 0o644);
  return { dir, path, connection };
}

describe("the SQLite storage's files", () => {
  it("are tightened when an older data directory is opened: the directory 0700, the database, -wal and -shm 0600", async () => {
    const { dir, path, connection } = await oldDataDirectory();
    try {
      const storage = new SqliteStorage(path);
      expect(storage.looseFiles).toEqual([
        { path: dir, mode: 0o755, tightened: true },
        { path, mode: 0o644, tightened: true },
        { path: `${path}-wal`, mode: 0o644, tightened: true },
        { path: `${path}-shm`, mode: 0o644, tightened: true },
      ]);
      expect([mode(dir), mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual([0o700, 0o600, 0o600, 0o600]);
      await storage.close();
      // Said once: the next opening finds nothing to tighten.
      const again = new SqliteStorage(path);
      expect(again.looseFiles).toEqual([]);
      await again.close();
    } finally {
      connection.close();
    }
  });

  it("are created owner-only, -wal and -shm too, even under a umask of 0", async () => {
    const dir = join(work, `new-${newUuid()}`, "nested");
    const path = join(dir, SQLITE_FILE_NAME);
    const umask = process.umask(0);
    try {
      const storage = new SqliteStorage(path);
      await writeTxn(storage, newUuid(), (txn) => txn.newClient(NIL_UUID));
      expect(storage.looseFiles).toEqual([]);
      expect([mode(dir), mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual([0o700, 0o600, 0o600, 0o600]);
      await storage.close();
    } finally {
      process.umask(umask);
    }
  });

  it("of another user are left as they are, and reported", () => {
    const dir = join(work, `theirs-${newUuid()}`);
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const path = join(dir, SQLITE_FILE_NAME);
    expect(secureDatabaseFiles(path, uid + 1)).toEqual([{ path: dir, mode: 0o755, tightened: false }]);
    expect(mode(dir)).toBe(0o755);
  });

  it("do not change a shared directory with the sticky bit (such as /tmp)", () => {
    const dir = join(work, `shared-${newUuid()}`);
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const path = join(dir, SQLITE_FILE_NAME);
    expect(secureDatabaseFiles(path)).toEqual([]);
    expect([mode(dir), mode(path)]).toEqual([0o1777, 0o600]);
  });

  it("are reported in one line each: what was tightened, what could not be", () => {
    expect(
      looseFileLines([
        { path: "/data", mode: 0o755, tightened: true },
        { path: "/data/db", mode: 0o644, tightened: true },
        { path: "/data/db-wal", mode: 0o640, tightened: false },
      ]),
    ).toEqual([
      "note: made owner-only, as they hold every client id: /data (0755), /data/db (0644)",
      "warning: readable by others and not this user's to change, make them owner-only: /data/db-wal (0640)",
    ]);
    expect(looseFileLines([])).toEqual([]);
  });

  it("are tightened by the admin command too, which says so once on stderr", async () => {
    const { dir, path, connection } = await oldDataDirectory();
    connection.close();
    const env = { DATA_DIR: dir };
    const first = await runAdmin(["list-clients", "--json"], env);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe(`note: made owner-only, as they hold every client id: ${dir} (0755), ${path} (0644)\n`);
    expect([mode(dir), mode(path)]).toEqual([0o700, 0o600]);
    expect(await runAdmin(["list-clients", "--json"], env)).toMatchObject({ code: 0, stderr: "" });
  });
});
