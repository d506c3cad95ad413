/** The HTTP edge on payload-2.0 events: statuses, headers, bodies, validation, logs. */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../lambda/app.ts";
import type { ServerConfig } from "../../lambda/config.ts";
import type { Handler, HttpResult } from "../../lambda/http/handler.ts";
import { createLogger } from "../../lambda/log.ts";
import { clientTag } from "../../lambda/log.ts";
import { StorageUnavailableError } from "../../lambda/storage/errors.ts";
import { MEMORY_VERSION_OVERHEAD_BYTES as OVERHEAD, MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../lambda/version.ts";
import { type EventOptions, httpEvent } from "../../dev/events.ts";
import { failingStorage } from "../support/storage-doubles.ts";
import { inTxn } from "../support/txn.ts";

const SEGMENT = "application/vnd.taskchampion.history-segment";
const SNAPSHOT = "application/vnd.taskchampion.snapshot";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let storage: Storage;
let logLines: string[];
let handler: Handler;
let clientId: Uuid;

function app(overrides: Partial<ServerConfig["rules"]> & { maxBodyBytes?: number } = {}, store: Storage = storage): Handler {
  const { maxBodyBytes = 1_000_000, ...rules } = overrides;
  return createApp(
    store,
    { rules: { ...DEFAULT_SYNC_RULES, ...rules }, maxBodyBytes },
    createLogger((line) => logLines.push(line)),
  );
}

/** Sends an event and checks what every response must carry. */
async function send(method: string, path: string, options: EventOptions = {}, h: Handler = handler): Promise<HttpResult> {
  const result = await h(httpEvent(method, path, options));
  expect(result.headers?.["cache-control"]).toBe("no-store, max-age=0");
  return result;
}

function bodyOf(result: HttpResult): Buffer {
  return Buffer.from(result.body ?? "", result.isBase64Encoded ? "base64" : "utf8");
}

const addVersion = (parent: string, body: Uint8Array | string = "segment", headers: Record<string, string> = {}, h?: Handler) =>
  send("POST", `/v1/client/add-version/${parent}`, { headers: { "x-client-id": clientId, "content-type": SEGMENT, ...headers }, body }, h);
const getChild = (parent: string, h?: Handler) =>
  send("GET", `/v1/client/get-child-version/${parent}`, { headers: { "x-client-id": clientId } }, h);
const addSnapshot = (version: string, body: Uint8Array | string = "snapshot", h?: Handler) =>
  send("POST", `/v1/client/add-snapshot/${version}`, { headers: { "x-client-id": clientId, "content-type": SNAPSHOT }, body }, h);
const getSnapshot = (h?: Handler) => send("GET", "/v1/client/snapshot", { headers: { "x-client-id": clientId } }, h);

/** Everything the store holds for the client, to show a request changed nothing. */
function state(id: Uuid = clientId): Promise<string> {
  return inTxn(storage, id, async (txn) => {
    const client = await txn.getClient();
    if (!client) return "none";
    const chain: string[] = [];
    const parent = NIL_UUID as Uuid;
    for (let v = await txn.getVersionByParent(parent); v; v = await txn.getVersionByParent(v.versionId)) {
      chain.push(`${v.versionId}:${Buffer.from(v.historySegment).toString("hex")}`);
    }
    const snapshot = client.snapshot ? await txn.getSnapshotData(client.snapshot.versionId) : null;
    // Left out: the count of snapshot requests left unanswered, which any AddSnapshot resets.
    const { highUrgencyRequests: _, ...stored } = client;
    return JSON.stringify({ client: stored, chain, snapshot: snapshot && Buffer.from(snapshot).toString("hex") });
  });
}

beforeEach(() => {
  storage = new MemoryStorage();
  logLines = [];
  handler = app();
  clientId = newUuid();
});

describe("GET /", () => {
  it("answers 200 with the server's name and version, without a client id", async () => {
    const result = await send("GET", "/");
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["content-type"]).toBe("text/plain; charset=utf-8");
    expect(bodyOf(result).toString()).toContain(`${SERVER_NAME} ${SERVER_VERSION}`);
  });

  it("states the version package.json has", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };
    expect(SERVER_NAME).toBe(pkg.name);
    expect(SERVER_VERSION).toBe(pkg.version);
  });

  it("stays open when an allowlist is set", async () => {
    expect((await send("GET", "/", {}, app({ allowedClientIds: new Set([newUuid()]) }))).statusCode).toBe(200);
  });
});

