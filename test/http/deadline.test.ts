/**
 * One deadline per request: every storage transaction a request runs (a new client's first
 * version runs three) shares the deadline its edge gives (on Lambda, the function's remaining
 * time less a margin), so that a storage that stalls is answered 503 before the function is
 * stopped, never after it.
 */
import { afterEach, describe, expect, inject, test } from "vitest";
import { createApp, lambdaLimits, RESPONSE_MARGIN_MS } from "../../lambda/app.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { createLogger } from "../../lambda/log.ts";
import { createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { inTxn } from "../support/txn.ts";
import { emulatorClientOptions, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { httpEvent } from "../../dev/events.ts";
import { interceptCalls } from "../../dev/sdk-interception.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const emulators = emulatorsFrom(inject("emulators"));
const SEGMENT = "application/vnd.taskchampion.history-segment";
const config = { rules: { ...DEFAULT_SYNC_RULES, createClients: true }, maxBodyBytes: 1_000_000 };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const addVersion = (clientId: string) =>
  httpEvent("POST", `/v1/client/add-version/${NIL_UUID}`, { headers: { "x-client-id": clientId, "content-type": SEGMENT }, body: "v1" });

describe("a request's deadline from its Lambda invocation", () => {
  test("the function's remaining time less the margin; none without a Lambda context", () => {
    expect(lambdaLimits({ getRemainingTimeInMillis: () => 26_000 }, 1_000)).toEqual({ deadline: 1_000 + 26_000 - RESPONSE_MARGIN_MS });
    expect(lambdaLimits({ getRemainingTimeInMillis: () => 100 }, 1_000)).toEqual({ deadline: 1_000 });
    expect(lambdaLimits(undefined)).toBeUndefined();
  });
});

describe("every transaction of a request shares its deadline", () => {
  test("DynamoDB: a new client's first version whose create stalls is 503 at the request's deadline, not a transaction's", async () => {
    const clients = createAwsClients(emulatorClientOptions(emulators));
    let writes = 0;
    // The first write (refused: no client) answers at once; the create's is held past the
    // request's deadline, then sent: its own transaction's budget (24 s) would still allow it.
    interceptCalls(clients, async (call, send) => {
      if (call.command === "TransactWriteItemsCommand" && ++writes === 2) await new Promise((resolve) => setTimeout(resolve, 1_500));
      return send();
    });
    const storage = new DynamoStorage({ ...clients, tableName: emulators.tableName, bucketName: emulators.bucketName, ownsClients: true });
    cleanups.push(() => storage.close());
    const app = createApp(
      storage,
      config,
      createLogger(() => {}),
    );
    const clientId = newUuid();
    const started = Date.now();
    const result = await app(addVersion(clientId), { deadline: started + 800 });
    expect(result.statusCode).toBe(503);
    expect(result.headers?.["retry-after"]).toBeDefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(writes).toBe(2);
    // The held create is past the deadline by the time it is let go: it must not be sent then.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await inTxn(storage, clientId, (txn) => txn.getClient())).toBeNull();
  });

  test("SQLite: a request that waits for another writer's lock gives up at its deadline", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tc-deadline-"));
    const path = join(dir, "db.sqlite3");
    const holder = new SqliteStorage(path);
    const waiting = new SqliteStorage(path, { lockTimeoutMs: 60_000 });
    cleanups.push(async () => {
      await waiting.close();
      await holder.close();
      await rm(dir, { recursive: true, force: true });
    });
    const clientId = newUuid();
    const held = await holder.txn(newUuid());
    try {
      const app = createApp(
        waiting,
        config,
        createLogger(() => {}),
      );
      const started = Date.now();
      const result = await app(addVersion(clientId), { deadline: started + 500 });
      expect(result.statusCode).toBe(503);
      expect(result.headers?.["retry-after"]).toBeDefined();
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await held.release();
    }
    expect(await inTxn(waiting, clientId, (txn) => txn.getClient())).toBeNull();
  });
});
