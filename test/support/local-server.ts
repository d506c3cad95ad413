/** The local server in-process, on a chosen storage, for tests that talk to it over sockets. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { type LocalHttpServer, serveHandler } from "../../bin/local-http.ts";
import { startServer, type RunningServer } from "../../bin/serve.ts";
import { createApp } from "../../lambda/app.ts";
import { LAMBDA_MAX_BODY_BYTES, type StorageKind } from "../../lambda/config.ts";
import type { SyncRules } from "../../lambda/core/sync.ts";
import { createLogger } from "../../lambda/log.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";

/**
 * Starts the server on a free port: SQLite in a fresh temp directory, memory, or DynamoDB +
 * S3 on this run's emulators. `stop` also removes the temp directory.
 */
export async function startTestServer(storage: StorageKind, env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "tc-server-"));
  let storageEnv: Record<string, string> = { STORAGE: storage, DATA_DIR: dataDir };
  if (storage === "dynamodb") {
    storageEnv = emulatorEnv(emulatorsFrom(inject("emulators")));
    // The AWS SDK reads its endpoints and credentials from process.env itself.
    Object.assign(process.env, storageEnv);
  }
  const server = await startServer({ ...storageEnv, LISTEN: "127.0.0.1:0", ...env });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The real handler (createApp, its log silenced) on `storage` over a real socket, with the Lambda's body limit. */
export function serveStorage(storage: Storage, rules: SyncRules): Promise<LocalHttpServer> {
  return serveHandler(
    createApp(
      storage,
      { rules, maxBodyBytes: LAMBDA_MAX_BODY_BYTES },
      createLogger(() => {}),
    ),
    { host: "127.0.0.1", port: 0, maxBodyBytes: LAMBDA_MAX_BODY_BYTES },
  );
}
