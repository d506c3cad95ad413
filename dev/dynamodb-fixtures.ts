/** The table and the bucket of the DynamoDB storage, created on the emulators for a test run or the bench. */
import { CreateTableCommand, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { TABLE } from "../lambda/storage/dynamodb/layout.ts";
import { createAwsClients } from "../lambda/storage/dynamodb/sdk-clients.ts";
import { emulatorClientOptions, type EmulatorEndpoints } from "./emulator-endpoints.ts";

/** The `CreateTable` request for `TABLE` under the given name (emulators, scripts). */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: TABLE.billingMode,
    AttributeDefinitions: [
      { AttributeName: TABLE.partitionKey.name, AttributeType: TABLE.partitionKey.type },
      { AttributeName: TABLE.sortKey.name, AttributeType: TABLE.sortKey.type },
    ],
    KeySchema: [
      { AttributeName: TABLE.partitionKey.name, KeyType: "HASH" },
      { AttributeName: TABLE.sortKey.name, KeyType: "RANGE" },
    ],
  };
}

/** Creates the table and the bucket on the emulators (both must not exist yet). */
export async function createTableAndBucket(
  e: EmulatorEndpoints,
  table: CreateTableCommandInput = createTableInput(e.tableName),
): Promise<void> {
  const { dynamodb, s3 } = createAwsClients(emulatorClientOptions(e));
  try {
    await Promise.all([dynamodb.send(new CreateTableCommand(table)), s3.send(new CreateBucketCommand({ Bucket: e.bucketName }))]);
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}
