/**
 * The package's library, what `import … from "taskchampion-sync-server-aws"` gives a CDK app:
 * the `TaskChampionSyncServer` construct and its props (sync-server.ts's exports), and the
 * companion stack that makes the edge's web ACL in us-east-1.
 */
export { EdgeWebAclStack, type EdgeWebAclStackProps } from "./edge-web-acl-stack.ts";
export * from "./sync-server.ts";
