/**
 * The HTTP edge: API Gateway HTTP API events (payload format 2.0) in, responses out. It parses
 * and validates requests, calls the protocol core, and maps each outcome to a status and
 * headers. The same handler serves Lambda and the local server (bin/serve.ts).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { SyncServer } from "../core/sync.ts";
import { clientTag, scrubIds, type Logger } from "../log.ts";
import { StorageUnavailableError } from "../storage/errors.ts";
import { parseUuid, type Uuid } from "../uuid.ts";
import { SERVER_NAME, SERVER_VERSION } from "../version.ts";
import { CACHE_CONTROL, CONTENT_TYPE, HEADER } from "./protocol.ts";
import { matchRoute, type RouteName } from "./routes.ts";

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type Handler = (event: HttpEvent) => Promise<HttpResult>;

export interface HandlerOptions {
  sync: SyncServer;
  /** Larger request bodies are answered 413 (see LAMBDA_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  logger: Logger;
}

/** A parsed request, as the route functions see it. */
interface Request {
  headers: ReadonlyMap<string, string>;
  params: Readonly<Record<string, string>>;
  event: HttpEvent;
}

/** What a route function learned, for the request's log line. */
interface LogContext {
  route?: RouteName;
  /** The tag of the client id, the only form of it that is logged. */
  client?: string;
  outcome?: string;
  bytes?: number;
}

type Rejection = { rejected: HttpResult };

/** A request body over the size limit. */
const TOO_LARGE = Symbol("too large");

