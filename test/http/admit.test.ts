/**
 * The handler's `admit`: the checks of a request's head that the local server makes before it
 * reads a body. A refusal is the very answer the handler gives the whole request; an upload the
 * core would refuse as from an unknown client is refused before its body; nothing is stored.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { type EventOptions, httpEvent } from "../../dev/events.ts";
import { createApp } from "../../lambda/app.ts";
import { DEFAULT_SYNC_RULES, type ServerConfig } from "../../lambda/config.ts";
import type { App, HttpResult } from "../../lambda/http/handler.ts";
import { clientTag, createLogger } from "../../lambda/log.ts";
import { StorageUnavailableError } from "../../lambda/storage/errors.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { failingStorage, withTxn } from "../support/storage-doubles.ts";
import { inTxn } from "../support/txn.ts";

const SEGMENT = "application/vnd.taskchampion.history-segment";
const SNAPSHOT = "application/vnd.taskchampion.snapshot";
const MAX = 100;

let storage: Storage;
let logLines: string[];
let clientId: Uuid;

function app(rules: Partial<ServerConfig["rules"]> = {}, store: Storage = storage): App {
  return createApp(
    store,
    { rules: { ...DEFAULT_SYNC_RULES, ...rules }, maxBodyBytes: MAX },
    createLogger((line) => logLines.push(line)),
  );
}

/** The event of a request's head: what the local server has before the body arrives. */
function head(method: string, path: string, headers: Record<string, string>) {
  return httpEvent(method, path, { headers });
}

/** The same request as a whole event, its body `body` (Lambda's view). */
function whole(method: string, path: string, headers: Record<string, string>, body?: string): ReturnType<typeof httpEvent> {
  const options: EventOptions = { headers };
  if (body !== undefined) options.body = body;
  return httpEvent(method, path, options);
}

function stored(id: Uuid = clientId): Promise<string> {
  return inTxn(storage, id, async (txn) => JSON.stringify(await txn.getClient()));
}

const version = (parent: string = NIL_UUID) => `/v1/client/add-version/${parent}`;
const snapshot = (versionId: string = NIL_UUID) => `/v1/client/add-snapshot/${versionId}`;

beforeEach(() => {
  storage = new MemoryStorage();
  logLines = [];
  clientId = newUuid();
});

describe("admit refuses on the head what the handler refuses, with the same answer", () => {
  const refusals = (): [string, string, string, Record<string, string>, Partial<ServerConfig["rules"]>?][] => [
    ["an unknown route", "POST", "/no/such/route", { "content-type": SEGMENT, "content-length": "50" }],
    ["a wrong method", "PUT", version(), { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "50" }],
    ["a missing client id", "POST", version(), { "content-type": SEGMENT, "content-length": "50" }],
    ["a malformed client id", "POST", snapshot(), { "x-client-id": "nope", "content-type": SNAPSHOT, "content-length": "50" }],
    [
      "a client id outside the allowlist",
      "POST",
      version(),
      { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "50" },
      { allowedClientIds: new Set([newUuid()]) },
    ],
    ["a malformed version id", "POST", version("nope"), { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "50" }],
    ["a wrong content type", "POST", version(), { "x-client-id": clientId, "content-type": SNAPSHOT, "content-length": "50" }],
    ["no content type", "POST", snapshot(), { "x-client-id": clientId, "content-length": "50" }],
    [
      "a history segment declared too large",
      "POST",
      version(),
      { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "101" },
    ],
  ];

  it.each(refusals())("%s", async (_, method, path, headers, rules = {}) => {
    const h = app(rules);
    const admitted = await h.admit(head(method, path, headers));
    expect(admitted.kind).toBe("answer");
    const answer = (admitted as { result: HttpResult }).result;
    expect(answer.statusCode).toBeGreaterThanOrEqual(400);
    expect(answer).toEqual(await h(whole(method, path, headers, "x".repeat(50))));
    expect(await stored()).toBe("null");
  });

  it("answers a GET with a body on its head too (the body is never needed)", async () => {
    const admitted = await app().admit(head("GET", "/v1/client/snapshot", { "x-client-id": clientId, "content-length": "5000" }));
    expect(admitted).toEqual({ kind: "read", bodyBytes: 0 });
  });
});

