/**
 * What an AWS SDK error means to the storage: transient (the request may succeed later: a
 * StorageUnavailableError with a Retry-After), a definite refusal (the write certainly did
 * not happen), or one of the answers the storage decides on (a failed condition, a cancelled
 * transaction, a missing object).
 */
import type { AttributeValue, CancellationReason } from "@aws-sdk/client-dynamodb";
import { StorageUnavailableError } from "../errors.ts";

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
export function asUnavailable(error: unknown, what: string): StorageUnavailableError | undefined {
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
export function isDefiniteRefusal(error: unknown): boolean {
  const e = (error instanceof StorageUnavailableError ? error.cause : error) as
    | (SdkError & { $metadata?: { attempts?: number } })
    | undefined;
  const status = e?.$metadata?.httpStatusCode;
  const attempts = e?.$metadata?.attempts ?? 1;
  return status !== undefined && status >= 400 && status < 500 && attempts <= 1;
}

export function isNoSuchKey(error: unknown): boolean {
  const e = error as SdkError | undefined;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

function isCanceled(error: unknown): error is Error & { CancellationReasons?: CancellationReason[] } {
  return (error as SdkError | undefined)?.name === "TransactionCanceledException";
}

function isConditionFailed(error: unknown): error is Error & { Item?: Record<string, AttributeValue> } {
  return (error as SdkError | undefined)?.name === "ConditionalCheckFailedException";
}

/** How DynamoDB refused a conditional write (every other error is not a refusal). */
export type WriteRefusal =
  /** The client item's condition failed: the item as it is, when DynamoDB returned it (ALL_OLD). */
  | { kind: "condition"; clientItem: Record<string, AttributeValue> | undefined }
  /** Another transaction touched an item at the same moment: nothing was written, try again. */
  | { kind: "conflict" }
  /** The transaction was cancelled for another reason; `codes` lists every item's. */
  | { kind: "cancelled"; reason: "throttled" | "version-exists" | "other"; codes: string };

/** The refusal `error` is, or undefined. The client item is always the first of a write. */
export function writeRefusal(error: unknown): WriteRefusal | undefined {
  if (isConditionFailed(error)) return { kind: "condition", clientItem: error.Item };
  // A single-item write that met a transaction in progress on the item.
  if ((error as SdkError | undefined)?.name === "TransactionConflictException") return { kind: "conflict" };
  if (!isCanceled(error)) return undefined;
  const reasons = error.CancellationReasons ?? [];
  const codes = reasons.map((reason) => reason.Code ?? "None");
  const clientReason = reasons[0];
  if (clientReason?.Code === "ConditionalCheckFailed") return { kind: "condition", clientItem: clientReason.Item };
  const list = codes.join(", ");
  if (codes.some((code) => code === "ThrottlingError" || code === "ProvisionedThroughputExceeded" || code === "RequestLimitExceeded")) {
    return { kind: "cancelled", reason: "throttled", codes: list };
  }
  if (codes.includes("TransactionConflict")) return { kind: "conflict" };
  // The client item was as expected but a version item exists.
  if (codes.includes("ConditionalCheckFailed")) return { kind: "cancelled", reason: "version-exists", codes: list };
  return { kind: "cancelled", reason: "other", codes: list };
}
