/**
 * Serves a payload-2.0 handler over Node's HTTP server, the way API Gateway's HTTP API would
 * call it: each request becomes the same event, each result the same response. Used by the
 * local server and by the tests that exercise the handler through real sockets.
 *
 * It refuses before it reads: the handler's `admit` checks a request's head (route, method,
 * client id, allowlist, content type, declared length, an upload of an unknown client), and
 * only an admitted body is read, within a budget of body bytes across connections. Node's own
 * limits bound the rest: the time to send a head and a whole request, and the connections.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BODIES_IN_FLIGHT, SETTINGS } from "../lambda/config.ts";
import type { Admission, App, Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import { text } from "../lambda/http/responses.ts";
import { scrubIds } from "../lambda/log.ts";

export interface LocalHttpServer {
  server: Server;
  /** The base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /**
   * Stops accepting, lets in-flight requests finish (their responses close their connections),
   * then resolves. `server.closeAllConnections()` cuts the requests still running.
   */
  close(): Promise<void>;
}

/** How much of the server connections may hold, and for how long (README, "Limits of the local server"). */
export interface ConnectionLimits {
  /** A request's head must have arrived this long after it began (Node answers 408 and closes). */
  headersTimeoutMs: number;
  /** A whole request, head and body, must have arrived this long after it began (408). */
  requestTimeoutMs: number;
  /** Connections beyond this many are closed as soon as they are accepted. */
  maxConnections: number;
  /** The most body bytes being read or held at once, over every connection; beyond it, 503. */
  bodyBytesInFlight: number;
}

/** The limits of the settings left at their defaults, for a server whose bodies are at most `maxBodyBytes`. */
export function defaultLimits(maxBodyBytes: number): ConnectionLimits {
  return {
    headersTimeoutMs: SETTINGS.headersTimeoutSeconds.defaultValue * 1000,
    requestTimeoutMs: SETTINGS.requestTimeoutSeconds.defaultValue * 1000,
    maxConnections: SETTINGS.maxConnections.defaultValue,
    bodyBytesInFlight: BODIES_IN_FLIGHT * maxBodyBytes,
  };
}

/** Node's own default, stated: an idle kept-alive connection is closed after 5 s. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** What a request over the budget is told to wait: uploads in flight take seconds, not minutes. */
const BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * Serves `handler`. An `App` (what createApp returns) is asked to `admit` each request before
 * its body is read; a plain handler (a test's wrapper) gets every body, up to
 * `maxBodyBytes + 1` bytes: enough for it to see that one is too large.
 */
export async function serveHandler(
  handler: Handler | App,
  options: { host: string; port: number; maxBodyBytes: number; limits?: Partial<ConnectionLimits> },
): Promise<LocalHttpServer> {
  const limits = { ...defaultLimits(options.maxBodyBytes), ...options.limits };
  const admit = "admit" in handler ? handler.admit : readWhole(options.maxBodyBytes);
  const budget = new ByteBudget(limits.bodyBytesInFlight);
  let closing = false;
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Node looks for requests past their time at this interval (30 s by default, which would
    // let a request run half a minute past its timeout).
    connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 10)),
  });
  server.maxConnections = limits.maxConnections;
  const serve = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    const exchange: Exchange = { handler, admit, budget, closing: () => closing, expectsContinue };
    handle(exchange, req, res).catch((error: unknown) => {
      // The handler maps its own failures; this is the adapter failing, which never reaches a client as a trace.
      process.stderr.write(`local adapter error: ${scrubIds(error instanceof Error ? error.message : String(error))}\n`);
      if (!res.headersSent) res.writeHead(500, { "cache-control": "no-store, max-age=0", connection: "close" });
      res.end();
    });
  };
  server.on("request", serve(false));
  // With a listener, Node leaves `Expect: 100-continue` to it: 100 only once the head is admitted.
  server.on("checkContinue", serve(true));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

interface Exchange {
  handler: Handler;
  admit: (head: HttpEvent) => Promise<Admission>;
  budget: ByteBudget;
  closing: () => boolean;
  expectsContinue: boolean;
}

