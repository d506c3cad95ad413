/** Several encrypting replicas sync through the local server until their databases are identical. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../bin/serve.ts";
import { startTestServer } from "../support/local-server.ts";
import { runConvergence } from "../support/replica-scenario.ts";

describe.each(["sqlite", "memory", "dynamodb"] as const)("replicas converge through the local server on %s", (storage) => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(storage, { SNAPSHOT_VERSIONS: "5" });
  });

  afterAll(async () => {
    await server?.stop();
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
