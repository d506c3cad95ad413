/**
 * The data of each earlier release in test/fixtures/releases/, written by that release's own code,
 * served by this version, and back: an upgrade, a rollback, and the upgrade again, with the same
 * replicas syncing through every switch and never starting over (no 410, no reset).
 *
 * - DynamoDB + S3: the earlier release's sync function bundle, as it ran on Lambda, and this
 *   version's sync function entry, each behind the local payload-2.0 adapter on this run's
 *   emulators; the client registered by the earlier release's `admin add-client`. Each phase's
 *   maintenance function (its orphan sweep) then runs over everything written so far and must
 *   take nothing that an item still references.
 * - SQLite: the earlier release's local server (`taskchampion-sync-server-aws serve`) and this
 *   version's, on one data directory; the rollback is refused when the schema moved on (sqlitePhases), and the upgrade
 *   again serves.
 *
 * Each phase writes history segments too large for an item (S3) and snapshots, which the next
 * phase's code reads. At the end this version's admin command reads the client: its chain, and
 * its stored bytes against what an export of it holds.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { SCHEMA_VERSION } from "../../lambda/storage/sqlite/schema.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import { emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { type InstalledRelease, installRelease, readReleaseManifest } from "../../dev/release-fixtures.ts";
import { runAdmin } from "../support/admin.ts";
import {
  type ReplicaTeam as Team,
  ReplicaTeam,
  type RunningServer,
  runMaintenance,
  startFunction,
  startServer,
  stopServer,
} from "./deployment.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** This version's sync function, from source: what `cdk synth` bundles (lib/function-code.ts). */
const CURRENT_FUNCTION = join(root, "lambda", "index.ts");
const CURRENT_MAINTENANCE = join(root, "lambda", "maintenance.ts");
/** Low, so that every phase's replicas upload snapshots (urgency low at 2 versions, high at 3). */
const SNAPSHOT_VERSIONS = "2";
/** Larger than the item's inline limit (SEGMENT_INLINE_MAX_BYTES, 358,400): the segment goes to S3. */
const BIG_VALUE_BYTES = 380_000;
const QUIET = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };

type Code = "previous" | "current";
/** One switch of the deployment's code; `refusedWith`: that code refuses to start on the data, leaving `file` as it was. */
interface Phase {
  code: Code;
  refusedWith?: RegExp;
}

/** On DynamoDB + S3: upgrade, roll back, upgrade again, every code serving what the others wrote. */
const DYNAMODB_PHASES: readonly Phase[] = [{ code: "previous" }, { code: "current" }, { code: "previous" }, { code: "current" }];

/**
 * On SQLite, the rollback's outcome, pinned: when this version moves the database's schema on,
 * the earlier release's server refuses it at start, touching nothing, and this version serves it
 * again; when it keeps the earlier release's schema, the rollback serves as the upgrade does.
 */
function sqlitePhases(schemaMovedOn: boolean): readonly Phase[] {
  return [
    { code: "previous" },
    { code: "current" },
    schemaMovedOn ? { code: "previous", refusedWith: /has schema version \d+; this server knows up to \d+/ } : { code: "previous" },
    { code: "current" },
  ];
}

/**
 * Runs the phases: each starts its code's server, syncs, runs that code's scheduled maintenance
 * if there is one (on what every phase so far wrote), checks convergence, stops the server. A
 * refused phase's server must not start, and must leave `file` (the data) as it was.
 */
async function runPhases(
  team: Team,
  phases: readonly Phase[],
  start: (code: Code) => Promise<RunningServer>,
  options: { maintain?: (code: Code) => void; file?: string } = {},
) {
  let last = { versionId: "", versions: 0, fromSnapshot: false };
  for (const [i, { code, refusedWith }] of phases.entries()) {
    if (refusedWith) {
      const before = options.file && fileHash(options.file);
      await expect(start(code), `phase ${i} (${code}) is refused`).rejects.toThrow(refusedWith);
      if (options.file) expect(fileHash(options.file), `phase ${i} (${code}) left the data as it was`).toBe(before);
      continue;
    }
    const server = await start(code);
    try {
      team.serveWith(server);
      const phase = await team.syncRounds(2, BIG_VALUE_BYTES);
      expect(phase.syncs, `phase ${i} (${code})`).toBeGreaterThan(0);
      expect(phase.snapshotsUploaded, `phase ${i} (${code}) uploaded a snapshot`).toBeGreaterThan(0);
      options.maintain?.(code);
      // Reads every object there is: the snapshot (a new replica) and every history segment (a replay).
      const state = await team.converge();
      expect(state.fromSnapshot, `phase ${i} (${code}): a new replica starts from the snapshot`).toBe(true);
      expect(state.versions, `phase ${i} (${code}): the chain grew`).toBeGreaterThan(last.versions);
      last = state;
    } finally {
      await stopServer(server);
    }
  }
  return last;
}