describe("AddVersion", () => {
  it("answers 200 with the new version id, a snapshot request, and an empty body", async () => {
    const result = await addVersion(NIL_UUID);
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["x-version-id"]).toMatch(UUID);
    expect(result.headers?.["x-snapshot-request"]).toBe("urgency=high");
    expect(bodyOf(result)).toHaveLength(0);
  });

  it("sends no X-Snapshot-Request when no snapshot is wanted", async () => {
    const v1 = (await addVersion(NIL_UUID)).headers!["x-version-id"] as string;
    await addSnapshot(v1);
    const result = await addVersion(v1);
    expect(result.statusCode).toBe(200);
    expect(result.headers).not.toHaveProperty("x-snapshot-request");
  });

  it("answers 409 naming the latest version, storing nothing", async () => {
    const v1 = (await addVersion(NIL_UUID)).headers!["x-version-id"] as string;
    const v2 = (await addVersion(v1)).headers!["x-version-id"] as string;
    const before = await state();
    const result = await addVersion(v1);
    expect(result.statusCode).toBe(409);
    expect(result.headers?.["x-parent-version-id"]).toBe(v2);
    expect(bodyOf(result)).toHaveLength(0);
    expect(await state()).toBe(before);
  });

  it("answers 507 with a short text/plain reason when the version would pass the client's quota, storing nothing", async () => {
    // The quota counts each version's bytes and the store's overhead for it.
    const quota = 10 + OVERHEAD + 10 + OVERHEAD;
    const h = app({ maxClientBytes: quota });
    const v1 = (await addVersion(NIL_UUID, "0123456789", {}, h)).headers!["x-version-id"] as string;
    const before = await state();
    const result = await addVersion(v1, "0123456789+", {}, h);
    expect(result.statusCode).toBe(507);
    expect(result.headers?.["content-type"]).toBe("text/plain; charset=utf-8");
    expect(bodyOf(result).toString().trim()).toBe(
      `this client uses ${10 + OVERHEAD} bytes of its quota of ${quota}; this version would pass it`,
    );
    expect(await state()).toBe(before);
    expect(JSON.parse(logLines.at(-1)!)).toMatchObject({ route: "add-version", status: 507, outcome: "quota-exceeded" });
    // A snapshot past the quota is answered 200 and declined, not stored; a version that fits still is added.
    expect((await addSnapshot(v1, new Uint8Array(OVERHEAD + 11), h)).statusCode).toBe(200);
    expect(JSON.parse(logLines.at(-1)!)).toMatchObject({ route: "add-snapshot", status: 200, outcome: "declined:quota" });
    expect((await getSnapshot(h)).statusCode).toBe(404);
    expect((await addVersion(v1, "0123456789", {}, h)).statusCode).toBe(200);
  });

  it("stops asking for a snapshot after three requests of urgency high that no AddSnapshot answered", async () => {
    const answers: unknown[] = [];
    let parent = NIL_UUID as string;
    for (let i = 0; i < 5; i++) {
      const added = await addVersion(parent);
      answers.push(added.headers?.["x-snapshot-request"]);
      parent = added.headers!["x-version-id"] as string;
    }
    expect(answers).toEqual(["urgency=high", "urgency=high", "urgency=high", undefined, undefined]);
  });

  it("answers 404 for an unknown client when client creation is off, creating nothing", async () => {
    const result = await addVersion(NIL_UUID, "x", {}, app({ createClients: false }));
    expect(result.statusCode).toBe(404);
    expect(await state()).toBe("none");
  });

  it("stores a base64-encoded body byte for byte (every byte value)", async () => {
    const body = Uint8Array.from({ length: 256 * 4 }, (_, i) => i % 256);
    await addVersion(NIL_UUID, body);
    const child = await getChild(NIL_UUID);
    expect(bodyOf(child).equals(Buffer.from(body))).toBe(true);
  });

  it("accepts a body that is not base64-encoded", async () => {
    const result = await send("POST", `/v1/client/add-version/${NIL_UUID}`, {
      headers: { "x-client-id": clientId, "content-type": SEGMENT },
      body: "plain text ✓",
      base64: false,
    });
    expect(result.statusCode).toBe(200);
    expect(bodyOf(await getChild(NIL_UUID)).toString("utf8")).toBe("plain text ✓");
  });

  it("reads header names in any case, and client ids in any case and the simple form", async () => {
    const upper = clientId.toUpperCase();
    const result = await send("POST", `/v1/client/add-version/${NIL_UUID}`, {
      headers: { "X-Client-ID": upper, "Content-Type": SEGMENT },
      body: "x",
    });
    expect(result.statusCode).toBe(200);
    const simple = clientId.replaceAll("-", "");
    const child = await send("GET", `/v1/client/get-child-version/${NIL_UUID}`, { headers: { "x-client-id": simple } });
    expect(child.statusCode).toBe(200);
  });

  it("tolerates parameters on the request content type", async () => {
    const result = await addVersion(NIL_UUID, "x", { "content-type": `${SEGMENT}; charset=binary` });
    expect(result.statusCode).toBe(200);
  });
});

