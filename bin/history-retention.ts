/**
 * History retention in the local server: once a day (the first time a minute after it starts),
 * the versions HISTORY_DAYS no longer keeps are removed from every client with a snapshot
 * (lambda/operations/prune.ts), with one log line of counts. On AWS the maintenance function
 * does the same on its schedule; a local server on DynamoDB + S3 runs that maintenance itself
 * (`work`: the orphan sweep, which also deletes what the deletion grace has held, and the
 * pruning), whatever HISTORY_DAYS is.
 */
import type { Logger } from "../lambda/log.ts";
import { pruneAllClients } from "../lambda/operations/prune.ts";
import type { Storage } from "../lambda/storage/types.ts";

export const FIRST_RUN_AFTER_MS = 60_000;
export const RUN_EVERY_MS = 24 * 60 * 60 * 1000;

export interface HistoryRetention {
  /** Stops the schedule and the run in progress (between two batches), and waits for it. */
  stop(): Promise<void>;
}

export function startHistoryRetention(
  storage: Storage,
  historyDays: number,
  logger: Logger,
  timing: { firstRunAfterMs: number; runEveryMs: number } = { firstRunAfterMs: FIRST_RUN_AFTER_MS, runEveryMs: RUN_EVERY_MS },
  work?: (signal: AbortSignal) => Promise<unknown>,
): HistoryRetention {
  if (historyDays <= 0 && !work) return { stop: async () => {} };
  const stopping = new AbortController();
  let running: Promise<void> = Promise.resolve();
  const run = async () => {
    const started = Date.now();
    try {
      if (work) {
        // It logs its own line.
        await work(stopping.signal);
        return;
      }
      const { failures, ...counts } = await pruneAllClients(storage, { historyDays, signal: stopping.signal });
      logger.info("history retention", { ...counts, failed: failures.length, historyDays, durationMs: Date.now() - started });
    } catch (error) {
      // A failed run is logged and the next one tries again: it never stops the server.
      logger.error("history retention failed", { error: error instanceof Error ? error.name : "error", historyDays });
    }
  };
  const schedule = (afterMs: number) =>
    setTimeout(() => {
      running = run().then(() => {
        if (!stopping.signal.aborted) timer = schedule(timing.runEveryMs);
      });
    }, afterMs).unref();
  let timer = schedule(timing.firstRunAfterMs);
  return {
    stop: async () => {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
