/**
 * The local server: `npm start`, or `taskchampion-sync-server-aws serve` from the package. The
 * Lambda handler over Node's HTTP server, on SQLite under DATA_DIR by default (STORAGE=memory
 * or dynamodb otherwise). Prints where it listens and the Taskwarrior configuration that
 * points at it; stops cleanly on SIGINT or SIGTERM.
 */
import { pathToFileURL } from "node:url";
import { createApp } from "../lambda/app.ts";
import { ConfigError, ConfigReader, SETTINGS, readServerConfig, type Env } from "../lambda/config.ts";
import { createLogger, type Logger } from "../lambda/log.ts";
import type { Storage } from "../lambda/storage/types.ts";
import { startHistoryRetention } from "./history-retention.ts";
import { isSqliteUnavailable, sqliteUnavailableMessage } from "./sqlite-unavailable.ts";
import { NEW_SECRET_COMMAND, taskConfigLines } from "./task-config.ts";
import { type ConnectionLimits, defaultLimits, type LocalHttpServer, serveHandler } from "./local-http.ts";
import { openStorage } from "./open-storage.ts";
import { nextStopSignal } from "./stop-signal.ts";

export { SQLITE_FILE_NAME } from "./open-storage.ts";

export interface RunningServer extends LocalHttpServer {
  /** Which storage it serves, for people. */
  description: string;
  /** Whether only the clients of an allowlist (CLIENT_ID) may sync. */
  allowlisted: boolean;
  /** Stops the HTTP server, then closes the storage. */
  stop(): Promise<void>;
}

export async function startServer(env: Env): Promise<RunningServer> {
  const reader = new ConfigReader(env);
  const config = readServerConfig(reader);
  const listen = reader.get(SETTINGS.listen);
  const storageKind = reader.get(SETTINGS.storage);
  const historyDays = reader.get(SETTINGS.historyDays);
  const limits = readLimits(reader, config.maxBodyBytes);
  reader.check();
  const problems = limitProblems(limits, config.maxBodyBytes);
  if (problems.length > 0) throw new ConfigError(problems);
  const { storage, description } = await openStorage(storageKind, reader);
  reader.check();
  const logger = createLogger();
  let http: LocalHttpServer;
  try {
    http = await serveHandler(createApp(storage, config, logger), { ...listen, maxBodyBytes: config.maxBodyBytes, limits });
  } catch (error) {
    // Not listening (the address in use, say): the storage opened for it is closed again.
    await storage.close().catch(() => undefined);
    throw error;
  }
  // Only a server on DynamoDB loads its maintenance (and the SDK with it).
  const maintenance = storageKind === "dynamodb" ? await dynamoMaintenance(storage, historyDays, logger) : undefined;
  const retention = startHistoryRetention(storage, historyDays, logger, undefined, maintenance);
  return {
    ...http,
    stop: async () => {
      await http.close();
      await retention.stop();
      await storage.close();
    },
    description,
    allowlisted: config.rules.allowedClientIds !== undefined,
  };
}

function readLimits(reader: ConfigReader, maxBodyBytes: number): ConnectionLimits {
  return {
    headersTimeoutMs: reader.get(SETTINGS.headersTimeoutSeconds) * 1000,
    requestTimeoutMs: reader.get(SETTINGS.requestTimeoutSeconds) * 1000,
    maxConnections: reader.get(SETTINGS.maxConnections),
    bodyBytesInFlight: reader.get(SETTINGS.maxBodyBytesInFlight) ?? defaultLimits(maxBodyBytes).bodyBytesInFlight,
  };
}

