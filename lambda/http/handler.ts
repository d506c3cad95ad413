/**
 * The HTTP edge: API Gateway HTTP API events (payload format 2.0) in, responses out. It finds
 * the route (routes.ts), runs its function (routes/, each documenting its HTTP contract), maps
 * a failure to 503 or 500 without details, and logs one line per request. The same handler
 * serves Lambda and the local server (bin/serve.ts).
 */
import type { SyncServer } from "../core/sync.ts";
import { type Logger, scrubIds } from "../log.ts";
import { StorageUnavailableError } from "../storage/errors.ts";
import { HEADER } from "./protocol.ts";
import { type HttpEvent, type LogContext, lowercaseHeaders, type RouteHandler, type RouteContext } from "./request.ts";
import { type HttpResult, text } from "./responses.ts";
import { addSnapshot } from "./routes/add-snapshot.ts";
import { addVersion } from "./routes/add-version.ts";
import { getChildVersion } from "./routes/get-child-version.ts";
import { getSnapshot } from "./routes/get-snapshot.ts";
import { root } from "./routes/root.ts";
import { matchRoute, type RouteName } from "./routes.ts";

export type { HttpEvent } from "./request.ts";
export type { HttpResult } from "./responses.ts";
export type Handler = (event: HttpEvent) => Promise<HttpResult>;

export interface HandlerOptions {
  sync: SyncServer;
  /** Larger request bodies are answered 413 (see LAMBDA_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  logger: Logger;
}

/** The function of each route of the route table. */
const ROUTE_FUNCTIONS: Record<RouteName, RouteHandler> = {
  root,
  "add-version": addVersion,
  "get-child-version": getChildVersion,
  "add-snapshot": addSnapshot,
  "get-snapshot": getSnapshot,
};

export function createHandler(options: HandlerOptions): Handler {
  const { logger } = options;
  const context: RouteContext = { sync: options.sync, maxBodyBytes: options.maxBodyBytes };

  async function dispatch(event: HttpEvent, log: LogContext): Promise<HttpResult> {
    const match = matchRoute(event.requestContext.http.method.toUpperCase(), event.rawPath);
    if (match.kind === "not-found") return text(404, "no such route");
    if (match.kind === "method-not-allowed") {
      return text(405, "method not allowed", { [HEADER.allow]: match.allow.join(", ") });
    }
    log.route = match.route.name;
    return ROUTE_FUNCTIONS[match.route.name]({ headers: lowercaseHeaders(event.headers), params: match.params, event }, log, context);
  }

  /** A storage failure: 503 when it may pass, else 500; the details go to the log only. */
  function failure(error: unknown, log: LogContext): HttpResult {
    const e = error instanceof Error ? error : new Error(String(error));
    logger.error("request failed", {
      route: log.route,
      client: log.client,
      error: e.name,
      message: scrubIds(e.message),
      stack: e.stack === undefined ? undefined : scrubIds(e.stack),
    });
    if (error instanceof StorageUnavailableError) {
      log.outcome = "storage-unavailable";
      return text(503, "storage is unavailable, try again later", { [HEADER.retryAfter]: String(error.retryAfterSeconds) });
    }
    log.outcome = "internal-error";
    return text(500, "internal server error");
  }

  return async function handle(event: HttpEvent): Promise<HttpResult> {
    const started = performance.now();
    const log: LogContext = {};
    let result: HttpResult;
    try {
      result = await dispatch(event, log);
    } catch (error) {
      result = failure(error, log);
    }
    logger.info("request", {
      method: event.requestContext.http.method,
      route: log.route ?? "none",
      status: result.statusCode ?? 200,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      client: log.client,
      outcome: log.outcome,
      bytes: log.bytes,
      requestId: event.requestContext.requestId,
    });
    return result;
  };
}
