import { CONTENT_TYPE, HEADER } from "../protocol.ts";
import { clientIdOf, isRejection, type RouteHandler } from "../request.ts";
import { binary, empty, text } from "../responses.ts";

/**
 * `GET /v1/client/snapshot`
 * Request: `X-Client-Id`.
 * 200: body = the snapshot, `Content-Type: application/vnd.taskchampion.snapshot`,
 * `X-Version-Id` = the snapshot's version.
 * 404: no snapshot, or unknown client. 400 bad client id; 403 not allowed.
 */
export const getSnapshot: RouteHandler = (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId;

  return {
    run: async () => {
      const outcome = await context.sync.getSnapshot(clientId);
      log.outcome = outcome.kind;
      switch (outcome.kind) {
        case "found":
          log.bytes = outcome.data.length;
          return binary(200, CONTENT_TYPE.snapshot, outcome.data, { [HEADER.versionId]: outcome.versionId });
        case "none":
          return empty(404);
        case "unknown-client":
          return text(404, "unknown client id");
      }
    },
  };
};
