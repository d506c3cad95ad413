/**
 * The SDK clients of this process, made on first use and reused by every invocation of a
 * Lambda container. Most requests never touch S3 (a sync reads and writes DynamoDB items), so
 * the S3 client's code is loaded, and the client made, the first time a request needs it: the
 * function starts faster.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { type AwsClientOptions, dynamodbConfig } from "./sdk-config.ts";

export interface SharedClients {
  dynamodb: DynamoDBClient;
  /** The S3 client, made on the first call. */
  s3: () => Promise<S3Client>;
}

let processClients: { key: string; clients: SharedClients } | undefined;

export function sharedAwsClients(options: AwsClientOptions = {}): SharedClients {
  const key = JSON.stringify(options);
  if (!processClients || processClients.key !== key) {
    let s3: Promise<S3Client> | undefined;
    processClients = {
      key,
      clients: {
        dynamodb: new DynamoDBClient(dynamodbConfig(options)),
        s3: () => {
          s3 ??= import("./s3-client.ts").then(
            ({ createS3Client }) => createS3Client(options),
            (error: unknown) => {
              s3 = undefined; // try again on the next call
              throw error;
            },
          );
          return s3;
        },
      },
    };
  }
  return processClients.clients;
}
