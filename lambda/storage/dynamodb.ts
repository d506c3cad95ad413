/**
 * The storage of the AWS deployment: DynamoDB for the chain (one table, see
 * `dynamodb-table.ts` for the items and the consistency argument), S3 for payloads that do not
 * fit an item.
 *
 * ## A transaction
 * Reads go to DynamoDB at once, strongly consistent. Writes are only recorded (and visible to
 * this transaction's own reads) until `commit`, which
 *   1. uploads the payloads that live in S3 (a history segment over the inline limit, every
 *      snapshot), each under a key that no other upload ever uses (client id, version id and a
 *      random nonce), so deleting an upload of a transaction that did not commit never touches
 *      committed data;
 *   2. writes everything in ONE conditional request: a `TransactWriteItems` when versions are
 *      added (client item + `CHILD#<parent>` + `VERSION#<id>`), a single `UpdateItem` /
 *      `PutItem` when only the client item changes. A new client and its first version are one
 *      `Put` of the client item (a transaction may not touch an item twice) with
 *      `attribute_not_exists`;
 *   3. after it committed, deletes the replaced snapshot's object.
 * `release` without `commit` has nothing to undo: nothing was written.
 *
 * Conditions: adding versions requires the client's `latest` to be what this transaction read
 * (and the version items not to exist); replacing the snapshot requires `snapKey` to be what
 * it read. A failed condition returns the current client item (`ALL_OLD`): if the chain moved,
 * `ChainMovedError` names its real latest version without another read. `TransactionConflict`
 * (two transactions on one item at the same moment) is decided by one consistent re-read: the
 * chain moved → `ChainMovedError`, else a bounded retry with jittered backoff. Every
 * `TransactWriteItems` carries a `ClientRequestToken`, so the SDK's own retry of a request
 * that did commit (a timeout on the response) is answered "success" by DynamoDB instead of
 * failing its condition against itself.
 *
 * ## Crash windows (nothing committed is ever lost or corrupted; orphans at worst)
 * - Between the S3 upload and the write, or the write fails definitely (a condition, a
 *   cancellation, a 4xx to its only attempt): the upload is deleted at once. A crash here, or
 *   a failed delete, leaves an object that no item references: an orphan.
 * - The write's outcome is unknown (timeout, 5xx, the deadline, an error after several SDK
 *   attempts): the upload is KEPT (the write may have committed and reference it) and the
 *   request fails with `StorageUnavailableError`. If it did not commit, the object is an
 *   orphan. (A retried single-item snapshot write that finds its own `snapKey`, or a
 *   transaction that finds `latest` = its own version, knows it committed and succeeds.)
 * - After the write committed, before the old snapshot object is deleted: the old object is an
 *   orphan. The item references the new object, which was complete before the write.
 * - Segments and snapshots are immutable once referenced: an object is only ever deleted when
 *   no committed item references it (an upload of a transaction that definitely did not
 *   commit, or the snapshot object that the committed write just replaced).
 * Orphans are removed by `sweepOrphans` (a prefix sweep: objects under the client's prefix
 * that no item references and that are older than any transaction can live), run for every
 * client by `sweepAllOrphans` from the scheduled sweep function (lambda/sweep.ts); an S3
 * expiration lifecycle rule must NOT be put on the prefix (referenced objects are never
 * rewritten, so it would expire committed data).
 *
 * ## Known benign races
 * - Two AddSnapshots of one client at the same moment: the one whose write lands second finds
 *   `snapKey` changed and drops its snapshot (its upload is deleted, commit resolves). The
 *   client keeps a valid snapshot and will be asked again when it is due.
 * - GetSnapshot reading the client item just before an AddSnapshot replaces and deletes the
 *   old object: `getSnapshotData` finds the snapshot moved on and answers "none"; the core
 *   then reads the client again and serves the new snapshot.
 *
 * ## Time
 * Each SDK call has a connection and a request timeout and the SDK's standard retries
 * (`maxAttempts`); on top, every call of one transaction shares one deadline (24 s from
 * `txn()` by default, under API Gateway's 30 s) through an abort signal. Throttling, 5xx,
 * network errors and the deadline surface as `StorageUnavailableError`.
 */
import { randomBytes } from "node:crypto";
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CancellationReason,
  type DynamoDBClientConfig,
  type Put,
  type ServiceInputTypes as DynamoInput,
  type ServiceOutputTypes as DynamoOutput,
  type TransactWriteItem,
  type Update,
} from "@aws-sdk/client-dynamodb";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
  type S3ClientConfig,
  type ServiceInputTypes as S3Input,
  type ServiceOutputTypes as S3Output,
} from "@aws-sdk/client-s3";
import { ChainMovedError, StorageUnavailableError } from "./errors.ts";
import { ATTR, DEFAULT_INLINE_SEGMENT_MAX_BYTES, SK, TABLE } from "./dynamodb-table.ts";
import { RECENT_CHAIN_LENGTH, type Client, type Snapshot, type Storage, type StorageTxn, type Version } from "./types.ts";
import { NIL_UUID, newUuid, parseUuid, type Uuid } from "../uuid.ts";

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * Variables the AWS SDK reads by itself (listed for the README; this module does not read them):
 * region and credentials come from the standard chain (Lambda sets them).
 */
export const SDK_ENV = {
  region: "AWS_REGION",
  dynamodbEndpoint: "AWS_ENDPOINT_URL_DYNAMODB",
  s3Endpoint: "AWS_ENDPOINT_URL_S3",
  /** `WHEN_REQUIRED` for S3 emulators that do not understand the SDK's default CRC32 bodies. */
  requestChecksumCalculation: "AWS_REQUEST_CHECKSUM_CALCULATION",
  responseChecksumValidation: "AWS_RESPONSE_CHECKSUM_VALIDATION",
} as const;

/** Where payload objects live in the bucket: `clients/<clientId>/...`. */
export const S3_PREFIX = "clients/";

/** The whole budget of one transaction's storage calls, under API Gateway's 30 s. */
export const DEFAULT_DEADLINE_MS = 24_000;

