/**
 * The three storages, real, for tests that run the same checks on each: memory, SQLite in a
 * fresh temp directory, and DynamoDB + S3 on this run's emulators in a table and a bucket of the
 * test file's own (so that listing and sweeping see only its clients). Each gives the environment
 * that makes the local server and the admin command open the same storage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import type { StorageKind } from "../../lambda/config.ts";
import { sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { emulatorEnv } from "../../dev/emulator-endpoints.ts";
import { createFreshTableAndBucket, EmulatorPlace, EmulatorResources, emulators } from "./dynamo-on-emulators.ts";

export interface Store {
  kind: StorageKind;
  /** A new storage object on the same data (each is closed by `close`). */
  open(): Storage;
  /** STORAGE and where it is, for the local server and the admin command (for DynamoDB, the SDK's variables too). */
  env: Record<string, string>;
  /** Whether anything of the client is left in the underlying store (DynamoDB items, S3 objects); only for DynamoDB. */
  leftovers?(clientId: Uuid): Promise<{ items: number; objects: number }>;
  /**
   * The maintenance sweep of the client's objects as it runs once the grace has passed (only for
   * DynamoDB): what no item references is deleted, with its deletion marks.
   */
  sweepAfterGrace?(clientId: Uuid): Promise<void>;
  close(): Promise<void>;
}

export async function memoryStore(): Promise<Store> {
  const storage = new MemoryStorage();
  return { kind: "memory", open: () => storage, env: { STORAGE: "memory" }, close: () => storage.close() };
}

export async function sqliteStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "tc-store-"));
  const opened: SqliteStorage[] = [];
  return {
    kind: "sqlite",
    open: () => {
      const storage = new SqliteStorage(join(dir, SQLITE_FILE_NAME));
      opened.push(storage);
      return storage;
    },
    env: { STORAGE: "sqlite", DATA_DIR: dir },
    close: async () => {
      await Promise.all(opened.map((s) => s.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A table and a bucket of their own on the emulators. The AWS SDK reads the endpoints and
 * credentials from process.env (as a server or the admin command does), so they are set there.
 */
export async function dynamoStore(prefix: string, options: { inlineSegmentMaxBytes?: number } = {}): Promise<Store> {
  const { tableName, bucketName } = await createFreshTableAndBucket(prefix);
  const env = { ...emulatorEnv(emulators()), TABLE_NAME: tableName, BUCKET_NAME: bucketName };
  Object.assign(process.env, env);
  const resources = new EmulatorResources();
  const place = new EmulatorPlace(tableName, bucketName, resources, options);
  return {
    kind: "dynamodb",
    open: () => place.storage(),
    env: options.inlineSegmentMaxBytes !== undefined ? { ...env, SEGMENT_INLINE_MAX_BYTES: String(options.inlineSegmentMaxBytes) } : env,
    leftovers: async (clientId) => ({ items: (await place.items(clientId)).length, objects: (await place.objects(clientId)).length }),
    sweepAfterGrace: async (clientId) => {
      await sweepOrphans(place.storage(), clientId, { minAgeMs: -60_000, graceMs: 0 });
    },
    close: async () => {
      await resources.closeStorages();
      resources.destroyRaw();
    },
  };
}
