/**
 * What the infrastructure must agree on with the DynamoDB storage (lambda/storage/): the
 * table's layout, the bucket prefix its objects live under, and its deadline. The one file of
 * lib/ that imports the storage implementation, so that moving the storage re-points one file.
 */
export { DEFAULT_DEADLINE_MS, S3_PREFIX } from "../lambda/storage/dynamodb.ts";
export { TABLE, type KeyType, type TableDefinition } from "../lambda/storage/dynamodb-table.ts";
