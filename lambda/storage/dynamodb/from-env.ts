/**
 * The DynamoDB + S3 storage, configured from the environment: the Lambda entries and the local
 * server as they are, the admin command with what a deployed stack's outputs replace.
 */
import { type ConfigReader, SETTINGS } from "../../config.ts";
import type { AwsClientOptions } from "./sdk-config.ts";
import type { S3Source } from "./sdk-calls.ts";
import { DynamoStorage, openDynamoStorage } from "./storage.ts";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** For work that is not a protocol request (the admin command): where its storage is, and its budget. */
export interface DynamoPlacement {
  /** Instead of TABLE_NAME and BUCKET_NAME (a deployed stack's outputs). */
  tableName?: string;
  bucketName?: string;
  /** Instead of the SDK's region chain. */
  region?: string;
  /** The time budget of one transaction (the server's fits API Gateway; an operator's may be longer). */
  deadlineMs?: number;
  /**
   * Clients of the storage's own, destroyed when it closes, instead of the process's shared
   * ones (passed in, so that the functions' bundle does not load the S3 client at start).
   */
  createClients?: (options: AwsClientOptions) => { dynamodb: DynamoDBClient; s3: S3Source };
}

/** Reads the storage's settings (problems are reported by `reader.check()`) and opens it. */
export function dynamoStorageFromEnv(
  reader: ConfigReader,
  placement: DynamoPlacement = {},
): { storage: DynamoStorage; description: string } {
  const settings = {
    tableName: placement.tableName ?? reader.require(SETTINGS.tableName),
    bucketName: placement.bucketName ?? reader.require(SETTINGS.bucketName),
    forcePathStyle: reader.get(SETTINGS.s3ForcePathStyle),
    inlineSegmentMaxBytes: reader.get(SETTINGS.segmentInlineMaxBytes),
  };
  reader.check();
  const clientOptions: AwsClientOptions = {
    forcePathStyle: settings.forcePathStyle,
    ...(placement.region !== undefined ? { region: placement.region } : {}),
  };
  const storage = placement.createClients
    ? new DynamoStorage({
        ...placement.createClients(clientOptions),
        ...settings,
        ownsClients: true,
        ...(placement.deadlineMs !== undefined ? { deadlineMs: placement.deadlineMs } : {}),
      })
    : openDynamoStorage(settings, clientOptions);
  return { storage, description: `DynamoDB table ${settings.tableName}, S3 bucket ${settings.bucketName}` };
}
