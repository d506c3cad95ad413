/** Builds API Gateway HTTP API (payload format 2.0) events, as Lambda receives them. */
import type { HttpEvent } from "../lambda/http/handler.ts";

export interface EventOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Send the body base64-encoded (API Gateway does this for binary content). Default true. */
  base64?: boolean;
}

export function httpEvent(method: string, path: string, options: EventOptions = {}): HttpEvent {
  const { headers = {}, body, base64 = true } = options;
  const encoded =
    body === undefined
      ? {}
      : base64
        ? { body: Buffer.from(body).toString("base64"), isBase64Encoded: true }
        : { body: typeof body === "string" ? body : Buffer.from(body).toString("utf8"), isBase64Encoded: false };
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers,
    requestContext: {
      accountId: "123456789012",
      apiId: "api",
      domainName: "example.com",
      domainPrefix: "example",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "192.0.2.1", userAgent: "test" },
      requestId: "request-id",
      routeKey: "$default",
      stage: "$default",
      time: "01/Jun/2026:00:00:00 +0000",
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    ...encoded,
  };
}
