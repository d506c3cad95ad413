/**
 * The package's library, what `import … from "taskchampion-sync-server-aws"` gives a CDK app:
 * the `TaskChampionSyncServer` construct and its props (sync-server.ts's exports).
 */
export * from "./sync-server.ts";