describe("what only admit refuses: a body it would have to read to learn about", () => {
  it("411 for an upload without Content-Length (chunked), which the whole event does not need", async () => {
    const headers = { "x-client-id": clientId, "content-type": SEGMENT, "transfer-encoding": "chunked" };
    const admitted = await app().admit(head("POST", version(), headers));
    expect(admitted).toMatchObject({ kind: "answer", result: { statusCode: 411, body: "a request body needs a Content-Length header\n" } });
    expect((admitted as { result: HttpResult }).result.headers).toMatchObject({
      "cache-control": "no-store, max-age=0",
      "content-type": "text/plain; charset=utf-8",
    });
    // The same request with its body arrived (API Gateway assembles a chunked upload) is served.
    expect((await app()(whole("POST", version(), headers, "segment"))).statusCode).toBe(200);
  });

  it("404 for an AddVersion of an unknown client when client creation is off, before the body", async () => {
    const headers = { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "50" };
    const admitted = await app({ createClients: false }).admit(head("POST", version(), headers));
    expect(admitted).toMatchObject({
      kind: "answer",
      result: { statusCode: 404, body: "unknown client id, and this server does not create clients\n" },
    });
    expect((admitted as { result: HttpResult }).result).toEqual(
      await app({ createClients: false })(whole("POST", version(), headers, "x")),
    );
    expect(JSON.parse(logLines[0]!)).toMatchObject({
      route: "add-version",
      status: 404,
      outcome: "unknown-client",
      client: clientTag(clientId),
    });
    expect(await stored()).toBe("null");
  });

  it("404 for an AddSnapshot of an unknown client, before the body, whether or not clients are created", async () => {
    const headers = { "x-client-id": clientId, "content-type": SNAPSHOT, "content-length": "50" };
    for (const createClients of [true, false]) {
      const admitted = await app({ createClients }).admit(head("POST", snapshot(), headers));
      expect(admitted).toMatchObject({ kind: "answer", result: { statusCode: 404, body: "unknown client id\n" } });
    }
    expect(await stored()).toBe("null");
  });
});

describe("admit lets through what the handler must see whole", () => {
  it("an upload of a known client, or of a new one when clients are created: read its declared length", async () => {
    const h = app();
    const headers = { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "100" };
    expect(await h.admit(head("POST", version(), headers))).toEqual({ kind: "read", bodyBytes: 100 });
    const added = await h(whole("POST", version(), headers, "segment"));
    const latest = added.headers?.["x-version-id"] as string;
    const snapshotHeaders = { "x-client-id": clientId, "content-type": SNAPSHOT, "content-length": "7" };
    expect(await h.admit(head("POST", snapshot(latest), snapshotHeaders))).toEqual({ kind: "read", bodyBytes: 7 });
    expect(await app({ createClients: false }).admit(head("POST", version(latest), headers))).toEqual({ kind: "read", bodyBytes: 100 });
  });

  it("a route without a body: read none", async () => {
    const h = app();
    expect(await h.admit(head("GET", "/", {}))).toEqual({ kind: "read", bodyBytes: 0 });
    expect(await h.admit(head("GET", `/v1/client/get-child-version/${NIL_UUID}`, { "x-client-id": clientId }))).toEqual({
      kind: "read",
      bodyBytes: 0,
    });
  });

  it("logs nothing for an admitted request: the handler logs it once answered", async () => {
    await app().admit(head("POST", version(), { "x-client-id": clientId, "content-type": SEGMENT, "content-length": "5" }));
    expect(logLines).toEqual([]);
  });
});

describe("a snapshot declared too large", () => {
  it("is answered 200 on its head and recorded as declined, as the handler does with the whole body", async () => {
    const h = app();
    const added = await h(whole("POST", version(), { "x-client-id": clientId, "content-type": SEGMENT }, "segment"));
    const latest = added.headers?.["x-version-id"] as string;
    const admitted = await h.admit(
      head("POST", snapshot(latest), { "x-client-id": clientId, "content-type": SNAPSHOT, "content-length": "101" }),
    );
    expect(admitted).toMatchObject({ kind: "answer", result: { statusCode: 200, body: "" } });
    expect(JSON.parse(logLines.at(-1)!)).toMatchObject({ route: "add-snapshot", status: 200, outcome: "declined:too-large" });
    expect(JSON.parse(await stored()).snapshotDeclined).not.toBeNull();
  });
});

describe("a storage failure while admitting", () => {
  it("is answered 503 with Retry-After, or 500 without details, and never names the client", async () => {
    const headers = { "x-client-id": clientId, "content-type": SNAPSHOT, "content-length": "5" };
    const unavailable = await app({}, failingStorage(new StorageUnavailableError("throttled", 3))).admit(head("POST", snapshot(), headers));
    expect(unavailable).toMatchObject({ kind: "answer", result: { statusCode: 503, headers: { "retry-after": "3" } } });
    const broken = await app({}, failingStorage(new Error(`no item for ${clientId}`))).admit(head("POST", snapshot(), headers));
    expect(broken).toMatchObject({ kind: "answer", result: { statusCode: 500, body: "internal server error\n" } });
    for (const line of logLines) expect(line).not.toContain(clientId);
  });
});

describe("the whole event (Lambda)", () => {
  it("makes no read of the client before the work: one transaction for an AddSnapshot", async () => {
    let transactions = 0;
    const counted = withTxn(storage, (id) => {
      transactions++;
      return storage.txn(id);
    });
    const h = app({ createClients: false }, counted);
    await inTxn(storage, clientId, async (txn) => {
      await txn.newClient(NIL_UUID);
      await txn.commit();
    });
    const result = await h(whole("POST", snapshot(newUuid()), { "x-client-id": clientId, "content-type": SNAPSHOT }, "snapshot"));
    expect(result.statusCode).toBe(200);
    expect(transactions).toBe(1);
  });
});