/** How many times commit sends its write (TransactionConflict retries, rebases). */
const MAX_WRITE_ATTEMPTS = 4;
/** Inline segments of one transaction stay under TransactWriteItems' 4 MB request limit. */
const MAX_INLINE_BYTES_PER_WRITE = 3 * 1024 * 1024;
/** Orphaned objects younger than this are left alone by the sweep (a transaction may own them). */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;
/**
 * Segment objects older than this are not looked at again: a segment is referenced from its
 * commit on or never, and daily sweeps have checked it several times by then.
 */
export const SEGMENT_SWEEP_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

/** An object the sweep considers: old enough that no transaction can still commit it. */
interface SweepCandidate {
  key: string;
  lastModifiedMs: number;
}

/** The most one client's sweep may take (reading its references and deleting its orphans). */
const SWEEP_CLIENT_TIMEOUT_MS = 300_000;

export interface SweepAllOptions {
  /** Objects younger than this are left alone. Default DEFAULT_ORPHAN_MIN_AGE_MS. */
  minAgeMs?: number;
  /**
   * Stop this long after the start: nothing new is started past it and the call in flight
   * is aborted (`stopped` in the report). Default: no limit.
   */
  stopAfterMs?: number;
  /** Begin with the first client id after this one and wrap around to it. Default: a random id. */
  startAfter?: Uuid;
  /** Keys per listing page (MaxKeys). Default: S3's (1000). */
  pageSize?: number;
}

export interface SweepAllReport {
  /** Clients swept to the end. */
  clients: number;
  /** Orphaned objects deleted (also those of a client whose sweep was then cut or failed). */
  deleted: number;
  /** Prefixes under `clients/` that are not a canonical client id: left alone. */
  skipped: number;
  /** Clients whose sweep failed; the run went on with the next one. */
  failed: number;
  /** The failed clients and their errors (client ids: never log them as they are). */
  failures: { clientId: Uuid; error: unknown }[];
  /** The time budget ran out before every client was swept. */
  stopped: boolean;
}

export interface AwsClientOptions {
  /** Default: the SDK's chain (AWS_REGION, profile, ...). */
  region?: string;
  /** Default: the SDK's chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default: the SDK's (AWS_ENDPOINT_URL_DYNAMODB, then the real service). */
  dynamodbEndpoint?: string;
  /** Default: the SDK's (AWS_ENDPOINT_URL_S3, then the real service). */
  s3Endpoint?: string;
  forcePathStyle?: boolean;
  /**
   * S3 checksums. Default: the SDK's (`WHEN_SUPPORTED`, or the AWS_*_CHECKSUM_* variables).
   * s3rver needs `WHEN_REQUIRED`; real S3 accepts both.
   */
  checksums?: "WHEN_SUPPORTED" | "WHEN_REQUIRED";
  /** SDK attempts per call (1 + retries). Default 3. */
  maxAttempts?: number;
  /** Default 2000 ms. */
  connectionTimeoutMs?: number;
  /** Per attempt. Default 3000 ms for DynamoDB. */
  dynamodbRequestTimeoutMs?: number;
  /** Per attempt (an upload of a few MB). Default 10000 ms for S3. */
  s3RequestTimeoutMs?: number;
}

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
}