/** Limits that cannot work together: a head given longer than its whole request, a budget no body of the largest size fits. */
function limitProblems(limits: ConnectionLimits, maxBodyBytes: number): string[] {
  const problems: string[] = [];
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    problems.push(
      `${SETTINGS.headersTimeoutSeconds.name} (${limits.headersTimeoutMs / 1000}) is longer than ${SETTINGS.requestTimeoutSeconds.name} (${limits.requestTimeoutMs / 1000}): a request's time includes its head`,
    );
  }
  if (limits.bodyBytesInFlight < maxBodyBytes) {
    problems.push(
      `${SETTINGS.maxBodyBytesInFlight.name} (${limits.bodyBytesInFlight}) is less than ${SETTINGS.maxBodyBytes.name} (${maxBodyBytes}): a body of the largest size accepted could never be read`,
    );
  }
  return problems;
}

/**
 * The lines that point Taskwarrior at the server. They name no credential: these lines end up
 * in service logs, so an allowlisted client id is a placeholder and the secret a command.
 */
function startupConfigLines(url: string, allowlisted: boolean): string {
  const clientId = allowlisted ? "<one of the client ids in CLIENT_ID>" : '"$(uuidgen)"';
  return [
    "Point Taskwarrior 3 at it (one client id and secret per user, the same on each of their replicas):",
    ...taskConfigLines(url, clientId, NEW_SECRET_COMMAND).map((line) => `  ${line}`),
  ].join("\n");
}

/**
 * On DynamoDB + S3, the maintenance the AWS deployment's maintenance function runs (the orphan
 * sweep, which deletes what the deletion grace has held, and the pruning): without it a local
 * server on that storage would never delete an object. Undefined for the other storages.
 */
export async function dynamoMaintenance(
  storage: Storage,
  historyDays: number,
  logger: Logger,
): Promise<((signal: AbortSignal) => Promise<unknown>) | undefined> {
  const { DynamoStorage } = await import("../lambda/storage/dynamodb/storage.ts");
  if (!(storage instanceof DynamoStorage)) return undefined;
  const { createMaintenanceHandler } = await import("../lambda/maintenance-handler.ts");
  return (signal) => createMaintenanceHandler({ storage, historyDays, logger, signal })({});
}

/** How long in-flight requests may run once a stop is asked for; then their connections are cut. */
export const STOP_GRACE_MS = 20_000;

/**
 * Stops the server and closes its storage; in-flight requests get `graceMs` to finish, so that
 * a stalled client cannot hold the stop, then their connections are cut.
 */
export async function stopGracefully(running: RunningServer, graceMs = STOP_GRACE_MS): Promise<void> {
  const stopped = running.stop();
  const cut = setTimeout(() => running.server.closeAllConnections(), graceMs);
  try {
    await stopped;
  } finally {
    clearTimeout(cut);
  }
}

/**
 * Serves until SIGINT or SIGTERM, then stops accepting, lets in-flight requests finish (for
 * STOP_GRACE_MS at most) and closes the storage.
 * Resolves with the exit code: 0 after a clean stop, 1 if stopping failed, 2 for invalid
 * settings or arguments.
 */
export async function main(argv: readonly string[] = []): Promise<number> {
  if (argv.length > 0) {
    process.stderr.write("usage: serve (no arguments: the settings are environment variables, see the README)\n");
    return 2;
  }
  // Listening before the start: a signal during the start stops the server once it is up.
  const stopRequested = nextStopSignal();
  let running: RunningServer;
  try {
    running = await startServer(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    // better-sqlite3 missing or not built: what to do about it (the package's command says the same).
    if (isSqliteUnavailable(error) && error instanceof Error) {
      process.stderr.write(`${sqliteUnavailableMessage(error)}\n`);
      return 1;
    }
    // An address in use, a data directory it may not write, an unreachable storage: one line.
    process.stderr.write(`error: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  process.stdout.write(
    `TaskChampion sync server listening on ${running.url}, storage: ${running.description}\n${startupConfigLines(running.url, running.allowlisted)}\n`,
  );
  const signal = await stopRequested;
  // Said once the listener is closed: whoever reads it finds new connections refused.
  const stopped = stopGracefully(running);
  process.stdout.write(`${signal}: stopping\n`);
  try {
    await stopped;
    return 0;
  } catch (error) {
    process.stderr.write(`error while stopping: ${String(error)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await main(process.argv.slice(2)));
}
