/**
 * The checks of a request's head, in one place and in this order: the route and its method
 * (routes.ts), the route's own checks (routes/: the client id, the allowlist, the path's
 * version id), then a body's content type and declared length. They read no body and no
 * storage, so that the local server can make them before it reads an upload (the handler's
 * `admit`), and the handler makes the very same ones on a whole event.
 */
import { HEADER } from "./protocol.ts";
import {
  type BodyRule,
  type HttpEvent,
  isRejection,
  type LogContext,
  lowercaseHeaders,
  type RouteContext,
  type RouteHandler,
} from "./request.ts";
import { type HttpResult, text } from "./responses.ts";
import { addSnapshot } from "./routes/add-snapshot.ts";
import { addVersion } from "./routes/add-version.ts";
import { getChildVersion } from "./routes/get-child-version.ts";
import { getSnapshot } from "./routes/get-snapshot.ts";
import { root } from "./routes/root.ts";
import { matchRoute, type RouteName } from "./routes.ts";

/** The function of each route of the route table. */
const ROUTE_FUNCTIONS: Record<RouteName, RouteHandler> = {
  root,
  "add-version": addVersion,
  "get-child-version": getChildVersion,
  "add-snapshot": addSnapshot,
  "get-snapshot": getSnapshot,
};

/** Where the head leaves a request. */
export type HeadVerdict =
  /** Answered on the head alone (a refusal, or a body too large), without any of a body. */
  | { kind: "answer"; answer(): Promise<HttpResult> }
  /** A route without a body. */
  | { kind: "no-body"; run(): Promise<HttpResult> }
  /** A route with a body, of `declaredBytes` when the head declares its length. */
  | ({ kind: "body"; declaredBytes: number | undefined; run(body: Uint8Array): Promise<HttpResult> } & BodyRule);

/**
 * Checks the head of `event` (its method, path and headers; its body is not looked at).
 * `bodyToCome`: the body follows the head on a stream (the local server), so a body's length
 * must be declared before any of it is read.
 */
export function checkHead(event: HttpEvent, log: LogContext, context: RouteContext, bodyToCome: boolean): HeadVerdict {
  const match = matchRoute(event.requestContext.http.method.toUpperCase(), event.rawPath);
  if (match.kind === "not-found") return answer(text(404, "no such route"));
  if (match.kind === "method-not-allowed") return answer(text(405, "method not allowed", { [HEADER.allow]: match.allow.join(", ") }));
  log.route = match.route.name;
  const request = { headers: lowercaseHeaders(event.headers), params: match.params };
  const accepted = ROUTE_FUNCTIONS[match.route.name](request, log, context);
  if (isRejection(accepted)) return answer(accepted.rejected);
  if (accepted.body === undefined) return { kind: "no-body", run: () => accepted.run() };
  const { body } = accepted;
  const given = request.headers.get(HEADER.contentType);
  // Parameters (such as a charset) are tolerated on requests; the media type must be exact.
  const mediaType = given?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== body.contentType) return answer(text(400, `Content-Type must be ${body.contentType}`));
  const length = request.headers.get(HEADER.contentLength);
  // Every TaskChampion client sends Content-Length; a body without one (chunked) could only
  // be measured by reading it.
  if (length === undefined && bodyToCome) return answer(text(411, "a request body needs a Content-Length header"));
  const declared = Number(length ?? Number.NaN);
  if (declared > context.maxBodyBytes) return { kind: "answer", answer: () => body.tooLarge() };
  return {
    kind: "body",
    declaredBytes: Number.isSafeInteger(declared) ? declared : undefined,
    contentType: body.contentType,
    tooLarge: () => body.tooLarge(),
    beforeReading: () => body.beforeReading(),
    run: (bytes) => accepted.run(bytes),
  };
}

function answer(result: HttpResult): HeadVerdict {
  return { kind: "answer", answer: async () => result };
}
