/**
 * The Lambda entry point. Everything is built once per execution environment (at cold start)
 * and reused by every invocation: settings, SDK clients, the DynamoDB + S3 storage.
 * Only the DynamoDB storage is imported, so the bundle never contains SQLite.
 */
import type { Context } from "aws-lambda";
import { createApp, lambdaLimits } from "./app.ts";
import type { HttpEvent, HttpResult } from "./http/handler.ts";
import { ConfigReader, readServerConfig } from "./config.ts";
import { dynamoStorageFromEnv } from "./storage/dynamodb/from-env.ts";

const reader = new ConfigReader(process.env);
const config = readServerConfig(reader);
const { storage } = dynamoStorageFromEnv(reader);
// Invalid settings fail the cold start with a message naming each variable.
reader.check();

const app = createApp(storage, config);

/** One deadline per request, from the function's remaining time: every storage transaction of the request shares it. */
export const handler = (event: HttpEvent, context?: Context): Promise<HttpResult> => app(event, lambdaLimits(context));
