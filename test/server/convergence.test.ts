/** Several encrypting replicas sync through the local server until their databases are identical. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startServer, type RunningServer } from "../../bin/serve.ts";
import { emulatorEnv, emulatorsFrom } from "../../scripts/emulators.ts";
import { runConvergence } from "../support/replica-scenario.ts";

describe.each(["sqlite", "memory", "dynamodb"] as const)("replicas converge through the local server on %s", (storage) => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tc-converge-"));
    let env: Record<string, string> = { STORAGE: storage, DATA_DIR: dataDir };
    if (storage === "dynamodb") {
      env = emulatorEnv(emulatorsFrom(inject("emulators")));
      // The AWS SDK reads its endpoints and credentials from process.env itself.
      Object.assign(process.env, env);
    }
    server = await startServer({ ...env, LISTEN: "127.0.0.1:0", SNAPSHOT_VERSIONS: "5" });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("with interleaved syncs and conflicts, and a fresh replica from the snapshot", async () => {
    const stats = await runConvergence(server.url, { replicas: 3, rounds: 4 });
    expect(stats.conflicts).toBeGreaterThan(0);
    expect(stats.snapshotsUploaded).toBeGreaterThan(0);
    expect(stats.freshReplicaUsedSnapshot).toBe(true);
  });

  it("with large values (segments of hundreds of KB)", async () => {
    const stats = await runConvergence(server.url, { replicas: 3, rounds: 2, bigValueBytes: 600_000 });
    expect(stats.freshReplicaUsedSnapshot).toBe(true);
  });
});
