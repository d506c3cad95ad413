/**
 * The SQLite storage's files on disk. The database holds every client id, each a user's only
 * credential, so the data directory is its owner's only (0700) and so are the database and the
 * files SQLite keeps beside it (0600). New ones are created so; older ones (0.1.0 created the
 * directory 0755 and the database 0644, as the umask left them) are tightened when opened.
 *
 * SQLite creates the -wal, -shm and -journal files with the database file's permissions,
 * whatever the umask (SQLite's os_unix.c, `robust_open`: opened with that mode, then fchmod to
 * it; its test/journal3.test checks it). So once the database file is 0600 before SQLite first
 * opens it, no file of it is ever readable by others, not even for a moment.
 */
import { chmodSync, closeSync, mkdirSync, openSync, type Stats, statSync } from "node:fs";
import { dirname } from "node:path";

/** The files SQLite keeps beside the database, by suffix. */
const COMPANIONS = ["-wal", "-shm", "-journal"] as const;

/** Group and others: none of their permission bits may be set. */
const GROUP_AND_OTHERS = 0o077;

/** A file or directory that was readable or writable by others when the storage opened it. */
export interface LooseFile {
  path: string;
  /** Its permission bits as found, e.g. 0o644. */
  mode: number;
  /** Whether they are owner-only now; false for a file of another user, left as it is. */
  tightened: boolean;
}

/**
 * Creates the directory and the database file of `path` owner-only if they are missing, and
 * makes them and the files beside the database owner-only if they are not: only those that
 * belong to `uid` (the current user's by default; others are not this process's to change,
 * and reported). A directory with the sticky bit (/tmp, say) is shared by design: left as it
 * is. Call it before SQLite opens the database. Returns what was found looser than owner-only.
 */
export function secureDatabaseFiles(path: string, uid: number | undefined = process.getuid?.()): LooseFile[] {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  // Created here, not by SQLite, to be owner-only whatever the umask ("a": never truncates).
  closeSync(openSync(path, "a", 0o600));
  // No owners (Windows): the permission bits mean nothing there.
  if (uid === undefined) return [];
  const loose: LooseFile[] = [];
  // The directory first: once it is closed to others, so is every file in it.
  for (const file of [directory, path, ...COMPANIONS.map((suffix) => `${path}${suffix}`)]) {
    const stats = statIfPresent(file);
    if (!stats || (stats.mode & GROUP_AND_OTHERS) === 0 || (stats.isDirectory() && (stats.mode & 0o1000) !== 0)) continue;
    const mode = stats.mode & 0o7777;
    const mine = stats.uid === uid;
    if (mine) chmodSync(file, mode & ~GROUP_AND_OTHERS);
    loose.push({ path: file, mode: mode & 0o777, tightened: mine });
  }
  return loose;
}

function statIfPresent(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