export function createHandler(options: HandlerOptions): Handler {
  const { sync, maxBodyBytes, logger } = options;

  /** Reads and checks X-Client-Id and the allowlist (every protocol route). */
  function clientIdOf(request: Request, log: LogContext): Uuid | Rejection {
    const raw = request.headers.get(HEADER.clientId);
    if (raw === undefined) return reject(400, "missing X-Client-Id header");
    const clientId = parseUuid(raw.trim());
    if (!clientId) return reject(400, "X-Client-Id is not a UUID");
    log.client = clientTag(clientId);
    if (!sync.isAllowed(clientId)) return reject(403, "this client id may not sync with this server");
    return clientId;
  }

  function versionIdParam(request: Request, name: string): Uuid | Rejection {
    const id = parseUuid(request.params[name] ?? "");
    return id ?? reject(400, `the ${name} in the path is not a UUID`);
  }

  /**
   * The body of a protocol POST: the exact content type, not empty, within the size limit.
   * Over the limit it is `TOO_LARGE`, which each route answers in its own way.
   */
  function bodyOf(request: Request, contentType: string, log: LogContext): Uint8Array | Rejection | typeof TOO_LARGE {
    const given = request.headers.get(HEADER.contentType);
    // Parameters (such as a charset) are tolerated on requests; the media type must be exact.
    const mediaType = given?.split(";")[0]!.trim().toLowerCase();
    if (mediaType !== contentType) return reject(400, `Content-Type must be ${contentType}`);
    const declared = Number(request.headers.get(HEADER.contentLength) ?? NaN);
    if (declared > maxBodyBytes) return TOO_LARGE;
    const { body, isBase64Encoded } = request.event;
    const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body, isBase64Encoded ? "base64" : "utf8");
    log.bytes = bytes.length;
    if (bytes.length === 0) return reject(400, "the request body is empty");
    if (bytes.length > maxBodyBytes) return TOO_LARGE;
    return bytes;
  }

  function tooLarge(): HttpResult {
    return text(413, `the request body is larger than this server accepts (${maxBodyBytes} bytes)`);
  }

  /**
   * `GET /`
   * 200 `text/plain`: the server's name and version, for people checking a deployment.
   */
  async function root(): Promise<HttpResult> {
    return text(200, `TaskChampion sync server: ${SERVER_NAME} ${SERVER_VERSION}\n`);
  }

  /**
   * `POST /v1/client/add-version/{parentVersionId}`
   * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.history-segment`,
   * body = the history segment (not empty).
   * 200: `X-Version-Id` of the new version, `X-Snapshot-Request: urgency=low|high` when a
   * snapshot is wanted; empty body.
   * 409: `X-Parent-Version-Id` = the client's latest version; empty body; nothing stored.
   * 404: the client does not exist and client creation is off.
   * 400 bad client id, parent id, content type or empty body; 403 not allowed;
   * 413 a body over MAX_BODY_BYTES.
   */
  async function addVersion(request: Request, log: LogContext): Promise<HttpResult> {
    const clientId = clientIdOf(request, log);
    if (isRejection(clientId)) return clientId.rejected;
    const parentVersionId = versionIdParam(request, "parentVersionId");
    if (isRejection(parentVersionId)) return parentVersionId.rejected;
    const body = bodyOf(request, CONTENT_TYPE.historySegment, log);
    if (body === TOO_LARGE) return tooLarge();
    if (isRejection(body)) return body.rejected;

    const outcome = await sync.addVersion(clientId, parentVersionId, body);
    log.outcome = outcome.kind;
    switch (outcome.kind) {
      case "added": {
        const headers: Record<string, string> = { [HEADER.versionId]: outcome.versionId };
        if (outcome.snapshotUrgency !== "none") headers[HEADER.snapshotRequest] = `urgency=${outcome.snapshotUrgency}`;
        return empty(200, headers);
      }
      case "conflict":
        return empty(409, { [HEADER.parentVersionId]: outcome.latestVersionId });
      case "unknown-client":
        return text(404, "unknown client id, and this server does not create clients");
    }
  }

  /**
   * `GET /v1/client/get-child-version/{parentVersionId}`
   * Request: `X-Client-Id`.
   * 200: body = the child's history segment, `Content-Type:
   * application/vnd.taskchampion.history-segment`, `X-Version-Id`, `X-Parent-Version-Id`.
   * 404: no child and the parent is the latest version (or there is none): up to date; also
   * for an unknown client.
   * 410: no child and the parent is not the latest: the replica must start from the snapshot.
   * 400 bad client id or parent id; 403 not allowed.
   */
  async function getChildVersion(request: Request, log: LogContext): Promise<HttpResult> {
    const clientId = clientIdOf(request, log);
    if (isRejection(clientId)) return clientId.rejected;
    const parentVersionId = versionIdParam(request, "parentVersionId");
    if (isRejection(parentVersionId)) return parentVersionId.rejected;

    const outcome = await sync.getChildVersion(clientId, parentVersionId);
    log.outcome = outcome.kind;
    switch (outcome.kind) {
      case "found":
        log.bytes = outcome.version.historySegment.length;
        return binary(200, CONTENT_TYPE.historySegment, outcome.version.historySegment, {
          [HEADER.versionId]: outcome.version.versionId,
          [HEADER.parentVersionId]: outcome.version.parentVersionId,
        });
      case "up-to-date":
        return empty(404);
      case "unknown-client":
        return text(404, "unknown client id");
      case "gone":
        return text(410, "the parent version is not in this client's history: start from the snapshot");
    }
  }

  /**
   * `POST /v1/client/add-snapshot/{versionId}`
   * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.snapshot`, body = the
   * snapshot (not empty).
   * 200: empty body, whether the snapshot was stored or ignored (a snapshot for an old or
   * unknown version is not the client's problem). A snapshot over MAX_BODY_BYTES is answered
   * 200 too, not stored, and the server stops asking for snapshots for a period: a failed
   * AddSnapshot fails the client's whole sync, and asking again at once would fail the next.
   * 404: unknown client. 400 bad client id, version id, content type or empty body;
   * 403 not allowed.
   */
  async function addSnapshot(request: Request, log: LogContext): Promise<HttpResult> {
    const clientId = clientIdOf(request, log);
    if (isRejection(clientId)) return clientId.rejected;
    const versionId = versionIdParam(request, "versionId");
    if (isRejection(versionId)) return versionId.rejected;
    const body = bodyOf(request, CONTENT_TYPE.snapshot, log);
    if (isRejection(body)) return body.rejected;

    const outcome =
      body === TOO_LARGE ? await sync.declineSnapshot(clientId, versionId) : await sync.addSnapshot(clientId, versionId, body);
    log.outcome = outcome.kind === "ignored" ? `ignored:${outcome.reason}` : outcome.kind;
    return outcome.kind === "unknown-client" ? text(404, "unknown client id") : empty(200);
  }

  /**
   * `GET /v1/client/snapshot`
   * Request: `X-Client-Id`.
   * 200: body = the snapshot, `Content-Type: application/vnd.taskchampion.snapshot`,
   * `X-Version-Id` = the snapshot's version.
   * 404: no snapshot, or unknown client. 400 bad client id; 403 not allowed.
   */
  async function getSnapshot(request: Request, log: LogContext): Promise<HttpResult> {
    const clientId = clientIdOf(request, log);
    if (isRejection(clientId)) return clientId.rejected;

    const outcome = await sync.getSnapshot(clientId);
    log.outcome = outcome.kind;
    switch (outcome.kind) {
      case "found":
        log.bytes = outcome.data.length;
        return binary(200, CONTENT_TYPE.snapshot, outcome.data, { [HEADER.versionId]: outcome.versionId });
      case "none":
        return empty(404);
      case "unknown-client":
        return text(404, "unknown client id");
    }
  }

  const routes: Record<RouteName, (request: Request, log: LogContext) => Promise<HttpResult>> = {
    root,
    "add-version": addVersion,
    "get-child-version": getChildVersion,
    "add-snapshot": addSnapshot,
    "get-snapshot": getSnapshot,
  };

  async function dispatch(event: HttpEvent, log: LogContext): Promise<HttpResult> {
    const match = matchRoute(event.requestContext.http.method.toUpperCase(), event.rawPath);
    if (match.kind === "not-found") return text(404, "no such route");
    if (match.kind === "method-not-allowed") {
      return text(405, "method not allowed", { [HEADER.allow]: match.allow.join(", ") });
    }
    log.route = match.route.name;
    return routes[match.route.name]({ headers: lowercaseHeaders(event.headers), params: match.params, event }, log);
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
}

function isRejection(value: unknown): value is Rejection {
  return typeof value === "object" && value !== null && "rejected" in value;
}

function reject(status: number, message: string): Rejection {
  return { rejected: text(status, message) };
}

function lowercaseHeaders(headers: HttpEvent["headers"]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) map.set(name.toLowerCase(), value);
  return map;
}

function empty(status: number, headers: Record<string, string> = {}): HttpResult {
  return { statusCode: status, headers: { [HEADER.cacheControl]: CACHE_CONTROL, ...headers }, body: "", isBase64Encoded: false };
}

function text(status: number, message: string, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode: status,
    headers: { [HEADER.cacheControl]: CACHE_CONTROL, [HEADER.contentType]: CONTENT_TYPE.text, ...headers },
    body: message.endsWith("\n") ? message : `${message}\n`,
    isBase64Encoded: false,
  };
}

function binary(status: number, contentType: string, data: Uint8Array, headers: Record<string, string>): HttpResult {
  return {
    statusCode: status,
    headers: { [HEADER.cacheControl]: CACHE_CONTROL, [HEADER.contentType]: contentType, ...headers },
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
    isBase64Encoded: true,
  };
}
