/** The local server's daily history retention (bin/history-retention.ts), on a real SQLite file. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, test } from "vitest";
import { startHistoryRetention } from "../../bin/history-retention.ts";
import { dynamoMaintenance } from "../../bin/serve.ts";
import { emulatorClientOptions, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { createLogger } from "../../lambda/log.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { inTxn } from "../support/txn.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

describe("history retention in the local server", () => {
  test("runs on its schedule, removes what HISTORY_DAYS no longer keeps, logs its counts, and stops with the server", async () => {
    const dir = mkdtempSync(join(tmpdir(), "retention-"));
    dirs.push(dir);
    const storage = new SqliteStorage(join(dir, "db.sqlite3"));
    const clientId = newUuid();
    const ids = Array.from({ length: 6 }, () => newUuid());
    await storage.importClient(clientId, {
      latestVersionId: ids[5]!,
      snapshot: { versionId: ids[4]!, timestamp: new Date(), versionsSince: 1, data: new Uint8Array(5) },
      versions: (async function* () {
        for (const [i, versionId] of ids.entries()) {
          yield {
            versionId,
            parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!,
            historySegment: new Uint8Array(10),
            addedAt: new Date(Date.now() - 400 * DAY),
          };
        }
      })(),
    });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger((line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const retention = startHistoryRetention(storage, 180, logger, { firstRunAfterMs: 10, runEveryMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await retention.stop();
    // Everything before the snapshot's version went; it and what follows stay.
    expect(await inTxn(storage, clientId, (txn) => txn.getClientDetails())).toMatchObject({
      versions: 2,
      oldestVersion: { versionId: ids[4], parentVersionId: ids[3] },
    });
    const runs = lines.filter((line) => line.msg === "history retention");
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs[0]).toMatchObject({ level: "info", clients: 1, prunedClients: 1, removedVersions: 4, historyDays: 180 });
    expect(runs[1]).toMatchObject({ removedVersions: 0 });
    // Stopped: no more runs, and the database closes.
    const count = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(lines.length).toBe(count);
    await storage.close();
  });

  test("does nothing with HISTORY_DAYS=0", async () => {
    const lines: string[] = [];
    const retention = startHistoryRetention(
      new MemoryStorage(),
      0,
      createLogger((line) => lines.push(line)),
      {
        firstRunAfterMs: 1,
        runEveryMs: 1,
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    await retention.stop();
    expect(lines).toEqual([]);
  });
});

describe("the local server on DynamoDB + S3", () => {
  test("runs the maintenance function's work on the schedule (the sweep that deletes what the grace held, and the pruning), whatever HISTORY_DAYS is; a stop ends a run", async () => {
    const emulators = emulatorsFrom(inject("emulators"));
    const clients = createAwsClients(emulatorClientOptions(emulators));
    const storage = new DynamoStorage({ ...clients, tableName: emulators.tableName, bucketName: emulators.bucketName, ownsClients: true });
    expect(
      await dynamoMaintenance(
        new MemoryStorage(),
        180,
        createLogger(() => {}),
      ),
    ).toBeUndefined();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger((line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const work = await dynamoMaintenance(storage, 0, logger);
    expect(work).toBeDefined();
    const retention = startHistoryRetention(storage, 0, logger, { firstRunAfterMs: 10, runEveryMs: 60_000 }, work);
    for (let i = 0; i < 100 && !lines.some((line) => line.msg === "maintenance"); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await retention.stop();
    expect(lines.find((line) => line.msg === "maintenance")).toMatchObject({ level: "info", historyDays: 0, stopped: false });
    await storage.close();
  });
});
