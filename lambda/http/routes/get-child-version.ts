import { CONTENT_TYPE, HEADER } from "../protocol.ts";
import { clientIdOf, isRejection, type RouteHandler, versionIdParam } from "../request.ts";
import { binary, empty, text } from "../responses.ts";

/**
 * `GET /v1/client/get-child-version/{parentVersionId}`
 * Request: `X-Client-Id`.
 * 200: body = the child's history segment, `Content-Type:
 * application/vnd.taskchampion.history-segment`, `X-Version-Id`, `X-Parent-Version-Id`.
 * 404: no child and the parent is the latest version (or there is none): up to date; also
 * for an unknown client.
 * 410: no child and the parent is not the latest: the replica must start from the snapshot.
 * 400 bad client id or parent id; 403 not allowed.
 */
export const getChildVersion: RouteHandler = (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId;
  const parentVersionId = versionIdParam(request, "parentVersionId");
  if (isRejection(parentVersionId)) return parentVersionId;

  return {
    run: async () => {
      const outcome = await context.sync.getChildVersion(clientId, parentVersionId);
      log.outcome = outcome.kind;
      switch (outcome.kind) {
        case "found":
          log.bytes = outcome.version.historySegment.length;
          return binary(200, CONTENT_TYPE.historySegment, outcome.version.historySegment, {
            [HEADER.versionId]: outcome.version.versionId,
            [HEADER.parentVersionId]: outcome.version.parentVersionId,
          });
        case "up-to-date":
          return empty(404);
        case "unknown-client":
          return text(404, "unknown client id");
        case "gone":
          return text(410, "the parent version is not in this client's history: start from the snapshot");
      }
    },
  };
};
