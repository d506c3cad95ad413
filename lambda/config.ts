/**
 * Every setting the server reads from its environment: name, default, accepted form and
 * parser, in one place. The names of the reference Rust server are kept where it has them.
 * The Lambda entry, the local server and the CDK construct all take the names from here.
 */
import type { SyncRules } from "./core/sync.ts";
import { DEFAULT_INLINE_SEGMENT_MAX_BYTES } from "./storage/dynamodb/constants.ts";
import { parseClientId, type Uuid } from "./uuid.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<T> {
  /** The environment variable. */
  readonly name: string;
  /** The accepted form, for error messages and the README. */
  readonly accepted: string;
  readonly defaultValue: T;
  /** Parses a present value; returns undefined when it is not of the accepted form. */
  readonly parse: (raw: string) => T | undefined;
  /**
   * For a value that holds credentials: what is wrong with an invalid one, without repeating
   * any of it (by default a message quotes the value).
   */
  readonly fault?: (raw: string) => string;
}

function setting<T>(
  name: string,
  accepted: string,
  defaultValue: T,
  parse: (raw: string) => T | undefined,
  fault?: (raw: string) => string,
): Setting<T> {
  return { name, accepted, defaultValue, parse, fault };
}

function parseBoolean(raw: string): boolean | undefined {
  const value = raw.trim().toLowerCase();
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  return undefined;
}

function parseCount(raw: string): number | undefined {
  return /^\s*\d{1,9}\s*$/.test(raw) ? Number(raw) : undefined;
}

function parseName(raw: string): string | undefined {
  return raw.trim() === "" ? undefined : raw.trim();
}

/** Bytes, up to 15 digits (a petabyte). */
function parseByteCount(raw: string): number | undefined {
  return /^\s*\d{1,15}\s*$/.test(raw) ? Number(raw) : undefined;
}

function parsePositiveCount(raw: string): number | undefined {
  const value = parseCount(raw);
  return value !== undefined && value > 0 ? value : undefined;
}

