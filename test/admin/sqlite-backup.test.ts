/**
 * `admin backup`'s rules: the copy is owner-only whatever the umask, never replaces a file unless
 * --force (and never the live database), refuses other storages and what is not this server's
 * database with exit 2 before it writes anything, and a backup that fails or is killed leaves no
 * file that looks whole.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { backupSqliteDatabase } from "../../lambda/storage/sqlite/backup.ts";
import { SCHEMA_VERSION } from "../../lambda/storage/sqlite/schema.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { runAdmin } from "../support/admin.ts";
import { exited } from "../support/server-process.ts";
import { readChains } from "../support/sqlite-chains.ts";
import { writeTxn } from "../support/txn.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MiB = 1024 * 1024;

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "tc-backup-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;
/** What a directory holds besides `keep`: a failed backup must leave nothing. */
const leftovers = (dir: string, keep: string[] = []) => readdirSync(dir).filter((name) => !keep.includes(name));

/** A data directory with `clients` clients of one version each (and the first one's snapshot). */
async function dataDirectory(clients = 2): Promise<{ dir: string; database: string; clientIds: string[] }> {
  const dir = join(work, `data-${newUuid()}`);
  const database = join(dir, SQLITE_FILE_NAME);
  const storage = new SqliteStorage(database);
  const clientIds: string[] = [];
  for (let i = 0; i < clients; i++) {
    const clientId = newUuid();
    await writeTxn(storage, clientId, async (txn) => {
      await txn.newClient(NIL_UUID);
      const versionId = newUuid();
      await txn.addVersion(versionId, NIL_UUID, randomBytes(100));
      if (i === 0) await txn.setSnapshot({ versionId, timestamp: new Date(), versionsSince: 0 }, randomBytes(50));
    });
    clientIds.push(clientId);
  }
  await storage.close();
  return { dir, database, clientIds };
}

function outDir(): string {
  const dir = join(work, `out-${newUuid()}`);
  mkdirSync(dir);
  return dir;
}

