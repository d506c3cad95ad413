import { SERVER_NAME, SERVER_VERSION } from "../../version.ts";
import type { RouteHandler } from "../request.ts";
import { text } from "../responses.ts";

/**
 * `GET /`
 * 200 `text/plain`: the server's name and version, for people checking a deployment.
 */
export const root: RouteHandler = () => ({
  run: async () => text(200, `TaskChampion sync server: ${SERVER_NAME} ${SERVER_VERSION}\n`),
});
