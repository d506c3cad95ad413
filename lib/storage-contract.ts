/**
 * What the infrastructure must agree on with the DynamoDB storage (lambda/storage/dynamodb/):
 * the table's layout, the bucket prefix its objects live under, and its deadline. The one file
 * of lib/ that imports the storage, and only its parts without an SDK import.
 */
export { DEFAULT_DEADLINE_MS } from "../lambda/storage/dynamodb/constants.ts";
export { type KeyType, S3_PREFIX, TABLE, type TableDefinition } from "../lambda/storage/dynamodb/layout.ts";
