/**
 * The local server's backup and restore, rehearsed as they happen: `admin backup` (a process of
 * its own) copies the database while a server process serves replicas that keep syncing; the
 * backup is checked (integrity, every client's chain whole, its snapshot on it, each chain where
 * the live one started); then it is restored into a fresh data directory and served. Replicas that
 * synced only before the backup carry on; those that synced after it are told 410 (a push first:
 * 409, then 410), start over from the snapshot, re-apply what they had (their `task export`), and
 * everybody converges on one chain: nobody forks.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test } from "vitest";
import { HttpStatusError, Replica, type TaskMap } from "../../client/replica.ts";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { SCHEMA_VERSION } from "../../lambda/storage/sqlite/schema.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { protocolClient } from "../support/http-client.ts";
import { exited, type ServerProcess, startServerProcess } from "../support/server-process.ts";
import { isPrefix, readChains } from "../support/sqlite-chains.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MiB = 1024 * 1024;

const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      const gone = exited(server.child);
      server.child.kill("SIGTERM");
      await gone;
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function serve(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(process.execPath, ["--import", "tsx", "bin/serve.ts"], {
    cwd: root,
    // A snapshot is asked for with high urgency on a client's first version: every client has one before the backup.
    env: { DATA_DIR: dataDir, LISTEN: "127.0.0.1:0", SNAPSHOT_VERSIONS: "4" },
  });
  servers.push(server);
  return server;
}

async function stop(server: ServerProcess): Promise<void> {
  const gone = exited(server.child);
  server.child.kill("SIGTERM");
  expect(await gone).toBe(0);
}

/** `admin backup` as the operator's cron job runs it: a process of its own, beside the server. */
function backupProcess(dataDir: string, out: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(root, "node_modules", ".bin", "tsx"),
      ["bin/admin.ts", "backup", "--out", out, "--json"],
      { cwd: root, env: { PATH: process.env.PATH, DATA_DIR: dataDir } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Another user's client of many large versions, imported before the server starts: it makes the
 * database tens of MB, so that copying it takes long enough for the replicas' writes to land
 * while it runs.
 */
async function fillDatabase(path: string, versions: number): Promise<void> {
  const storage = new SqliteStorage(path);
  const ids = Array.from({ length: versions }, () => newUuid());
  await storage.importClient(newUuid(), {
    latestVersionId: ids.at(-1)!,
    snapshot: { versionId: ids.at(-2)!, timestamp: new Date(), versionsSince: 1, data: randomBytes(1000) },
    versions: (async function* () {
      for (const [i, versionId] of ids.entries()) {
        yield { versionId, parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!, historySegment: randomBytes(MiB), addedAt: new Date() };
      }
    })(),
  });
  await storage.close();
}

/**
 * The server's address as replicas know it (a name the operator keeps), routed to whichever
 * server process serves it now: the restored server answers the same replicas.
 */
const SERVER = "http://taskchampion.test";
let serving = "";
const routed: typeof fetch = (input, init) => fetch(String(input).replace(SERVER, serving), init);

interface User {
  clientId: string;
  secret: string;
  /** Syncs before the backup, then not until the restore. */
  quiet: Replica;
  /** Keep syncing, before, while and after the backup runs. */
  busy: Replica[];
}

function newUser(index: number): User {
  const clientId = newUuid();
  const secret = randomBytes(16).toString("hex");
  const replica = (name: string) => new Replica({ baseUrl: SERVER, fetch: routed, clientId, secret, name: `user${index}-${name}` });
  return { clientId, secret, quiet: replica("quiet"), busy: [replica("busy-a"), replica("busy-b")] };
}

function freshReplica(user: User, name: string, options: { fetchSnapshot?: boolean } = {}): Replica {
  return new Replica({ baseUrl: SERVER, fetch: routed, clientId: user.clientId, secret: user.secret, name, ...options });
}

/** A replica's `task export`: what it holds, local changes included. */
const taskExport = (replica: Replica): TaskMap => replica.taskMap();

/** Re-applies what `mine` (an export) holds and `replica` does not, as a user does by hand after starting over. */
function reapply(replica: Replica, mine: TaskMap): void {
  const now = replica.taskMap();
  for (const [uuid, task] of Object.entries(mine)) {
    const current = now[uuid];
    if (!current) {
      replica.createTask(task, uuid);
      continue;
    }
    for (const property of new Set([...Object.keys(task), ...Object.keys(current)])) {
      if (task[property] !== current[property]) replica.updateTask(uuid, property, task[property] ?? null);
    }
  }
}

describe("admin backup while a server process serves, and its restore", () => {
  test("replicas that synced before the backup carry on; those after get 410, start over and converge; nobody forks", {
    timeout: 240_000,
  }, async () => {
    const dataDir = tempDir("tc-backup-live-");
    const database = join(dataDir, SQLITE_FILE_NAME);
    await fillDatabase(database, 40);
    const first = await serve(dataDir);
    serving = first.url;
    const users = Array.from({ length: 3 }, (_, i) => newUser(i));

    // Before the backup: every replica syncs; the first version of each client brings its snapshot.
    for (const user of users) {
      const [a, b] = user.busy as [Replica, Replica];
      a.createTask({ description: "first", status: "pending" });
      expect((await a.sync()).snapshotUploaded).toBe(true);
      expect((await user.quiet.sync()).fetchedSnapshot).toBe(true);
      user.quiet.createTask({ description: `from ${user.quiet.name}`, status: "pending" });
      await user.quiet.sync();
      await b.sync();
      await a.sync();
    }

    // The busy replicas keep changing and syncing (two per client, so that 409s happen too).
    let running = true;
    const pushes: { replica: Replica; at: number }[] = [];
    const failures: unknown[] = [];
    const loops = users.flatMap((user) =>
      user.busy.map(async (replica) => {
        try {
          for (let n = 0; running; n++) {
            if (n % 3 === 0) replica.createTask({ description: `${replica.name} ${n}`, status: "pending" });
            else replica.updateTask(Object.keys(replica.taskMap())[0]!, "priority", `${replica.name}-${n}`);
            if ((await replica.sync()).pushed) pushes.push({ replica, at: Date.now() });
          }
        } catch (error) {
          failures.push(error);
        }
      }),
    );
    const pushedSince = (t: number, replica?: Replica) => pushes.filter((p) => p.at > t && (!replica || p.replica === replica)).length;
    const until = async (condition: () => boolean) => {
      while (!condition()) {
        if (failures.length > 0) throw failures[0];
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const loopsStarted = Date.now();
    await until(() => pushedSince(loopsStarted) >= 6);

    const backupFile = join(tempDir("tc-backup-out-"), "backup.sqlite3");
    const backup = await backupProcess(dataDir, backupFile);
    const backupEnded = Date.now();
    expect(backup.stderr).toBe("");
    expect(backup.code).toBe(0);
    // Every busy replica pushes again once the backup is done, so that its version is not in it.
    await until(() => users.every((user) => user.busy.every((replica) => pushedSince(backupEnded, replica) >= 1)));
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    for (const user of users) {
      for (const replica of [...user.busy, ...user.busy]) await replica.sync();
    }
    await stop(first);

    // The backup: owner-only, whole, and each client's chain as the live chain was at one moment.
    const report = JSON.parse(backup.stdout) as Record<string, unknown>;
    // The copy is the process's last work: versions were committed while it ran, not only while the process started.
    const copyStarted = backupEnded - (report.durationMs as number);
    expect(pushes.filter((p) => p.at > copyStarted && p.at < backupEnded).length).toBeGreaterThan(0);
    expect(report).toEqual({
      file: backupFile,
      bytes: statSync(backupFile).size,
      clients: users.length + 1,
      schemaVersion: SCHEMA_VERSION,
      durationMs: expect.any(Number),
    });
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    const copy = new Database(backupFile, { readonly: true });
    expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
    copy.close();
    const backedUp = readChains(backupFile);
    const live = readChains(database);
    expect([...backedUp.keys()]).toEqual([...live.keys()]);
    for (const [clientId, chain] of backedUp) {
      expect(chain.snapshotVersionId).not.toBeNull();
      expect(isPrefix(chain.versions, live.get(clientId)!.versions)).toBe(true);
    }
    // Who synced after the backup: the busy replicas, all of them; the quiet ones only before.
    for (const user of users) {
      const versions = backedUp.get(user.clientId)!.versions;
      expect(versions).toContain(user.quiet.baseVersionId);
      for (const replica of user.busy) expect(versions).not.toContain(replica.baseVersionId);
    }

    // The restore: a fresh data directory, the backup copied in owner-only, the server started on it.
    const restoredDir = tempDir("tc-backup-restored-");
    copyFileSync(backupFile, join(restoredDir, SQLITE_FILE_NAME));
    chmodSync(join(restoredDir, SQLITE_FILE_NAME), 0o600);
    const second = await serve(restoredDir);
    serving = second.url;

    // A replica that synced only before the backup carries on: it pulls what the backup holds after its version, and pushes.
    const carriedOn = users.map((user) => user.quiet);
    for (const replica of carriedOn) {
      replica.createTask({ description: `${replica.name} after the restore`, status: "pending" });
      expect((await replica.sync()).pushed).toBe(true);
    }

    // A replica that synced after the backup: its push is refused (409, nothing stored), its pull is 410.
    const stale = users[0]!.busy[0]!;
    const raw = protocolClient(serving, stale.clientId);
    const push = await raw.addVersion(stale.baseVersionId, "not stored");
    expect(push.status).toBe(409);
    expect(push.headers.get("x-parent-version-id")).toBe(carriedOn[0]!.baseVersionId);
    expect((await raw.getChildVersion(stale.baseVersionId)).status).toBe(410);

    const startedOver: Replica[] = [];
    for (const user of users) {
      for (const replica of user.busy) {
        replica.createTask({ description: `${replica.name} pending`, status: "pending" });
        const gone = await replica.sync().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(gone).toBeInstanceOf(HttpStatusError);
        expect((gone as HttpStatusError).status).toBe(410);
        // Its user starts over (README, "History retention"): export, an empty replica, sync, re-apply.
        const mine = taskExport(replica);
        const fresh = freshReplica(user, `${replica.name}-fresh`);
        expect((await fresh.sync()).fetchedSnapshot).toBe(true);
        reapply(fresh, mine);
        await fresh.sync();
        startedOver.push(fresh);
      }
    }

    // Everybody converges, on one chain.
    for (const user of users) {
      const replicas = [...carriedOn, ...startedOver].filter((r) => r.clientId === user.clientId);
      for (let pass = 0; pass < 2; pass++) for (const replica of replicas) await replica.sync();
      const [one, ...others] = replicas as [Replica, ...Replica[]];
      for (const replica of others) {
        expect(replica.baseVersionId).toBe(one.baseVersionId);
        expect(replica.tasks()).toBe(one.tasks());
      }
      const replay = freshReplica(user, "replay", { fetchSnapshot: false });
      await replay.sync();
      expect(replay.baseVersionId).toBe(one.baseVersionId);
      expect(replay.tasks()).toBe(one.tasks());
      // What the replicas synced after the backup came back through their exports.
      const final = one.taskMap();
      for (const replica of user.busy) {
        for (const [uuid, task] of Object.entries(taskExport(replica))) expect(final[uuid]).toEqual(task);
      }
    }
    await stop(second);
    const restored = readChains(join(restoredDir, SQLITE_FILE_NAME));
    for (const [clientId, chain] of backedUp) expect(isPrefix(chain.versions, restored.get(clientId)!.versions)).toBe(true);
  });
});
