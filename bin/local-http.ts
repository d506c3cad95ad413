/**
 * Serves a payload-2.0 handler over Node's HTTP server, the way API Gateway's HTTP API would
 * call it: each request becomes the same event, each result the same response. Used by the
 * local server and by the tests that exercise the handler through real sockets.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { text } from "../lambda/http/responses.ts";

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

/**
 * Reads at most `maxBodyBytes + 1` bytes of a body: enough for the handler to see that it is
 * too large without this process buffering an unbounded upload.
 */
export async function serveHandler(
  handler: Handler,
  options: { host: string; port: number; maxBodyBytes: number },
): Promise<LocalHttpServer> {
  let closing = false;
  const server = createServer((req, res) => {
    handle(handler, options.maxBodyBytes, req, res, () => closing).catch((error: unknown) => {
      // The handler maps its own failures; this is the adapter failing, which never reaches a client as a trace.
      process.stderr.write(`local adapter error: ${error instanceof Error ? error.message : String(error)}\n`);
      if (!res.headersSent) res.writeHead(500, { "cache-control": "no-store, max-age=0" });
      res.end();
    });
  });
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

async function handle(
  handler: Handler,
  maxBodyBytes: number,
  req: IncomingMessage,
  res: ServerResponse,
  closing: () => boolean,
): Promise<void> {
  const url = requestTarget(req.url);
  if (url === undefined) {
    // Node's parser lets through absolute-form targets that are no URL (`http://[::1`): the
    // client's mistake, so 400; the connection closes instead of reading the body.
    writeResult(res, text(400, "malformed request target"), true);
    return;
  }
  const { body, truncated } = await readBody(req, maxBodyBytes + 1);
  const result = await handler(toEvent(req, url, body));
  // While the server closes, a kept-alive connection would hold the close for Node's keep-alive timeout.
  writeResult(res, result, truncated || closing());
}

/** The request target as a URL (origin-form or absolute-form), or undefined when it is none. */
function requestTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    req.on("data", (chunk: Buffer) => {
      if (truncated) return;
      const room = limit - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, room));
        size = limit;
        truncated = true;
        // Enough read to answer 413; stop reading the rest of the upload.
        req.pause();
        resolve({ body: Buffer.concat(chunks), truncated });
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks), truncated }));
    req.on("error", reject);
  });
}

function toEvent(req: IncomingMessage, url: URL, body: Buffer): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const now = new Date();
  const method = req.method ?? "GET";
  const hasBody = body.length > 0;
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
    // API Gateway base64-encodes binary bodies; do the same for every body.
    ...(hasBody ? { body: body.toString("base64") } : {}),
    isBase64Encoded: hasBody,
  };
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
