/**
 * A consistent copy of the SQLite database, taken while the server keeps serving it (README,
 * "Backing up the local server").
 *
 * How. `VACUUM INTO` on a read-only connection of its own. SQLite documents it as "an
 * alternative to the backup API for generating backup copies of a live database", and "the
 * generated output database is a consistent snapshot of the original database"
 * (https://www.sqlite.org/lang_vacuum.html): one statement, one read transaction. In WAL mode a
 * reader neither blocks the server's writes nor sees them, so the copy is the database as some
 * commit left it, whatever the server does meanwhile. The online backup API
 * (sqlite3_backup_step) was not chosen: it copies a few pages per step, and "modifications made
 * to the source database through any other database connection will cause the backup to reset
 * and start over" — the server writes from another process, so a busy server could keep a
 * stepwise copy from ever finishing (better-sqlite3's `db.backup()` copies 100 pages per step).
 * `VACUUM INTO` also leaves out free pages, so the copy keeps no trace of removed clients, and
 * its file is in rollback-journal mode: one self-contained file, no -wal beside it.
 *
 * The connection is read-only: a backup never writes the live database (no migration, no
 * checkpoint). It holds its read transaction while it copies, which only keeps a checkpoint
 * from going past its snapshot: the server's commits pile up in the -wal meanwhile, and the first
 * checkpoint after it folds them in.
 *
 * Safety of the file. The copy goes to a temporary file beside the destination, created
 * owner-only (it holds every client id) before SQLite opens it (VACUUM INTO accepts an empty
 * file, and SQLite keeps an existing file's mode). SQLite does not fsync that file and it may be
 * incomplete after a crash (the same page), so it is checked (`PRAGMA integrity_check`, the
 * schema version), fsynced, and only then put in place: linked under the destination's name
 * (which fails if that name exists, so nothing is overwritten by a race), or renamed over it
 * when overwriting is asked for; then the directory is fsynced so that the new name survives a
 * power cut. A failed backup removes its temporary file; a killed one may leave it
 * (`FILE.partial-…`), never a FILE that looks whole.
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { link, open, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { SCHEMA_VERSION } from "./schema.ts";

export interface SqliteBackupOptions {
  /** Replace the destination if it exists; without it, an existing destination is refused. */
  overwrite?: boolean;
  /** How long to wait for a lock the copy cannot have at once (SQLite's busy_timeout). Default 10 s. */
  lockTimeoutMs?: number;
}

/** Why a backup was not attempted: the input or the destination is not as it must be. */
export type SqliteBackupRefusal =
  | "no-database"
  | "not-a-database"
  | "unknown-schema"
  | "destination-exists"
  | "destination-is-database"
  | "destination-unwritable";

export type SqliteBackupOutcome =
  | {
      kind: "written";
      /** The destination, as given. */
      file: string;
      bytes: number;
      clients: number;
      /** The copy's schema version (PRAGMA user_version), the live database's when it was taken. */
      schemaVersion: number;
    }
  | { kind: "refused"; reason: SqliteBackupRefusal; message: string }
  /** The copy was attempted and failed (a lock held too long, a disk full, a check that failed); nothing is left. */
  | { kind: "failed"; message: string };

/** The files SQLite keeps beside a database, which a backup must never replace either. */
const COMPANIONS = ["", "-wal", "-shm", "-journal"] as const;

/**
 * Copies the database at `source` to `destination`, consistently, while other processes may be
 * writing it. Refusals and failures are values; the temporary file is gone in either case.
 */
