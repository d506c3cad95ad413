/**
 * Opens the storage that STORAGE names, as the local server and the admin command reach it
 * (DATA_DIR for SQLite; TABLE_NAME, BUCKET_NAME and the AWS SDK's variables for DynamoDB). Only
 * the chosen implementation is loaded.
 */
import { join } from "node:path";
import { type ConfigReader, SETTINGS, type StorageKind } from "../lambda/config.ts";
import type { DynamoPlacement } from "../lambda/storage/dynamodb/from-env.ts";
import type { Storage } from "../lambda/storage/types.ts";

export const SQLITE_FILE_NAME = "taskchampion-sync-server.sqlite3";

/** Where the admin command's DynamoDB storage is, and its budget (see DynamoPlacement). */
export type DynamoTarget = Omit<DynamoPlacement, "createClients">;

export async function openStorage(
  kind: StorageKind,
  reader: ConfigReader,
  target?: DynamoTarget,
): Promise<{ storage: Storage; description: string }> {
  switch (kind) {
    case "memory": {
      const { MemoryStorage } = await import("../lambda/storage/memory.ts");
      return { storage: new MemoryStorage(), description: "in memory (lost on exit)" };
    }
    case "sqlite": {
      const path = join(reader.get(SETTINGS.dataDir), SQLITE_FILE_NAME);
      reader.check();
      const { SqliteStorage } = await import("../lambda/storage/sqlite/storage.ts");
      return { storage: new SqliteStorage(path), description: `SQLite at ${path}` };
    }
    case "dynamodb": {
      const { dynamoStorageFromEnv } = await import("../lambda/storage/dynamodb/from-env.ts");
      if (!target) return dynamoStorageFromEnv(reader);
      const { createAwsClients } = await import("../lambda/storage/dynamodb/sdk-clients.ts");
      return dynamoStorageFromEnv(reader, { ...target, createClients: createAwsClients });
    }
  }
}
