/**
 * The stack outputs that tools read back (the admin command's `--stack`): one definition for the
 * stack that writes them and the reader. No CDK import, so the admin command loads none.
 */
export const STACK_OUTPUT_KEYS = {
  url: "Url",
  tableName: "TableName",
  bucketName: "BucketName",
  /** Optional to readers: a stack deployed before it existed has no quota output. */
  maxClientBytes: "MaxClientBytes",
  /** Only with backups: the stack's vault, and the role for restore jobs (the restore runbooks read them). */
  backupVaultArn: "BackupVaultArn",
  backupRoleArn: "BackupRoleArn",
} as const;