/** New SDK clients with keep-alive, timeouts and bounded retries. */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const connectionTimeout = options.connectionTimeoutMs ?? 2_000;
  const common = {
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: "standard",
  };
  const agent = { keepAlive: true, maxSockets: 50 };
  const dynamodbConfig: DynamoDBClientConfig = {
    ...common,
    ...(options.dynamodbEndpoint !== undefined ? { endpoint: options.dynamodbEndpoint } : {}),
    requestHandler: {
      connectionTimeout,
      requestTimeout: options.dynamodbRequestTimeoutMs ?? 3_000,
      throwOnRequestTimeout: true,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  const s3Config: S3ClientConfig = {
    ...common,
    ...(options.s3Endpoint !== undefined ? { endpoint: options.s3Endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.checksums !== undefined
      ? { requestChecksumCalculation: options.checksums, responseChecksumValidation: options.checksums }
      : {}),
    requestHandler: {
      connectionTimeout,
      requestTimeout: options.s3RequestTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  return { dynamodb: new DynamoDBClient(dynamodbConfig), s3: new S3Client(s3Config) };
}

export interface DynamoStorageSettings {
  tableName: string;
  bucketName: string;
  forcePathStyle: boolean;
  inlineSegmentMaxBytes: number;
}

let processClients: { key: string; clients: AwsClients } | undefined;

/** The SDK clients of this process, created on first use (a Lambda container reuses them). */
export function sharedAwsClients(options: AwsClientOptions = {}): AwsClients {
  const key = JSON.stringify(options);
  if (!processClients || processClients.key !== key) {
    processClients = { key, clients: createAwsClients(options) };
  }
  return processClients.clients;
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

// ---------------------------------------------------------------------------------------------
// The storage

export interface DynamoStorageOptions extends AwsClients {
  tableName: string;
  bucketName: string;
  /** History segments up to this size stay in the item. Default DEFAULT_INLINE_SEGMENT_MAX_BYTES. */
  inlineSegmentMaxBytes?: number;
  /** The time budget of one transaction's calls. Default DEFAULT_DEADLINE_MS. */
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
  private readonly s3: S3Client;
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
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.ownsClients = options.ownsClients ?? false;
  }

  async txn(clientId: Uuid): Promise<StorageTxn> {
    return new DynamoTxn(this.io(), checkUuid(clientId, "client id"));
  }

  async close(): Promise<void> {
    if (this.ownsClients) {
      this.dynamodb.destroy();
      this.s3.destroy();
    }
  }

  /**
   * Deletes the client's S3 objects that no item references and that are older than
   * `minAgeMs` (older than any transaction can run, so none is still about to be committed).
   * Not on a protocol path: for a scheduled job. Returns the deleted keys.
   */
  async sweepOrphans(clientId: Uuid, minAgeMs = DEFAULT_ORPHAN_MIN_AGE_MS): Promise<string[]> {
    clientId = checkUuid(clientId, "client id");
    const io = this.io(Math.max(this.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS));
    const cutoff = Date.now() - minAgeMs;
    const candidates: SweepCandidate[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await io.s3Send(
        new ListObjectsV2Command({ Bucket: this.bucketName, Prefix: `${S3_PREFIX}${clientId}/`, ContinuationToken: continuationToken }),
        "list objects",
      );
      for (const object of page.Contents ?? []) {
        const lastModifiedMs = object.LastModified?.getTime();
        if (object.Key && lastModifiedMs !== undefined && lastModifiedMs < cutoff) candidates.push({ key: object.Key, lastModifiedMs });
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
    const deleted: string[] = [];
    await this.deleteUnreferenced(clientId, candidates, io, deleted);
    return deleted;
  }

  /**
   * `sweepOrphans` for every client that has objects, in one listing of the storage's prefix:
   * its keys come sorted, so each client's keys are consecutive; when a client's keys are all
   * listed, its references are read and its orphans deleted, exactly as `sweepOrphans` does.
   * (One listing of every key costs no more requests than listing each client's prefix, and
   * does not depend on S3 grouping by a delimiter, which S3 emulators get wrong.) Not on a
   * protocol path: for the scheduled sweep function.
   *
   * Bounded in time: past `stopAfterMs` it starts nothing more and aborts the call in flight
   * (every call carries the budget's abort signal), then returns with `stopped`. A cut is
   * always safe: a client's objects are deleted only after all its keys were listed and its
   * references read, and each deleted object is an orphan whether or not a cut comes before
   * the next delete. Runs start at a random point of the client id space and wrap around to
   * it, so that runs cut short by their budget still reach every client over time (there is
   * no cursor to keep). A client whose sweep fails is counted in `failed`; the run goes on.
   */
  async sweepAllOrphans(options: SweepAllOptions = {}): Promise<SweepAllReport> {
    const cutoff = Date.now() - (options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS);
    const stopAfterMs = options.stopAfterMs === undefined ? undefined : Math.max(0, options.stopAfterMs);
    const deadline = stopAfterMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + stopAfterMs;
    const budget = stopAfterMs === undefined ? new AbortController().signal : AbortSignal.timeout(stopAfterMs);
    const expired = () => budget.aborted || Date.now() >= deadline;
    const within = (capMs: number) =>
      new Io(
        this.dynamodb,
        this.s3,
        this.tableName,
        this.bucketName,
        this.inlineSegmentMaxBytes,
        AbortSignal.any([budget, AbortSignal.timeout(capMs)]),
      );
    const start = options.startAfter === undefined ? newUuid() : checkUuid(options.startAfter, "startAfter");
    const report: SweepAllReport = { clients: 0, deleted: 0, skipped: 0, failed: 0, failures: [], stopped: false };
    const stopped = () => ({ ...report, stopped: true });

    /** The prefix whose keys are being listed: `clients/<segment>/`. */
    let current: { prefix: string; clientId: Uuid | undefined; candidates: SweepCandidate[] } | undefined;
    const finish = async (): Promise<void> => {
      const done = current;
      current = undefined;
      if (!done) return;
      if (!done.clientId) {
        report.skipped += 1; // not written by this storage: not ours to judge
        return;
      }
      const deleted: string[] = [];
      const io = within(Math.max(this.deadlineMs, SWEEP_CLIENT_TIMEOUT_MS));
      const failure = await this.deleteUnreferenced(done.clientId, done.candidates, io, deleted).then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
      report.deleted += deleted.length;
      if (failure === undefined) {
        report.clients += 1;
      } else if (!expired()) {
        report.failed += 1;
        report.failures.push({ clientId: done.clientId, error: failure.error });
      }
    };

    // "clients/<start>0" sorts after every key of the client `start` ('0' follows '/') and
    // before every key of a greater client id: first the keys after it, then up to it.
    const boundary = `${S3_PREFIX}${start}0`;
    for (const pass of [
      { startAfter: boundary as string | undefined, last: undefined },
      { startAfter: undefined, last: boundary },
    ]) {
      let continuationToken: string | undefined;
      let passDone = false;
      do {
        if (expired()) return stopped();
        let page: ListObjectsV2CommandOutput;
        try {
          page = await within(this.deadlineMs).s3Send(
            new ListObjectsV2Command({
              Bucket: this.bucketName,
              Prefix: S3_PREFIX,
              ...(continuationToken === undefined ? { StartAfter: pass.startAfter } : { ContinuationToken: continuationToken }),
              MaxKeys: options.pageSize,
            }),
            "list the objects",
          );
        } catch (error) {
          if (expired()) return stopped();
          throw error;
        }
        for (const object of page.Contents ?? []) {
          const key = object.Key;
          if (key === undefined) continue;
          if (pass.last !== undefined && key > pass.last) {
            passDone = true;
            break;
          }
          const end = key.indexOf("/", S3_PREFIX.length);
          if (end === -1) continue; // directly under the prefix: no client's
          const prefix = key.slice(0, end + 1);
          if (current?.prefix !== prefix) {
            await finish();
            if (expired()) return stopped();
            const clientId = parseUuid(prefix.slice(S3_PREFIX.length, -1));
            current = {
              prefix,
              clientId: clientId !== undefined && `${S3_PREFIX}${clientId}/` === prefix ? clientId : undefined,
              candidates: [],
            };
          }
          const lastModifiedMs = object.LastModified?.getTime();
          if (lastModifiedMs !== undefined && lastModifiedMs < cutoff) current.candidates.push({ key, lastModifiedMs });
        }
        continuationToken = !passDone && page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (continuationToken);
      // The pass listed every key of its last client.
      await finish();
      if (expired()) return stopped();
    }
    return report;
  }

  /**
   * Deletes the candidates that no item references, adding each deleted key to `deleted` as it
   * goes. The references are read after the keys were listed (an object committed before the
   * listing is seen), each with a strongly consistent read of the one item that would hold it,
   * so a client's sweep never reads its whole history:
   *  - a snapshot object is referenced only by the client item's `snapKey` (one read for all);
   *  - a segment object of version V only by `CHILD#<parent of V>` (reads of `VERSION#V`, then
   *    that item). A segment is referenced from its commit on and forever, or never: once a
   *    sweep has seen it past `SEGMENT_SWEEP_WINDOW_MS`, later sweeps leave it alone.
   * Keys of any other shape are not this storage's: they are left alone.
   */
  private async deleteUnreferenced(clientId: Uuid, candidates: readonly SweepCandidate[], io: Io, deleted: string[]): Promise<void> {
    const prefix = `${S3_PREFIX}${clientId}/`;
    const orphans: string[] = [];
    let snapKey: string | undefined | null = null;
    for (const { key, lastModifiedMs } of candidates) {
      const [kind, versionText, rest] = key.slice(prefix.length).split("/");
      const versionId = parseUuid(versionText ?? "");
      if (!key.startsWith(prefix) || versionId === undefined || !rest) continue;
      if (kind === "snapshots") {
        if (snapKey === null) snapKey = (await io.readClient(clientId))?.snapshot?.key;
        if (snapKey !== key) orphans.push(key);
      } else if (kind === "segments" && Date.now() - lastModifiedMs < SEGMENT_SWEEP_WINDOW_MS) {
        const index = await io.getItem(clientId, SK.version(versionId), "read a version's index");
        const parentId = index?.[ATTR.parentId]?.S;
        const version =
          parentId === undefined
            ? undefined
            : await io.getItem(clientId, SK.child(storedUuid(index![ATTR.parentId], ATTR.parentId)), "read a version");
        if (version?.[ATTR.segmentKey]?.S !== key) orphans.push(key);
      }
    }
    for (const key of orphans) {
      await io.s3Send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: key }), "delete an orphan");
      deleted.push(key);
    }
  }

  private io(deadlineMs = this.deadlineMs): Io {
    return new Io(this.dynamodb, this.s3, this.tableName, this.bucketName, this.inlineSegmentMaxBytes, AbortSignal.timeout(deadlineMs));
  }
}

// ---------------------------------------------------------------------------------------------
// SDK calls and their errors

// The clients' own typed `send`, so that each wrapped call keeps its command's output type.
declare const dynamodbClient: DynamoDBClient;
declare const s3Client: S3Client;
type DynamoCommand<I extends DynamoInput, O extends DynamoOutput> = Parameters<typeof dynamodbClient.send<I, O>>[0];
type S3Command<I extends S3Input, O extends S3Output> = Parameters<typeof s3Client.send<I, O>>[0];

/** The SDK calls of one transaction, sharing its deadline. */
class Io {
  constructor(
    readonly dynamodb: DynamoDBClient,
    readonly s3: S3Client,
    readonly tableName: string,
    readonly bucketName: string,
    readonly inlineSegmentMaxBytes: number,
    readonly signal: AbortSignal,
  ) {}

  /** DynamoDB call; transient failures become StorageUnavailableError, others pass through. */
  async ddbSend<I extends DynamoInput, O extends DynamoOutput>(command: DynamoCommand<I, O>, what: string): Promise<O> {
    try {
      return await this.dynamodb.send(command, { abortSignal: this.signal });
    } catch (error) {
      throw asUnavailable(error, `DynamoDB: ${what}`) ?? error;
    }
  }

  async s3Send<I extends S3Input, O extends S3Output>(command: S3Command<I, O>, what: string): Promise<O> {
    try {
      return await this.s3.send(command, { abortSignal: this.signal });
    } catch (error) {
      throw asUnavailable(error, `S3: ${what}`) ?? error;
    }
  }

  key(clientId: Uuid, sk: string): Record<string, AttributeValue> {
    return { [TABLE.partitionKey.name]: { S: clientId }, [TABLE.sortKey.name]: { S: sk } };
  }

  async getItem(clientId: Uuid, sk: string, what: string): Promise<Record<string, AttributeValue> | undefined> {
    const result = await this.ddbSend(
      new GetItemCommand({ TableName: this.tableName, Key: this.key(clientId, sk), ConsistentRead: true }),
      what,
    );
    return result.Item;
  }

  async readClient(clientId: Uuid): Promise<ClientState | null> {
    return parseClient(await this.getItem(clientId, SK.client, "read the client"));
  }

  async getObject(key: string, what: string): Promise<Uint8Array | null> {
    try {
      const result = await this.s3Send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }), what);
      if (!result.Body) return new Uint8Array(0);
      return await result.Body.transformToByteArray();
    } catch (error) {
      if (isNoSuchKey(error)) return null;
      throw asUnavailable(error, `S3: ${what}`) ?? error;
    }
  }

  async putObject(key: string, data: Uint8Array, what: string): Promise<void> {
    await this.s3Send(
      new PutObjectCommand({
        Bucket: this.bucketName,
        Key: key,
        Body: data,
        ContentLength: data.byteLength,
        ContentType: "application/octet-stream",
      }),
      what,
    );
  }

  /** Best effort: an object that stays is an orphan for the sweep, never an error of the request. */
  async deleteObjects(keys: readonly string[]): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.s3
          // A fresh short budget: cleanup must run even after the transaction's deadline passed.
          .send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: key }), { abortSignal: AbortSignal.timeout(3_000) })
          .catch(() => undefined),
      ),
    );
  }
}

