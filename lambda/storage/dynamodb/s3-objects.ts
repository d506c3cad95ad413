/**
 * The storage's S3 operations on its objects. Loaded by SdkCalls on the first S3 call (with the
 * S3 client's own code), so that a function that serves only DynamoDB reads and writes never
 * loads them.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type _Object,
  type S3Client,
} from "@aws-sdk/client-s3";

/** The object's bytes (throws NoSuchKey when there is none). */
export async function getObject(s3: S3Client, bucket: string, key: string, signal: AbortSignal): Promise<Uint8Array> {
  const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  return result.Body ? await result.Body.transformToByteArray() : new Uint8Array(0);
}

export async function putObject(s3: S3Client, bucket: string, key: string, data: Uint8Array, signal: AbortSignal): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentLength: data.byteLength, ContentType: "application/octet-stream" }),
    { abortSignal: signal },
  );
}

export async function deleteObject(s3: S3Client, bucket: string, key: string, signal: AbortSignal): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
}

/** The object's length (throws NotFound when there is none). */
export async function objectSize(s3: S3Client, bucket: string, key: string, signal: AbortSignal): Promise<number> {
  return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })).ContentLength ?? 0;
}

/** Every object under `prefix`, a page at a time. */
export async function* listObjects(s3: S3Client, bucket: string, prefix: string, signal: AbortSignal): AsyncGenerator<_Object> {
  let continuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: continuationToken }), {
      abortSignal: signal,
    });
    yield* page.Contents ?? [];
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
}
