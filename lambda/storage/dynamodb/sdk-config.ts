/**
 * How the storage's SDK clients are configured: keep-alive, connection and request timeouts,
 * bounded retries. Type imports only, so that a bundle can load the S3 client's code on first
 * use (s3-client.ts) while the DynamoDB client is built at once.
 */
import type { DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import type { S3ClientConfig } from "@aws-sdk/client-s3";

export interface AwsClientOptions {
  /** Default: the SDK's chain (AWS_REGION, profile, ...). */
  region?: string;
  /** Default: the SDK's chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default: the SDK's (AWS_ENDPOINT_URL_DYNAMODB, then the real service). */
  dynamodbEndpoint?: string;
  /** Default: the SDK's (AWS_ENDPOINT_URL_S3, then the real service). */
  s3Endpoint?: string;
  forcePathStyle?: boolean;
  /**
   * S3 checksums. Default: the SDK's (`WHEN_SUPPORTED`, or the AWS_*_CHECKSUM_* variables).
   * s3rver needs `WHEN_REQUIRED`; real S3 accepts both.
   */
  checksums?: "WHEN_SUPPORTED" | "WHEN_REQUIRED";
  /** SDK attempts per call (1 + retries). Default 3. */
  maxAttempts?: number;
  /** Default 2000 ms. */
  connectionTimeoutMs?: number;
  /** Per attempt. Default 3000 ms for DynamoDB. */
  dynamodbRequestTimeoutMs?: number;
  /** Per attempt (an upload of a few MB). Default 10000 ms for S3. */
  s3RequestTimeoutMs?: number;
}

function common(options: AwsClientOptions) {
  return {
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: "standard",
  };
}

function requestHandler(options: AwsClientOptions, requestTimeout: number) {
  const agent = { keepAlive: true, maxSockets: 50 };
  return {
    connectionTimeout: options.connectionTimeoutMs ?? 2_000,
    requestTimeout,
    throwOnRequestTimeout: true,
    httpAgent: agent,
    httpsAgent: agent,
  };
}

export function dynamodbConfig(options: AwsClientOptions): DynamoDBClientConfig {
  return {
    ...common(options),
    ...(options.dynamodbEndpoint !== undefined ? { endpoint: options.dynamodbEndpoint } : {}),
    requestHandler: requestHandler(options, options.dynamodbRequestTimeoutMs ?? 3_000),
  };
}

export function s3Config(options: AwsClientOptions): S3ClientConfig {
  return {
    ...common(options),
    ...(options.s3Endpoint !== undefined ? { endpoint: options.s3Endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.checksums !== undefined
      ? { requestChecksumCalculation: options.checksums, responseChecksumValidation: options.checksums }
      : {}),
    requestHandler: requestHandler(options, options.s3RequestTimeoutMs ?? 10_000),
  };
}
