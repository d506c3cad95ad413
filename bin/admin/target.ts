/**
 * Where the admin command works: the storage the local server would use (STORAGE and the rest
 * from the environment), or with `--stack` a deployed stack's table and bucket; and the URL
 * replicas reach that server at.
 */
import type { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { ConfigReader, type Env, SETTINGS } from "../../lambda/config.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { openStorage } from "../open-storage.ts";
import { AdminFailure, EXIT } from "./command.ts";
import type { StackOutputs } from "./stack-outputs.ts";
import { localServerUrl } from "../task-config.ts";

/** An operator's DynamoDB transaction (reading a long history, say) is not bound by API Gateway's 30 s. */
export const ADMIN_DEADLINE_MS = 15 * 60_000;

export interface TargetOptions {
  env: Env;
  stack?: string;
  region?: string;
  cloudFormation: (region: string | undefined) => Promise<CloudFormationClient>;
  /** Where a note about the storage's files goes (the SQLite files made owner-only). */
  notify?: (line: string) => void;
}

export class Target {
  private stackOutputs: Promise<StackOutputs> | undefined;
  private cloudFormation: Promise<CloudFormationClient> | undefined;

  constructor(private readonly options: TargetOptions) {}

  async openStorage(): Promise<Storage> {
    const { env, stack, region } = this.options;
    const reader = new ConfigReader(env);
    if (stack !== undefined) {
      const { tableName, bucketName } = await this.outputs(stack);
      return (
        await openStorage("dynamodb", reader, { tableName, bucketName, deadlineMs: ADMIN_DEADLINE_MS, ...(region ? { region } : {}) })
      ).storage;
    }
    const kind = reader.get(SETTINGS.storage);
    reader.check();
    if (kind === "memory") {
      throw new AdminFailure(EXIT.usage, "STORAGE=memory lives inside the server's process: no other process can reach it");
    }
    const target = { deadlineMs: ADMIN_DEADLINE_MS, ...(region ? { region } : {}) };
    return (await openStorage(kind, reader, target, this.options.notify)).storage;
  }

  /** The stack's URL, or the local server's LISTEN address. */
  async serverUrl(): Promise<string> {
    if (this.options.stack !== undefined) return (await this.outputs(this.options.stack)).url;
    const reader = new ConfigReader(this.options.env);
    const listen = reader.get(SETTINGS.listen);
    reader.check();
    return localServerUrl(listen);
  }

  /** The quota the server enforces: the stack's output, or MAX_CLIENT_BYTES as the local server reads it. */
  async quotaBytes(): Promise<number | null> {
    if (this.options.stack !== undefined) return (await this.outputs(this.options.stack)).maxClientBytes;
    const reader = new ConfigReader(this.options.env);
    const quota = reader.get(SETTINGS.maxClientBytes);
    reader.check();
    return quota;
  }

  /** Frees the CloudFormation client, if one was made. */
  async close(): Promise<void> {
    (await this.cloudFormation?.catch(() => undefined))?.destroy();
  }

  private outputs(stack: string): Promise<StackOutputs> {
    this.cloudFormation ??= this.options.cloudFormation(this.options.region);
    const cloudFormation = this.cloudFormation;
    this.stackOutputs ??= cloudFormation
      // Loaded with the client, on first use: a command without --stack never loads the SDK.
      .then(async (client) => (await import("./stack-outputs.ts")).readStackOutputs(client, stack))
      .then((lookup) => {
        if (lookup.kind === "problem") throw new AdminFailure(EXIT.usage, lookup.message);
        return lookup.outputs;
      });
    return this.stackOutputs;
  }
}
