/**
 * The environment variables that the AWS SDK for JavaScript reads by itself, by what they set.
 * The server's own variables (STORAGE, TABLE_NAME, ...) are named in lambda/config.ts's SETTINGS.
 */
export const AWS_SDK_ENV = {
  region: "AWS_REGION",
  accessKeyId: "AWS_ACCESS_KEY_ID",
  secretAccessKey: "AWS_SECRET_ACCESS_KEY",
  /** Endpoint overrides, per service. */
  dynamodbEndpoint: "AWS_ENDPOINT_URL_DYNAMODB",
  s3Endpoint: "AWS_ENDPOINT_URL_S3",
  /** `WHEN_SUPPORTED` (the SDK's default) or `WHEN_REQUIRED` (what S3 emulators understand). */
  requestChecksumCalculation: "AWS_REQUEST_CHECKSUM_CALCULATION",
  responseChecksumValidation: "AWS_RESPONSE_CHECKSUM_VALIDATION",
} as const;
