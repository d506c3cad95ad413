/**
 * The package's library, what `import … from "taskchampion-sync-server-aws"` gives a CDK app:
 * the `TaskChampionSyncServer` construct and its props (sync-server.ts's exports), the
 * companion stack that makes the edge's web ACL in us-east-1, and the one that makes the vault
 * that receives the backups' copies in another region or account.
 */
export { BackupCopyVaultStack, type BackupCopyVaultStackProps } from "./backup-copy-vault-stack.ts";
export { EdgeWebAclStack, type EdgeWebAclStackProps } from "./edge-web-acl-stack.ts";
export * from "./sync-server.ts";
