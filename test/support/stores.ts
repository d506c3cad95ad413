/**
 * The three storages, real, for tests that run the same checks on each: memory, SQLite in a
 * fresh temp directory, and DynamoDB + S3 on this run's emulators in a table and a bucket of the
 * test file's own (so that listing and sweeping see only its clients). Each gives the environment
 * that makes the local server and the admin command open the same storage.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { QueryCommand } from "@aws-sdk/client-dynamodb";
import { inject } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import type { StorageKind } from "../../lambda/config.ts";
import { clientPrefix, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { type AwsClients, createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { sweepOrphans } from "../../lambda/storage/dynamodb/orphan-sweep.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import { emulatorClientOptions, emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";

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

let counter = 0;

/**
 * A table and a bucket of their own on the emulators. The AWS SDK reads the endpoints and
 * credentials from process.env (as a server or the admin command does), so they are set there.
 */
export async function dynamoStore(prefix: string, options: { inlineSegmentMaxBytes?: number } = {}): Promise<Store> {
  const emulators = emulatorsFrom(inject("emulators"));
  counter += 1;
  const suffix = `${Date.now().toString(36)}-${counter}-${randomBytes(3).toString("hex")}`;
  const tableName = `${prefix}-${suffix}`;
  const bucketName = `${prefix}-${suffix}`;
  await createTableAndBucket({ ...emulators, tableName, bucketName });
  const env = { ...emulatorEnv(emulators), TABLE_NAME: tableName, BUCKET_NAME: bucketName };
  Object.assign(process.env, env);
  const raw: AwsClients = createAwsClients(emulatorClientOptions(emulators));
  const opened: DynamoStorage[] = [];
  return {
    kind: "dynamodb",
    open: () => {
      const storage = new DynamoStorage({
        ...createAwsClients(emulatorClientOptions(emulators)),
        tableName,
        bucketName,
        ownsClients: true,
        ...(options.inlineSegmentMaxBytes !== undefined ? { inlineSegmentMaxBytes: options.inlineSegmentMaxBytes } : {}),
      });
      opened.push(storage);
      return storage;
    },
    env: options.inlineSegmentMaxBytes !== undefined ? { ...env, SEGMENT_INLINE_MAX_BYTES: String(options.inlineSegmentMaxBytes) } : env,
    leftovers: async (clientId) => {
      const items = await raw.dynamodb.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name },
          ExpressionAttributeValues: { ":pk": { S: clientId } },
          ConsistentRead: true,
        }),
      );
      const objects = await raw.s3.send(new ListObjectsV2Command({ Bucket: bucketName, Prefix: clientPrefix(clientId) }));
      return { items: items.Count ?? 0, objects: objects.KeyCount ?? objects.Contents?.length ?? 0 };
    },
    sweepAfterGrace: async (clientId) => {
      const storage = new DynamoStorage({
        ...createAwsClients(emulatorClientOptions(emulators)),
        tableName,
        bucketName,
        ownsClients: true,
      });
      opened.push(storage);
      await sweepOrphans(storage, clientId, { minAgeMs: -60_000, graceMs: 0 });
    },
    close: async () => {
      await Promise.all(opened.map((s) => s.close()));
      raw.dynamodb.destroy();
      raw.s3.destroy();
    },
  };
}