const fileHash = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** This version's admin command on the storage: the client as it reads it, and what an export of it holds. */
async function readBack(clientId: string, env: Record<string, string>) {
  const show = await runAdmin(["show-client", clientId, "--json"], env);
  expect(show.code, show.stderr).toBe(0);
  const dir = mkdtempSync(join(tmpdir(), "tc-upgrade-export-"));
  try {
    const exported = await runAdmin(["export-client", clientId, "--out", join(dir, "client.tcexport"), "--json"], env);
    expect(exported.code, exported.stderr).toBe(0);
    return {
      client: JSON.parse(show.stdout) as { latestVersionId: string; versions: number; storedBytes: number | null },
      exported: JSON.parse(exported.stdout) as { versions: number; historyBytes: number; snapshotBytes: number },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each(readReleaseManifest().releases)("data of $version", (fixture) => {
  let release: InstalledRelease;
  const dirs: string[] = [];

  beforeAll(() => {
    release = installRelease(fixture);
  });

  afterAll(() => {
    release?.remove();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** The earlier release's admin command, as a process. */
  const previousAdmin = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, [release.cli, "admin", ...args], {
      cwd: release.workDir,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...QUIET, ...env },
      timeout: 60_000,
    });

  it("on DynamoDB + S3: its function's items and objects are served by this version, and the other way round, while replicas carry on", async () => {
    const emulators = emulatorsFrom(inject("emulators"));
    const suffix = randomUUID().slice(0, 8);
    const placement = { ...emulators, tableName: `upgrade-${suffix}`, bucketName: `upgrade-${suffix}` };
    await createTableAndBucket(placement);
    const storageEnv = emulatorEnv(placement);
    // This version's admin command runs in this process, whose AWS SDK reads its region, credentials and endpoints here.
    Object.assign(process.env, storageEnv);
    const functionEnv = { ...storageEnv, ...QUIET, CREATE_CLIENTS: "false", SNAPSHOT_VERSIONS };

    const team = new ReplicaTeam();
    const added = previousAdmin(["add-client", "--client-id", team.clientId, "--json"], storageEnv);
    expect(added.status, added.stderr).toBe(0);

    let previousPhase: Code | undefined;
    const last = await runPhases(
      team,
      DYNAMODB_PHASES,
      (code) => startFunction(code === "previous" ? release.syncBundle : CURRENT_FUNCTION, functionEnv),
      {
        maintain: (code) => {
          // Its orphan sweep judges each object by the items it knows (pruning is off: the replay reads the whole chain).
          const maintenance = code === "previous" ? release.maintenanceBundle : CURRENT_MAINTENANCE;
          const report = runMaintenance(maintenance, { ...functionEnv, HISTORY_DAYS: "0" });
          // Nothing an item references goes (the convergence that follows reads every object).
          // This version leaves the snapshots it replaced for the deletion grace; an earlier
          // release's sweep, after it, deletes them at once: they are all it may find.
          const leftForTheGrace = code === "previous" && previousPhase === "current";
          expect(report, `the ${code} maintenance swept the client and found nothing orphaned`).toMatchObject({
            clients: 1,
            failed: 0,
            ...(leftForTheGrace ? {} : { deleted: 0 }),
          });
          previousPhase = code;
        },
      },
    );

    const { client, exported } = await readBack(team.clientId, storageEnv);
    expect(client).toMatchObject({ latestVersionId: last.versionId, versions: last.versions });
    expect(exported.versions).toBe(last.versions);
    expect(client.storedBytes).toBe(exported.historyBytes + exported.snapshotBytes);
  }, 300_000);

  it("on SQLite: its local server's database is served by this version's; its server then serves it again, or refuses it (leaving it as it was) when this version moved its schema on; replicas carry on", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "tc-upgrade-sqlite-"));
    dirs.push(dataDir);
    const storageEnv = { STORAGE: "sqlite", DATA_DIR: dataDir };
    const serverEnv = { ...storageEnv, ...QUIET, LISTEN: "127.0.0.1:0", SNAPSHOT_VERSIONS };

    const team = new ReplicaTeam();
    const added = previousAdmin(["add-client", "--client-id", team.clientId, "--json"], storageEnv);
    expect(added.status, added.stderr).toBe(0);

    // The rollback's outcome follows the schema: refused when this version moved it on (as from
    // 0.2.0: the README's "Upgrading" and the changelog say so), served when it kept it.
    const previousSchema = await previousSqliteSchema(release);
    expect(SCHEMA_VERSION, "a release never goes back to an earlier SQLite schema").toBeGreaterThanOrEqual(previousSchema);
    const last = await runPhases(
      team,
      sqlitePhases(SCHEMA_VERSION > previousSchema),
      (code) =>
        code === "previous"
          ? startServer(process.execPath, [release.cli, "serve"], serverEnv)
          : startServer(process.execPath, ["--import", "tsx", join(root, "bin", "serve.ts")], serverEnv),
      { file: join(dataDir, SQLITE_FILE_NAME) },
    );

    const { client, exported } = await readBack(team.clientId, storageEnv);
    expect(client).toMatchObject({ latestVersionId: last.versionId, versions: last.versions });
    expect(client.storedBytes).toBe(exported.historyBytes + exported.snapshotBytes);
  }, 300_000);

  it("on SQLite: a database whose schema a later release moved on is refused by its local server at start, and left as it was", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "tc-upgrade-schema-"));
    dirs.push(dataDir);
    const file = join(dataDir, SQLITE_FILE_NAME);
    // As every release makes its database: in WAL mode, whose header the earlier release's open leaves as it is.
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE later (x INTEGER)");
    db.pragma("user_version = 99");
    db.close();
    const before = fileHash(file);

    const serve = spawnSync(process.execPath, [release.cli, "serve"], {
      cwd: release.workDir,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...QUIET, DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" },
      timeout: 30_000,
    });
    expect(serve.status).not.toBe(0);
    expect(serve.stderr).toMatch(/has schema version 99; this server knows up to \d+/);
    expect(serve.stderr).not.toMatch(/\n\s+at /);
    expect(fileHash(file)).toBe(before);
  });
});

/** The SQLite schema version the earlier release writes (its compiled schema module). */
async function previousSqliteSchema(release: InstalledRelease): Promise<number> {
  const module = (await import(pathToFileURL(join(release.packageDir, "dist", "lambda", "storage", "sqlite", "schema.js")).href)) as {
    SCHEMA_VERSION: number;
  };
  return module.SCHEMA_VERSION;
}
