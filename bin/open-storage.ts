/**
 * Opens the storage that STORAGE names, as the local server and the admin command reach it
 * (DATA_DIR for SQLite; TABLE_NAME, BUCKET_NAME and the AWS SDK's variables for DynamoDB). Only
 * the chosen implementation is loaded.
 */
import { join } from "node:path";
import { type ConfigReader, SETTINGS, type StorageKind } from "../lambda/config.ts";
import type { Storage } from "../lambda/storage/types.ts";

export const SQLITE_FILE_NAME = "taskchampion-sync-server.sqlite3";

/** For work that is not a protocol request (the admin command): where its DynamoDB storage is, and its budget. */
export interface DynamoTarget {
  /** Instead of TABLE_NAME and BUCKET_NAME (a deployed stack's outputs). */
  tableName?: string;
  bucketName?: string;
  /** Instead of the SDK's region chain. */
  region?: string;
  /** The time budget of one transaction (the server's fits API Gateway; an operator's may be longer). */
  deadlineMs?: number;
}

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
      if (!target) {
        const { dynamoStorageFromEnv } = await import("../lambda/storage/dynamodb/from-env.ts");
        return dynamoStorageFromEnv(reader);
      }
      const tableName = target.tableName ?? reader.require(SETTINGS.tableName);
      const bucketName = target.bucketName ?? reader.require(SETTINGS.bucketName);
      const forcePathStyle = reader.get(SETTINGS.s3ForcePathStyle);
      const inlineSegmentMaxBytes = reader.get(SETTINGS.segmentInlineMaxBytes);
      reader.check();
      const [{ DynamoStorage }, { createAwsClients }] = await Promise.all([
        import("../lambda/storage/dynamodb/storage.ts"),
        import("../lambda/storage/dynamodb/sdk-clients.ts"),
      ]);
      const clients = createAwsClients({ forcePathStyle, ...(target.region !== undefined ? { region: target.region } : {}) });
      return {
        storage: new DynamoStorage({
          ...clients,
          tableName,
          bucketName,
          inlineSegmentMaxBytes,
          ownsClients: true,
          ...(target.deadlineMs !== undefined ? { deadlineMs: target.deadlineMs } : {}),
        }),
        description: `DynamoDB table ${tableName}, S3 bucket ${bucketName}`,
      };
    }
  }
}