function allowlistEntries(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** A comma-separated list of client ids; empty (or only commas and spaces) means no allowlist. */
function parseAllowlist(raw: string): ReadonlySet<Uuid> | undefined | null {
  const entries = allowlistEntries(raw);
  if (entries.length === 0) return null;
  const ids = new Set<Uuid>();
  for (const entry of entries) {
    const { id } = parseClientId(entry);
    if (id === undefined) return undefined;
    ids.add(id);
  }
  return ids;
}

/**
 * The bad entries of an allowlist, each by its position and what is wrong with it. No entry is
 * quoted: the valid ones are users' credentials, and a bad one is most often a mistyped
 * credential, so even its first characters would give most of a real id away. The position
 * and the fault (a length, a character's place) find it in the setting all the same.
 */
function allowlistFault(raw: string): string {
  const entries = allowlistEntries(raw);
  return entries
    .flatMap((entry, i) => {
      const { fault } = parseClientId(entry);
      return fault === undefined ? [] : [`entry ${i + 1} of ${entries.length} ${fault}`];
    })
    .join("; ");
}

export type StorageKind = "sqlite" | "memory" | "dynamodb";

/**
 * How long one request's storage work may take, in ms: every transaction of the request shares
 * a deadline this far from its start, past which it is answered 503. Under API Gateway's 30 s:
 * the CDK construct sizes the function's timeout from it (a Lambda request's deadline is then the
 * invocation's remaining time, a little less); the local server gives each request this budget;
 * a DynamoDB transaction opened without a deadline (an operator's, a test's) is bounded by it.
 */
export const REQUEST_BUDGET_MS = 24_000;

/** The most a Lambda behind API Gateway carries: 6 MB of event, base64 costs a third. */
export const LAMBDA_MAX_BODY_BYTES = 4_500_000;

const MiB = 1024 * 1024;

/**
 * MAX_CLIENT_BYTES of the local server: 1 GiB. A year of a busy Taskwarrior database is a few
 * MB of history, so this never stops a real user; it stops a runaway or hostile client before
 * it fills the disk.
 */
export const LOCAL_MAX_CLIENT_BYTES = 1024 * MiB;

/**
 * MAX_CLIENT_BYTES of an AWS deployment (the construct's default): 100 MiB, some 20 to 50 times
 * a heavy user's history, and about $0.03 a month of DynamoDB and S3 storage per client at the
 * limit, so that an open server cannot be made to store without bound.
 */
export const AWS_MAX_CLIENT_BYTES = 100 * MiB;

export const SETTINGS = {
  // `null` means "set but empty": treated like absent, everyone may sync.
  clientIdAllowlist: setting<ReadonlySet<Uuid> | null>(
    "CLIENT_ID",
    "a comma-separated list of client ids (UUIDs); absent or empty lets every client id sync",
    null,
    parseAllowlist,
    allowlistFault,
  ),
  createClients: setting("CREATE_CLIENTS", "true or false", true, parseBoolean),
  snapshotVersions: setting("SNAPSHOT_VERSIONS", "a whole number of versions, 1 or more", 100, parsePositiveCount),
  snapshotDays: setting("SNAPSHOT_DAYS", "a whole number of days, 1 or more", 14, parsePositiveCount),
  maxBodyBytes: setting("MAX_BODY_BYTES", "a whole number of bytes, 1 or more", LAMBDA_MAX_BODY_BYTES, parsePositiveCount),
  maxClientBytes: setting(
    "MAX_CLIENT_BYTES",
    "a whole number of bytes a client may store (history segments and snapshot); 0 for no limit",
    LOCAL_MAX_CLIENT_BYTES,
    parseByteCount,
  ),
  historyDays: setting(
    "HISTORY_DAYS",
    "a whole number of days after which versions before the snapshot are removed; 0 keeps every version",
    180,
    parseCount,
  ),
  storage: setting<StorageKind>("STORAGE", "sqlite, memory or dynamodb", "sqlite", (raw) =>
    raw === "sqlite" || raw === "memory" || raw === "dynamodb" ? raw : undefined,
  ),
  dataDir: setting("DATA_DIR", "a directory path", "./data", (raw) => (raw.trim() === "" ? undefined : raw)),
  // The DynamoDB + S3 storage (Lambda, or STORAGE=dynamodb). The SDK reads its own variables:
  // AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, AWS_REQUEST_CHECKSUM_CALCULATION, ...
  tableName: setting<string | undefined>("TABLE_NAME", "the name of the DynamoDB table", undefined, parseName),
  bucketName: setting<string | undefined>("BUCKET_NAME", "the name of the S3 bucket", undefined, parseName),
  s3ForcePathStyle: setting("S3_FORCE_PATH_STYLE", "true or false (true for S3 emulators)", false, parseBoolean),
  segmentInlineMaxBytes: setting(
    "SEGMENT_INLINE_MAX_BYTES",
    `a whole number of bytes up to ${DEFAULT_INLINE_SEGMENT_MAX_BYTES}`,
    DEFAULT_INLINE_SEGMENT_MAX_BYTES,
    (raw) => {
      const value = parseCount(raw);
      return value !== undefined && value <= DEFAULT_INLINE_SEGMENT_MAX_BYTES ? value : undefined;
    },
  ),
  listen: setting("LISTEN", "host:port, for example 127.0.0.1:8080 or [::]:8080", { host: "127.0.0.1", port: 8080 }, parseListen),
  // The local server's limits on connections (README, "Limits of the local server"). A client
  // sends its head at once, and Taskwarrior waits 10 s to connect and 60 s for an answer.
  headersTimeoutSeconds: setting(
    "HEADERS_TIMEOUT_SECONDS",
    "a whole number of seconds, 1 or more, at most REQUEST_TIMEOUT_SECONDS",
    20,
    parsePositiveCount,
  ),
  // 90 s: a 4.5 MB body still arrives at 400 kbit/s.
  requestTimeoutSeconds: setting("REQUEST_TIMEOUT_SECONDS", "a whole number of seconds, 1 or more", 90, parsePositiveCount),
  maxConnections: setting("MAX_CONNECTIONS", "a whole number of connections, 1 or more", 100, parsePositiveCount),
  // Absent: four bodies of MAX_BODY_BYTES.
  maxBodyBytesInFlight: setting<number | undefined>(
    "MAX_BODY_BYTES_IN_FLIGHT",
    "a whole number of bytes, at least MAX_BODY_BYTES",
    undefined,
    parsePositiveCount,
  ),
} as const;

/** How many bodies of MAX_BODY_BYTES the local server reads at once when MAX_BODY_BYTES_IN_FLIGHT is absent. */
export const BODIES_IN_FLIGHT = 4;

function parseListen(raw: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  const host = match[1] ?? match[2] ?? "";
  return port <= 65535 && host !== "" ? { host, port } : undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads settings from `env`, collecting every problem before failing. */
export class ConfigReader {
  private readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  get<T>(s: Setting<T>): T {
    const raw = this.env[s.name];
    if (raw === undefined) return s.defaultValue;
    const value = s.parse(raw);
    if (value === undefined) {
      this.problems.push(
        s.fault
          ? `${s.name} is not valid: ${s.fault(raw)}; expected ${s.accepted}`
          : `${s.name}=${JSON.stringify(raw)} is not valid: expected ${s.accepted}`,
      );
      return s.defaultValue;
    }
    return value;
  }

  /** A setting without a default, such as a table name: missing is a problem too. */
  require<T>(s: Setting<T | undefined>): T {
    const value = this.get(s);
    if (value === undefined && this.env[s.name] === undefined) this.problems.push(`${s.name} is not set: expected ${s.accepted}`);
    return value as T;
  }

  /** Throws a ConfigError naming every problem found so far. */
  check(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

/** What every deployment of the handler needs, Lambda or local. */
export interface ServerConfig {
  rules: SyncRules;
  maxBodyBytes: number;
}

export function readServerConfig(reader: ConfigReader): ServerConfig {
  const allowlist = reader.get(SETTINGS.clientIdAllowlist);
  const maxClientBytes = reader.get(SETTINGS.maxClientBytes);
  return {
    rules: {
      createClients: reader.get(SETTINGS.createClients),
      snapshotVersions: reader.get(SETTINGS.snapshotVersions),
      snapshotDays: reader.get(SETTINGS.snapshotDays),
      allowedClientIds: allowlist ?? undefined,
      maxClientBytes: maxClientBytes === 0 ? undefined : maxClientBytes,
    },
    maxBodyBytes: reader.get(SETTINGS.maxBodyBytes),
  };
}

/** The rules every setting left at its default gives (what tests and the bench run under). */
export const DEFAULT_SYNC_RULES: SyncRules = readServerConfig(new ConfigReader({})).rules;
