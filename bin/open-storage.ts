/**
 * Opens the storage that STORAGE names, as the local server and the admin command reach it
 * (DATA_DIR for SQLite; TABLE_NAME, BUCKET_NAME and the AWS SDK's variables for DynamoDB). Only
 * the chosen implementation is loaded.
 */
import { join } from "node:path";
import { type ConfigReader, SETTINGS, type StorageKind } from "../lambda/config.ts";
import type { DynamoPlacement } from "../lambda/storage/dynamodb/from-env.ts";
import type { LooseFile } from "../lambda/storage/sqlite/files.ts";
import type { Storage } from "../lambda/storage/types.ts";

export const SQLITE_FILE_NAME = "taskchampion-sync-server.sqlite3";

/** Where the admin command's DynamoDB storage is, and its budget (see DynamoPlacement). */
export type DynamoTarget = Omit<DynamoPlacement, "createClients">;

/**
 * `notify` is told, in one line each, what of the SQLite files was readable by others and is
 * owner-only now, or could not be made so (stderr by default).
 */
export async function openStorage(
  kind: StorageKind,
  reader: ConfigReader,
  target?: DynamoTarget,
  notify: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
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
      const storage = new SqliteStorage(path);
      for (const line of looseFileLines(storage.looseFiles)) notify(line);
      return { storage, description: `SQLite at ${path}` };
    }
    case "dynamodb": {
      const { dynamoStorageFromEnv } = await import("../lambda/storage/dynamodb/from-env.ts");
      if (!target) return dynamoStorageFromEnv(reader);
      const { createAwsClients } = await import("../lambda/storage/dynamodb/sdk-clients.ts");
      return dynamoStorageFromEnv(reader, { ...target, createClients: createAwsClients });
    }
  }
}

const octal = (mode: number) => `0${mode.toString(8).padStart(3, "0")}`;

/** What the SQLite storage found readable by others on opening: one line for what it tightened, one for what it could not. */
export function looseFileLines(files: readonly LooseFile[]): string[] {
  const list = (tightened: boolean) =>
    files
      .filter((file) => file.tightened === tightened)
      .map((file) => `${file.path} (${octal(file.mode)})`)
      .join(", ");
  const lines: string[] = [];
  const tightened = list(true);
  if (tightened) lines.push(`note: made owner-only, as they hold every client id: ${tightened}`);
  const left = list(false);
  if (left) lines.push(`warning: readable by others and not this user's to change, make them owner-only: ${left}`);
  return lines;
}
