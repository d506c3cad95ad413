/**
 * The shapes of every response: each carries `Cache-Control: no-store`; errors are short
 * `text/plain` bodies; protocol payloads are base64 (API Gateway decodes them to bytes).
 */
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { CACHE_CONTROL, CONTENT_TYPE, HEADER } from "./protocol.ts";

export type HttpResult = APIGatewayProxyStructuredResultV2;

export function empty(status: number, headers: Record<string, string> = {}): HttpResult {
  return { statusCode: status, headers: { [HEADER.cacheControl]: CACHE_CONTROL, ...headers }, body: "", isBase64Encoded: false };
}

export function text(status: number, message: string, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode: status,
    headers: { [HEADER.cacheControl]: CACHE_CONTROL, [HEADER.contentType]: CONTENT_TYPE.text, ...headers },
    body: message.endsWith("\n") ? message : `${message}\n`,
    isBase64Encoded: false,
  };
}

export function binary(status: number, contentType: string, data: Uint8Array, headers: Record<string, string>): HttpResult {
  return {
    statusCode: status,
    headers: { [HEADER.cacheControl]: CACHE_CONTROL, [HEADER.contentType]: contentType, ...headers },
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
    isBase64Encoded: true,
  };
}
