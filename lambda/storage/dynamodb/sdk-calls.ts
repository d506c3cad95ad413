/** The storage's calls to DynamoDB and S3, each bounded by the deadline of the work it belongs to. */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type ServiceInputTypes as DynamoInput,
  type ServiceOutputTypes as DynamoOutput,
} from "@aws-sdk/client-dynamodb";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type _Object,
  type S3Client,
  type ServiceInputTypes as S3Input,
  type ServiceOutputTypes as S3Output,
} from "@aws-sdk/client-s3";
import type { Uuid } from "../../uuid.ts";
import { type ClientState, parseClient } from "./client-item.ts";
import { SK, TABLE } from "./layout.ts";
import { asUnavailable, isNoSuchKey } from "./sdk-errors.ts";

// The clients' own typed `send`, so that each wrapped call keeps its command's output type.
declare const dynamodbClient: DynamoDBClient;
declare const s3Client: S3Client;
type DynamoCommand<I extends DynamoInput, O extends DynamoOutput> = Parameters<typeof dynamodbClient.send<I, O>>[0];
type S3Command<I extends S3Input, O extends S3Output> = Parameters<typeof s3Client.send<I, O>>[0];

/**
 * The SDK calls of one unit of work (a transaction, one client's sweep), all sharing its
 * deadline through one abort signal; transient failures become StorageUnavailableError.
 */
export class SdkCalls {
  constructor(
    readonly dynamodb: DynamoDBClient,
    readonly s3: S3Client,
    readonly tableName: string,
    readonly bucketName: string,
    readonly inlineSegmentMaxBytes: number,
    readonly signal: AbortSignal,
  ) {}

  /** DynamoDB call; transient failures become StorageUnavailableError, others pass through. */
  async ddbSend<I extends DynamoInput, O extends DynamoOutput>(command: DynamoCommand<I, O>, what: string): Promise<O> {
    try {
      return await this.dynamodb.send(command, { abortSignal: this.signal });
    } catch (error) {
      throw asUnavailable(error, `DynamoDB: ${what}`) ?? error;
    }
  }

  async s3Send<I extends S3Input, O extends S3Output>(command: S3Command<I, O>, what: string): Promise<O> {
    try {
      return await this.s3.send(command, { abortSignal: this.signal });
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
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddbSend(
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
      yield* page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  async readClient(clientId: Uuid): Promise<ClientState | null> {
    return parseClient(await this.getItem(clientId, SK.client, "read the client"));
  }

  async getObject(key: string, what: string): Promise<Uint8Array | null> {
    try {
      const result = await this.s3Send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }), what);
      if (!result.Body) return new Uint8Array(0);
      return await result.Body.transformToByteArray();
    } catch (error) {
      if (isNoSuchKey(error)) return null;
      throw asUnavailable(error, `S3: ${what}`) ?? error;
    }
  }

  async putObject(key: string, data: Uint8Array, what: string): Promise<void> {
    await this.s3Send(
      new PutObjectCommand({
        Bucket: this.bucketName,
        Key: key,
        Body: data,
        ContentLength: data.byteLength,
        ContentType: "application/octet-stream",
      }),
      what,
    );
  }

  /** Every object under `prefix`, a page at a time. */
  async *listObjects(prefix: string, what: string): AsyncGenerator<_Object> {
    let continuationToken: string | undefined;
    do {
      const page = await this.s3Send(
        new ListObjectsV2Command({ Bucket: this.bucketName, Prefix: prefix, ContinuationToken: continuationToken }),
        what,
      );
      yield* page.Contents ?? [];
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  /** The length of an object, or null when there is none. */
  async objectSize(key: string, what: string): Promise<number | null> {
    try {
      return (await this.s3Send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }), what)).ContentLength ?? 0;
    } catch (error) {
      if (isNoSuchKey(error)) return null;
      throw error;
    }
  }

  /**
   * Best effort: an object that stays is an orphan for the sweep, never an error of the
   * request. Within the work's deadline (and 3 s): past it, the sweep deletes them.
   */
  async deleteObjects(keys: readonly string[]): Promise<void> {
    if (keys.length === 0 || this.signal.aborted) return;
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(3_000)]);
    await Promise.all(
      keys.map((key) =>
        this.s3.send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: key }), { abortSignal: signal }).catch(() => undefined),
      ),
    );
  }
}

/** A projection of `attributes`, or nothing (every attribute). */
function projection(attributes: readonly string[] | undefined): {
  ProjectionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
} {
  if (!attributes) return {};
  const names = Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name]));
  return { ProjectionExpression: Object.keys(names).join(", "), ExpressionAttributeNames: names };
}

/** The key of a client's item. */
export function itemKey(clientId: Uuid, sk: string): Record<string, AttributeValue> {
  return { [TABLE.partitionKey.name]: { S: clientId }, [TABLE.sortKey.name]: { S: sk } };
}
