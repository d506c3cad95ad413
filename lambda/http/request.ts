/**
 * What the protocol routes read from a request, each check answering the protocol's 4xx:
 * the client id (and the allowlist), a version id in the path, a POST's body.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { SyncServer } from "../core/sync.ts";
import { clientTag } from "../log.ts";
import { parseClientId, parseUuid, type Uuid } from "../uuid.ts";
import { HEADER } from "./protocol.ts";
import { type HttpResult, text } from "./responses.ts";
import type { RouteName } from "./routes.ts";

export type HttpEvent = APIGatewayProxyEventV2;

/** A parsed request, as the route functions see it. */
export interface Request {
  /** Header names in lowercase: clients send them in any case. */
  headers: ReadonlyMap<string, string>;
  params: Readonly<Record<string, string>>;
  event: HttpEvent;
}

/** What a route learned, for the request's log line. */
export interface LogContext {
  route?: RouteName;
  /** The tag of the client id, the only form of it that is logged. */
  client?: string;
  outcome?: string;
  bytes?: number;
}

/** What every route may use. */
export interface RouteContext {
  sync: SyncServer;
  /** Larger request bodies are answered 413 (see LAMBDA_MAX_BODY_BYTES). */
  maxBodyBytes: number;
}

/** The function that answers one route of the route table (routes.ts). */
export type RouteHandler = (request: Request, log: LogContext, context: RouteContext) => Promise<HttpResult>;

/** A request the route refuses, with its answer. */
export type Rejection = { rejected: HttpResult };

/** A request body over the size limit: each route answers it in its own way. */
export const TOO_LARGE = Symbol("too large");

export function isRejection(value: unknown): value is Rejection {
  return typeof value === "object" && value !== null && "rejected" in value;
}

export function reject(status: number, message: string): Rejection {
  return { rejected: text(status, message) };
}

/** Reads and checks X-Client-Id and the allowlist (every protocol route). */
export function clientIdOf(request: Request, log: LogContext, { sync }: RouteContext): Uuid | Rejection {
  const raw = request.headers.get(HEADER.clientId);
  if (raw === undefined) return reject(400, "missing X-Client-Id header");
  const { id: clientId, fault } = parseClientId(raw.trim());
  if (!clientId) return reject(400, `X-Client-Id ${fault}`);
  log.client = clientTag(clientId);
  if (!sync.isAllowed(clientId)) return reject(403, "this client id may not sync with this server");
  return clientId;
}

export function versionIdParam(request: Request, name: string): Uuid | Rejection {
  const id = parseUuid(request.params[name] ?? "");
  return id ?? reject(400, `the ${name} in the path is not a UUID`);
}

/**
 * The body of a protocol POST: the exact content type, not empty, within the size limit.
 * Over the limit it is `TOO_LARGE`, which each route answers in its own way.
 */
export function bodyOf(
  request: Request,
  contentType: string,
  log: LogContext,
  { maxBodyBytes }: RouteContext,
): Uint8Array | Rejection | typeof TOO_LARGE {
  const given = request.headers.get(HEADER.contentType);
  // Parameters (such as a charset) are tolerated on requests; the media type must be exact.
  const mediaType = given?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== contentType) return reject(400, `Content-Type must be ${contentType}`);
  const declared = Number(request.headers.get(HEADER.contentLength) ?? Number.NaN);
  if (declared > maxBodyBytes) return TOO_LARGE;
  const { body, isBase64Encoded } = request.event;
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body, isBase64Encoded ? "base64" : "utf8");
  log.bytes = bytes.length;
  if (bytes.length === 0) return reject(400, "the request body is empty");
  if (bytes.length > maxBodyBytes) return TOO_LARGE;
  return bytes;
}

export function tooLarge({ maxBodyBytes }: RouteContext): HttpResult {
  return text(413, `the request body is larger than this server accepts (${maxBodyBytes} bytes)`);
}

export function lowercaseHeaders(headers: HttpEvent["headers"]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) map.set(name.toLowerCase(), value);
  return map;
}
