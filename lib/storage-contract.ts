/**
 * What the infrastructure must agree on with the DynamoDB storage (lambda/storage/dynamodb/):
 * the table's layout, the bucket prefix its objects live under, and how long the
 * bucket keeps deleted objects (the storage's quota counts them until then). The one file
 * of lib/ that imports the storage, and only its parts without an SDK import.
 */
export { DELETED_OBJECT_RETENTION_DAYS, DELETION_GRACE_DAYS } from "../lambda/storage/dynamodb/constants.ts";
export { type KeyType, S3_PREFIX, TABLE, type TableDefinition } from "../lambda/storage/dynamodb/layout.ts";
