/**
 * DynamoStorage on this run's emulators (DynamoDB Local and s3rver, started by
 * emulator-setup.ts), for the tests of the DynamoDB storage: storages on new SDK clients, their
 * calls recorded and optionally intercepted (faults, pauses, races), closed after each test; the
 * raw clients that read and write the table and the bucket behind the storage's back, destroyed
 * after the file; and a table and a bucket of a test's own where it needs them (a sweep of the
 * shared bucket would race the other files' transactions).
 */
import { randomBytes } from "node:crypto";
import { type AttributeValue, GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, inject } from "vitest";
import { clientPrefix, itemKey, SK, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { type AwsClients, createAwsClients } from "../../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage, type DynamoStorageOptions } from "../../lambda/storage/dynamodb/storage.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import { type EmulatorEndpoints, emulatorClientOptions, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { interceptCalls, type SdkCall } from "../../dev/sdk-interception.ts";

/** What runs around each SDK call of a storage: it sends the call (or throws instead, or after). */
export type Around = (call: SdkCall, send: () => Promise<unknown>) => Promise<unknown>;

/** How a test opens a storage: its options, and what runs around its SDK calls. */
export interface OpenOptions extends Partial<Pick<DynamoStorageOptions, "inlineSegmentMaxBytes" | "deadlineMs">> {
  around?: Around;
  /** Where `around` runs: once per logical call ("initialize", the default) or in each of the SDK's attempts. */
  step?: "initialize" | "deserialize";
}

/** A storage and the SDK calls it made, each named by `callName`, in the order they began. */
export interface Opened {
  storage: DynamoStorage;
  calls: string[];
}

/** A call as the tests name it: "dynamodb:GetItem", "s3:PutObject". */
export function callName(call: SdkCall): string {
  return `${call.service}:${call.command.replace(/Command$/, "")}`;
}

/** The emulators of this run (inject() works in a test file, not in globalSetup). */
export function emulators(): EmulatorEndpoints {
  return emulatorsFrom(inject("emulators"));
}

let counter = 0;

/** A new table and bucket on the emulators, named `<prefix>-<unique>`. */
export async function createFreshTableAndBucket(prefix: string): Promise<{ tableName: string; bucketName: string }> {
  counter += 1;
  const name = `${prefix}-${Date.now().toString(36)}-${counter}-${randomBytes(3).toString("hex")}`;
  await createTableAndBucket({ ...emulators(), tableName: name, bucketName: name });
  return { tableName: name, bucketName: name };
}

/** The raw clients and the storages opened on them, for whoever closes them (hooks, a Store). */
export class EmulatorResources {
  readonly raw: AwsClients = createAwsClients(emulatorClientOptions(emulators()));
  private readonly opened: DynamoStorage[] = [];

  track(storage: DynamoStorage): DynamoStorage {
    this.opened.push(storage);
    return storage;
  }

  /** Closes every storage opened so far. */
  async closeStorages(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((storage) => storage.close()));
  }

  destroyRaw(): void {
    this.raw.dynamodb.destroy();
    this.raw.s3.destroy();
  }
}

/** A table and a bucket on the emulators: storages on them, and what is in them, read consistently. */
export class EmulatorPlace {
  constructor(
    readonly tableName: string,
    readonly bucketName: string,
    private readonly resources: EmulatorResources,
    private readonly defaults: OpenOptions = {},
  ) {}

  get raw(): AwsClients {
    return this.resources.raw;
  }

  /** A storage on new SDK clients (which it owns), its calls recorded and run through `around`. */
  open(options: OpenOptions = {}): Opened {
    const { around, step, ...storageOptions } = { ...this.defaults, ...options };
    const clients = createAwsClients(emulatorClientOptions(emulators()));
    const calls: string[] = [];
    interceptCalls(
      clients,
      (call, send) => {
        calls.push(callName(call));
        return around ? around(call, send) : send();
      },
      step,
    );
    const storage = new DynamoStorage({
      ...clients,
      tableName: this.tableName,
      bucketName: this.bucketName,
      ownsClients: true,
      ...storageOptions,
    });
    return { storage: this.resources.track(storage), calls };
  }

  /** `open(options).storage`. */
  storage(options: OpenOptions = {}): DynamoStorage {
    return this.open(options).storage;
  }

  /** Every key under `prefix` (all pages), sorted. */
  async keys(prefix = ""): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.raw.s3.send(new ListObjectsV2Command({ Bucket: this.bucketName, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((object) => object.Key as string));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** The client's objects' keys, sorted. */
  objects(clientId: Uuid): Promise<string[]> {
    return this.keys(clientPrefix(clientId));
  }

  async putObject(key: string, body: Uint8Array): Promise<string> {
    await this.raw.s3.send(new PutObjectCommand({ Bucket: this.bucketName, Key: key, Body: body }));
    return key;
  }

  async item(clientId: Uuid, sk: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.raw.dynamodb.send(
      new GetItemCommand({ TableName: this.tableName, Key: itemKey(clientId, sk), ConsistentRead: true }),
    );
    return Item;
  }

  clientItem(clientId: Uuid): Promise<Record<string, AttributeValue> | undefined> {
    return this.item(clientId, SK.client);
  }

  /** The client's items whose sort key begins with `prefix` (all of them for ""). */
  async items(clientId: Uuid, prefix = ""): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.raw.dynamodb.send(
        new QueryCommand({
          TableName: this.tableName,
          // DynamoDB refuses an empty prefix: all the client's items are those of its key.
          ...(prefix === ""
            ? {
                KeyConditionExpression: "#pk = :pk",
                ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name },
                ExpressionAttributeValues: { ":pk": { S: clientId } },
              }
            : {
                KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name, "#sk": TABLE.sortKey.name },
                ExpressionAttributeValues: { ":pk": { S: clientId }, ":prefix": { S: prefix } },
              }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

/** The shared table and bucket of the run, and tables and buckets of a test's own. */
export interface EmulatedDynamo extends EmulatorPlace {
  /** A new table and bucket (the same defaults, the same hooks). */
  fresh(prefix: string): Promise<EmulatorPlace>;
}

/**
 * Call at a test file's top level (or in a describe): the storages it opens are closed after
 * each test, its raw clients destroyed after the file. `defaults` apply to every storage opened.
 */
export function dynamoOnEmulators(defaults: OpenOptions = {}): EmulatedDynamo {
  const resources = new EmulatorResources();
  afterEach(() => resources.closeStorages());
  afterAll(() => resources.destroyRaw());
  const { tableName, bucketName } = emulators();
  const shared = new EmulatorPlace(tableName, bucketName, resources, defaults);
  return Object.assign(shared, {
    fresh: async (prefix: string) => {
      const place = await createFreshTableAndBucket(prefix);
      return new EmulatorPlace(place.tableName, place.bucketName, resources, defaults);
    },
  });
}
