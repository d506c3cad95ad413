/**
 * The orphan sweep's Lambda entry, run on a schedule (EventBridge; see lib/sync-server.ts):
 * deletes the S3 objects that no item references (see "Crash windows" in
 * storage/dynamodb/README.md) for every client, within the invocation's time, and logs one JSON
 * line with the counts. The storage is built once per execution environment, from the same
 * settings as the sync function (storage/dynamodb-env.ts).
 *
 * A run cut by its time budget ends normally (`stopped: true`): the next run goes on, from
 * another random point. A run where some client's sweep failed ends in an error after its log
 * line, so that the function's error alarm fires; it is not retried (the next run is).
 */
import type { Context } from "aws-lambda";
import { ConfigReader } from "./config.ts";
import { clientTag, createLogger, scrubIds, type Logger } from "./log.ts";
import { type SweepAllReport, sweepAllOrphans } from "./storage/dynamodb/orphan-sweep.ts";
import type { DynamoStorage } from "./storage/dynamodb/storage.ts";
import { dynamoStorageFromEnv } from "./storage/dynamodb/from-env.ts";

/** Left of the invocation's time when the sweep stops: enough to log and return. */
export const SWEEP_MARGIN_MS = 30_000;
/** The budget when there is no Lambda context (a local run). */
export const DEFAULT_SWEEP_BUDGET_MS = 9 * 60_000;
/** At most this many failed clients are logged one by one. */
const MAX_LOGGED_FAILURES = 20;

/** An error message without any client id in it (an object key names its client). */
function scrubbed(error: unknown): string {
  return scrubIds(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}

export interface SweepHandlerOptions {
  storage: DynamoStorage;
  logger?: Logger;
  /** Objects younger than this are left alone. Default: the storage's (one hour). */
  minAgeMs?: number;
}

export type SweepHandler = (
  event: unknown,
  context?: Pick<Context, "getRemainingTimeInMillis">,
) => Promise<Omit<SweepAllReport, "failures">>;

export function createSweepHandler(options: SweepHandlerOptions): SweepHandler {
  const logger = options.logger ?? createLogger();
  return async (_event, context) => {
    const started = Date.now();
    const budget = context ? context.getRemainingTimeInMillis() - SWEEP_MARGIN_MS : DEFAULT_SWEEP_BUDGET_MS;
    const { failures, ...counts } = await sweepAllOrphans(options.storage, {
      stopAfterMs: Math.max(0, budget),
      ...(options.minAgeMs !== undefined ? { minAgeMs: options.minAgeMs } : {}),
    });
    for (const { clientId, error } of failures.slice(0, MAX_LOGGED_FAILURES)) {
      logger.warn("orphan sweep of a client failed", { client: clientTag(clientId), error: scrubbed(error) });
    }
    const fields = { ...counts, durationMs: Date.now() - started };
    if (counts.failed > 0) logger.error("orphan sweep", fields);
    else logger.info("orphan sweep", fields);
    if (counts.failed > 0) throw new Error(`the orphan sweep failed for ${counts.failed} client(s); see the log lines before`);
    return counts;
  };
}

function fromEnv(): SweepHandler {
  const reader = new ConfigReader(process.env);
  const { storage } = dynamoStorageFromEnv(reader);
  // Invalid settings fail the cold start with a message naming each variable.
  reader.check();
  return createSweepHandler({ storage });
}

export const handler = fromEnv();
