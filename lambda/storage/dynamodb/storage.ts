/**
 * The storage of the AWS deployment: DynamoDB for the chain, S3 for payloads that do not fit
 * an item. How it keeps the chain linear, consistent and crash-safe: README.md in this folder.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type {
  ClientImport,
  ClientSummary,
  ClientVerification,
  Progress,
  Storage,
  StorageTxn,
  TxnOptions,
  VerifyOptions,
} from "../types.ts";
import { canonicalUuid, type Uuid } from "../../uuid.ts";
import { REQUEST_BUDGET_MS } from "../../config.ts";
import { DEFAULT_INLINE_SEGMENT_MAX_BYTES } from "./constants.ts";
import { type S3Source, SdkCalls } from "./sdk-calls.ts";
import type { AwsClientOptions } from "./sdk-config.ts";
import { sharedAwsClients } from "./shared-clients.ts";
import { DynamoTxn } from "./transaction.ts";

export interface DynamoStorageOptions {
  dynamodb: DynamoDBClient;
  /** The S3 client, or the function that makes it when a request first needs it. */
  s3: S3Source;
  tableName: string;
  bucketName: string;
  /** History segments up to this size stay in the item. Default DEFAULT_INLINE_SEGMENT_MAX_BYTES. */
  inlineSegmentMaxBytes?: number;
  /** The time budget of one transaction's calls when its request gives no deadline. Default REQUEST_BUDGET_MS. */
  deadlineMs?: number;
  /** Destroy the clients on `close` (not for the shared per-process clients). Default false. */
  ownsClients?: boolean;
}

export class DynamoStorage implements Storage {
  readonly tableName: string;
  readonly bucketName: string;
  readonly inlineSegmentMaxBytes: number;
  readonly deadlineMs: number;
  private readonly dynamodb: DynamoDBClient;
  private readonly s3: S3Source;
  private readonly ownsClients: boolean;

  constructor(options: DynamoStorageOptions) {
    this.dynamodb = options.dynamodb;
    this.s3 = options.s3;
    this.tableName = options.tableName;
    this.bucketName = options.bucketName;
    this.inlineSegmentMaxBytes = Math.min(
      options.inlineSegmentMaxBytes ?? DEFAULT_INLINE_SEGMENT_MAX_BYTES,
      DEFAULT_INLINE_SEGMENT_MAX_BYTES,
    );
    this.deadlineMs = options.deadlineMs ?? REQUEST_BUDGET_MS;
    this.ownsClients = options.ownsClients ?? false;
  }

  async txn(clientId: Uuid, options: TxnOptions = {}): Promise<StorageTxn> {
    const deadline = options.deadline ?? Date.now() + this.deadlineMs;
    const signal = AbortSignal.timeout(Math.max(0, deadline - Date.now()));
    return new DynamoTxn(this.calls(signal, deadline), canonicalUuid(clientId, "client id"));
  }

  // Operators' work: loaded when asked for, so that the functions never load it.

  async *listClients(): AsyncIterable<ClientSummary> {
    const { listClients } = await import("./client-listing.ts");
    yield* listClients(this.calls(new AbortController().signal));
  }

  async removeClient(clientId: Uuid, onProgress?: Progress): Promise<boolean> {
    const { removeClient } = await import("./client-removal.ts");
    return removeClient(this.calls(new AbortController().signal), canonicalUuid(clientId, "client id"), onProgress);
  }

  async importClient(clientId: Uuid, client: ClientImport, onProgress?: Progress): Promise<void> {
    const { importClient } = await import("./client-import.ts");
    return importClient(this.calls(new AbortController().signal), canonicalUuid(clientId, "client id"), client, onProgress);
  }

  async *verifyClients(options: VerifyOptions): AsyncIterable<ClientVerification> {
    const { verifyClients } = await import("./client-verify.ts");
    yield* verifyClients(this.calls(new AbortController().signal), options);
  }

  async close(): Promise<void> {
    if (this.ownsClients) {
      this.dynamodb.destroy();
      if (typeof this.s3 !== "function") this.s3.destroy();
    }
  }

  /** SDK calls on this table and bucket, all bounded by `signal` (for maintenance jobs too). */
  calls(signal: AbortSignal, deadline = Number.POSITIVE_INFINITY): SdkCalls {
    return new SdkCalls(this.dynamodb, this.s3, this.tableName, this.bucketName, this.inlineSegmentMaxBytes, signal, deadline);
  }
}

export interface DynamoStorageSettings {
  tableName: string;
  bucketName: string;
  forcePathStyle: boolean;
  inlineSegmentMaxBytes: number;
}

/**
 * The storage on the process's shared SDK clients (region, credentials and endpoints from the
 * SDK's standard chain and variables).
 */
export function openDynamoStorage(settings: DynamoStorageSettings, clientOptions: AwsClientOptions = {}): DynamoStorage {
  const clients = sharedAwsClients({ forcePathStyle: settings.forcePathStyle, ...clientOptions });
  return new DynamoStorage({
    ...clients,
    tableName: settings.tableName,
    bucketName: settings.bucketName,
    inlineSegmentMaxBytes: settings.inlineSegmentMaxBytes,
  });
}
