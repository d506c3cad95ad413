import { CONTENT_TYPE, HEADER } from "../protocol.ts";
import { bodyOf, clientIdOf, isRejection, type RouteHandler, TOO_LARGE, tooLarge, versionIdParam } from "../request.ts";
import { empty, text } from "../responses.ts";

/**
 * `POST /v1/client/add-version/{parentVersionId}`
 * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.history-segment`,
 * body = the history segment (not empty).
 * 200: `X-Version-Id` of the new version, `X-Snapshot-Request: urgency=low|high` when a
 * snapshot is wanted; empty body.
 * 409: `X-Parent-Version-Id` = the client's latest version; empty body; nothing stored.
 * 404: the client does not exist and client creation is off.
 * 507: the version would take the client past its quota (MAX_CLIENT_BYTES, as the storage
 * counts it: payloads, each version's overhead, deleted data still kept); `text/plain`
 * reason; nothing stored.
 * 400 bad client id, parent id, content type or empty body; 403 not allowed;
 * 413 a body over MAX_BODY_BYTES.
 */
export const addVersion: RouteHandler = async (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId.rejected;
  const parentVersionId = versionIdParam(request, "parentVersionId");
  if (isRejection(parentVersionId)) return parentVersionId.rejected;
  const body = bodyOf(request, CONTENT_TYPE.historySegment, log, context);
  if (body === TOO_LARGE) return tooLarge(context);
  if (isRejection(body)) return body.rejected;

  const outcome = await context.sync.addVersion(clientId, parentVersionId, body);
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
    case "quota-exceeded":
      return text(507, `this client uses ${outcome.usedBytes} bytes of its quota of ${outcome.maxClientBytes}; this version would pass it`);
  }
};
