/**
 * How a test, the bench or a server process reaches the emulators that dev/emulators.ts starts:
 * their endpoints and credentials, as SDK client options and as a server's environment.
 */
import { SETTINGS, type StorageKind } from "../lambda/config.ts";
import type { AwsClientOptions } from "../lambda/storage/dynamodb/sdk-clients.ts";
import { AWS_SDK_ENV } from "./aws-sdk-env.ts";

/** s3rver's built-in credentials (it checks signatures); DynamoDB Local accepts any. */
export const EMULATOR_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;
export const EMULATOR_REGION = "us-east-1";
/** The SDK's checksum mode that s3rver understands (real S3 accepts both). */
const EMULATOR_CHECKSUMS = "WHEN_REQUIRED" satisfies AwsClientOptions["checksums"];

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
    checksums: EMULATOR_CHECKSUMS,
  };
}

/** The environment that points a server process (STORAGE=dynamodb) at the emulators. */
export function emulatorEnv(e: EmulatorEndpoints): Record<string, string> {
  const storage: StorageKind = "dynamodb";
  return {
    [SETTINGS.storage.name]: storage,
    [SETTINGS.tableName.name]: e.tableName,
    [SETTINGS.bucketName.name]: e.bucketName,
    [SETTINGS.s3ForcePathStyle.name]: "true",
    [AWS_SDK_ENV.region]: e.region,
    [AWS_SDK_ENV.accessKeyId]: e.accessKeyId,
    [AWS_SDK_ENV.secretAccessKey]: e.secretAccessKey,
    [AWS_SDK_ENV.dynamodbEndpoint]: e.dynamodbEndpoint,
    [AWS_SDK_ENV.s3Endpoint]: e.s3Endpoint,
    [AWS_SDK_ENV.requestChecksumCalculation]: EMULATOR_CHECKSUMS,
    [AWS_SDK_ENV.responseChecksumValidation]: EMULATOR_CHECKSUMS,
  };
}
