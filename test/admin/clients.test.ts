/**
 * The admin command's client commands through `main(argv, io)`, on SQLite and on DynamoDB + S3
 * (the emulators): adding a client that then syncs where the server creates none, listing and
 * showing, removing (nothing left), exporting and importing (identical, byte for byte; broken
 * files refused with nothing written), and `--stack` over a stack's outputs.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { formatBytes } from "../../bin/admin/format.ts";
import type { LocalHttpServer } from "../../bin/local-http.ts";
import { HttpStatusError, Replica } from "../../client/replica.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { serveStorage } from "../support/local-server.ts";
import { runAdmin } from "../support/admin.ts";
import { clientState, portable } from "../support/client-state.ts";
import { dynamoStore, sqliteStore, type Store } from "../support/stores.ts";
import { inTxn } from "../support/txn.ts";

const STORES: [string, () => Promise<Store>][] = [
  ["SQLite", sqliteStore],
  // A small inline limit: segments and snapshots of the replicas below go to S3 too.
  ["DynamoDB + S3", () => dynamoStore("admin", { inlineSegmentMaxBytes: 200 })],
];

/** A server on the store, with client creation on or off. */
async function serve(storage: Storage, createClients: boolean): Promise<LocalHttpServer> {
  const rules = { ...DEFAULT_SYNC_RULES, createClients, snapshotVersions: 4 };
  return serveStorage(storage, rules);
}

/** A replica's error status, or undefined when the sync went through. */
async function syncStatus(replica: Replica): Promise<number | undefined> {
  return replica.sync().then(
    () => undefined,
    (error: unknown) => {
      if (error instanceof HttpStatusError) return error.status;
      throw error;
    },
  );
}

