/**
 * The local server: `npm start`. The Lambda handler over Node's HTTP server, on SQLite under
 * DATA_DIR by default (STORAGE=memory or dynamodb otherwise). Prints where it listens and the
 * Taskwarrior configuration that points at it.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { createApp } from "../lambda/app.ts";
import { ConfigError, ConfigReader, SETTINGS, readServerConfig, type Env } from "../lambda/config.ts";
import { createLogger } from "../lambda/log.ts";
import { newUuid } from "../lambda/uuid.ts";
import { serveHandler, type LocalHttpServer } from "./local-http.ts";
import { openStorage } from "./open-storage.ts";

export { SQLITE_FILE_NAME } from "./open-storage.ts";

export interface RunningServer extends LocalHttpServer {
  /** Which storage it serves, for people. */
  description: string;
  /** Stops the HTTP server, then closes the storage. */
  stop(): Promise<void>;
}

export async function startServer(env: Env): Promise<RunningServer> {
  const reader = new ConfigReader(env);
  const config = readServerConfig(reader);
  const listen = reader.get(SETTINGS.listen);
  const storageKind = reader.get(SETTINGS.storage);
  reader.check();
  const { storage, description } = await openStorage(storageKind, reader);
  reader.check();
  const logger = createLogger();
  const http = await serveHandler(createApp(storage, config, logger), { ...listen, maxBodyBytes: config.maxBodyBytes });
  return {
    ...http,
    stop: async () => {
      await http.close();
      await storage.close();
    },
    description,
  };
}

function taskConfigLines(url: string, env: Env): string {
  const allowed =
    env[SETTINGS.clientIdAllowlist.name]
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const clientId = allowed.length === 1 && allowed[0] !== undefined ? allowed[0] : newUuid();
  return [
    "Point Taskwarrior 3 at it (one client id and secret per user, the same on each of their replicas):",
    `  task config sync.server.url ${url}          # Taskwarrior 3.0: sync.server.origin`,
    `  task config sync.server.client_id ${clientId}`,
    `  task config sync.encryption_secret ${randomBytes(24).toString("base64url")}`,
    "  task sync",
  ].join("\n");
}

async function main(): Promise<void> {
  let running: RunningServer;
  try {
    running = await startServer(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.stdout.write(
    `TaskChampion sync server listening on ${running.url}, storage: ${running.description}\n${taskConfigLines(running.url, process.env)}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping\n`);
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
