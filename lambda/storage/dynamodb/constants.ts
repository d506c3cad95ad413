/**
 * The DynamoDB + S3 storage's limits, with no SDK import: the settings bound the inline segment
 * size, the CDK construct sets the bucket's lifecycle from the retention and the grace.
 */

/**
 * DynamoDB's item limit is 400 KB including attribute names and values; a segment up to this
 * size stays in the item (the rest of a version item is well under 1 KB), a bigger one goes
 * to S3.
 */
export const DEFAULT_INLINE_SEGMENT_MAX_BYTES = 350 * 1024;

/** Inline segments of one transaction stay under TransactWriteItems' 4 MB request limit. */
export const MAX_INLINE_BYTES_PER_WRITE = 3 * 1024 * 1024;

/**
 * What the quota counts per stored version besides its segment: what DynamoDB bills for the
 * version item (its keys and attributes, about 210 bytes, and 100 bytes of per-item overhead;
 * a segment in S3 adds its key, about 140 bytes), rounded up. Checked against the items the
 * storage writes by test/storage/dynamodb-footprint.test.ts.
 */
export const VERSION_OVERHEAD_BYTES = 512;

/**
 * How long the bucket keeps a deleted object's data (a noncurrent version), in days: past the
 * table's 35 days of point-in-time recovery, so that a table restored to any point of them
 * finds every object it references (the CDK construct sets the bucket's lifecycle from this).
 * The quota counts a deleted object's bytes until then.
 */
export const DELETED_OBJECT_RETENTION_DAYS = 40;

/**
 * How long an object no item references any more stays in the bucket before it is deleted, in
 * days: longer than the most time between a backup of the table and the next backup of the
 * bucket, so that every object a backed-up table references is current in a bucket backup taken
 * after it (README.md, "Backups"). The quota counts such an object from the moment it is
 * unreferenced until the bucket expires it, this many days later plus
 * DELETED_OBJECT_RETENTION_DAYS.
 */
export const DELETION_GRACE_DAYS = 3;

/** Days per `kept<week>` attribute: deleted bytes are counted by week, at most 8 weeks at once. */
export const KEPT_WEEK_DAYS = 7;

/** How long an upload's lease outlives its transaction's deadline: for the clocks of two functions to differ. */
export const LEASE_MARGIN_MS = 5_000;

/** How many times commit sends its write (TransactionConflict retries, rebases). */
export const MAX_WRITE_ATTEMPTS = 4;
