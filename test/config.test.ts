import { describe, expect, it } from "vitest";
import {
  ConfigError,
  ConfigReader,
  type Env,
  LAMBDA_MAX_BODY_BYTES,
  LOCAL_MAX_CLIENT_BYTES,
  readServerConfig,
  SETTINGS,
} from "../lambda/config.ts";
import { newUuid } from "../lambda/uuid.ts";

function read(env: Env) {
  const reader = new ConfigReader(env);
  const config = readServerConfig(reader);
  const listen = reader.get(SETTINGS.listen);
  const storage = reader.get(SETTINGS.storage);
  reader.check();
  return { ...config, listen, storage, dataDir: reader.get(SETTINGS.dataDir) };
}

function problems(env: Env): readonly string[] {
  try {
    read(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration", () => {
  it("has the documented defaults", () => {
    expect(read({})).toEqual({
      rules: {
        createClients: true,
        snapshotVersions: 100,
        snapshotDays: 14,
        allowedClientIds: undefined,
        maxClientBytes: LOCAL_MAX_CLIENT_BYTES,
      },
      maxBodyBytes: LAMBDA_MAX_BODY_BYTES,
      listen: { host: "127.0.0.1", port: 8080 },
      storage: "sqlite",
      dataDir: "./data",
    });
  });

  it("reads every setting", () => {
    const [a, b] = [newUuid(), newUuid()];
    const config = read({
      CLIENT_ID: ` ${a.toUpperCase()},${b} `,
      CREATE_CLIENTS: "false",
      SNAPSHOT_VERSIONS: "7",
      SNAPSHOT_DAYS: "3",
      MAX_BODY_BYTES: "1000",
      MAX_CLIENT_BYTES: "123456789012",
      LISTEN: "[::1]:9000",
      STORAGE: "memory",
      DATA_DIR: "/var/lib/tc",
    });
    expect(config.rules).toEqual({
      createClients: false,
      snapshotVersions: 7,
      snapshotDays: 3,
      allowedClientIds: new Set([a, b]),
      maxClientBytes: 123_456_789_012,
    });
    expect(config).toMatchObject({ maxBodyBytes: 1000, listen: { host: "::1", port: 9000 }, storage: "memory", dataDir: "/var/lib/tc" });
  });

  it("treats MAX_CLIENT_BYTES=0 as no quota, and reads HISTORY_DAYS (0 keeps everything)", () => {
    expect(read({ MAX_CLIENT_BYTES: "0" }).rules.maxClientBytes).toBeUndefined();
    const reader = new ConfigReader({ HISTORY_DAYS: "0" });
    expect(reader.get(SETTINGS.historyDays)).toBe(0);
    expect(new ConfigReader({}).get(SETTINGS.historyDays)).toBe(180);
    expect(problems({ MAX_CLIENT_BYTES: "-1" })).toEqual([expect.stringContaining("MAX_CLIENT_BYTES")]);
    const bad = new ConfigReader({ HISTORY_DAYS: "a week" });
    bad.get(SETTINGS.historyDays);
    expect(() => bad.check()).toThrow(/HISTORY_DAYS="a week" is not valid/);
  });

  it("treats an empty allowlist as none", () => {
    expect(read({ CLIENT_ID: "" }).rules.allowedClientIds).toBeUndefined();
    expect(read({ CLIENT_ID: " , " }).rules.allowedClientIds).toBeUndefined();
  });

  it("accepts the spellings of booleans and hosts it documents", () => {
    expect(read({ CREATE_CLIENTS: "TRUE" }).rules.createClients).toBe(true);
    expect(read({ CREATE_CLIENTS: "0" }).rules.createClients).toBe(false);
    expect(read({ LISTEN: "0.0.0.0:0" }).listen).toEqual({ host: "0.0.0.0", port: 0 });
    expect(read({ LISTEN: "localhost:80" }).listen).toEqual({ host: "localhost", port: 80 });
  });

  it("names every invalid variable and its accepted form at once", () => {
    const found = problems({
      CLIENT_ID: "abc,not-a-uuid",
      CREATE_CLIENTS: "maybe",
      SNAPSHOT_VERSIONS: "0",
      SNAPSHOT_DAYS: "-1",
      MAX_BODY_BYTES: "1e6",
      LISTEN: "8080",
      STORAGE: "postgres",
    });
    expect(found).toHaveLength(7);
    for (const [name, accepted] of [
      ["CLIENT_ID", "comma-separated list of client ids"],
      ["CREATE_CLIENTS", "true or false"],
      ["SNAPSHOT_VERSIONS", "whole number"],
      ["SNAPSHOT_DAYS", "whole number"],
      ["MAX_BODY_BYTES", "whole number"],
      ["LISTEN", "host:port"],
      ["STORAGE", "sqlite, memory or dynamodb"],
    ]) {
      // CLIENT_ID's value is not repeated (it holds credentials): `CLIENT_ID is not valid: ...`.
      expect(found.some((p) => (p.startsWith(`${name}=`) || p.startsWith(`${name} `)) && p.includes(accepted!))).toBe(true);
    }
  });

  it("rejects ports out of range and hosts that are missing", () => {
    expect(problems({ LISTEN: "127.0.0.1:70000" })).toHaveLength(1);
    expect(problems({ LISTEN: ":8080" })).toHaveLength(1);
  });

  it("reports a required setting that is missing", () => {
    const reader = new ConfigReader({ BUCKET_NAME: " " });
    reader.require(SETTINGS.tableName);
    reader.require(SETTINGS.bucketName);
    expect(() => reader.check()).toThrow(/TABLE_NAME is not set: expected the name of the DynamoDB table/);
    expect(() => reader.check()).toThrow(/BUCKET_NAME=" " is not valid: expected the name of the S3 bucket/);
  });

  it("reads the DynamoDB storage's settings", () => {
    const reader = new ConfigReader({ TABLE_NAME: "t", BUCKET_NAME: "b", S3_FORCE_PATH_STYLE: "true", SEGMENT_INLINE_MAX_BYTES: "1000" });
    expect([reader.require(SETTINGS.tableName), reader.require(SETTINGS.bucketName)]).toEqual(["t", "b"]);
    expect(reader.get(SETTINGS.s3ForcePathStyle)).toBe(true);
    expect(reader.get(SETTINGS.segmentInlineMaxBytes)).toBe(1000);
    expect(new ConfigReader({}).get(SETTINGS.segmentInlineMaxBytes)).toBe(350 * 1024);
    const bad = new ConfigReader({ SEGMENT_INLINE_MAX_BYTES: "500000", S3_FORCE_PATH_STYLE: "yes" });
    bad.get(SETTINGS.segmentInlineMaxBytes);
    bad.get(SETTINGS.s3ForcePathStyle);
    expect(() => bad.check()).toThrow(
      /SEGMENT_INLINE_MAX_BYTES="500000" is not valid: expected a whole number of bytes up to 358400[\s\S]*S3_FORCE_PATH_STYLE/,
    );
  });
});