async function handle(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // An answer given without reading a body the head announced closes the connection: the
  // rest of the upload is not read, nor can another request follow it.
  const bodyAnnounced = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  const url = requestTarget(req.url);
  if (url === undefined) {
    // Node's parser lets through absolute-form targets that are no URL (`http://[::1`): the
    // client's mistake, so 400.
    writeResult(res, text(400, "malformed request target"), true);
    return;
  }
  const head = toEvent(req, url);
  const admission = await exchange.admit(head);
  if (admission.kind === "answer") {
    writeResult(res, admission.result, bodyAnnounced || exchange.closing());
    return;
  }
  // Gone while its head was admitted (a storage read): nothing to read or answer.
  if (req.destroyed) return;
  const { bodyBytes } = admission;
  if (!exchange.budget.take(bodyBytes)) {
    writeResult(res, text(503, "the server is receiving all the uploads it may at once, try again later", busyHeaders()), true);
    return;
  }
  try {
    let read: { body: Buffer; truncated: boolean } = { body: Buffer.alloc(0), truncated: false };
    if (bodyBytes > 0) {
      if (exchange.expectsContinue) res.writeContinue();
      const arrived = await readBody(req, bodyBytes);
      // The client went away, or Node cut a request past its timeout (answering 408 itself).
      if (arrived === undefined) return;
      read = arrived;
    }
    const result = await exchange.handler(withBody(head, read.body));
    // While the server closes, a kept-alive connection would hold the close for Node's keep-alive timeout.
    writeResult(res, result, read.truncated || (bodyAnnounced && bodyBytes === 0) || exchange.closing());
  } finally {
    exchange.budget.give(bodyBytes);
  }
}

/** The admission of a handler that checks no head: read the body, up to one byte past the limit. */
function readWhole(maxBodyBytes: number): (head: HttpEvent) => Promise<Admission> {
  return async ({ headers }) => {
    const limit = maxBodyBytes + 1;
    const declared = headers[HEADER.contentLength];
    const bodyBytes = declared === undefined ? (headers["transfer-encoding"] === undefined ? 0 : limit) : Math.min(Number(declared), limit);
    return { kind: "read", bodyBytes };
  };
}

function busyHeaders(): Record<string, string> {
  return { [HEADER.retryAfter]: String(BUSY_RETRY_AFTER_SECONDS) };
}

/** The body bytes reserved by the requests whose bodies are being read or answered. */
class ByteBudget {
  private used = 0;
  constructor(private readonly capacity: number) {}

  /** Reserves `bytes` if they fit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** The request target as a URL (origin-form or absolute-form), or undefined when it is none. */
function requestTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    return undefined;
  }
}

/**
 * Reads at most `limit` bytes of a body (`truncated` when more came) into one buffer of that
 * size, so that a body is held once while it arrives; undefined when the connection closed
 * before the body's end.
 */
function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; truncated: boolean } | undefined> {
  return new Promise((resolve) => {
    // Closed already: its "close" has been emitted, and no "end" will be.
    if (req.destroyed) return resolve(undefined);
    const body = Buffer.allocUnsafe(limit);
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      const room = limit - size;
      if (chunk.length > room) {
        chunk.copy(body, size, 0, room);
        // Enough read to answer 413; stop reading the rest of the upload.
        req.pause();
        resolve({ body, truncated: true });
        return;
      }
      chunk.copy(body, size);
      size += chunk.length;
    });
    req.on("end", () => resolve({ body: body.subarray(0, size), truncated: false }));
    req.on("error", () => resolve(undefined));
    req.on("close", () => resolve(undefined));
  });
}

/** The event of a request's head: everything but its body. */
function toEvent(req: IncomingMessage, url: URL): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const now = new Date();
  const method = req.method ?? "GET";
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: "local",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
}

/** The event with its body, base64-encoded as API Gateway encodes binary bodies. */
function withBody(head: HttpEvent, body: Buffer): HttpEvent {
  return body.length === 0 ? head : { ...head, body: body.toString("base64"), isBase64Encoded: true };
}

function writeResult(res: ServerResponse, result: HttpResult, closeAfter: boolean): void {
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? "base64" : "utf8");
  const headers: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  headers["content-length"] = body.length;
  // An upload cut short cannot continue on this connection, nor can anything once the server closes.
  if (closeAfter) headers.connection = "close";
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(body);
}
