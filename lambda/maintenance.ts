/**
 * The maintenance function's Lambda entry, run on a schedule (EventBridge; see
 * lib/sync-server.ts): one maintenance run (maintenance-handler.ts) on the storage built once
 * per execution environment, from the same settings as the sync function
 * (storage/dynamodb/from-env.ts). Each run logs one line with its counts and its `durationMs`.
 */
import { ConfigReader, SETTINGS } from "./config.ts";
import { createMaintenanceHandler, type MaintenanceHandler } from "./maintenance-handler.ts";
import { dynamoStorageFromEnv } from "./storage/dynamodb/from-env.ts";

export {
  createMaintenanceHandler,
  DEFAULT_MAINTENANCE_BUDGET_MS,
  MAINTENANCE_MARGIN_MS,
  type MaintenanceHandler,
  type MaintenanceOptions,
  type MaintenanceReport,
} from "./maintenance-handler.ts";

function fromEnv(): MaintenanceHandler {
  const reader = new ConfigReader(process.env);
  const { storage } = dynamoStorageFromEnv(reader);
  const historyDays = reader.get(SETTINGS.historyDays);
  // Invalid settings fail the cold start with a message naming each variable.
  reader.check();
  return createMaintenanceHandler({ storage, historyDays });
}

export const handler = fromEnv();