export async function backupSqliteDatabase(
  source: string,
  destination: string,
  options: SqliteBackupOptions = {},
): Promise<SqliteBackupOutcome> {
  const refused = (reason: SqliteBackupRefusal, message: string): SqliteBackupOutcome => ({ kind: "refused", reason, message });

  // Everything that can be decided on names and metadata comes first: nothing is opened or written before.
  const sourceStats = await statIfPresent(source);
  if (!sourceStats) {
    const directory = dirname(source);
    return (await statIfPresent(directory))
      ? refused("no-database", `there is no database at ${source}`)
      : refused("no-database", `the data directory ${directory} does not exist`);
  }
  if (!sourceStats.isFile()) return refused("not-a-database", `${source} is not a file`);
  const directory = dirname(destination);
  let destinationPath: string;
  try {
    destinationPath = join(await realpath(directory), basename(destination));
  } catch (error) {
    return refused("destination-unwritable", `cannot write in ${directory}: ${describe(error)}`);
  }
  const sourcePath = await realpath(source);
  const existing = await statIfPresent(destinationPath);
  if (
    COMPANIONS.some((suffix) => destinationPath === `${sourcePath}${suffix}`) ||
    (existing && existing.dev === sourceStats.dev && existing.ino === sourceStats.ino)
  ) {
    return refused("destination-is-database", `${destination} is the live database (or one of its files): back up to another file`);
  }
  if (existing && !existing.isFile()) return refused("destination-unwritable", `${destination} exists and is not a file`);
  if (existing && !options.overwrite) return refused("destination-exists", `${destination} exists already (--force replaces it)`);

  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
  } catch (error) {
    return refused("not-a-database", `cannot open ${source}: ${describe(error)}`);
  }
  const temporary = `${destinationPath}.partial-${randomBytes(4).toString("hex")}`;
  let created = false;
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.lockTimeoutMs ?? 10_000))}`);
    let version: number;
    try {
      version = Number(db.pragma("user_version", { simple: true }));
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code === "SQLITE_NOTADB") {
        return refused("not-a-database", `${source} is not an SQLite database`);
      }
      return { kind: "failed", message: `cannot read ${source}: ${describe(error)}` };
    }
    const unknown = unknownSchema(version);
    if (unknown) return refused("unknown-schema", `${source} ${unknown}`);

    try {
      // Created here, owner-only whatever the umask; SQLite writes into it and keeps its mode.
      const handle = await open(temporary, "wx", 0o600);
      created = true;
      try {
        await handle.chmod(0o600);
      } finally {
        await handle.close();
      }
    } catch (error) {
      return refused("destination-unwritable", `cannot write in ${directory}: ${describe(error)}`);
    }

    try {
      db.prepare("VACUUM INTO ?").run(temporary);
    } catch (error) {
      return { kind: "failed", message: `copying ${source} failed: ${describe(error)}` };
    } finally {
      db.close();
    }

    const checked = checkCopy(temporary);
    if (typeof checked === "string") return { kind: "failed", message: `the copy failed its check: ${checked}` };

    await fsync(temporary);
    const placed = await place(temporary, destinationPath, options.overwrite === true);
    if (!placed) return refused("destination-exists", `${destination} exists already (--force replaces it)`);
    created = false;
    await fsyncDirectory(dirname(destinationPath));
    return { kind: "written", file: destination, bytes: (await stat(destinationPath)).size, ...checked };
  } catch (error) {
    return { kind: "failed", message: describe(error) };
  } finally {
    if (db.open) db.close();
    if (created) await rm(temporary, { force: true });
  }
}

/** What is wrong with a schema version this code cannot vouch for, or undefined. */
function unknownSchema(version: number): string | undefined {
  if (version === 0) return "holds no schema of this server (an empty or foreign database)";
  if (!Number.isInteger(version) || version < 0 || version > SCHEMA_VERSION) {
    return `has schema version ${version}; this command knows up to ${SCHEMA_VERSION}: back it up with the server's own version`;
  }
  return undefined;
}

/** The copy's integrity, schema version and client count; or what is wrong with it. */
function checkCopy(path: string): { schemaVersion: number; clients: number } | string {
  let copy: Database.Database | undefined;
  try {
    copy = new Database(path, { readonly: true, fileMustExist: true });
    const problems = copy
      .prepare<[], { integrity_check: string }>("PRAGMA integrity_check")
      .all()
      .map((row) => row.integrity_check);
    if (problems.length !== 1 || problems[0] !== "ok") return `integrity_check: ${problems.slice(0, 3).join("; ")}`;
    const schemaVersion = Number(copy.pragma("user_version", { simple: true }));
    const unknown = unknownSchema(schemaVersion);
    if (unknown) return `it ${unknown}`;
    const clients = copy.prepare<[], { n: number }>("SELECT count(*) AS n FROM clients").get()?.n ?? 0;
    return { schemaVersion, clients };
  } catch (error) {
    return describe(error);
  } finally {
    copy?.close();
  }
}

/**
 * Gives the checked copy its name. Without `overwrite`, a hard link, which fails if the name is
 * taken (so a file that appeared meanwhile is never replaced): false then. Where the file system
 * has no hard links, a check and a rename.
 */
async function place(temporary: string, destination: string, overwrite: boolean): Promise<boolean> {
  if (overwrite) {
    await rename(temporary, destination);
    return true;
  }
  try {
    await link(temporary, destination);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw error;
    if (await statIfPresent(destination)) return false;
    await rename(temporary, destination);
    return true;
  }
  await rm(temporary);
  return true;
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or link in `directory` durable; skipped where directories cannot be fsynced. */
async function fsyncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM" && code !== "EBADF") throw error;
  } finally {
    await handle?.close();
  }
}

async function statIfPresent(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}

/** An error's one line, with SQLite's code when it has one. */
function describe(error: unknown): string {
  if (error instanceof Database.SqliteError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