const THROTTLING = new Set([
  "ThrottlingException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "TransactionInProgressException",
  "SlowDown",
  "Throttling",
  "TooManyRequestsException",
]);
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** The StorageUnavailableError for a transient failure (after the SDK's retries), else undefined. */
function asUnavailable(error: unknown, what: string): StorageUnavailableError | undefined {
  if (error instanceof StorageUnavailableError) return error;
  const e = (error ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  let retryAfterSeconds: number | undefined;
  if (e.name === "AbortError" || e.name === "TimeoutError" || e.name === "RequestTimeout" || e.name === "RequestTimeoutException")
    retryAfterSeconds = 1;
  else if ((e.name && THROTTLING.has(e.name)) || status === 429 || status === 503) retryAfterSeconds = 2;
  else if ((status !== undefined && status >= 500) || e.$fault === "server") retryAfterSeconds = 1;
  else if (e.code && NETWORK_CODES.has(e.code)) retryAfterSeconds = 1;
  if (retryAfterSeconds === undefined) return undefined;
  return new StorageUnavailableError(`${what} failed: ${e.name ?? "error"}: ${e.message ?? ""}`.trim(), retryAfterSeconds, {
    cause: error,
  });
}

/**
 * Whether the service definitely refused the request: a 4xx answer to its only attempt. After
 * several attempts an earlier one may have timed out having written, so that is not definite.
 */
function isDefiniteRefusal(error: unknown): boolean {
  const e = (error instanceof StorageUnavailableError ? error.cause : error) as
    | (SdkError & { $metadata?: { attempts?: number } })
    | undefined;
  const status = e?.$metadata?.httpStatusCode;
  const attempts = e?.$metadata?.attempts ?? 1;
  return status !== undefined && status >= 400 && status < 500 && attempts <= 1;
}

function isNoSuchKey(error: unknown): boolean {
  const e = error as SdkError | undefined;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

function isCanceled(error: unknown): error is Error & { CancellationReasons?: CancellationReason[] } {
  return (error as SdkError | undefined)?.name === "TransactionCanceledException";
}

function isConditionFailed(error: unknown): error is Error & { Item?: Record<string, AttributeValue> } {
  return (error as SdkError | undefined)?.name === "ConditionalCheckFailedException";
}

// ---------------------------------------------------------------------------------------------
// Items

interface SnapshotState {
  versionId: Uuid;
  timeMs: number;
  /** versionCount when it was stored: versions_since = versionCount - at. */
  at: number;
  /** Its S3 object; undefined only for a snapshot of this transaction not uploaded yet. */
  key: string | undefined;
}

/** The client item, or this transaction's view of it. */
interface ClientState {
  latest: Uuid;
  recent: Uuid[] | undefined;
  versionCount: number;
  snapshot: SnapshotState | null;
  /** A declined snapshot since the snapshot: when, and versionCount then. */
  declined: { timeMs: number; at: number } | null;
}

function storedUuid(value: AttributeValue | undefined, what: string): Uuid {
  const id = value?.S !== undefined ? parseUuid(value.S) : undefined;
  if (id === undefined) throw new Error(`corrupt item: ${what} is not a UUID`);
  return id;
}

function parseClient(item: Record<string, AttributeValue> | undefined): ClientState | null {
  if (!item) return null;
  const recent = item[ATTR.recent]?.L?.map((value) => storedUuid(value, ATTR.recent));
  const versionCount = Number(item[ATTR.versionCount]?.N ?? "0");
  const snapVersion = item[ATTR.snapVersion];
  const declTime = item[ATTR.declTime]?.N;
  return {
    latest: storedUuid(item[ATTR.latest], ATTR.latest),
    recent,
    versionCount,
    declined: declTime === undefined ? null : { timeMs: Number(declTime), at: Number(item[ATTR.declAt]?.N ?? "0") },
    snapshot: snapVersion
      ? {
          versionId: storedUuid(snapVersion, ATTR.snapVersion),
          timeMs: Number(item[ATTR.snapTime]?.N ?? "0"),
          at: Number(item[ATTR.snapAt]?.N ?? "0"),
          key: item[ATTR.snapKey]?.S,
        }
      : null,
  };
}

function toClient(state: ClientState): Client {
  const client: Client = {
    latestVersionId: state.latest,
    snapshot: state.snapshot && {
      versionId: state.snapshot.versionId,
      timestamp: new Date(state.snapshot.timeMs),
      versionsSince: Math.max(0, state.versionCount - state.snapshot.at),
    },
    snapshotDeclined: state.declined && {
      timestamp: new Date(state.declined.timeMs),
      versionsSince: Math.max(0, state.versionCount - state.declined.at),
    },
  };
  if (state.recent) client.recentVersionIds = [...state.recent];
  return client;
}

/**
 * `recent` of a new client. It lists stored versions only (as the conformance suite checks it:
 * a walk with getVersion), so neither a new client's given latest nor the first version's
 * parent is in it, not being versions of this client.
 */
function initialRecent(): Uuid[] {
  return [];
}

/** `recent` after adding version V with parent P: [V, ...old] (old[0] is P), cut. */
function nextRecent(old: Uuid[] | undefined, versionId: Uuid, parentId: Uuid): Uuid[] | undefined {
  if (!old) return undefined;
  if (old.length > 0 && old[0] !== parentId) return undefined; // inconsistent: drop it, the core then walks the chain
  return [versionId, ...old].slice(0, RECENT_CHAIN_LENGTH);
}

function checkUuid(value: string, what: string): Uuid {
  const id = parseUuid(value);
  if (id === undefined || id !== value) throw new TypeError(`${what} is not a canonical UUID: ${JSON.stringify(value)}`);
  return id;
}

function nonce(): string {
  return randomBytes(8).toString("hex");
}

function copyBytes(data: Uint8Array): Uint8Array {
  return Uint8Array.from(data);
}

// ---------------------------------------------------------------------------------------------
// The transaction

type Op =
  | { kind: "version"; versionId: Uuid; parentId: Uuid; data: Uint8Array }
  | { kind: "snapshot"; snapshot: Snapshot; data: Uint8Array; at: number }
  | { kind: "decline"; timeMs: number; at: number };

class DynamoTxn implements StorageTxn {
  /** The client item as last read: undefined = not read yet, null = it does not exist. */
  private base: ClientState | null | undefined;
  /** newClient(latest) of this transaction. */
  private create: Uuid | undefined;
  private ops: Op[] = [];
  /** Uploads of this commit that no write will reference any more (a snapshot that lost a race). */
  private dropped: string[] = [];
  private committed = false;
  private ended = false;

  constructor(
    private readonly io: Io,
    private readonly clientId: Uuid,
  ) {}

  private get pending(): boolean {
    return this.create !== undefined || this.ops.length > 0;
  }

  /** The client as this transaction sees it: the base plus its own writes. */
  private view(base = this.base, create = this.create, ops = this.ops): ClientState | null {
    let state: ClientState | null =
      create !== undefined ? { latest: create, recent: initialRecent(), versionCount: 0, snapshot: null, declined: null } : (base ?? null);
    if (!state) return null;
    state = { ...state, recent: state.recent && [...state.recent] };
    for (const op of ops) {
      if (op.kind === "version") {
        if (state.latest !== NIL_UUID && state.latest !== op.parentId) throw new ChainMovedError(state.latest);
        state.recent = nextRecent(state.recent, op.versionId, op.parentId);
        state.latest = op.versionId;
        state.versionCount += 1;
      } else if (op.kind === "snapshot") {
        state.snapshot = { versionId: op.snapshot.versionId, timeMs: op.snapshot.timestamp.getTime(), at: op.at, key: undefined };
        state.declined = null;
      } else {
        state.declined = { timeMs: op.timeMs, at: op.at };
      }
    }
    return state;
  }

  private async ensureBase(): Promise<ClientState | null> {
    if (this.base === undefined && this.create === undefined) this.base = await this.io.readClient(this.clientId);
    return this.view();
  }

  private checkOpen(): void {
    if (this.ended || this.committed) throw new Error("the transaction has already ended");
  }

  async getClient(): Promise<Client | null> {
    if (!this.pending) this.base = await this.io.readClient(this.clientId);
    const state = this.view();
    return state && toClient(state);
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.checkOpen();
    const latest = checkUuid(latestVersionId, "latest version id");
    if (this.pending) throw new Error("newClient must be the first write of a transaction");
    if (this.base) throw new Error("the client already exists");
    this.create = latest;
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array): Promise<void> {
    this.checkOpen();
    const versionId = checkUuid(snapshot.versionId, "snapshot version id");
    const state = await this.ensureBase();
    if (!state) throw new Error("the client does not exist");
    this.ops.push({
      kind: "snapshot",
      snapshot: { versionId, timestamp: new Date(snapshot.timestamp.getTime()), versionsSince: snapshot.versionsSince },
      data: copyBytes(data),
      at: state.versionCount - snapshot.versionsSince,
    });
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.checkOpen();
    const timeMs = timestamp.getTime();
    if (!Number.isFinite(timeMs)) throw new TypeError("the decline's timestamp is not a valid date");
    const state = await this.ensureBase();
    if (!state) throw new Error("the client does not exist");
    this.ops.push({ kind: "decline", timeMs, at: state.versionCount });
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    const id = checkUuid(versionId, "snapshot version id");
    const pendingSnapshot = this.ops.findLast((op) => op.kind === "snapshot");
    if (pendingSnapshot) return pendingSnapshot.snapshot.versionId === id ? copyBytes(pendingSnapshot.data) : null;
    if (this.create !== undefined) return null;
    if (this.base === undefined) this.base = await this.io.readClient(this.clientId);
    let snapshot = this.base?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const data = await this.io.getObject(snapshot.key, "read the snapshot");
    if (data) return data;
    // The object is gone: replaced by a newer snapshot since the client was read?
    snapshot = (await this.io.readClient(this.clientId))?.snapshot;
    if (!snapshot?.key || snapshot.versionId !== id) return null;
    const again = await this.io.getObject(snapshot.key, "read the snapshot");
    if (again) return again;
    throw new Error(`the snapshot object of client ${this.clientId} is missing: ${snapshot.key}`);
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    const parentId = checkUuid(parentVersionId, "parent version id");
    const own = this.ops.find((op) => op.kind === "version" && op.parentId === parentId);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    const item = await this.io.getItem(this.clientId, SK.child(parentId), "read the version by parent");
    return item ? this.versionFrom(item) : null;
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    const id = checkUuid(versionId, "version id");
    const own = this.ops.find((op) => op.kind === "version" && op.versionId === id);
    if (own?.kind === "version") return { versionId: own.versionId, parentVersionId: own.parentId, historySegment: copyBytes(own.data) };
    const index = await this.io.getItem(this.clientId, SK.version(id), "read the version index");
    if (!index) return null;
    const parentId = storedUuid(index[ATTR.parentId], ATTR.parentId);
    const item = await this.io.getItem(this.clientId, SK.child(parentId), "read the version");
    if (!item) return null;
    const version = await this.versionFrom(item);
    return version.versionId === id ? version : null;
  }

  private async versionFrom(item: Record<string, AttributeValue>): Promise<Version> {
    const versionId = storedUuid(item[ATTR.versionId], ATTR.versionId);
    const parentVersionId = storedUuid(item[ATTR.parentId], ATTR.parentId);
    const segmentKey = item[ATTR.segmentKey]?.S;
    let historySegment: Uint8Array;
    if (segmentKey) {
      const data = await this.io.getObject(segmentKey, "read a history segment");
      if (!data) throw new Error(`the segment object of version ${versionId} is missing: ${segmentKey}`);
      historySegment = data;
    } else {
      historySegment = item[ATTR.segment]?.B ?? new Uint8Array(0);
    }
    return { versionId, parentVersionId, historySegment };
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<void> {
    this.checkOpen();
    const id = checkUuid(versionId, "version id");
    const parentId = checkUuid(parentVersionId, "parent version id");
    const state = await this.ensureBase();
    if (!state) throw new Error("the client does not exist");
    if (state.latest !== NIL_UUID && state.latest !== parentId) throw new ChainMovedError(state.latest);
    if (this.ops.some((op) => op.kind === "version" && (op.versionId === id || op.parentId === parentId))) {
      throw new Error("the version already exists");
    }
    this.ops.push({ kind: "version", versionId: id, parentId, data: copyBytes(historySegment) });
  }

  async commit(): Promise<void> {
    this.checkOpen();
    this.committed = true;
    if (!this.pending) return;
    let uploads = new Map<Op, string>();
    try {
      uploads = await this.upload();
      const replaced = await this.write(uploads);
      // Committed: the replaced snapshot and any dropped upload are referenced by nothing.
      await this.io.deleteObjects([...(replaced ? [replaced] : []), ...this.dropped]);
    } catch (error) {
      // Delete the uploads only when the write certainly did not commit; when its outcome is
      // unknown (timeout, 5xx) it may reference them: they stay, an orphan at worst.
      if (error instanceof DefiniteError || error instanceof ChainMovedError || isDefiniteRefusal(error)) {
        await this.io.deleteObjects([...uploads.values(), ...this.dropped]);
      }
      throw error instanceof DefiniteError ? error.cause : error;
    }
  }

  async release(): Promise<void> {
    // Nothing is written before commit, and commit cleans up after itself.
    this.ended = true;
  }

  /** Uploads what lives in S3; returns op → key. On failure deletes what it uploaded. */
  private async upload(): Promise<Map<Op, string>> {
    const keys = new Map<Op & { data: Uint8Array }, string>();
    let inlineBytes = 0;
    const lastSnapshot = this.ops.findLast((op) => op.kind === "snapshot");
    for (const op of this.ops) {
      if (op.kind === "version") {
        const inline =
          op.data.byteLength <= this.io.inlineSegmentMaxBytes && inlineBytes + op.data.byteLength <= MAX_INLINE_BYTES_PER_WRITE;
        if (inline) inlineBytes += op.data.byteLength;
        else keys.set(op, `${S3_PREFIX}${this.clientId}/segments/${op.versionId}/${nonce()}`);
      } else if (op === lastSnapshot) {
        keys.set(op, `${S3_PREFIX}${this.clientId}/snapshots/${op.snapshot.versionId}/${nonce()}`);
      }
    }
    const results = await Promise.allSettled(
      [...keys].map(([op, key]) =>
        this.io.putObject(key, op.data, op.kind === "version" ? "upload a history segment" : "upload a snapshot"),
      ),
    );
    const failure = results.find((result) => result.status === "rejected");
    if (failure) {
      // No write was sent: nothing can reference these keys (all puts have settled).
      await this.io.deleteObjects([...keys.values()]);
      throw new DefiniteError(failure.reason);
    }
    return keys;
  }

  /**
   * Sends the conditional write, deciding lost races and conflicts; once it has committed,
   * returns the key of the snapshot object it replaced, if any.
   */
  private async write(uploads: Map<Op, string>): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.send(uploads);
      if (result.kind === "ok") {
        return this.ops.some((op) => op.kind === "snapshot") ? this.base?.snapshot?.key : undefined;
      }
      let fresh: ClientState | null;
      if (result.kind === "conflict") {
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new DefiniteError(new StorageUnavailableError("DynamoDB: the write kept conflicting with other transactions", 1));
        }
        fresh = await this.io.readClient(this.clientId);
      } else {
        fresh = result.fresh;
      }
      const decision = this.decide(fresh, uploads);
      if (decision === "committed") {
        // Our own write, seen by a retry: what it replaced is unknown now; the sweep handles it.
        return undefined;
      }
      if (decision === "done") return undefined;
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new DefiniteError(new StorageUnavailableError("DynamoDB: the client changed under every attempt to write", 1));
      }
      if (result.kind === "conflict") await this.backoff(attempt);
    }
  }

  private async backoff(attempt: number): Promise<void> {
    const ms = Math.random() * 25 * 2 ** attempt;
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.io.signal.aborted) throw new StorageUnavailableError("DynamoDB: the transaction ran out of time", 1);
  }

  /**
   * After a failed condition or a conflict, with the client item as it is now: go again
   * ("retry", with the base updated), or end ("done", "committed"), or throw ChainMovedError.
   */
  private decide(fresh: ClientState | null, uploads: Map<Op, string>): "retry" | "done" | "committed" {
    const lastVersion = this.ops.filter((op) => op.kind === "version").at(-1);
    const snapshotOp = this.ops.findLast((op) => op.kind === "snapshot");
    if (fresh === null) {
      if (this.create !== undefined) return "retry"; // a conflict while creating: try again
      throw new DefiniteError(new Error("the client does not exist"));
    }
    // Our own write, committed by an attempt whose answer was lost (the SDK retried it). The
    // transaction's request token makes this unlikely for versions; a single-item write has none.
    if (lastVersion && fresh.latest === lastVersion.versionId) return "committed";
    if (!lastVersion && snapshotOp && uploads.has(snapshotOp) && fresh.snapshot?.key === uploads.get(snapshotOp)) return "committed";
    const expectedSnapKey = this.create !== undefined ? undefined : this.base?.snapshot?.key;
    if (snapshotOp && fresh.snapshot?.key !== expectedSnapKey) {
      // Another snapshot was stored meanwhile: ours loses (see "known benign races").
      this.ops = this.ops.filter((op) => op.kind !== "snapshot");
      const key = uploads.get(snapshotOp);
      if (key) this.dropped.push(key);
      uploads.delete(snapshotOp);
    }
    if (lastVersion) {
      const baseLatest = this.create ?? this.base?.latest;
      if (fresh.latest !== baseLatest) throw new ChainMovedError(fresh.latest);
    } else if (this.create !== undefined) {
      // newClient without versions on a client that exists: the interface's error.
      throw new DefiniteError(new Error("the client already exists"));
    } else if (this.ops.length === 0) {
      return "done"; // the snapshot was dropped: nothing left to write
    }
    // Rebase on the item as it is now (its latest is what we read, or the client we wanted to
    // create exists with that latest): the view re-checks the chain.
    this.base = fresh;
    this.create = undefined;
    this.view();
    return "retry";
  }

  /** One write attempt. */
  private async send(
    uploads: Map<Op, string>,
  ): Promise<{ kind: "ok" } | { kind: "condition"; fresh: ClientState | null } | { kind: "conflict" }> {
    const final = this.view();
    if (!final) throw new DefiniteError(new Error("the client does not exist"));
    const snapshotOp = this.ops.findLast((op) => op.kind === "snapshot");
    if (final.snapshot && snapshotOp) final.snapshot.key = uploads.get(snapshotOp);
    const clientWrite = this.clientWrite(final);
    const versions = this.ops.filter((op) => op.kind === "version");
    const now = Date.now();
    try {
      if (versions.length === 0) {
        if ("Put" in clientWrite) await this.io.ddbSend(new PutItemCommand(clientWrite.Put), "create the client");
        else await this.io.ddbSend(new UpdateItemCommand(clientWrite.Update), "update the client");
        return { kind: "ok" };
      }
      const items: TransactWriteItem[] = [clientWrite];
      for (const op of versions) {
        const key = uploads.get(op);
        const item: Record<string, AttributeValue> = {
          ...this.io.key(this.clientId, SK.child(op.parentId)),
          [ATTR.versionId]: { S: op.versionId },
          [ATTR.parentId]: { S: op.parentId },
          [ATTR.segmentSize]: { N: String(op.data.byteLength) },
          [ATTR.created]: { N: String(now) },
        };
        if (key) item[ATTR.segmentKey] = { S: key };
        else if (op.data.byteLength > 0) item[ATTR.segment] = { B: op.data };
        items.push(
          { Put: { TableName: this.io.tableName, Item: item, ...notExists() } },
          {
            Put: {
              TableName: this.io.tableName,
              Item: { ...this.io.key(this.clientId, SK.version(op.versionId)), [ATTR.parentId]: { S: op.parentId } },
              ...notExists(),
            },
          },
        );
      }
      await this.io.ddbSend(
        new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: `${nonce()}${nonce()}` }),
        "add the version",
      );
      return { kind: "ok" };
    } catch (error) {
      if (isConditionFailed(error))
        return { kind: "condition", fresh: error.Item ? parseClient(error.Item) : await this.io.readClient(this.clientId) };
      // A single-item write that met a transaction in progress on the item.
      if ((error as SdkError).name === "TransactionConflictException") return { kind: "conflict" };
      if (!isCanceled(error)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const codes = reasons.map((reason) => reason.Code ?? "None");
      const clientReason = reasons[0];
      if (clientReason?.Code === "ConditionalCheckFailed") {
        return { kind: "condition", fresh: clientReason.Item ? parseClient(clientReason.Item) : await this.io.readClient(this.clientId) };
      }
      if (codes.some((code) => code === "ThrottlingError" || code === "ProvisionedThroughputExceeded" || code === "RequestLimitExceeded")) {
        throw new DefiniteError(
          new StorageUnavailableError(`DynamoDB: the write was throttled (${codes.join(", ")})`, 2, { cause: error }),
        );
      }
      if (codes.includes("TransactionConflict")) return { kind: "conflict" };
      if (codes.includes("ConditionalCheckFailed")) {
        // The client item was as expected but a version item exists.
        throw new DefiniteError(new Error(`the version already exists (${codes.join(", ")})`, { cause: error }));
      }
      throw new DefiniteError(new Error(`DynamoDB cancelled the write (${codes.join(", ")})`, { cause: error }));
    }
  }

  /** The one write of the client item: a Put when it is created, else an Update. */
  private clientWrite(final: ClientState): { Put: Put } | { Update: Update } {
    const tableName = this.io.tableName;
    if (this.create !== undefined) {
      const item: Record<string, AttributeValue> = {
        ...this.io.key(this.clientId, SK.client),
        [ATTR.latest]: { S: final.latest },
        [ATTR.versionCount]: { N: String(final.versionCount) },
        [ATTR.created]: { N: String(Date.now()) },
      };
      if (final.recent) item[ATTR.recent] = { L: final.recent.map((id) => ({ S: id })) };
      if (final.snapshot?.key) Object.assign(item, snapshotAttributes(final.snapshot));
      if (final.declined) Object.assign(item, declineAttributes(final.declined));
      return { Put: { TableName: tableName, Item: item, ...notExists() } };
    }
    const base = this.base;
    if (!base) throw new Error("the client does not exist");
    const names: Record<string, string> = { "#pk": TABLE.partitionKey.name };
    const values: Record<string, AttributeValue> = {};
    const set: string[] = [];
    const remove: string[] = [];
    const add: string[] = [];
    const conditions = ["attribute_exists(#pk)"];
    const versionCount = this.ops.filter((op) => op.kind === "version").length;
    if (versionCount > 0) {
      names["#latest"] = ATTR.latest;
      names["#recent"] = ATTR.recent;
      names["#count"] = ATTR.versionCount;
      values[":latest"] = { S: final.latest };
      values[":baseLatest"] = { S: base.latest };
      values[":n"] = { N: String(versionCount) };
      set.push("#latest = :latest");
      if (final.recent) {
        values[":recent"] = { L: final.recent.map((id) => ({ S: id })) };
        set.push("#recent = :recent");
      } else {
        remove.push("#recent");
      }
      add.push("#count :n");
      conditions.push("#latest = :baseLatest");
    }
    const snapshotOp = this.ops.some((op) => op.kind === "snapshot");
    if (snapshotOp && final.snapshot?.key) {
      const attributes = snapshotAttributes(final.snapshot);
      for (const [name, value] of Object.entries(attributes)) {
        names[`#${name}`] = name;
        values[`:${name}`] = value;
        set.push(`#${name} = :${name}`);
      }
      if (base.snapshot?.key) {
        values[":baseSnapKey"] = { S: base.snapshot.key };
        conditions.push(`#${ATTR.snapKey} = :baseSnapKey`);
      } else {
        conditions.push(`attribute_not_exists(#${ATTR.snapKey})`);
      }
    }
    // A declined snapshot is recorded; a stored snapshot clears the record. Neither needs a
    // condition: a decline racing a snapshot at worst delays the next request for one.
    if (this.ops.some((op) => op.kind === "snapshot" || op.kind === "decline")) {
      names["#declTime"] = ATTR.declTime;
      names["#declAt"] = ATTR.declAt;
      if (final.declined) {
        const attributes = declineAttributes(final.declined);
        values[":declTime"] = attributes[ATTR.declTime]!;
        values[":declAt"] = attributes[ATTR.declAt]!;
        set.push("#declTime = :declTime", "#declAt = :declAt");
      } else {
        remove.push("#declTime", "#declAt");
      }
    }
    const clauses = [
      set.length > 0 ? `SET ${set.join(", ")}` : "",
      remove.length > 0 ? `REMOVE ${remove.join(", ")}` : "",
      add.length > 0 ? `ADD ${add.join(", ")}` : "",
    ].filter((clause) => clause !== "");
    if (clauses.length === 0) {
      // Nothing to change (should not happen): a no-op guarded write keeps one code path.
      names["#latest"] = ATTR.latest;
      clauses.push("SET #latest = #latest");
    }
    return {
      Update: {
        TableName: tableName,
        Key: this.io.key(this.clientId, SK.client),
        UpdateExpression: clauses.join(" "),
        ConditionExpression: conditions.join(" AND "),
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      },
    };
  }
}

function notExists(): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ReturnValuesOnConditionCheckFailure: "ALL_OLD";
} {
  return {
    ConditionExpression: "attribute_not_exists(#pk)",
    ExpressionAttributeNames: { "#pk": TABLE.partitionKey.name },
    ReturnValuesOnConditionCheckFailure: "ALL_OLD",
  };
}

function snapshotAttributes(snapshot: SnapshotState): Record<string, AttributeValue> {
  if (!snapshot.key) throw new Error("the snapshot has no object");
  return {
    [ATTR.snapVersion]: { S: snapshot.versionId },
    [ATTR.snapTime]: { N: String(snapshot.timeMs) },
    [ATTR.snapAt]: { N: String(snapshot.at) },
    [ATTR.snapKey]: { S: snapshot.key },
  };
}

function declineAttributes(declined: { timeMs: number; at: number }): Record<string, AttributeValue> {
  return { [ATTR.declTime]: { N: String(declined.timeMs) }, [ATTR.declAt]: { N: String(declined.at) } };
}

/** Wraps an error after which the write certainly did not commit (its uploads may go). */
class DefiniteError extends Error {
  constructor(override readonly cause: unknown) {
    super("definite failure", { cause });
  }
}
