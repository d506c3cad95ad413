import { CONTENT_TYPE, HEADER } from "../protocol.ts";
import { clientIdOf, isRejection, type RouteHandler, tooLarge, versionIdParam } from "../request.ts";
import { empty, text } from "../responses.ts";

/**
 * `POST /v1/client/add-version/{parentVersionId}`
 * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.history-segment`,
 * body = the history segment (not empty).
 * 200: `X-Version-Id` of the new version, `X-Snapshot-Request: urgency=low|high` when a
 * snapshot is wanted; empty body.
 * 409: `X-Parent-Version-Id` = the client's latest version; empty body; nothing stored.
 * 404: the client does not exist and client creation is off (on the local server, before the
 * body is read).
 * 507: the version would take the client past its quota (MAX_CLIENT_BYTES, as the storage
 * counts it: payloads, each version's overhead, deleted data still kept); `text/plain`
 * reason; nothing stored.
 * 400 bad client id, parent id, content type or empty body; 403 not allowed;
 * 413 a body over MAX_BODY_BYTES; 411 (local server) a body without Content-Length.
 */
export const addVersion: RouteHandler = (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId;
  const parentVersionId = versionIdParam(request, "parentVersionId");
  if (isRejection(parentVersionId)) return parentVersionId;
  const unknownClient = () => {
    log.outcome = "unknown-client";
    return text(404, "unknown client id, and this server does not create clients");
  };

  return {
    body: {
      contentType: CONTENT_TYPE.historySegment,
      tooLarge: async () => tooLarge(context),
      beforeReading: async () => ((await context.sync.refusesAsUnknownClient(clientId, "add-version")) ? unknownClient() : undefined),
    },
    run: async (body) => {
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
          return unknownClient();
        case "quota-exceeded":
          return text(
            507,
            `this client uses ${outcome.usedBytes} bytes of its quota of ${outcome.maxClientBytes}; this version would pass it`,
          );
      }
    },
  };
};
