/**
 * The admin command as a real process: exit codes and one-line errors (no stack trace), and a
 * history far larger than the heap the process is allowed, exported and imported in a stream.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { clientState, portable } from "../support/client-state.ts";
import { type CommandExit, runCommand } from "../support/run-command.ts";
import { dynamoStore } from "../support/stores.ts";
import { writeTxn } from "../support/txn.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MiB = 1024 * 1024;

const tsx = join(root, "node_modules", ".bin", "tsx");
/** As an operator types it (`npx tsx` is what `npm run admin` runs), and the same without npx's start-up. */
const npxAdmin = (args: string[], env: Record<string, string>) => runCommand("npx", ["tsx", "bin/admin.ts", ...args], env);
const admin = (args: string[], env: Record<string, string>) => runCommand(tsx, ["bin/admin.ts", ...args], env);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tc-admin-process-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("npx tsx bin/admin.ts", () => {
  test("exit codes: 0 done, 1 failed, 2 bad usage or input, 3 no such client; errors are one line", async () => {
    const env = { DATA_DIR: join(dir, "codes") };
    const added = await npxAdmin(["add-client", "--json"], env);
    expect(added.code).toBe(0);
    const { clientId } = JSON.parse(added.stdout) as { clientId: string };
    expect((await admin(["show-client", clientId], env)).code).toBe(0);
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [["show-client", newUuid()], env, 3, /^error: there is no client [0-9a-f-]{36}\n$/],
      [["add-client", "--client-id", clientId], env, 3, /^error: client .* exists already\n$/],
      [["show-client", "nope"], env, 2, /^error: the client id is not a UUID \(4 characters, .*\)\n$/],
      [["frob"], env, 2, /^error: unknown command "frob"/],
      [["list-clients", "--bogus"], env, 2, /^error: Unknown option '--bogus'/],
      [["remove-client", clientId], env, 2, /^error: remove-client asks before it deletes; without a terminal, pass --yes\n$/],
      [["import-client", join(dir, "absent")], env, 2, /^error: cannot read /],
      [["list-clients"], { ...env, STORAGE: "memory" }, 2, /^error: STORAGE=memory lives inside the server's process/],
      [["list-clients"], { STORAGE: "dynamodb" }, 2, /^error: invalid settings: TABLE_NAME is not set: .*; BUCKET_NAME is not set/],
      // Nothing listens there: the SDK's retries, then one line.
      [
        ["list-clients"],
        {
          STORAGE: "dynamodb",
          TABLE_NAME: "t",
          BUCKET_NAME: "b",
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "x",
          AWS_SECRET_ACCESS_KEY: "x",
          AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9",
        },
        1,
        /^error: the storage is unavailable: DynamoDB: list the clients/,
      ],
    ];
    for (const [args, caseEnv, code, stderr] of cases) {
      const exit = await admin(args, caseEnv);
      expect(exit.code, args.join(" ")).toBe(code);
      expect(exit.stderr, args.join(" ")).toMatch(stderr);
      expect(exit.stderr.split("\n").length, args.join(" ")).toBe(2);
      expect(exit.stdout, args.join(" ")).toBe("");
    }
    expect((await admin(["remove-client", clientId, "--yes"], env)).code).toBe(0);
  }, 120_000);

  test.each([
    ["npm run admin's entry", ["bin/admin.ts"]],
    ["the package command's admin", ["bin/cli.ts", "admin"]],
  ])(
    "%s: a reader that stops early (| head) ends the command quietly",
    async (_name, entry) => {
      // More lines than a pipe holds, so that the command is still writing when head has gone.
      const data = join(dir, `head-${entry.length}`);
      const storage = new SqliteStorage(join(data, SQLITE_FILE_NAME));
      for (let i = 0; i < 1500; i++) await writeTxn(storage, newUuid(), (txn) => txn.newClient(NIL_UUID));
      await storage.close();
      const stderrFile = join(data, "stderr");
      const statusFile = join(data, "status");
      const command = `${tsx} ${entry.join(" ")} list-clients 2>${stderrFile} | head -n 2; echo \${PIPESTATUS[0]} >${statusFile}`;
      const exit = await runCommand("bash", ["-c", command], { DATA_DIR: data });
      expect(exit.stdout.split("\n")).toHaveLength(3);
      expect(readFileSync(stderrFile, "utf8")).toBe("");
      expect(readFileSync(statusFile, "utf8")).toBe("0\n");
    },
    120_000,
  );

  test("on DynamoDB + S3: an import and an export of many versions print their result and nothing else", async () => {
    const source = join(dir, "many");
    const storage = new SqliteStorage(join(source, SQLITE_FILE_NAME));
    const clientId = newUuid();
    let parent: Uuid = NIL_UUID;
    await writeTxn(storage, clientId, (txn) => txn.newClient(NIL_UUID));
    for (let i = 0; i < 60; i++) {
      const versionId = newUuid();
      await writeTxn(storage, clientId, (txn) => txn.addVersion(versionId, parent, randomBytes(100 + i * 100)));
      parent = versionId;
    }
    await storage.close();
    const file = join(dir, "many.jsonl");
    expect((await admin(["export-client", clientId, "--out", file], { DATA_DIR: source })).code).toBe(0);
    const store = await dynamoStore("process", { inlineSegmentMaxBytes: 2000 });
    try {
      const imported = await admin(["import-client", file], store.env);
      expect(imported).toMatchObject({ code: 0, stderr: "" });
      expect(imported.stdout).toMatch(new RegExp(`^Imported client ${clientId}: 60 versions`));
      const exported = await admin(["export-client", clientId, "--out", join(dir, "many-again.jsonl")], store.env);
      expect(exported).toMatchObject({ code: 0, stderr: "" });
    } finally {
      await store.close();
    }
  }, 120_000);

  test("a history much larger than the heap it may use is exported and imported in a stream", async () => {
    // 96 MiB of history in 2 MiB segments (incompressible), and a 1 MiB snapshot.
    const source = join(dir, "source");
    const storage = new SqliteStorage(join(source, SQLITE_FILE_NAME));
    const clientId = newUuid();
    let parent: Uuid = NIL_UUID;
    await writeTxn(storage, clientId, (txn) => txn.newClient(NIL_UUID));
    for (let i = 0; i < 48; i++) {
      const versionId = newUuid();
      await writeTxn(storage, clientId, (txn) => txn.addVersion(versionId, parent, randomBytes(2 * MiB)));
      if (i === 45) {
        await writeTxn(storage, clientId, (txn) =>
          txn.setSnapshot({ versionId, timestamp: new Date(), versionsSince: 0 }, randomBytes(MiB)),
        );
      }
      parent = versionId;
    }
    const before = await clientState(storage, clientId);
    await storage.close();

    const file = join(dir, "big.jsonl");
    const exported = await limitedAdmin(["export-client", clientId, "--out", file], { DATA_DIR: source });
    expect(exported.exit.code, exported.exit.stderr).toBe(0);
    const fileBytes = statSync(file).size;
    expect(fileBytes).toBeGreaterThan(128 * MiB);

    const target = join(dir, "target");
    const imported = await limitedAdmin(["import-client", file], { DATA_DIR: target });
    expect(imported.exit.code, imported.exit.stderr).toBe(0);
    const copy = new SqliteStorage(join(target, SQLITE_FILE_NAME));
    try {
      expect(portable(await clientState(copy, clientId))).toEqual(portable(before));
    } finally {
      await copy.close();
    }
    // Each process ran under a 64 MB heap limit, a fraction of the file it streamed (whose lines
    // are strings on the heap); the peak sampled counts garbage not yet collected too.
    for (const { memory } of [exported, imported]) expect(memory.peakHeap).toBeLessThan(fileBytes / 2);
    console.log(`export file ${fileBytes} bytes; peak heap: export ${exported.memory.peakHeap}, import ${imported.memory.peakHeap}`);
  }, 300_000);
});

/**
 * bin/admin.ts's main in a Node process whose heap may not grow past 64 MB (it would fail with
 * an out-of-memory error), reporting the most heap it used, sampled every 10 ms.
 */
async function limitedAdmin(args: string[], env: Record<string, string>): Promise<{ exit: CommandExit; memory: { peakHeap: number } }> {
  const script = `
    let peakHeap = 0;
    const sample = () => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); };
    setInterval(sample, 10).unref();
    const { main } = await import(${JSON.stringify(pathToFileURL(join(root, "bin", "admin.ts")).href)});
    const code = await main(${JSON.stringify(args)});
    sample();
    process.stderr.write("MEMORY " + JSON.stringify({ peakHeap }) + "\\n");
    process.exit(code);
  `;
  const exit = await runCommand(process.execPath, ["--max-old-space-size=64", "--import", "tsx", "--input-type=module", "-e", script], env);
  const memory = /MEMORY (\{.*\})/.exec(exit.stderr)?.[1];
  return {
    exit: { ...exit, stderr: exit.stderr.replace(/MEMORY .*\n/, "") },
    memory: JSON.parse(memory ?? '{"peakHeap":null}') as { peakHeap: number },
  };
}