describe("GetChildVersion", () => {
  it("answers 200 with the segment, the exact content type and both version ids", async () => {
    const v1 = (await addVersion(NIL_UUID, "one")).headers!["x-version-id"] as string;
    const v2 = (await addVersion(v1, "two")).headers!["x-version-id"] as string;
    const result = await getChild(v1);
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["content-type"]).toBe(SEGMENT);
    expect(result.headers?.["x-version-id"]).toBe(v2);
    expect(result.headers?.["x-parent-version-id"]).toBe(v1);
    expect(result.isBase64Encoded).toBe(true);
    expect(bodyOf(result).toString()).toBe("two");
  });

  it("answers 404 when up to date, 410 for an unknown parent, 404 for an unknown client", async () => {
    expect((await getChild(NIL_UUID)).statusCode).toBe(404);
    const v1 = (await addVersion(NIL_UUID)).headers!["x-version-id"] as string;
    expect((await getChild(v1)).statusCode).toBe(404);
    expect((await getChild(newUuid())).statusCode).toBe(410);
  });
});

describe("AddSnapshot and GetSnapshot", () => {
  it("stores a snapshot and serves it with the exact content type and its version", async () => {
    const v1 = (await addVersion(NIL_UUID)).headers!["x-version-id"] as string;
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
    const stored = await addSnapshot(v1, data);
    expect(stored.statusCode).toBe(200);
    expect(bodyOf(stored)).toHaveLength(0);
    const result = await getSnapshot();
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["content-type"]).toBe(SNAPSHOT);
    expect(result.headers?.["x-version-id"]).toBe(v1);
    expect(bodyOf(result).equals(Buffer.from(data))).toBe(true);
  });

  it("answers 200 for a snapshot it ignores, and stores nothing", async () => {
    await addVersion(NIL_UUID);
    const before = await state();
    expect((await addSnapshot(newUuid())).statusCode).toBe(200);
    expect((await addSnapshot(NIL_UUID)).statusCode).toBe(200);
    expect(await state()).toBe(before);
    expect((await getSnapshot()).statusCode).toBe(404);
  });

  it("answers 404 to an unknown client on both routes", async () => {
    expect((await addSnapshot(newUuid())).statusCode).toBe(404);
    expect((await getSnapshot()).statusCode).toBe(404);
    expect(await state()).toBe("none");
  });
});

