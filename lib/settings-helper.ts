/**
 * The construct's settings: its props with their defaults, checked with the very parsers the
 * function uses at cold start, and the function's environment built from them under the names
 * the function reads (SETTINGS).
 */
import { Annotations, Duration, RemovalPolicy, Token } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { AWS_MAX_CLIENT_BYTES, LAMBDA_MAX_BODY_BYTES, REQUEST_BUDGET_MS, SETTINGS, type Setting } from "../lambda/config.ts";

/** API Gateway cuts an integration at 30 s; the function must give up (and answer) before. */
const API_GATEWAY_TIMEOUT_SECONDS = 30;

/**
 * The defaults of the props that SETTINGS does not define (the infrastructure's own), and of
 * those whose default on AWS differs from the server's.
 */
export const DEFAULTS = {
  /**
   * Secure by default: a deployed server creates no client on its own (SETTINGS' default,
   * true, suits a local server). Users are registered in the table (`npm run admin --
   * add-client`); an open server lets anyone store data in the account.
   */
  createClients: false,
  /** What one client may store on AWS (0: no limit): argued where it is defined. */
  maxClientBytes: AWS_MAX_CLIENT_BYTES,
  throttlingRateLimit: 50,
  throttlingBurstLimit: 100,
  memorySize: 512,
  logRetention: logs.RetentionDays.ONE_MONTH,
  removalPolicy: RemovalPolicy.RETAIN,
} as const;

/**
 * The forms of an HTTP API's allowOrigins that API Gateway documents, and no other: `*` (any
 * origin), `https://*` and `http://*` (any origin of that scheme), or an origin as a browser
 * sends it (scheme, host, optional port; no path). A wildcard within a host
 * (`https://*.example.com`) is not one of them: a deployment with it rolled back.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
 */
const CORS_ANY_ORIGIN = ["*", "https://*", "http://*"];
const CORS_ORIGIN = /^https?:\/\/[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:(\d{1,5}))?$/;

function isCorsOrigin(origin: string): boolean {
  if (CORS_ANY_ORIGIN.includes(origin)) return true;
  const match = CORS_ORIGIN.exec(origin);
  if (!match) return false;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  return port === undefined || (port >= 1 && port <= 65_535);
}

/** What AWS accepts in a tag's key and value (the characters every tagging service allows). */
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

const MIN_MEMORY_MB = 256;
const MAX_MEMORY_MB = 10_240;

/**
 * The maintenance function (the orphan sweep, and the pruning of old history): daily by
 * default; it stops by itself 30 s before its timeout (SWEEP_MARGIN_MS in
 * lambda/maintenance.ts), and the next run, starting at another random client, goes on.
 */
export const MAINTENANCE = {
  schedule: events.Schedule.rate(Duration.days(1)),
  timeout: Duration.minutes(10),
  memorySize: MIN_MEMORY_MB,
} as const;

/**
 * The props these settings come from: TaskChampionSyncServerProps (documented there), typed
 * here again so that this file does not import the construct that imports it.
 */
interface SettingsProps {
  readonly clientIds?: readonly string[];
  readonly createClients?: boolean;
  readonly snapshotVersions?: number;
  readonly snapshotDays?: number;
  readonly maxClientBytes?: number;
  readonly historyDays?: number;
  readonly throttlingRateLimit?: number;
  readonly throttlingBurstLimit?: number;
  readonly memorySize?: number;
  readonly logRetention?: logs.RetentionDays;
  readonly removalPolicy?: RemovalPolicy;
  readonly corsAllowedOrigins?: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
}

export interface ResolvedSettings {
  clientIds: readonly string[];
  createClients: boolean;
  snapshotVersions: number;
  snapshotDays: number;
  maxClientBytes: number;
  historyDays: number;
  throttlingRateLimit: number;
  throttlingBurstLimit: number;
  memorySize: number;
  timeoutSeconds: number;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  /** Empty: no CORS configuration (browsers may not call the API from other origins). */
  corsAllowedOrigins: readonly string[];
  tags: Readonly<Record<string, string>>;
}

