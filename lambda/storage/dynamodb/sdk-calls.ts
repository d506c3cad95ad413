/** The storage's calls to DynamoDB and S3, each bounded by the deadline of the work it belongs to. */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type ServiceInputTypes as DynamoInput,
  type ServiceOutputTypes as DynamoOutput,
} from "@aws-sdk/client-dynamodb";
import type { _Object, S3Client, ServiceInputTypes as S3Input, ServiceOutputTypes as S3Output } from "@aws-sdk/client-s3";
import type { Uuid } from "../../uuid.ts";
import { type ClientState, parseClient } from "./client-item.ts";
import { itemKey, SK, TABLE } from "./layout.ts";
import { StorageUnavailableError } from "../errors.ts";
import { asUnavailable, isNoSuchKey } from "./sdk-errors.ts";

// The clients' own typed `send`, so that each wrapped call keeps its command's output type.
declare const dynamodbClient: DynamoDBClient;
declare const s3Client: S3Client;
type DynamoCommand<I extends DynamoInput, O extends DynamoOutput> = Parameters<typeof dynamodbClient.send<I, O>>[0];
type S3Command<I extends S3Input, O extends S3Output> = Parameters<typeof s3Client.send<I, O>>[0];
type Key = Record<string, AttributeValue>;
/** What a page of a Query or a Scan holds. */
interface Paged {
  Items?: Record<string, AttributeValue>[];
  LastEvaluatedKey?: Key;
}

/** An S3 client, or the function that makes it on first use (see shared-clients.ts). */
export type S3Source = S3Client | (() => Promise<S3Client>);

type S3Objects = typeof import("./s3-objects.ts");

/**
 * The SDK calls of one unit of work (a transaction, one client's sweep), all sharing its
 * deadline through one abort signal; transient failures become StorageUnavailableError.
 */
