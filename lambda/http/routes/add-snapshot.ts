import { CONTENT_TYPE } from "../protocol.ts";
import { bodyOf, clientIdOf, isRejection, type RouteHandler, TOO_LARGE, versionIdParam } from "../request.ts";
import { empty, text } from "../responses.ts";

/**
 * `POST /v1/client/add-snapshot/{versionId}`
 * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.snapshot`, body = the
 * snapshot (not empty).
 * 200: empty body, whether the snapshot was stored or ignored (a snapshot for an old or
 * unknown version, or one the server did not ask for, is not the client's problem). A
 * snapshot over MAX_BODY_BYTES or past the client's quota is answered 200 too, not stored,
 * and the server stops asking for snapshots for a period: a failed AddSnapshot fails the
 * client's whole sync, and asking again at once would fail the next.
 * 404: unknown client. 400 bad client id, version id, content type or empty body;
 * 403 not allowed.
 */
export const addSnapshot: RouteHandler = async (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId.rejected;
  const versionId = versionIdParam(request, "versionId");
  if (isRejection(versionId)) return versionId.rejected;
  const body = bodyOf(request, CONTENT_TYPE.snapshot, log, context);
  if (isRejection(body)) return body.rejected;

  const outcome =
    body === TOO_LARGE
      ? await context.sync.declineSnapshot(clientId, versionId, "too-large")
      : await context.sync.addSnapshot(clientId, versionId, body);
  log.outcome = outcome.kind === "ignored" || outcome.kind === "declined" ? `${outcome.kind}:${outcome.reason}` : outcome.kind;
  return outcome.kind === "unknown-client" ? text(404, "unknown client id") : empty(200);
};