/** A CloudFormation client whose DescribeStacks answers with these outputs (or CloudFormation's error for an unknown stack). */
function cannedCloudFormation(stacks: Record<string, Record<string, string>>) {
  return async (region: string | undefined) => {
    const client = new CloudFormationClient({
      region: region ?? "eu-west-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    client.middlewareStack.add(
      (_next, context) => async (args) => {
        if (context.commandName !== "DescribeStacksCommand") throw new Error(`unexpected ${context.commandName}`);
        const name = (args.input as { StackName?: string }).StackName ?? "";
        const outputs = stacks[name];
        if (!outputs) throw Object.assign(new Error(`Stack with id ${name} does not exist`), { name: "ValidationError" });
        return {
          output: {
            $metadata: {},
            Stacks: [{ StackName: name, Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }],
          },
          response: {},
        };
      },
      { step: "initialize", name: "canned-describe-stacks" },
    );
    return client;
  };
}

describe.each(STORES)("the admin command on %s", (_name, makeStore) => {
  let store: Store;
  let storage: Storage;
  let work: string;

  beforeAll(async () => {
    store = await makeStore();
    storage = store.open();
    work = mkdtempSync(join(tmpdir(), "tc-admin-"));
  });
  afterAll(async () => {
    await store.close();
    rmSync(work, { recursive: true, force: true });
  });

  /**
   * After a removal: on DynamoDB no item is left, and its objects (left for the deletion grace,
   * so that a bucket backup taken after a table backup still holds them) go with the sweep.
   */
  async function expectOnlyObjectsLeft(clientId: Uuid): Promise<void> {
    if (!store.leftovers || !store.sweepAfterGrace) return;
    expect((await store.leftovers(clientId)).items).toBe(0);
    expect((await store.leftovers(clientId)).objects).toBeGreaterThan(0);
    await store.sweepAfterGrace(clientId);
    expect(await store.leftovers(clientId)).toEqual({ items: 0, objects: 0 });
  }

  test("add-client registers a client that syncs where the server creates none; others are refused", async () => {
    const added = await runAdmin(["add-client", "--url", "https://sync.example.com"], store.env);
    expect(added.code).toBe(0);
    const clientId = /^Added client ([0-9a-f-]{36})\.$/.exec(added.lines[0] ?? "")?.[1];
    expect(clientId).toBeDefined();
    const secret = /task config sync.encryption_secret (\S+)/.exec(added.stdout)?.[1];
    expect(added.stdout).toContain("task config sync.server.url https://sync.example.com");
    expect(added.stdout).toContain(`task config sync.server.client_id ${clientId}`);
    expect(secret?.length).toBeGreaterThanOrEqual(32);

    const server = await serve(store.open(), false);
    try {
      const replica = new Replica({ baseUrl: server.url, clientId: clientId!, secret: secret! });
      replica.createTask({ description: "registered", status: "pending" });
      expect(await syncStatus(replica)).toBeUndefined();
      const stranger = new Replica({ baseUrl: server.url, clientId: newUuid(), secret: "x" });
      stranger.createTask({ description: "not registered", status: "pending" });
      expect(await syncStatus(stranger)).toBe(404);
    } finally {
      await server.close();
    }

    const chosen = newUuid();
    const json = await runAdmin(["add-client", "--client-id", chosen.toUpperCase(), "--json"], { ...store.env, LISTEN: "127.0.0.1:9999" });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ clientId: chosen, serverUrl: "http://127.0.0.1:9999", encryptionSecret: expect.any(String) });
    expect(await runAdmin(["add-client", "--url", "sync.example.com"], store.env)).toMatchObject({ code: 2 });
    expect(await runAdmin(["add-client", "--client-id", "x"], store.env)).toMatchObject({ code: 2 });
    const again = await runAdmin(["add-client", "--client-id", chosen], store.env);
    expect(again).toMatchObject({ code: 3, stdout: "", stderr: `error: client ${chosen} exists already\n` });
  });

  test("list-clients and show-client: human lines and stable JSON; unknown and malformed ids", async () => {
    const clientId = newUuid();
    const server = await serve(store.open(), true);
    try {
      const replica = new Replica({ baseUrl: server.url, clientId, secret: "s", snapshotOnLowUrgency: true });
      for (let i = 0; i < 6; i++) {
        replica.createTask({ description: `task ${i}`, status: "pending" });
        await replica.sync();
      }
    } finally {
      await server.close();
    }
    const details = await inTxn(storage, clientId, (txn) => txn.getClientDetails());
    // Usage against the quota the server would enforce: MAX_CLIENT_BYTES, as the local server reads it.
    const quotaBytes = 4 * details!.usedBytes;
    const env = { ...store.env, MAX_CLIENT_BYTES: String(quotaBytes) };
    const list = await runAdmin(["list-clients", "--json"], env);
    expect(list.code).toBe(0);
    const listed = list.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((c) => c.clientId === clientId);
    expect(listed).toEqual({
      clientId,
      latestVersionId: details?.latestVersionId,
      versions: 6,
      storedBytes: details?.storedBytes,
      usedBytes: details?.usedBytes,
      quotaBytes,
      snapshot: {
        versionId: details?.snapshot?.versionId,
        timestamp: details?.snapshot?.timestamp.toISOString(),
        versionsSince: expect.any(Number),
      },
      latestAddedAt: details?.latestAddedAt?.toISOString(),
    });
    const human = await runAdmin(["list-clients"], env);
    expect(human.lines[0]).toMatch(/^CLIENT ID +VERSIONS +STORED +QUOTA USED +SNAPSHOT VERSION +SNAPSHOT AGE +LAST VERSION ADDED$/);
    expect(human.lines.find((line) => line.startsWith(clientId))).toMatch(
      new RegExp(`^${clientId} +6 +\\S+ \\S+ +25\\.0% +${details?.snapshot?.versionId} +\\d+s `),
    );
    const unlimited = await runAdmin(["list-clients"], { ...store.env, MAX_CLIENT_BYTES: "0" });
    expect(unlimited.lines.find((line) => line.startsWith(clientId))).toMatch(/ no limit /);
    expect(await runAdmin(["list-clients"], { ...store.env, MAX_CLIENT_BYTES: "lots" })).toMatchObject({
      code: 2,
      stdout: "",
      stderr: expect.stringContaining("MAX_CLIENT_BYTES"),
    });

    const shown = await runAdmin(["show-client", clientId, "--json"], env);
    expect(JSON.parse(shown.stdout)).toEqual({
      ...listed,
      oldestVersion: { versionId: details?.oldestVersion?.versionId, parentVersionId: NIL_UUID },
    });
    const text = await runAdmin(["show-client", clientId], env);
    expect(text.stdout).toContain(`stored:              ${formatBytes(details!.storedBytes)} (${details?.storedBytes} bytes)\n`);
    expect(text.stdout).toContain(`(${details?.usedBytes} bytes: with each version's overhead and deleted data still kept), 25.0% of `);
    expect(text.stdout).toContain(`latest version:      ${details?.latestVersionId}`);
    expect(text.stdout).toContain(`first version:       ${details?.oldestVersion?.versionId}`);

    expect(await runAdmin(["show-client", newUuid()], store.env)).toMatchObject({ code: 3, stdout: "" });
    expect(await runAdmin(["show-client", "not-a-uuid"], store.env)).toMatchObject({
      code: 2,
      stderr: "error: the client id is not a UUID (10 characters, where a UUID has 36, or 32 without hyphens)\n",
    });
    expect(await runAdmin(["show-client"], store.env)).toMatchObject({ code: 2 });
    expect(await runAdmin(["show-client", clientId, "--out", "x"], store.env)).toMatchObject({
      code: 2,
      stderr: "error: show-client takes no --out\n",
    });
  });

  test("remove-client: asks on a terminal, refuses to guess without one, and leaves nothing of the client (its objects: once the sweep's grace is over)", async () => {
    const clientId = newUuid();
    const server = await serve(store.open(), true);
    try {
      const replica = new Replica({ baseUrl: server.url, clientId, secret: "s", snapshotOnLowUrgency: true });
      for (let i = 0; i < 5; i++) {
        replica.updateTask(replica.createTask({ status: "pending" }), "description", "x".repeat(300 + i));
        await replica.sync();
      }
    } finally {
      await server.close();
    }
    if (store.leftovers) expect((await store.leftovers(clientId)).objects).toBeGreaterThan(0);

    expect(await runAdmin(["remove-client", clientId], store.env)).toMatchObject({ code: 2 });
    const declined = await runAdmin(["remove-client", clientId], store.env, { answer: "no" });
    expect(declined).toMatchObject({ code: 1, stderr: expect.stringContaining("error: not removed") });
    expect(declined.stderr).toContain(`Remove client ${clientId} and all its data (5 versions,`);
    expect((await clientState(storage, clientId)).details?.versions).toBe(5);

    expect(await runAdmin(["remove-client", clientId], store.env, { answer: "yes" })).toMatchObject({
      code: 0,
      stdout: `Removed client ${clientId}.\n`,
    });
    expect((await clientState(storage, clientId)).client).toBeNull();
    await expectOnlyObjectsLeft(clientId);
    expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({ code: 3 });
  });

  test("remove-client after an interrupted removal finishes it", async () => {
    const clientId = newUuid();
    const server = await serve(store.open(), true);
    try {
      const replica = new Replica({ baseUrl: server.url, clientId, secret: "s", snapshotOnLowUrgency: true });
      for (let i = 0; i < 5; i++) {
        replica.updateTask(replica.createTask({ status: "pending" }), "description", "v".repeat(300 + i));
        await replica.sync();
      }
    } finally {
      await server.close();
    }
    // The removal stops at its first report of progress, which DynamoDB makes between its steps.
    const interrupted = await storage
      .removeClient(clientId, () => {
        throw new Error("interrupted");
      })
      .then(
        () => false,
        () => true,
      );
    expect((await clientState(storage, clientId)).client).toBeNull();
    if (!store.leftovers) {
      // SQLite removes a client in one transaction: nothing is ever left half-removed.
      expect(interrupted).toBe(false);
      expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({ code: 3 });
      return;
    }
    expect(interrupted).toBe(true);
    expect((await store.leftovers(clientId)).objects).toBeGreaterThan(0);
    expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({
      code: 0,
      stdout: `Removed client ${clientId}.\n`,
    });
    await expectOnlyObjectsLeft(clientId);
  });

  test("export then import: the client comes back identical, and its replicas carry on", async () => {
    const clientId = newUuid();
    const server = await serve(store.open(), true);
    try {
      const options = { baseUrl: server.url, clientId, secret: "export secret", snapshotOnLowUrgency: true };
      const replica = new Replica(options);
      for (let i = 0; i < 9; i++) {
        replica.updateTask(replica.createTask({ status: "pending" }), "description", `task ${i} ${"y".repeat(i * 40)}`);
        await replica.sync();
      }
      await inTxn(storage, clientId, async (txn) => {
        await txn.declineSnapshot(new Date(Date.UTC(2026, 0, 2)));
        await txn.commit();
      });
      const before = await clientState(storage, clientId);
      expect(before.snapshotData).not.toBeNull();
      const file = join(work, "export.jsonl");
      const exported = await runAdmin(["export-client", clientId, "--out", file, "--json"], store.env);
      expect(exported.code).toBe(0);
      expect(JSON.parse(exported.stdout)).toEqual({
        clientId,
        file,
        versions: 9,
        historyBytes: before.metadata.reduce((sum, v) => sum + v.bytes, 0),
        snapshotBytes: before.snapshotData?.byteLength,
      });

      expect(await runAdmin(["import-client", file], store.env)).toMatchObject({
        code: 3,
        stderr: `error: client ${clientId} exists already (--replace replaces it)\n`,
      });
      expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({ code: 0 });
      const imported = await runAdmin(["import-client", file, "--json"], store.env);
      expect(imported.code).toBe(0);
      expect(JSON.parse(imported.stdout)).toMatchObject({ clientId, versions: 9, replaced: false });
      const after = await clientState(storage, clientId);
      expect(portable(after)).toEqual(portable(before));
      expect(after.client?.snapshotDeclined).toEqual({ timestamp: new Date(Date.UTC(2026, 0, 2)), versionsSince: 0 });

      // On a terminal, progress goes to stderr (redrawn on one line); stdout stays the same.
      const shown = await runAdmin(["export-client", clientId, "--out", join(work, "again.jsonl")], store.env, { stderrIsTTY: true });
      expect(shown.code).toBe(0);
      expect(shown.stderr).toMatch(/^\rexporting versions: \d+(\rexporting versions: \d+)*\n$/);
      expect(shown.stderr).toMatch(/exporting versions: 9\n$/);
      const loading = await runAdmin(["import-client", join(work, "again.jsonl"), "--replace"], store.env, { stderrIsTTY: true });
      expect(loading.stderr).toMatch(/checking versions: 9\n[\s\S]*writing versions: 9\n$/);
      expect(exported.stderr).toBe("");

      // --replace over itself: the same again.
      expect(JSON.parse((await runAdmin(["import-client", file, "--replace", "--json"], store.env)).stdout)).toMatchObject({
        replaced: true,
      });
      expect(portable(await clientState(storage, clientId))).toEqual(portable(before));

      // The replica syncs on as if nothing happened; a fresh one starts from the snapshot.
      replica.createTask({ description: "after the import", status: "pending" });
      expect(await syncStatus(replica)).toBeUndefined();
      const fresh = new Replica({ ...options, name: "fresh" });
      expect((await fresh.sync()).fetchedSnapshot).toBe(true);
      expect(fresh.tasks()).toBe(replica.tasks());

      // --as: the same history under another id (readable only with that id: the key derives from it).
      const other = newUuid();
      expect(await runAdmin(["import-client", file, "--as", other], store.env)).toMatchObject({ code: 0 });
      expect(portable(await clientState(storage, other))).toEqual(portable(before));
    } finally {
      await server.close();
    }
  });

  test("a broken file is refused with one line, and nothing of it is written", async () => {
    const clientId = newUuid();
    const server = await serve(store.open(), true);
    try {
      const replica = new Replica({ baseUrl: server.url, clientId, secret: "s", snapshotOnLowUrgency: true });
      for (let i = 0; i < 4; i++) {
        replica.createTask({ description: `task ${i} ${"z".repeat(250)}`, status: "pending" });
        await replica.sync();
      }
    } finally {
      await server.close();
    }
    const file = join(work, "whole.jsonl");
    expect((await runAdmin(["export-client", clientId, "--out", file], store.env)).code).toBe(0);
    expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({ code: 0 });
    await expectOnlyObjectsLeft(clientId);
    const whole = readFileSync(file, "utf8");
    const broken: Record<string, string> = {
      truncated: whole.slice(0, Math.floor(whole.length * 0.7)),
      "without its trailer": `${whole.split("\n").slice(0, -2).join("\n")}\n`,
      altered: whole.replace(/"historySegment":"(.)/, (_m, c: string) => `"historySegment":"${c === "A" ? "B" : "A"}`),
      "missing a version": (() => {
        const lines = whole.split("\n");
        return [...lines.slice(0, 3), ...lines.slice(4)].join("\n");
      })(),
      "not an export": "hello\n",
    };
    for (const [what, text] of Object.entries(broken)) {
      const path = join(work, `${what}.jsonl`);
      writeFileSync(path, text);
      const run = await runAdmin(["import-client", path], store.env);
      expect(run.code, what).toBe(2);
      expect(run.stderr, what).toMatch(
        new RegExp(`^error: ${path.replaceAll(".", "\\.")} is not a valid export, nothing was imported: line \\d+: .+\\n$`),
      );
      expect((await clientState(storage, clientId)).client, what).toBeNull();
      if (store.leftovers) expect(await store.leftovers(clientId), what).toEqual({ items: 0, objects: 0 });
    }
    expect(await runAdmin(["import-client", join(work, "absent.jsonl")], store.env)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: cannot read .*absent\.jsonl/),
    });
    expect(await runAdmin(["export-client", newUuid(), "--out", join(work, "none.jsonl")], store.env)).toMatchObject({ code: 3 });
    expect(await runAdmin(["export-client", clientId, "--out", join(work, "no-such-dir", "x.jsonl")], store.env)).toMatchObject({
      code: 2,
    });
  });

  test("prune through the command: HISTORY_DAYS by default, --days, one client or all", async () => {
    const clientId = newUuid();
    const ids = Array.from({ length: 6 }, () => newUuid());
    const old = new Date(Date.now() - 400 * 24 * 3600 * 1000);
    await storage.importClient(clientId, {
      latestVersionId: ids[5]!,
      snapshot: { versionId: ids[4]!, timestamp: old, versionsSince: 1, data: new Uint8Array(10) },
      versions: (async function* () {
        for (const [i, versionId] of ids.entries())
          yield { versionId, parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!, historySegment: new Uint8Array(7), addedAt: old };
      })(),
    });
    expect(JSON.parse((await runAdmin(["prune", "--client-id", clientId, "--json"], { ...store.env, HISTORY_DAYS: "0" })).stdout)).toEqual({
      clientId,
      historyDays: 0,
      removedVersions: 0,
      removedBytes: 0,
      status: "complete",
    });
    expect(await runAdmin(["prune", "--days", "-3"], store.env)).toMatchObject({ code: 2 });
    expect(await runAdmin(["prune", "--client-id", newUuid()], store.env)).toMatchObject({ code: 3 });
    const one = await runAdmin(["prune", "--client-id", clientId, "--days", "500"], store.env);
    expect(one).toMatchObject({ code: 0, stdout: `${clientId}: removed 0 versions (0 B)\n` });
    const all = await runAdmin(["prune", "--json"], store.env);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ historyDays: 180, removedVersions: expect.any(Number), failed: 0, stopped: false });
    expect((await clientState(storage, clientId)).versions.map((v) => v.versionId)).toEqual(ids.slice(4));
  });

  test("--stack: the table, the bucket and the URL come from the stack's outputs", async () => {
    const table = store.env.TABLE_NAME;
    const bucket = store.env.BUCKET_NAME;
    const { STORAGE: _storage, TABLE_NAME: _table, BUCKET_NAME: _bucket, DATA_DIR: _dir, ...sdkEnv } = store.env;
    const cloudFormation = cannedCloudFormation({
      "tc-prod": {
        Url: "https://abc.execute-api.eu-west-1.amazonaws.com",
        TableName: table ?? "",
        BucketName: bucket ?? "",
        MaxClientBytes: "1048576",
      },
      // Deployed before the quota output existed.
      "tc-old": { Url: "https://old.example.com", TableName: table ?? "", BucketName: bucket ?? "" },
      "tc-half": { Url: "https://x.example.com" },
    });
    if (store.kind !== "dynamodb") {
      // Without a stack's table, nothing is read: only the lookup is checked here.
      expect(await runAdmin(["list-clients", "--stack", "tc-missing"], sdkEnv, { cloudFormation })).toMatchObject({
        code: 2,
        stderr: "error: stack tc-missing: Stack with id tc-missing does not exist\n",
      });
      expect(await runAdmin(["list-clients", "--stack", "tc-half"], sdkEnv, { cloudFormation })).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("has no output TableName, BucketName"),
      });
      return;
    }
    const added = await runAdmin(["add-client", "--stack", "tc-prod", "--region", "eu-west-1", "--json"], sdkEnv, { cloudFormation });
    expect(added.code).toBe(0);
    const { clientId, serverUrl } = JSON.parse(added.stdout) as { clientId: Uuid; serverUrl: string };
    expect(serverUrl).toBe("https://abc.execute-api.eu-west-1.amazonaws.com");
    expect((await clientState(storage, clientId)).client).toEqual(expect.objectContaining({ latestVersionId: NIL_UUID }));
    // The quota is the stack's, not the environment's.
    const shown = await runAdmin(["show-client", clientId, "--stack", "tc-prod"], { ...sdkEnv, MAX_CLIENT_BYTES: "5" }, { cloudFormation });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("(0 bytes: with each version's overhead and deleted data still kept), 0.0% of 1.0 MiB");
    const old = await runAdmin(["show-client", clientId, "--stack", "tc-old", "--json"], sdkEnv, { cloudFormation });
    expect(JSON.parse(old.stdout)).toMatchObject({ clientId, storedBytes: 0, quotaBytes: null });
  });
});
