/**
 * The HTTP edge: API Gateway HTTP API events (payload format 2.0) in, responses out. It checks
 * the request's head (head.ts: the route, then the route's own checks in routes/, each
 * documenting its HTTP contract), then its body, runs the route, maps a failure to 503 or 500
 * without details, and logs one line per request. The same handler serves Lambda and the local
 * server (bin/serve.ts), which also asks `admit` before it reads a body.
 */
import type { SyncServer } from "../core/sync.ts";
import { type Logger, scrubIds } from "../log.ts";
import { StorageUnavailableError } from "../storage/errors.ts";
import { checkHead } from "./head.ts";
import { HEADER } from "./protocol.ts";
import type { HttpEvent, LogContext, RouteContext } from "./request.ts";
import { type HttpResult, text } from "./responses.ts";

export type { HttpEvent } from "./request.ts";
export type { HttpResult } from "./responses.ts";
/** What the edge knows of the request beyond its event: when it must be answered (ms since the epoch). */
export interface RequestLimits {
  deadline?: number;
}

export type Handler = (event: HttpEvent, limits?: RequestLimits) => Promise<HttpResult>;

/** What `admit` decided on a request's head. */
export type Admission =
  /** The final answer, given without the body (already logged as the request's line). */
  | { kind: "answer"; result: HttpResult }
  /** Read the body, `bodyBytes` long (0: read none), then hand the whole event to the handler. */
  | { kind: "read"; bodyBytes: number };

/** The handler, and the checks it makes before a body, for an edge that gets the body after the head. */
export interface App extends Handler {
  /**
   * Checks a request's head (`head`: the request's event without its body) as the handler
   * will, and for an upload also that it would not be refused whatever it holds (an unknown
   * client: one storage read). A refused request is answered here, so that its body is never
   * read; an admitted one goes to the handler once its body has arrived.
   */
  admit(head: HttpEvent, limits?: RequestLimits): Promise<Admission>;
}

export interface HandlerOptions {
  sync: SyncServer;
  /** Larger request bodies are answered 413 (see LAMBDA_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  logger: Logger;
  /** How long a request's storage work may take when its edge gives no deadline, ms. */
  requestBudgetMs: number;
}

export function createHandler(options: HandlerOptions): App {
  const { logger } = options;
  /** One deadline per request, shared by every storage transaction it runs. */
  const contextFor = (limits: RequestLimits | undefined): RouteContext => ({
    sync: options.sync.withDeadline(limits?.deadline ?? Date.now() + options.requestBudgetMs),
    maxBodyBytes: options.maxBodyBytes,
  });

  /**
   * The whole event. Its upload is not checked against the client's record first (as `admit`
   * does): API Gateway has received and billed the body already, and that read would cost a
   * DynamoDB read on every upload to save only a write that the core refuses anyway.
   */
  async function dispatch(event: HttpEvent, log: LogContext, context: RouteContext): Promise<HttpResult> {
    const verdict = checkHead(event, log, context, false);
    switch (verdict.kind) {
      case "answer":
        return verdict.answer();
      case "no-body":
        return verdict.run();
      case "body": {
        const { body, isBase64Encoded } = event;
        const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body, isBase64Encoded ? "base64" : "utf8");
        log.bytes = bytes.length;
        if (bytes.length === 0) return text(400, "the request body is empty");
        if (bytes.length > context.maxBodyBytes) return verdict.tooLarge();
        return verdict.run(bytes);
      }
    }
  }

  async function admission(head: HttpEvent, log: LogContext, context: RouteContext): Promise<HttpResult | { bodyBytes: number }> {
    const verdict = checkHead(head, log, context, true);
    switch (verdict.kind) {
      case "answer":
        return verdict.answer();
      case "no-body":
        return { bodyBytes: 0 };
      case "body":
        return (await verdict.beforeReading()) ?? { bodyBytes: verdict.declaredBytes ?? 0 };
    }
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

  /** Runs `work`; an answer (its own or a failure's) is logged as the request's one line. */
  async function answer<T extends object>(event: HttpEvent, work: (log: LogContext) => Promise<HttpResult | T>): Promise<HttpResult | T> {
    const started = performance.now();
    const log: LogContext = {};
    let result: HttpResult | T;
    try {
      result = await work(log);
    } catch (error) {
      result = failure(error, log);
    }
    if (!isResult(result)) return result;
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
  }

  const handle = (event: HttpEvent, limits?: RequestLimits): Promise<HttpResult> =>
    answer<HttpResult>(event, (log) => dispatch(event, log, contextFor(limits)));
  const admit = async (head: HttpEvent, limits?: RequestLimits): Promise<Admission> => {
    const decided = await answer(head, (log) => admission(head, log, contextFor(limits)));
    return isResult(decided) ? { kind: "answer", result: decided } : { kind: "read", bodyBytes: decided.bodyBytes };
  };
  return Object.assign(handle, { admit });
}

function isResult(value: object): value is HttpResult {
  return "statusCode" in value;
}
