/**
 * Client ids where they enter the server: one parser (parseClientId) that refuses the nil and
 * the max UUID, and messages that never repeat a client id, valid or mistyped: the settings'
 * errors (npm start's stderr, the Lambda's cold start, the admin command), the synth error of
 * `-c clientIds`, the X-Client-Id refusal, canonicalUuid's TypeError.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../lambda/app.ts";
import { ConfigError, ConfigReader, DEFAULT_SYNC_RULES, readServerConfig, SETTINGS } from "../lambda/config.ts";
import { createLogger } from "../lambda/log.ts";
import { MemoryStorage } from "../lambda/storage/memory.ts";
import { canonicalUuid, MAX_UUID, NIL_UUID, newUuid, parseClientId } from "../lambda/uuid.ts";
import { httpEvent } from "../dev/events.ts";
import { build } from "./support/cdk-app.ts";

const simple = (id: string) => id.replaceAll("-", "");

/** The first 8 hex digits of each id: no message may hold even those. */
function expectNoneOf(text: string, ids: readonly string[]): void {
  for (const id of ids) {
    expect(text.toLowerCase()).not.toContain(simple(id).slice(0, 8).toLowerCase());
    expect(text.toLowerCase()).not.toContain(id.slice(0, 8).toLowerCase());
  }
}

