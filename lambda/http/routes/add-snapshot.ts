import type { AddSnapshotOutcome } from "../../core/sync.ts";
import { CONTENT_TYPE } from "../protocol.ts";
import { clientIdOf, isRejection, type RouteHandler, versionIdParam } from "../request.ts";
import { empty, text } from "../responses.ts";

/**
 * `POST /v1/client/add-snapshot/{versionId}`
 * Request: `X-Client-Id`, `Content-Type: application/vnd.taskchampion.snapshot`, body = the
 * snapshot (not empty).
 * 200: empty body, whether the snapshot was stored or ignored (a snapshot for an old or
 * unknown version, or one the server did not ask for, is not the client's problem). A
 * snapshot over MAX_BODY_BYTES or past the client's quota is answered 200 too, not stored
 * (one over MAX_BODY_BYTES not even read, when its declared length says so), and the server
 * stops asking for snapshots for a period: a failed AddSnapshot fails the client's whole sync,
 * and asking again at once would fail the next.
 * 404: unknown client (on the local server, before the body is read). 400 bad client id,
 * version id, content type or empty body; 403 not allowed; 411 (local server) a body without
 * Content-Length.
 */
export const addSnapshot: RouteHandler = (request, log, context) => {
  const clientId = clientIdOf(request, log, context);
  if (isRejection(clientId)) return clientId;
  const versionId = versionIdParam(request, "versionId");
  if (isRejection(versionId)) return versionId;
  const answer = (outcome: AddSnapshotOutcome) => {
    log.outcome = outcome.kind === "ignored" || outcome.kind === "declined" ? `${outcome.kind}:${outcome.reason}` : outcome.kind;
    return outcome.kind === "unknown-client" ? text(404, "unknown client id") : empty(200);
  };

  return {
    body: {
      contentType: CONTENT_TYPE.snapshot,
      tooLarge: async () => answer(await context.sync.declineSnapshot(clientId, versionId, "too-large")),
      beforeReading: async () =>
        (await context.sync.refusesAsUnknownClient(clientId, "add-snapshot")) ? answer({ kind: "unknown-client" }) : undefined,
    },
    run: async (body) => answer(await context.sync.addSnapshot(clientId, versionId, body)),
  };
};
