/**
 * The Lambda entry point. Everything is built once per execution environment (at cold start)
 * and reused by every invocation: settings, SDK clients, the DynamoDB + S3 storage.
 * Only the DynamoDB storage is imported, so the bundle never contains SQLite.
 */
import { createApp } from "./app.ts";
import { ConfigReader, readServerConfig } from "./config.ts";
import { dynamoStorageFromEnv } from "./storage/dynamodb/from-env.ts";

const reader = new ConfigReader(process.env);
const config = readServerConfig(reader);
const { storage } = dynamoStorageFromEnv(reader);
// Invalid settings fail the cold start with a message naming each variable.
reader.check();

export const handler = createApp(storage, config);
