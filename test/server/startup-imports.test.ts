/**
 * The local server and the admin command load only what they use: on SQLite or in memory they
 * never import the AWS SDK (for the server, about 70 ms and 12 MB at start-up), which only
 * DynamoDB + S3 and the admin command's --stack need.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { exited, type ServerProcess, startServerProcess } from "../support/server-process.ts";

const root = new URL("../../", import.meta.url).pathname;
const trace = new URL("../support/import-trace.ts", import.meta.url).pathname;
let server: ServerProcess | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  server?.child.kill("SIGTERM");
  if (server) await exited(server.child);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  server = dataDir = undefined;
});

test.each(["sqlite", "memory"])("on %s, the AWS SDK is never loaded", async (storage) => {
  dataDir = mkdtempSync(join(tmpdir(), "tc-imports-"));
  server = await startServerProcess(process.execPath, ["--import", "tsx", "--import", trace, "bin/serve.ts"], {
    cwd: root,
    env: { STORAGE: storage, DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" },
  });
  // A request through the handler and the storage, so that anything loaded on first use is too.
  expect((await fetch(`${server.url}/`)).status).toBe(200);
  expect(server.output()).not.toMatch(/^loaded /m);
});

test("the admin command on SQLite, without --stack: the AWS SDK is never loaded", () => {
  dataDir = mkdtempSync(join(tmpdir(), "tc-imports-"));
  const run = spawnSync(process.execPath, ["--import", "tsx", "--import", trace, "bin/admin.ts", "list-clients"], {
    cwd: root,
    env: { PATH: process.env.PATH, STORAGE: "sqlite", DATA_DIR: dataDir },
    encoding: "utf8",
  });
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout).toContain("CLIENT ID");
  expect(run.stderr).not.toMatch(/^loaded /m);
});

test("the trace does see the SDK when a module loads it", async () => {
  server = await startServerProcess(
    process.execPath,
    [
      "--import",
      "tsx",
      "--import",
      trace,
      "-e",
      'await import("./lambda/storage/dynamodb/storage.ts"); console.log("listening on http://x,")',
    ],
    {
      cwd: root,
      env: {},
    },
  );
  expect(server.output()).toMatch(/^loaded .*@aws-sdk\/client-dynamodb/m);
});