export class SdkCalls {
  constructor(
    readonly dynamodb: DynamoDBClient,
    readonly s3: S3Source,
    readonly tableName: string,
    readonly bucketName: string,
    readonly inlineSegmentMaxBytes: number,
    readonly signal: AbortSignal,
    /** When the work's time is up, milliseconds since the epoch (the signal aborts then); Infinity without a deadline. */
    readonly deadline = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * The signal of one call: it follows the work's deadline, and the SDK's listeners (a few per
   * call) go on it, not on the work's signal, which many calls at once (an import's writes, a
   * batch's deletes) would otherwise load past Node's warning.
   */
  private callSignal(): AbortSignal {
    return AbortSignal.any([this.signal]);
  }

  /** DynamoDB call; transient failures become StorageUnavailableError, others pass through. */
  async ddbSend<I extends DynamoInput, O extends DynamoOutput>(command: DynamoCommand<I, O>, what: string): Promise<O> {
    try {
      return await this.dynamodb.send(command, { abortSignal: this.callSignal() });
    } catch (error) {
      throw asUnavailable(error, `DynamoDB: ${what}`) ?? error;
    }
  }

  async s3Send<I extends S3Input, O extends S3Output>(command: S3Command<I, O>, what: string): Promise<O> {
    return this.s3Call((s3) => s3.send(command, { abortSignal: this.callSignal() }), what);
  }

  /** An S3 operation on the client (made or loaded now if need be); transient failures become StorageUnavailableError. */
  private async s3Call<T>(operation: (s3: S3Client, objects: S3Objects) => Promise<T>, what: string): Promise<T> {
    try {
      const [s3, objects] = await Promise.all([typeof this.s3 === "function" ? this.s3() : this.s3, import("./s3-objects.ts")]);
      return await operation(s3, objects);
    } catch (error) {
      throw asUnavailable(error, `S3: ${what}`) ?? error;
    }
  }

  /** A consistent read of one item; `attributes` limits what is returned (not what is read). */
  async getItem(
    clientId: Uuid,
    sk: string,
    what: string,
    attributes?: readonly string[],
  ): Promise<Record<string, AttributeValue> | undefined> {
    const result = await this.ddbSend(
      new GetItemCommand({ TableName: this.tableName, Key: itemKey(clientId, sk), ConsistentRead: true, ...projection(attributes) }),
      what,
    );
    return result.Item;
  }

  /** Every item of the client whose sort key starts with `prefix` ("": every item), a page at a time, consistently. */
  async *queryItems(
    clientId: Uuid,
    prefix: string,
    what: string,
    attributes?: readonly string[],
  ): AsyncGenerator<Record<string, AttributeValue>> {
    yield* this.pagedItems(
      (startKey) =>
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: prefix === "" ? "#pk = :pk" : "#pk = :pk AND begins_with(#sk, :prefix)",
          ExpressionAttributeNames: {
            "#pk": TABLE.partitionKey.name,
            ...(prefix === "" ? {} : { "#sk": TABLE.sortKey.name }),
            ...projection(attributes).ExpressionAttributeNames,
          },
          ExpressionAttributeValues: { ":pk": { S: clientId }, ...(prefix === "" ? {} : { ":prefix": { S: prefix } }) },
          ...(attributes ? { ProjectionExpression: projection(attributes).ProjectionExpression } : {}),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      what,
    );
  }

  /** The items of a paged read (a Query, a Scan), one page in memory at a time. */
  async *pagedItems<I extends DynamoInput, O extends DynamoOutput & Paged>(
    command: (startKey: Key | undefined) => DynamoCommand<I, O>,
    what: string,
  ): AsyncGenerator<Record<string, AttributeValue>> {
    let startKey: Key | undefined;
    do {
      const page = await this.ddbSend(command(startKey), what);
      yield* page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  async readClient(clientId: Uuid): Promise<ClientState | null> {
    return parseClient(await this.getItem(clientId, SK.client, "read the client"));
  }

  /** The object's bytes, or null when there is none. */
  async getObject(key: string, what: string): Promise<Uint8Array | null> {
    try {
      return await this.s3Call((s3, objects) => objects.getObject(s3, this.bucketName, key, this.callSignal()), what);
    } catch (error) {
      if (isNoSuchKey(error instanceof StorageUnavailableError ? error.cause : error)) return null;
      throw error;
    }
  }

  async putObject(key: string, data: Uint8Array, what: string): Promise<void> {
    await this.s3Call((s3, objects) => objects.putObject(s3, this.bucketName, key, data, this.callSignal()), what);
  }

  /** Every object under `prefix`, a page at a time. */
  async *listObjects(prefix: string, what: string): AsyncGenerator<_Object> {
    const pages = await this.s3Call(async (s3, objects) => objects.listObjects(s3, this.bucketName, prefix, this.callSignal()), what);
    try {
      yield* pages;
    } catch (error) {
      throw asUnavailable(error, `S3: ${what}`) ?? error;
    }
  }

  /** The length of an object, or null when there is none. */
  async objectSize(key: string, what: string): Promise<number | null> {
    try {
      return await this.s3Call((s3, objects) => objects.objectSize(s3, this.bucketName, key, this.callSignal()), what);
    } catch (error) {
      if (isNoSuchKey(error instanceof StorageUnavailableError ? error.cause : error)) return null;
      throw error;
    }
  }

  /** Deletes one object (a delete marker, in a versioned bucket); a failure is the caller's. */
  async deleteObject(key: string, what: string): Promise<void> {
    await this.s3Call((s3, objects) => objects.deleteObject(s3, this.bucketName, key, this.callSignal()), what);
  }

  /**
   * Best effort, for uploads that no committed item references: an object that stays is an
   * orphan for the sweep, never an error of the request. Within the work's deadline (and 3 s).
   * Returns the keys it deleted.
   */
  async deleteObjects(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0 || this.signal.aborted) return [];
    const bound = AbortSignal.any([this.signal, AbortSignal.timeout(3_000)]);
    const signal = () => AbortSignal.any([bound]);
    const results: (string | undefined)[] = await this.s3Call(
      (s3, objects) =>
        Promise.all(
          keys.map((key) =>
            objects.deleteObject(s3, this.bucketName, key, signal()).then(
              () => key,
              () => undefined,
            ),
          ),
        ),
      "delete objects",
    ).catch(() => []);
    return results.filter((key): key is string => key !== undefined);
  }
}

/** A projection of `attributes`, or nothing (every attribute). */
export function projection(attributes: readonly string[] | undefined): {
  ProjectionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
} {
  if (!attributes) return {};
  const names = Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name]));
  return { ProjectionExpression: Object.keys(names).join(", "), ExpressionAttributeNames: names };
}