describe("bad requests get a clear 4xx and change nothing", () => {
  const routes = () => [
    { method: "POST", path: `/v1/client/add-version/${NIL_UUID}`, type: SEGMENT },
    { method: "GET", path: `/v1/client/get-child-version/${NIL_UUID}` },
    { method: "POST", path: `/v1/client/add-snapshot/${NIL_UUID}`, type: SNAPSHOT },
    { method: "GET", path: "/v1/client/snapshot" },
  ];

  async function expectRejected(result: Promise<HttpResult>, status: number, message: RegExp) {
    const before = await state();
    const r = await result;
    expect(r.statusCode).toBe(status);
    expect(r.headers?.["content-type"]).toBe("text/plain; charset=utf-8");
    expect(bodyOf(r).toString()).toMatch(message);
    expect(await state()).toBe(before);
  }

  beforeEach(async () => {
    await addVersion(NIL_UUID, "existing");
  });

  it("400 for a missing or malformed X-Client-Id on every protocol route", async () => {
    for (const { method, path, type } of routes()) {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      await expectRejected(send(method, path, { headers, body: type && "x" }), 400, /X-Client-Id/);
      for (const bad of ["", "not-a-uuid", `${clientId}0`, clientId.slice(1), `{${clientId}}`]) {
        await expectRejected(send(method, path, { headers: { ...headers, "x-client-id": bad }, body: type && "x" }), 400, /X-Client-Id/);
      }
    }
  });

  it("403 for a client id outside the allowlist on every protocol route", async () => {
    const h = app({ allowedClientIds: new Set([newUuid()]) });
    for (const { method, path, type } of routes()) {
      const headers: Record<string, string> = { "x-client-id": clientId, ...(type ? { "content-type": type } : {}) };
      await expectRejected(send(method, path, { headers, body: type && "x" }, h), 403, /may not sync/);
    }
  });

  it("400 for a malformed version id in the path", async () => {
    for (const bad of ["nope", "00000000-0000-0000-0000-00000000000g", "%zz", "1234"]) {
      await expectRejected(addVersion(bad), 400, /parentVersionId/);
      await expectRejected(getChild(bad), 400, /parentVersionId/);
      await expectRejected(addSnapshot(bad), 400, /versionId/);
    }
  });

  it("400 for a wrong or missing content type on the POSTs", async () => {
    await expectRejected(addVersion(NIL_UUID, "x", { "content-type": SNAPSHOT }), 400, /Content-Type/);
    await expectRejected(addVersion(NIL_UUID, "x", { "content-type": "application/octet-stream" }), 400, /Content-Type/);
    await expectRejected(
      send("POST", `/v1/client/add-snapshot/${NIL_UUID}`, { headers: { "x-client-id": clientId, "content-type": SEGMENT }, body: "x" }),
      400,
      /Content-Type/,
    );
    await expectRejected(
      send("POST", `/v1/client/add-version/${NIL_UUID}`, { headers: { "x-client-id": clientId }, body: "x" }),
      400,
      /Content-Type/,
    );
  });

  it("400 for an empty or absent body on the POSTs", async () => {
    await expectRejected(addVersion(NIL_UUID, ""), 400, /empty/);
    await expectRejected(addSnapshot(NIL_UUID, ""), 400, /empty/);
    await expectRejected(
      send("POST", `/v1/client/add-version/${NIL_UUID}`, { headers: { "x-client-id": clientId, "content-type": SEGMENT } }),
      400,
      /empty/,
    );
  });

  it("413 for a history segment over the limit, by its size or its declared length", async () => {
    const h = app({ maxBodyBytes: 100 });
    const latest = (await getLatest())!;
    await expectRejected(addVersion(latest, new Uint8Array(101), {}, h), 413, /larger than/);
    await expectRejected(addVersion(latest, "x", { "content-length": "101" }, h), 413, /larger than/);
    expect((await addVersion(latest, new Uint8Array(100), {}, h)).statusCode).toBe(200);
  });

  it("200 for a snapshot over the limit: not stored, and no snapshot asked for until a period later", async () => {
    const h = app({ maxBodyBytes: 100, snapshotVersions: 2 });
    const latest = (await getLatest())!;
    const result = await addSnapshot(latest, new Uint8Array(101), h);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(logLines.at(-1)!)).toMatchObject({ route: "add-snapshot", outcome: "declined:too-large" });
    expect((await getSnapshot(h)).statusCode).toBe(404);
    // Asked for (high) before; now as if a snapshot had been taken: none, none, then low.
    const urgencies: unknown[] = [];
    let parent: string = latest;
    for (let i = 0; i < 3; i++) {
      const added = await addVersion(parent, "x", {}, h);
      urgencies.push(added.headers?.["x-snapshot-request"]);
      parent = added.headers!["x-version-id"] as string;
    }
    expect(urgencies).toEqual([undefined, undefined, "urgency=low"]);
    // A snapshot that fits is stored as usual.
    expect((await addSnapshot(parent, new Uint8Array(100), h)).statusCode).toBe(200);
    expect((await getSnapshot(h)).statusCode).toBe(200);
  });

  it("404 for unknown routes and 405 with Allow for wrong methods", async () => {
    for (const path of ["/v1", "/v1/client/add-version", `/v1/client/add-version/${NIL_UUID}/x`, "/v2/client/snapshot", "/favicon.ico"]) {
      await expectRejected(send("GET", path, { headers: { "x-client-id": clientId } }), 404, /no such route/);
    }
    const wrong = await send("GET", `/v1/client/add-version/${NIL_UUID}`, { headers: { "x-client-id": clientId } });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers?.allow).toBe("POST");
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      expect((await send(method, "/v1/client/snapshot", { headers: { "x-client-id": clientId } })).statusCode).toBe(405);
    }
  });

  const getLatest = () => inTxn(storage, clientId, async (txn) => (await txn.getClient())?.latestVersionId);
});

