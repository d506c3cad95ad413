/**
 * A pair of SDK clients made at once, for tools, tests and the bench (the functions make theirs
 * with shared-clients.ts, which loads the S3 client only when a request needs it).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { createS3Client } from "./s3-client.ts";
import { type AwsClientOptions, dynamodbConfig } from "./sdk-config.ts";

export type { AwsClientOptions } from "./sdk-config.ts";

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
}

/** New SDK clients with keep-alive, timeouts and bounded retries. */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  return { dynamodb: new DynamoDBClient(dynamodbConfig(options)), s3: createS3Client(options) };
}