/** The admin command as one process (for what only a process has: its umask, a kill), as `npm run admin` runs it. */
function adminProcess(args: string[], env: Record<string, string>, umask?: string) {
  const node = [process.execPath, "--import", "tsx", "bin/admin.ts"];
  const [command, ...argv] = umask === undefined ? [...node, ...args] : ["sh", "-c", `umask ${umask} && exec "$@"`, "sh", ...node, ...args];
  return spawn(command!, argv, { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

function runProcess(
  args: string[],
  env: Record<string, string>,
  umask?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = adminProcess(args, env, umask);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return exited(child).then((code) => ({ code, stdout, stderr }));
}

describe("admin backup", () => {
  test("writes a checked copy and says what it holds (--json: file, bytes, clients, schemaVersion, durationMs)", async () => {
    const { dir, database, clientIds } = await dataDirectory(3);
    const out = join(outDir(), "tc.sqlite3");
    const run = await runAdmin(["backup", "--out", out, "--json"], { DATA_DIR: dir });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      file: out,
      bytes: statSync(out).size,
      clients: 3,
      schemaVersion: SCHEMA_VERSION,
      durationMs: expect.any(Number),
    });
    expect([...readChains(out).keys()].sort()).toEqual([...clientIds].sort());
    expect(readChains(out)).toEqual(readChains(database));
    // One self-contained file: no -wal to carry with it.
    const copy = new Database(out, { readonly: true });
    expect(copy.pragma("journal_mode", { simple: true })).toBe("delete");
    copy.close();
    expect(leftovers(join(out, ".."))).toEqual(["tc.sqlite3"]);

    const human = await runAdmin(["backup", "--out", join(outDir(), "tc.sqlite3")], { DATA_DIR: dir });
    expect(human.stdout).toMatch(
      /^Backed up .*taskchampion-sync-server\.sqlite3 to .*tc\.sqlite3: 3 clients, \d.* schema version \d+, in \d+\.\d s\.\n$/,
    );
  });

  test.each([
    ["000", "a umask that lets everyone read"],
    ["277", "a umask that would leave the file unwritable to SQLite"],
  ])("makes the copy owner-only (0600) with umask %s (%s)", async (umask) => {
    const { dir } = await dataDirectory();
    const out = join(outDir(), "tc.sqlite3");
    const run = await runProcess(["backup", "--out", out], { DATA_DIR: dir }, umask);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(mode(out)).toBe(0o600);
  });

  test("copies an older server's database as it is (schema version 1): nothing migrated, in the copy or the live database", async () => {
    const dir = join(work, `old-${newUuid()}`);
    mkdirSync(dir);
    const database = join(dir, SQLITE_FILE_NAME);
    const old = new Database(database);
    old.exec(`
      CREATE TABLE clients (client_id TEXT PRIMARY KEY NOT NULL, latest_version_id TEXT NOT NULL, snapshot_version_id TEXT,
        snapshot_timestamp INTEGER, versions_since INTEGER NOT NULL DEFAULT 0, declined_timestamp INTEGER,
        declined_versions_since INTEGER) STRICT;
      CREATE TABLE snapshot_data (client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id), data BLOB NOT NULL) STRICT;
      CREATE TABLE versions (client_id TEXT NOT NULL REFERENCES clients (client_id), version_id TEXT NOT NULL,
        parent_version_id TEXT NOT NULL, history_segment BLOB NOT NULL, PRIMARY KEY (client_id, version_id),
        UNIQUE (client_id, parent_version_id)) STRICT;
      PRAGMA journal_mode = WAL;
      PRAGMA user_version = 1;
    `);
    old.prepare("INSERT INTO clients VALUES (?, ?, NULL, NULL, 0, NULL, NULL)").run(newUuid(), NIL_UUID);
    old.close();
    const out = join(outDir(), "tc.sqlite3");
    const run = await runAdmin(["backup", "--out", out, "--json"], { DATA_DIR: dir });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ clients: 1, schemaVersion: 1 });
    for (const file of [database, out]) {
      const db = new Database(file, { readonly: true });
      expect(db.pragma("user_version", { simple: true }), file).toBe(1);
      db.close();
    }
  });

  test("never replaces a file without --force; with it, the file is replaced by an owner-only copy", async () => {
    const { dir } = await dataDirectory();
    const folder = outDir();
    const out = join(folder, "tc.sqlite3");
    writeFileSync(out, "precious", { mode: 0o644 });
    const refused = await runAdmin(["backup", "--out", out], { DATA_DIR: dir });
    expect(refused).toMatchObject({ code: 2, stdout: "", stderr: `error: ${out} exists already (--force replaces it)\n` });
    expect(readFileSync(out, "utf8")).toBe("precious");
    expect(leftovers(folder)).toEqual(["tc.sqlite3"]);

    const forced = await runAdmin(["backup", "--out", out, "--force", "--json"], { DATA_DIR: dir });
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ clients: 2 });
    expect(mode(out)).toBe(0o600);
    expect(readChains(out).size).toBe(2);
    expect(leftovers(folder)).toEqual(["tc.sqlite3"]);
  });

  test("never writes over the live database or its files, even with --force, by any name", async () => {
    const { dir, database } = await dataDirectory();
    const before = readFileSync(database);
    const link = join(outDir(), "link.sqlite3");
    symlinkSync(database, link);
    for (const out of [database, `${database}-wal`, `${database}-shm`, join(dir, ".", SQLITE_FILE_NAME), link]) {
      const run = await runAdmin(["backup", "--out", out, "--force"], { DATA_DIR: dir });
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`error: ${out} is the live database (or one of its files): back up to another file\n`);
    }
    expect(readFileSync(database).equals(before)).toBe(true);
  });

  test.each([
    [
      { STORAGE: "dynamodb" },
      [],
      /^error: backup copies the local server's SQLite database \(STORAGE=sqlite\); a deployment .* is backed up by AWS .*export-client\n$/,
    ],
    [
      { STORAGE: "sqlite" },
      ["--stack", "Prod"],
      /^error: backup copies the local server's SQLite database; a deployment .* is backed up by AWS .*export-client\n$/,
    ],
    [{ STORAGE: "memory" }, [], /^error: STORAGE=memory keeps nothing beyond the server's process: there is no database to back up\n$/],
  ])("refuses %o %o with exit 2, saying what to use instead, and reaches no storage", async (env, extra, message) => {
    const out = join(outDir(), "tc.sqlite3");
    const run = await runAdmin(["backup", "--out", out, ...extra], env, {
      cloudFormation: () => Promise.reject(new Error("no stack may be read")),
    });
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  test("refuses bad usage with exit 2: no --out, an unknown option, invalid settings", async () => {
    expect(await runAdmin(["backup"], { DATA_DIR: work })).toMatchObject({ code: 2, stderr: "error: backup needs --out FILE\n" });
    expect(await runAdmin(["backup", "--out", "x", "--yes"], { DATA_DIR: work })).toMatchObject({
      code: 2,
      stderr: "error: backup takes no --yes\n",
    });
    const invalid = await runAdmin(["backup", "--out", "x"], { STORAGE: "floppy" });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^error: invalid settings: STORAGE="floppy" is not valid/);
  });

  test("a missing data directory or database is refused with exit 2, and neither is created", async () => {
    const absent = join(work, `absent-${newUuid()}`);
    const out = join(outDir(), "tc.sqlite3");
    const noDir = await runAdmin(["backup", "--out", out], { DATA_DIR: absent });
    expect(noDir).toMatchObject({ code: 2, stderr: `error: the data directory ${absent} does not exist\n` });
    expect(existsSync(absent)).toBe(false);
    const empty = join(work, `empty-${newUuid()}`);
    mkdirSync(empty);
    const noDatabase = await runAdmin(["backup", "--out", out], { DATA_DIR: empty });
    expect(noDatabase).toMatchObject({ code: 2, stderr: `error: there is no database at ${join(empty, SQLITE_FILE_NAME)}\n` });
    expect(readdirSync(empty)).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  test("what is not this server's database is refused with exit 2: not SQLite, no schema, a newer schema", async () => {
    const cases: [string, (path: string) => void, RegExp][] = [
      [
        "garbage",
        (path) => writeFileSync(path, "not a database at all, but long enough to look at".repeat(20)),
        /is not an SQLite database\n$/,
      ],
      ["empty", (path) => writeFileSync(path, ""), /holds no schema of this server/],
      [
        "newer",
        (path) => {
          const db = new Database(path);
          db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
          db.close();
        },
        new RegExp(`has schema version ${SCHEMA_VERSION + 1}; this command knows up to ${SCHEMA_VERSION}`),
      ],
    ];
    for (const [name, make, message] of cases) {
      const dir = join(work, `${name}-${newUuid()}`);
      mkdirSync(dir);
      make(join(dir, SQLITE_FILE_NAME));
      const folder = outDir();
      const run = await runAdmin(["backup", "--out", join(folder, "tc.sqlite3")], { DATA_DIR: dir });
      expect(run.code, name).toBe(2);
      expect(run.stderr, name).toMatch(message);
      expect(leftovers(folder), name).toEqual([]);
    }
  });

  test("a destination directory that does not exist is refused with exit 2", async () => {
    const { dir } = await dataDirectory();
    const out = join(work, `nowhere-${newUuid()}`, "tc.sqlite3");
    const run = await runAdmin(["backup", "--out", out], { DATA_DIR: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: cannot write in .*nowhere-.*: ENOENT/);
  });

  test("a database another process holds for itself fails the backup once the wait is over; nothing is written", async () => {
    const { database } = await dataDirectory();
    const folder = outDir();
    // A connection in exclusive locking mode keeps every reader out (as a writer that never lets go would).
    const holder = new Database(database);
    try {
      holder.pragma("locking_mode = EXCLUSIVE");
      holder.exec("BEGIN EXCLUSIVE; CREATE TABLE held (x); COMMIT");
      const started = Date.now();
      const outcome = await backupSqliteDatabase(database, join(folder, "tc.sqlite3"), { lockTimeoutMs: 300 });
      expect(outcome).toEqual({ kind: "failed", message: expect.stringMatching(/^cannot read .*: database is locked \(SQLITE_BUSY\)$/) });
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(leftovers(folder)).toEqual([]);
    } finally {
      holder.close();
    }
  });

  test("a copy that fails once its temporary file exists removes that file (exit 1 from the command)", async () => {
    const { database } = await dataDirectory();
    const folder = outDir();
    const backup = backupSqliteDatabase(database, join(folder, "tc.sqlite3"));
    // Something else writes into the temporary file before SQLite copies into it: VACUUM INTO refuses a file that is not empty.
    for (;;) {
      const partial = leftovers(folder)[0];
      if (partial) {
        writeFileSync(join(folder, partial), "in the way");
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await backup).toEqual({ kind: "failed", message: expect.stringMatching(/^copying .* failed: /) });
    expect(leftovers(folder)).toEqual([]);
  });

  test("a destination that appears while the copy is made is not replaced: refused, and the temporary file removed", async () => {
    const { database } = await dataDirectory();
    const folder = outDir();
    const out = join(folder, "tc.sqlite3");
    const backup = backupSqliteDatabase(database, out);
    // Once the temporary file exists, the check for an existing destination is behind: another file takes the name.
    while (leftovers(folder).length === 0) await new Promise((resolve) => setImmediate(resolve));
    writeFileSync(out, "another file");
    expect(await backup).toMatchObject({ kind: "refused", reason: "destination-exists" });
    expect(readFileSync(out, "utf8")).toBe("another file");
    expect(leftovers(folder)).toEqual(["tc.sqlite3"]);
  });

  test("only reads the live database: a -wal that a killed server left is neither checkpointed nor removed", async () => {
    const { database } = await dataDirectory();
    // A server killed after a commit: the commit is in the -wal, no close has checkpointed it.
    const script = `const db = new (require("better-sqlite3"))(${JSON.stringify(database)}); db.prepare("UPDATE clients SET versions_since = versions_since + 1").run(); process.kill(process.pid, "SIGKILL");`;
    expect(spawnSync(process.execPath, ["-e", script], { cwd: root }).signal).toBe("SIGKILL");
    const before = { wal: statSync(`${database}-wal`).size, database: readFileSync(database) };
    expect(before.wal).toBeGreaterThan(0);
    const outcome = await backupSqliteDatabase(database, join(outDir(), "tc.sqlite3"));
    expect(outcome).toMatchObject({ kind: "written", clients: 2 });
    expect(statSync(`${database}-wal`).size).toBe(before.wal);
    expect(readFileSync(database).equals(before.database)).toBe(true);
  });

  test("a copy that fails its check is not put in place, and its temporary file is removed", async () => {
    const { database } = await dataDirectory();
    const folder = outDir();
    // A copy damaged once SQLite has written it (it does not fsync it: a crash may leave it so),
    // which the storage's SQLite cannot be made to produce: its VACUUM INTO, then junk over a page.
    const prepare = Database.prototype.prepare;
    const spy = vi.spyOn(Database.prototype, "prepare").mockImplementation(function (this: Database.Database, source: string) {
      const statement = prepare.call(this, source);
      if (source !== "VACUUM INTO ?") return statement;
      return Object.assign(Object.create(statement) as Database.Statement, {
        run: (file: string) => {
          const written = statement.run(file);
          const handle = openSync(file, "r+");
          writeSync(handle, randomBytes(4096), 0, 4096, 4096);
          closeSync(handle);
          return written;
        },
      });
    });
    let outcome: Awaited<ReturnType<typeof backupSqliteDatabase>>;
    try {
      outcome = await backupSqliteDatabase(database, join(folder, "tc.sqlite3"));
    } finally {
      spy.mockRestore();
    }
    expect(outcome).toEqual({ kind: "failed", message: expect.stringMatching(/^the copy failed its check: /) });
    expect(leftovers(folder)).toEqual([]);
  });

  test("the README's restore steps put the backup in place, owner-only and the directory owner's, with the old database and its -wal and -shm set aside", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const at = readme.indexOf("**Restoring** a backup");
    const steps = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
    const { dir, database } = await dataDirectory(2);
    const backup = join(outDir(), "backup-Mon.sqlite3");
    expect((await runAdmin(["backup", "--out", backup], { DATA_DIR: dir })).code).toBe(0);
    // The live database moves on after the backup, and has its -wal and -shm beside it (a read-only connection leaves them).
    const storage = new SqliteStorage(database);
    await writeTxn(storage, newUuid(), (txn) => txn.newClient(NIL_UUID));
    await storage.close();
    const reader = new Database(database, { readonly: true });
    reader.prepare("SELECT count(*) FROM clients").get();
    reader.close();
    const before = readChains(database);
    const script = steps
      .replaceAll("/var/lib/private/taskchampion-sync-server", dir)
      .replaceAll("/var/lib/taskchampion-sync-server-backups/backup-Mon.sqlite3", backup);
    // systemctl is the host's; here the server is already stopped.
    const restore = spawnSync("sh", ["-ec", `systemctl() { :; }\n${script}`], { encoding: "utf8" });
    expect(restore.stderr).toBe("");
    expect(restore.status).toBe(0);
    expect(readChains(database)).toEqual(readChains(backup));
    expect(mode(database)).toBe(0o600);
    expect(statSync(database).uid).toBe(statSync(dir).uid);
    const [aside] = leftovers(dir, [SQLITE_FILE_NAME]);
    expect(aside).toMatch(/^before-restore-\d{14}$/);
    expect(readdirSync(join(dir, aside!)).sort()).toEqual([SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-shm`, `${SQLITE_FILE_NAME}-wal`]);
    expect(readChains(join(dir, aside!, SQLITE_FILE_NAME))).toEqual(before);
  });

  test("a backup killed while it copies leaves no file by the destination's name; the next one works", async () => {
    const { dir, database } = await dataDirectory();
    // Big enough that the copy takes a while.
    const storage = new SqliteStorage(database);
    const ids = Array.from({ length: 60 }, () => newUuid());
    await storage.importClient(newUuid(), {
      latestVersionId: ids.at(-1)!,
      snapshot: null,
      versions: (async function* () {
        for (const [i, versionId] of ids.entries()) {
          yield { versionId, parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!, historySegment: randomBytes(MiB), addedAt: new Date() };
        }
      })(),
    });
    await storage.close();
    const folder = outDir();
    const out = join(folder, "tc.sqlite3");
    const child = adminProcess(["backup", "--out", out], { DATA_DIR: dir });
    const gone = exited(child);
    // Killed once the copy has begun to write its temporary file.
    for (;;) {
      const partial = leftovers(folder).find((name) => name.startsWith("tc.sqlite3.partial-"));
      if (partial && statSync(join(folder, partial)).size > 0) break;
      if (child.exitCode !== null) throw new Error("the backup ended before it could be killed");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill("SIGKILL");
    await gone;
    expect(existsSync(out)).toBe(false);
    const again = await runAdmin(["backup", "--out", out, "--json"], { DATA_DIR: dir });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ clients: 3 });
  });
});
