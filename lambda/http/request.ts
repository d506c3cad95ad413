/**
 * What the protocol routes read from a request's head, each check answering the protocol's
 * 4xx (the client id and the allowlist, a version id in the path), and the shapes a route
 * answers in: refused on its head, or accepted with what to do next.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { SyncServer } from "../core/sync.ts";
import { clientTag } from "../log.ts";
import { parseClientId, parseUuid, type Uuid } from "../uuid.ts";
import { HEADER } from "./protocol.ts";
import { type HttpResult, text } from "./responses.ts";
import type { RouteName } from "./routes.ts";

export type HttpEvent = APIGatewayProxyEventV2;

/** A request as the route functions see it: its head only; a body comes to `Accepted.run`. */
export interface Request {
  /** Header names in lowercase: clients send them in any case. */
  headers: ReadonlyMap<string, string>;
  params: Readonly<Record<string, string>>;
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

/** The body a route reads, and its answers that do not need the body's bytes. */
export interface BodyRule {
  /** The exact media type the body must be sent as. */
  contentType: string;
  /** The answer to a body over MAX_BODY_BYTES, by its declared or by its actual size. */
  tooLarge(): Promise<HttpResult>;
  /**
   * Made only when the body is still to come (the local server), never when it arrived with
   * the request (Lambda): the answer when the upload would be refused whatever it holds, so
   * that it is not read; undefined to read it.
   */
  beforeReading(): Promise<HttpResult | undefined>;
}

/** A request whose head a route accepted: what it does next, with a body or without one. */
export type Accepted = { body?: undefined; run(): Promise<HttpResult> } | { body: BodyRule; run(body: Uint8Array): Promise<HttpResult> };

/**
 * The function of one route of the route table (routes.ts): its checks of the request's head,
 * which need no storage, then what it does with an accepted request.
 */
export type RouteHandler = (request: Request, log: LogContext, context: RouteContext) => Accepted | Rejection;

/** A request the route refuses, with its answer. */
export type Rejection = { rejected: HttpResult };

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

export function tooLarge({ maxBodyBytes }: RouteContext): HttpResult {
  return text(413, `the request body is larger than this server accepts (${maxBodyBytes} bytes)`);
}

export function lowercaseHeaders(headers: HttpEvent["headers"]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) map.set(name.toLowerCase(), value);
  return map;
}
