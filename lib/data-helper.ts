/**
 * The users' data: the DynamoDB table exactly as the shared definition (TABLE) describes it,
 * and the S3 bucket for what does not fit in an item. Both follow the construct's removal
 * policy, RETAIN or DESTROY (resolveSettings allows no other).
 *
 * Backups that restore: the table has point-in-time recovery over PITR_WINDOW_DAYS, and the
 * bucket keeps every object version that a table restored to any point of that window can
 * reference. The storage never overwrites an object (every upload has a key of its own), so an
 * object becomes noncurrent only when it is deleted (a replaced snapshot, a pruned segment, an
 * orphan, a removed client): versioning turns that delete into a delete marker, the object's
 * data stays NONCURRENT_VERSION_DAYS more, longer than the window, then expires, and the
 * marker left alone is removed.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import type { Construct } from "constructs";
import { acknowledgeBucketWithoutAccessLogs } from "./nag-acknowledgements.ts";
import { DELETED_OBJECT_RETENTION_DAYS, type KeyType, TABLE, type TableDefinition } from "./storage-contract.ts";

/** How far back point-in-time recovery can restore the table: DynamoDB's longest window. */
export const PITR_WINDOW_DAYS = 35;

/**
 * How long the bucket keeps a deleted object's data (a noncurrent version): past the
 * PITR_WINDOW_DAYS of the table, with 5 days to restore the objects of the earliest point in.
 * The storage's own figure, since its quota counts deleted bytes until they expire.
 */
export const NONCURRENT_VERSION_DAYS = DELETED_OBJECT_RETENTION_DAYS;
if (NONCURRENT_VERSION_DAYS <= PITR_WINDOW_DAYS) throw new Error("deleted objects must outlive the table's point-in-time window");

/**
 * The table with production settings; RETAIN also turns on its deletion protection. Encrypted
 * with `key` when given, else with the AWS-managed key.
 */
export function createSyncTable(scope: Construct, id: string, removalPolicy: RemovalPolicy, key?: kms.IKey): dynamodb.Table {
  return new dynamodb.Table(scope, id, {
    partitionKey: { name: TABLE.partitionKey.name, type: attributeType(TABLE.partitionKey.type) },
    sortKey: { name: TABLE.sortKey.name, type: attributeType(TABLE.sortKey.type) },
    billingMode: billingMode(TABLE.billingMode),
    // The definition has no TTL, and no index of either kind (GSIs are eventually consistent).
    timeToLiveAttribute: TABLE.timeToLiveAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true, recoveryPeriodInDays: PITR_WINDOW_DAYS },
    ...(key
      ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }
      : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
  });
}

/**
 * The private, TLS-only, versioned bucket of the payloads that do not fit in an item. Encrypted
 * with `key` when given (with an S3 bucket key: S3 then asks KMS rarely, not once per object),
 * else with S3-managed keys.
 */
export function createPayloadBucket(scope: Construct, id: string, removalPolicy: RemovalPolicy, key?: kms.IKey): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    ...(key
      ? { encryption: s3.BucketEncryption.KMS, encryptionKey: key, bucketKeyEnabled: true }
      : { encryption: s3.BucketEncryption.S3_MANAGED }),
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    lifecycleRules: bucketLifecycleRules(),
    removalPolicy,
    // With DESTROY, the stack's deletion must be able to empty the bucket first.
    autoDeleteObjects: removalPolicy !== RemovalPolicy.RETAIN,
  });
  // The TLS-only policy is a resource of its own: it stays with a retained bucket, also when a
  // later deployment serves that bucket as an existing one (and no longer declares it).
  bucket.policy?.applyRemovalPolicy(removalPolicy);
  acknowledgeBucketWithoutAccessLogs(bucket);
  return bucket;
}

/**
 * What S3 itself can clean: uploads never completed, the data of deleted objects once no
 * restorable point of the table can reference it (NONCURRENT_VERSION_DAYS), and then their
 * delete markers. There is deliberately no expiration of current objects: the storage keeps
 * committed segments and snapshots under the same prefix as its orphans (`clients/<id>/...`,
 * objects never rewritten once referenced), so expiring by age would delete committed data.
 * Orphans are for the storage's sweep (the scheduled maintenance function).
 */
function bucketLifecycleRules(): s3.LifecycleRule[] {
  return [
    { id: "AbortIncompleteMultipartUploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
    { id: "ExpireDeletedObjects", noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS) },
    { id: "RemoveExpiredDeleteMarkers", expiredObjectDeleteMarker: true },
  ];
}

function attributeType(type: KeyType): dynamodb.AttributeType {
  switch (type) {
    case "S":
      return dynamodb.AttributeType.STRING;
    case "N":
      return dynamodb.AttributeType.NUMBER;
    case "B":
      return dynamodb.AttributeType.BINARY;
  }
}

function billingMode(mode: TableDefinition["billingMode"]): dynamodb.BillingMode {
  if (mode !== "PAY_PER_REQUEST") throw new Error(`unsupported billing mode ${String(mode)}`);
  return dynamodb.BillingMode.PAY_PER_REQUEST;
}