/** Props with defaults, checked with the very parsers the function uses at cold start. */
export function resolveSettings(props: SettingsProps): ResolvedSettings {
  const problems: string[] = [];
  const clientIds = props.clientIds ?? [];
  const allowlist = SETTINGS.clientIdAllowlist;
  if (clientIds.length > 0 && allowlist.parse(clientIds.join(",")) === undefined) {
    // Names the bad entries only: the ids are credentials (see the setting's fault).
    problems.push(`clientIds must be ${allowlist.accepted}: ${allowlist.fault?.(clientIds.join(",")) ?? "invalid"}`);
  }
  const count = (name: string, value: number | undefined, setting: Setting<number>, defaultValue = setting.defaultValue): number => {
    if (value === undefined) return defaultValue;
    if (setting.parse(String(value)) === undefined) problems.push(`${name} must be ${setting.accepted}, got ${value}`);
    return value;
  };
  const positive = (name: string, value: number, max = Number.MAX_SAFE_INTEGER, min = 1): number => {
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
    }
    return value;
  };
  const settings: ResolvedSettings = {
    clientIds,
    createClients: props.createClients ?? DEFAULTS.createClients,
    snapshotVersions: count("snapshotVersions", props.snapshotVersions, SETTINGS.snapshotVersions),
    snapshotDays: count("snapshotDays", props.snapshotDays, SETTINGS.snapshotDays),
    maxClientBytes: count("maxClientBytes", props.maxClientBytes, SETTINGS.maxClientBytes, DEFAULTS.maxClientBytes),
    historyDays: count("historyDays", props.historyDays, SETTINGS.historyDays),
    throttlingRateLimit: positive("throttlingRateLimit", props.throttlingRateLimit ?? DEFAULTS.throttlingRateLimit),
    throttlingBurstLimit: positive("throttlingBurstLimit", props.throttlingBurstLimit ?? DEFAULTS.throttlingBurstLimit, 5000),
    memorySize: positive("memorySize", props.memorySize ?? DEFAULTS.memorySize, MAX_MEMORY_MB, MIN_MEMORY_MB),
    timeoutSeconds: functionTimeoutSeconds(),
    logRetention: props.logRetention ?? DEFAULTS.logRetention,
    removalPolicy: props.removalPolicy ?? DEFAULTS.removalPolicy,
    corsAllowedOrigins: props.corsAllowedOrigins ?? [],
    tags: props.tags ?? {},
  };
  for (const [key, value] of Object.entries(settings.tags)) {
    if (!TAG_KEY.test(key) || key.toLowerCase().startsWith("aws:") || !TAG_VALUE.test(value)) {
      problems.push(
        `tags must be AWS tags (a key of 1 to 128 characters, not aws:..., a value of up to 256), got ${JSON.stringify({ [key]: value })}`,
      );
    }
  }
  for (const origin of settings.corsAllowedOrigins) {
    if (!isCorsOrigin(origin)) {
      problems.push(
        `corsAllowedOrigins must be *, https://*, http://* or origins such as https://tasks.example.com (scheme, host, ` +
          `optional port; no path, no wildcard within the host), got ${JSON.stringify(origin)}`,
      );
    }
  }
  if (settings.removalPolicy !== RemovalPolicy.RETAIN && settings.removalPolicy !== RemovalPolicy.DESTROY) {
    problems.push(`removalPolicy must be RETAIN or DESTROY, got ${settings.removalPolicy}`);
  }
  if (problems.length > 0) {
    throw new Error(`TaskChampionSyncServer: invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return settings;
}

/**
 * The function's timeout: 2 s past a request's budget (the storage gives up first and the
 * client gets a clean 503 instead of a killed invocation), under API Gateway's 30 s.
 */
function functionTimeoutSeconds(): number {
  const seconds = Math.ceil(REQUEST_BUDGET_MS / 1000) + 2;
  if (seconds >= API_GATEWAY_TIMEOUT_SECONDS) {
    throw new Error(`a request's budget (${REQUEST_BUDGET_MS} ms) leaves no room under API Gateway's ${API_GATEWAY_TIMEOUT_SECONDS} s`);
  }
  return seconds;
}

/** The table's and the bucket's names, under the names both functions read (SETTINGS). */
export function storageEnvironment(tableName: string, bucketName: string): Record<string, string> {
  return { [SETTINGS.tableName.name]: tableName, [SETTINGS.bucketName.name]: bucketName };
}

/**
 * The sync function's environment: the server settings under the names the function reads
 * (SETTINGS), then the storage's names; checked against Lambda's 4 KB.
 */
export function functionEnvironment(settings: ResolvedSettings, storage: Readonly<Record<string, string>>): Record<string, string> {
  const fromSettings: Record<string, string> = {
    [SETTINGS.createClients.name]: String(settings.createClients),
    [SETTINGS.snapshotVersions.name]: String(settings.snapshotVersions),
    [SETTINGS.snapshotDays.name]: String(settings.snapshotDays),
    [SETTINGS.maxBodyBytes.name]: String(LAMBDA_MAX_BODY_BYTES),
    [SETTINGS.maxClientBytes.name]: String(settings.maxClientBytes),
  };
  if (settings.clientIds.length > 0) fromSettings[SETTINGS.clientIdAllowlist.name] = settings.clientIds.join(",");
  const environment = { ...fromSettings, ...storage };
  checkEnvironmentSize(environment);
  return environment;
}

/** The maintenance function's environment: the storage's names and how much history to keep. */
export function maintenanceEnvironment(
  settings: Pick<ResolvedSettings, "historyDays">,
  storage: Readonly<Record<string, string>>,
): Record<string, string> {
  return { [SETTINGS.historyDays.name]: String(settings.historyDays), ...storage };
}

/** Lambda's limit on a function's environment: every name and value together. */
const LAMBDA_ENVIRONMENT_MAX_BYTES = 4 * 1024;

/**
 * The longest value CloudFormation may fill in for a deploy-time token of the environment: a
 * table name (DynamoDB allows 255 characters; a bucket name is at most 63).
 */
const TOKEN_VALUE_MAX_BYTES = 255;

/**
 * Fails the synthesis when the function's environment could pass Lambda's 4 KB at deploy time
 * (the deploy would fail after CloudFormation has started). Values only known at deploy time
 * (the table and bucket names) are counted at their longest.
 */
function checkEnvironmentSize(environment: Readonly<Record<string, string>>): void {
  let bytes = 0;
  for (const [name, value] of Object.entries(environment)) {
    bytes += Buffer.byteLength(name) + (Token.isUnresolved(value) ? TOKEN_VALUE_MAX_BYTES : Buffer.byteLength(value));
  }
  if (bytes > LAMBDA_ENVIRONMENT_MAX_BYTES) {
    throw new Error(
      `TaskChampionSyncServer: the function's environment would take up to ${bytes} bytes, over Lambda's ` +
        `${LAMBDA_ENVIRONMENT_MAX_BYTES} (the deploy would fail). The clientIds allowlist is what grows it: ` +
        "it holds about 90 client ids at most. Register clients in the table instead (the client registry: " +
        "createClients=false, then `npm run admin -- add-client` per user) and drop the allowlist.",
    );
  }
}

/**
 * An allowlist's client ids are each a user's only credential, and they sit in the function's
 * environment: whoever may read the stack's template or the function's configuration, or has
 * the synthesized cdk.out, reads them. The client registry keeps them in the table.
 */
export function warnOfReadableAllowlist(scope: Construct, settings: Pick<ResolvedSettings, "clientIds">): void {
  if (settings.clientIds.length === 0) return;
  Annotations.of(scope).addWarningV2(
    "taskchampion:clientIdsReadable",
    `clientIds: the ${settings.clientIds.length} allowlisted client ids (each a user's only credential) are in the ` +
      "stack's template, the function's configuration (its environment) and cdk.out (the template, tree.json): " +
      "whoever may read those reads them. Prefer the client registry: `npm run admin -- add-client` per user, and no allowlist.",
  );
}
