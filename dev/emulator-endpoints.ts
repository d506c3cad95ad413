/**
 * How a test, the bench or a server process reaches the emulators that dev/emulators.ts starts:
 * their endpoints and credentials, as SDK client options and as a server's environment.
 */
import type { AwsClientOptions } from "../lambda/storage/dynamodb/sdk-clients.ts";

/** s3rver's built-in credentials (it checks signatures); DynamoDB Local accepts any. */
export const EMULATOR_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;
export const EMULATOR_REGION = "us-east-1";

/** What tests need to reach the emulators; serializable (vitest `provide`). */
export interface EmulatorEndpoints {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  tableName: string;
  bucketName: string;
}

/** The value of `inject("emulators")`, or an error saying how to get the emulators started. */
export function emulatorsFrom(provided: EmulatorEndpoints | undefined): EmulatorEndpoints {
  if (!provided?.dynamodbEndpoint) {
    throw new Error('the AWS emulators are not running: vitest.config.ts needs globalSetup: ["test/support/emulator-setup.ts"]');
  }
  return provided;
}

/** SDK client options for the emulators (path-style S3, checksums s3rver understands). */
export function emulatorClientOptions(e: EmulatorEndpoints): AwsClientOptions {
  return {
    region: e.region,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    dynamodbEndpoint: e.dynamodbEndpoint,
    s3Endpoint: e.s3Endpoint,
    forcePathStyle: true,
    checksums: "WHEN_REQUIRED",
  };
}

/** The environment that points a server process (STORAGE=dynamodb) at the emulators. */
export function emulatorEnv(e: EmulatorEndpoints): Record<string, string> {
  return {
    STORAGE: "dynamodb",
    TABLE_NAME: e.tableName,
    BUCKET_NAME: e.bucketName,
    S3_FORCE_PATH_STYLE: "true",
    AWS_REGION: e.region,
    AWS_ACCESS_KEY_ID: e.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: e.dynamodbEndpoint,
    AWS_ENDPOINT_URL_S3: e.s3Endpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
  };
}