function configProblems(env: Record<string, string>): string {
  const reader = new ConfigReader(env);
  readServerConfig(reader);
  try {
    reader.check();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return "";
}

describe("parseClientId", () => {
  it("takes a UUID in any form the protocol allows, in canonical form", () => {
    const id = newUuid();
    for (const text of [id, id.toUpperCase(), simple(id), simple(id).toUpperCase()]) expect(parseClientId(text)).toEqual({ id });
  });

  it("refuses the nil and the max UUID, in any form", () => {
    for (const text of [NIL_UUID, simple(NIL_UUID)]) {
      expect(parseClientId(text)).toEqual({ fault: "is the nil UUID, which cannot be a client id" });
    }
    for (const text of [MAX_UUID, MAX_UUID.toUpperCase(), simple(MAX_UUID)]) {
      expect(parseClientId(text)).toEqual({ fault: "is the max UUID, which cannot be a client id" });
    }
  });

  it("says what is wrong with a malformed id by length and position, never quoting it", () => {
    const id = newUuid();
    expect(parseClientId(id.slice(1)).fault).toBe("is not a UUID (35 characters, where a UUID has 36, or 32 without hyphens)");
    expect(parseClientId(`${id.slice(0, 14)}g${id.slice(15)}`).fault).toBe("is not a UUID (character 15 is not a hex digit)");
    expect(parseClientId(`${id.slice(0, 8)}0${id.slice(9)}`).fault).toBe("is not a UUID (character 9 is not a hyphen)");
    expect(parseClientId("").fault).toBe("is not a UUID (0 characters, where a UUID has 36, or 32 without hyphens)");
  });

  it("takes them for a lookup: a client created before the rule can still be found", () => {
    expect(parseClientId(NIL_UUID, { lookup: true })).toEqual({ id: NIL_UUID });
    expect(parseClientId(simple(MAX_UUID), { lookup: true })).toEqual({ id: MAX_UUID });
    expect(parseClientId("nope", { lookup: true }).fault).toMatch(/^is not a UUID/);
  });

  it("keeps the nil UUID valid where it is a version id", () => {
    expect(canonicalUuid(NIL_UUID, "parent version id")).toBe(NIL_UUID);
  });
});

describe("canonicalUuid", () => {
  it("does not repeat the value it refuses (it may be a client id)", () => {
    const id = newUuid();
    expect(() => canonicalUuid(id.toUpperCase(), "client id")).toThrow("client id is not a canonical UUID (lowercase, hyphenated)");
    try {
      canonicalUuid(id.toUpperCase(), "client id");
    } catch (error) {
      expectNoneOf(String(error), [id]);
    }
  });
});

describe("CLIENT_ID", () => {
  const [a, b, c] = [newUuid(), newUuid(), newUuid()];

  it("names a bad entry by its position and fault, and no entry, valid or not", () => {
    const typo = b.slice(0, -1); // a mistyped credential: one character short
    const message = configProblems({ CLIENT_ID: `${a}, ${typo} ,${c}` });
    expect(message).toContain(
      "CLIENT_ID is not valid: entry 2 of 3 is not a UUID (35 characters, where a UUID has 36, or 32 without hyphens); expected a comma-separated list",
    );
    expectNoneOf(message, [a, b, c]);
  });

  it("refuses the nil and the max UUID as allowlisted ids, naming each bad entry", () => {
    const message = configProblems({ CLIENT_ID: `${a},${NIL_UUID},${simple(MAX_UUID)},x` });
    expect(message).toContain(
      "CLIENT_ID is not valid: entry 2 of 4 is the nil UUID, which cannot be a client id; entry 3 of 4 is the max UUID, which cannot be a client id; entry 4 of 4 is not a UUID (1 characters",
    );
    expectNoneOf(message, [a]);
  });

  it("still quotes the values of the other settings", () => {
    expect(configProblems({ CLIENT_ID: a, SNAPSHOT_DAYS: "soon" })).toContain('SNAPSHOT_DAYS="soon" is not valid');
  });

  it("has a fault only for values that hold credentials", () => {
    const withFault = Object.values(SETTINGS).filter((s) => "fault" in s && s.fault !== undefined);
    expect(withFault.map((s) => s.name)).toEqual(["CLIENT_ID"]);
  });
});

describe("-c clientIds at synth", () => {
  const [a, b] = [newUuid(), newUuid()];

  it("names the bad entry, and none of the ids", () => {
    let message = "";
    try {
      build({ clientIds: `${a},${b}x,${NIL_UUID}` });
    } catch (error) {
      message = String(error);
    }
    expect(message).toContain("clientIds must be a comma-separated list of client ids");
    expect(message).toContain(
      "entry 2 of 3 is not a UUID (37 characters, where a UUID has 36, or 32 without hyphens); entry 3 of 3 is the nil UUID, which cannot be a client id",
    );
    expectNoneOf(message, [a, b]);
  });

  it("does not repeat a value of the wrong type (cdk.json)", () => {
    expect(() => build({ clientIds: { alice: a } })).toThrow("context clientIds is not valid: expected a string");
    try {
      build({ clientIds: { alice: a } });
    } catch (error) {
      expectNoneOf(String(error), [a]);
    }
  });
});

describe("X-Client-Id", () => {
  it.each([
    ["nil", NIL_UUID],
    ["max", MAX_UUID],
  ])("refuses the %s UUID with 400 and a clear message, storing nothing", async (name, id) => {
    const storage = new MemoryStorage();
    const handler = createApp(
      storage,
      { rules: DEFAULT_SYNC_RULES, maxBodyBytes: 1000 },
      createLogger(() => {}),
    );
    const result = await handler(
      httpEvent("POST", `/v1/client/add-version/${NIL_UUID}`, {
        headers: { "x-client-id": id, "content-type": "application/vnd.taskchampion.history-segment" },
        body: "segment",
      }),
    );
    expect(result.statusCode).toBe(400);
    expect(Buffer.from(result.body ?? "", result.isBase64Encoded ? "base64" : "utf8").toString()).toBe(
      `X-Client-Id is the ${name} UUID, which cannot be a client id\n`,
    );
    const clients = [];
    for await (const client of storage.listClients()) clients.push(client);
    expect(clients).toEqual([]);
  });

  it("says what is wrong with a malformed one without repeating it", async () => {
    const handler = createApp(
      new MemoryStorage(),
      { rules: DEFAULT_SYNC_RULES, maxBodyBytes: 1000 },
      createLogger(() => {}),
    );
    const id = newUuid();
    const result = await handler(httpEvent("GET", "/v1/client/snapshot", { headers: { "x-client-id": `${id}0` } }));
    expect(result.statusCode).toBe(400);
    const body = Buffer.from(result.body ?? "", result.isBase64Encoded ? "base64" : "utf8").toString();
    expect(body).toBe("X-Client-Id is not a UUID (37 characters, where a UUID has 36, or 32 without hyphens)\n");
  });
});
