/**
 * The AWS SDK clients of the DynamoDB + S3 storage: keep-alive, connection and request
 * timeouts, bounded retries; one pair per process on Lambda (reused by every invocation).
 */
import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";

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

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
}

/** New SDK clients with keep-alive, timeouts and bounded retries. */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const connectionTimeout = options.connectionTimeoutMs ?? 2_000;
  const common = {
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: "standard",
  };
  const agent = { keepAlive: true, maxSockets: 50 };
  const dynamodbConfig: DynamoDBClientConfig = {
    ...common,
    ...(options.dynamodbEndpoint !== undefined ? { endpoint: options.dynamodbEndpoint } : {}),
    requestHandler: {
      connectionTimeout,
      requestTimeout: options.dynamodbRequestTimeoutMs ?? 3_000,
      throwOnRequestTimeout: true,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  const s3Config: S3ClientConfig = {
    ...common,
    ...(options.s3Endpoint !== undefined ? { endpoint: options.s3Endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.checksums !== undefined
      ? { requestChecksumCalculation: options.checksums, responseChecksumValidation: options.checksums }
      : {}),
    requestHandler: {
      connectionTimeout,
      requestTimeout: options.s3RequestTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  return { dynamodb: new DynamoDBClient(dynamodbConfig), s3: new S3Client(s3Config) };
}

let processClients: { key: string; clients: AwsClients } | undefined;

/** The SDK clients of this process, created on first use (a Lambda container reuses them). */
export function sharedAwsClients(options: AwsClientOptions = {}): AwsClients {
  const key = JSON.stringify(options);
  if (!processClients || processClients.key !== key) {
    processClients = { key, clients: createAwsClients(options) };
  }
  return processClients.clients;
}
