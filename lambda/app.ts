/** Wires a storage and the server settings into the HTTP handler: the same for Lambda and local. */
import { REQUEST_BUDGET_MS, type ServerConfig } from "./config.ts";
import { SyncServer } from "./core/sync.ts";
import { type App, createHandler, type RequestLimits } from "./http/handler.ts";
import { createLogger, type Logger } from "./log.ts";
import type { Storage } from "./storage/types.ts";

export function createApp(storage: Storage, config: ServerConfig, logger: Logger = createLogger()): App {
  return createHandler({
    sync: new SyncServer(storage, config.rules),
    maxBodyBytes: config.maxBodyBytes,
    logger,
    requestBudgetMs: REQUEST_BUDGET_MS,
  });
}

/** What the request's storage work leaves the function to log and answer before Lambda stops it. */
export const RESPONSE_MARGIN_MS = 1_500;

/**
 * A request's deadline from its invocation: the function's remaining time less RESPONSE_MARGIN_MS,
 * so that a storage that stalls gets a 503 instead of a function stopped mid-request. Without a
 * Lambda context (a local run of the bundle), the handler's default budget.
 */
export function lambdaLimits(context: { getRemainingTimeInMillis(): number } | undefined, now = Date.now()): RequestLimits | undefined {
  if (typeof context?.getRemainingTimeInMillis !== "function") return undefined;
  return { deadline: now + Math.max(0, context.getRemainingTimeInMillis() - RESPONSE_MARGIN_MS) };
}
