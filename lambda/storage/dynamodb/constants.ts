/**
 * The DynamoDB + S3 storage's limits and budgets, with no SDK import: the CDK construct sizes
 * the function's timeout from `DEFAULT_DEADLINE_MS`, the settings bound the inline segment size.
 */

/** The whole budget of one transaction's storage calls, under API Gateway's 30 s. */
export const DEFAULT_DEADLINE_MS = 24_000;

/**
 * DynamoDB's item limit is 400 KB including attribute names and values; a segment up to this
 * size stays in the item (the rest of a version item is well under 1 KB), a bigger one goes
 * to S3.
 */
export const DEFAULT_INLINE_SEGMENT_MAX_BYTES = 350 * 1024;

/** Inline segments of one transaction stay under TransactWriteItems' 4 MB request limit. */
export const MAX_INLINE_BYTES_PER_WRITE = 3 * 1024 * 1024;

/** How many times commit sends its write (TransactionConflict retries, rebases). */
export const MAX_WRITE_ATTEMPTS = 4;
