/** The S3 client: its own module, so that a function bundle loads its code only on first use. */
import { S3Client } from "@aws-sdk/client-s3";
import { type AwsClientOptions, s3Config } from "./sdk-config.ts";

export function createS3Client(options: AwsClientOptions): S3Client {
  return new S3Client(s3Config(options));
}
