/** Wires a storage and the server settings into the HTTP handler: the same for Lambda and local. */
import type { ServerConfig } from "./config.ts";
import { SyncServer } from "./core/sync.ts";
import { type App, createHandler } from "./http/handler.ts";
import { createLogger, type Logger } from "./log.ts";
import type { Storage } from "./storage/types.ts";

export function createApp(storage: Storage, config: ServerConfig, logger: Logger = createLogger()): App {
  return createHandler({ sync: new SyncServer(storage, config.rules), maxBodyBytes: config.maxBodyBytes, logger });
}
