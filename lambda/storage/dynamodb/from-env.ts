/** The DynamoDB + S3 storage, configured from the environment (the Lambda entries, STORAGE=dynamodb). */
import { type ConfigReader, SETTINGS } from "../../config.ts";
import { type DynamoStorage, openDynamoStorage } from "./storage.ts";

/** Reads the storage's settings (problems are reported by `reader.check()`) and opens it. */
export function dynamoStorageFromEnv(reader: ConfigReader): { storage: DynamoStorage; description: string } {
  const settings = {
    tableName: reader.require(SETTINGS.tableName),
    bucketName: reader.require(SETTINGS.bucketName),
    forcePathStyle: reader.get(SETTINGS.s3ForcePathStyle),
    inlineSegmentMaxBytes: reader.get(SETTINGS.segmentInlineMaxBytes),
  };
  reader.check();
  return {
    storage: openDynamoStorage(settings),
    description: `DynamoDB table ${settings.tableName}, S3 bucket ${settings.bucketName}`,
  };
}
