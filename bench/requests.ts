/**
 * The protocol's requests as API Gateway payload-2.0 events for the handler, and what the bench
 * reads from its results. Paths come from the route table, header names and content types from
 * lambda/http/protocol.ts.
 */
import { randomBytes } from "node:crypto";
import { httpEvent } from "../dev/events.ts";
import type { HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { CONTENT_TYPE, HEADER } from "../lambda/http/protocol.ts";
import { pathOf } from "../lambda/http/routes.ts";
import type { Uuid } from "../lambda/uuid.ts";

/** Random bytes: TaskChampion payloads are ChaCha20-Poly1305 ciphertext, incompressible too. */
export function payload(bytes: number): Uint8Array {
  return new Uint8Array(randomBytes(bytes));
}

export function addVersionEvent(clientId: Uuid, parent: Uuid, body: Uint8Array): HttpEvent {
  return httpEvent("POST", pathOf("add-version", parent), {
    headers: {
      [HEADER.clientId]: clientId,
      [HEADER.contentType]: CONTENT_TYPE.historySegment,
      [HEADER.contentLength]: String(body.byteLength),
    },
    body,
  });
}

export function getChildEvent(clientId: Uuid, parent: Uuid): HttpEvent {
  return httpEvent("GET", pathOf("get-child-version", parent), { headers: { [HEADER.clientId]: clientId } });
}

export function addSnapshotEvent(clientId: Uuid, versionId: Uuid, body: Uint8Array): HttpEvent {
  return httpEvent("POST", pathOf("add-snapshot", versionId), {
    headers: {
      [HEADER.clientId]: clientId,
      [HEADER.contentType]: CONTENT_TYPE.snapshot,
      [HEADER.contentLength]: String(body.byteLength),
    },
    body,
  });
}

export function getSnapshotEvent(clientId: Uuid): HttpEvent {
  return httpEvent("GET", pathOf("get-snapshot"), { headers: { [HEADER.clientId]: clientId } });
}

/** A response header, by its name in HEADER. */
export function header(result: HttpResult, name: (typeof HEADER)[keyof typeof HEADER]): string | undefined {
  const value = result.headers?.[name];
  return value === undefined ? undefined : String(value);
}

/** The response body's length in bytes (decoded, when base64). */
export function bodyBytes(result: HttpResult): number {
  if (!result.body) return 0;
  return result.isBase64Encoded ? Buffer.from(result.body, "base64").byteLength : Buffer.byteLength(result.body);
}
