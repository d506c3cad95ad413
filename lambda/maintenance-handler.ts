/**
 * The maintenance of the DynamoDB + S3 storage, as one run: in one listing of the bucket it
 * reaches every client with an object (every client with a snapshot) and, for each, deletes the
 * S3 objects that no item has referenced for DELETION_GRACE_DAYS, marking those it finds
 * unreferenced for the first time (storage/dynamodb/README.md, "Deferred deletion"), and
 * removes the history that HISTORY_DAYS no longer keeps (operations/prune.ts), within the time
 * it is given; then it logs one JSON line with the counts. The maintenance function runs it on
 * its schedule (maintenance.ts); a local server on that storage runs it once a day.
 *
 * A run cut by its time budget ends normally (`stopped: true`): the next run goes on, from
 * another random point, and each client's pruning resumes from its oldest version. A run where
 * some client's work failed ends in an error after its log line, so that the function's error
 * alarm fires; it is not retried (the next run is).
 */
import type { Context } from "aws-lambda";
import { clientTag, createLogger, type Logger, scrubIds } from "./log.ts";
import { emptyPruneTally, type PruneTally, pruneClient, tallyPrune } from "./operations/prune.ts";
import { type SweepAllReport, sweepAllOrphans } from "./storage/dynamodb/orphan-sweep.ts";
import type { DynamoStorage } from "./storage/dynamodb/storage.ts";

/** Left of the invocation's time when the work stops: enough to log and return. */
export const MAINTENANCE_MARGIN_MS = 30_000;
/** The budget when there is no Lambda context (a local run). */
export const DEFAULT_MAINTENANCE_BUDGET_MS = 9 * 60_000;
/** At most this many failed clients are logged one by one. */
const MAX_LOGGED_FAILURES = 20;

/** An error message without any client id in it (an object key names its client). */
function scrubbed(error: unknown): string {
  return scrubIds(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}

export interface MaintenanceOptions {
  storage: DynamoStorage;
  /** Versions before the snapshot added more than this many days ago are removed; 0 keeps them. */
  historyDays: number;
  logger?: Logger;
  /** Objects younger than this are left alone. Default: the storage's (one hour). */
  minAgeMs?: number;
  /** How long an unreferenced object stays before it is deleted. Default: DELETION_GRACE_DAYS. */
  graceMs?: number;
  /** Ends a run early, as its time budget does (a local server that stops). */
  signal?: AbortSignal;
}

/** What a run did: the sweep's counts and the pruning's. */
export type MaintenanceReport = Omit<SweepAllReport, "failures"> & PruneTally;

export type MaintenanceHandler = (event: unknown, context?: Pick<Context, "getRemainingTimeInMillis">) => Promise<MaintenanceReport>;

export function createMaintenanceHandler(options: MaintenanceOptions): MaintenanceHandler {
  const logger = options.logger ?? createLogger();
  return async (_event, context) => {
    const started = Date.now();
    const now = new Date(started);
    const budget = context ? context.getRemainingTimeInMillis() - MAINTENANCE_MARGIN_MS : DEFAULT_MAINTENANCE_BUDGET_MS;
    const pruning = emptyPruneTally();
    let swept: SweepAllReport;
    try {
      swept = await sweepAllOrphans(options.storage, {
        stopAfterMs: Math.max(0, budget),
        ...(options.minAgeMs !== undefined ? { minAgeMs: options.minAgeMs } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        eachClient: async (clientId, signal) => {
          tallyPrune(pruning, await pruneClient(options.storage, clientId, { historyDays: options.historyDays, now, signal }));
        },
      });
    } catch (error) {
      // The run itself failed (the bucket's listing, say): logged scrubbed, as a client's failure
      // is, and thrown without its message, so that the runtime's own log line names no client.
      logger.error("maintenance failed", { error: scrubbed(error), durationMs: Date.now() - started });
      throw new Error("the maintenance failed; see the log line before");
    }
    const { failures, ...counts } = swept;
    for (const { clientId, error } of failures.slice(0, MAX_LOGGED_FAILURES)) {
      logger.warn("maintenance of a client failed", { client: clientTag(clientId), error: scrubbed(error) });
    }
    const report: MaintenanceReport = { ...counts, ...pruning };
    const fields = { ...report, historyDays: options.historyDays, durationMs: Date.now() - started };
    if (counts.failed > 0) logger.error("maintenance", fields);
    else logger.info("maintenance", fields);
    if (counts.failed > 0) throw new Error(`the maintenance failed for ${counts.failed} client(s); see the log lines before`);
    return report;
  };
}