describe("storage failures", () => {
  const failing = failingStorage;

  it("answers 500 without details when storage fails", async () => {
    const result = await getSnapshot(app({}, failing(new Error(`disk on fire for ${clientId}`))));
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result).toString()).toBe("internal server error\n");
  });

  it("answers 503 with Retry-After when storage is unavailable", async () => {
    const result = await addVersion(NIL_UUID, "x", {}, app({}, failing(new StorageUnavailableError("throttled", 2))));
    expect(result.statusCode).toBe(503);
    expect(result.headers?.["retry-after"]).toBe("2");
  });
});

describe("logs", () => {
  it("writes one JSON line per request with route, status, duration and a client tag", async () => {
    await addVersion(NIL_UUID);
    expect(logLines).toHaveLength(1);
    const line = JSON.parse(logLines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: "info",
      msg: "request",
      route: "add-version",
      status: 200,
      client: clientTag(clientId),
      outcome: "added",
    });
    expect(typeof line.durationMs).toBe("number");
  });

  it("never writes a client id, not even from an error message", async () => {
    await addVersion(NIL_UUID);
    await getChild(newUuid());
    await getSnapshot(app({}, failingStorage(new Error(`no item for key ${clientId}`))));
    const failing = app({}, failingStorage(new Error(`no item for CLIENT#${clientId.replaceAll("-", "")}`)));
    await send("GET", "/v1/client/snapshot", { headers: { "x-client-id": clientId.toUpperCase() } }, failing);
    await send("GET", "/v1/client/snapshot", { headers: { "x-client-id": clientId.toUpperCase() } }, app({ allowedClientIds: new Set() }));
    expect(logLines.length).toBeGreaterThanOrEqual(6);
    expect(logLines.join()).toContain(`<${clientTag(clientId)}>`);
    for (const line of logLines) {
      expect(line.toLowerCase()).not.toContain(clientId);
      expect(line.toLowerCase()).not.toContain(clientId.replaceAll("-", ""));
    }
  });
});
