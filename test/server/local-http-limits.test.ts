/**
 * The local adapter refuses before it reads, over real sockets: a refused upload is answered on
 * its head, before any of its body is sent, and its connection closed; `100 Continue` only for
 * an admitted one; heads and requests are cut at their timeouts; connections beyond the cap are
 * closed; body bytes in flight stay within their budget.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { type ConnectionLimits, type LocalHttpServer, serveHandler } from "../../bin/local-http.ts";
import { startServer } from "../../bin/serve.ts";
import { createApp } from "../../lambda/app.ts";
import { ConfigError, DEFAULT_SYNC_RULES, type ServerConfig } from "../../lambda/config.ts";
import { createLogger } from "../../lambda/log.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { SEGMENT_TYPE, SNAPSHOT_TYPE } from "../support/http-client.ts";
import { withTxn } from "../support/storage-doubles.ts";
import { openRaw, type RawConnection, requestHead, statusOf } from "../support/raw-http.ts";

const MAX_BODY_BYTES = 4_500_000;
const UPLOAD = 4_400_000;

let server: LocalHttpServer | undefined;

afterEach(async () => {
  server?.server.closeAllConnections();
  await server?.close();
  server = undefined;
});

async function serve(limits: Partial<ConnectionLimits> = {}, rules: Partial<ServerConfig["rules"]> = {}, maxBodyBytes = MAX_BODY_BYTES) {
  const app = createApp(
    new MemoryStorage(),
    { rules: { ...DEFAULT_SYNC_RULES, ...rules }, maxBodyBytes },
    createLogger(() => {}),
  );
  server = await serveHandler(app, { host: "127.0.0.1", port: 0, maxBodyBytes, limits });
  return { port: Number(new URL(server.url).port), url: server.url };
}

const addVersionPath = (parent: string = NIL_UUID) => `/v1/client/add-version/${parent}`;

/** The headers of an upload; `length` undefined leaves Content-Length out (fetch adds its own). */
function upload(
  clientId: string,
  length: number | undefined,
  type = SEGMENT_TYPE,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    "x-client-id": clientId,
    "content-type": type,
    ...(length === undefined ? {} : { "content-length": String(length) }),
    ...extra,
  };
}

/** Sends only the head of a 4.4 MB upload and expects the final answer, and the close, before any body byte. */
async function refusedOnHead(port: number, head: string): Promise<string> {
  const connection = await openRaw(port);
  connection.socket.write(head);
  const answer = await connection.waitFor(/\r\n\r\n/, 2000);
  await connection.closed(2000);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  return connection.received();
}

describe("an upload refused on its head is answered before its body is sent, and its connection closed", () => {
  const allowed = newUuid();
  const cases: [string, number, (id: string) => string, Partial<ServerConfig["rules"]>?][] = [
    ["an unknown route", 404, (id) => requestHead("POST", "/no/such/route", upload(id, UPLOAD))],
    ["a wrong method", 405, (id) => requestHead("PUT", addVersionPath(), upload(id, UPLOAD))],
    ["a malformed client id", 400, () => requestHead("POST", addVersionPath(), upload("not-a-uuid", UPLOAD))],
    [
      "a client id outside the allowlist",
      403,
      (id) => requestHead("POST", addVersionPath(), upload(id, UPLOAD)),
      { allowedClientIds: new Set([allowed]) },
    ],
    ["a malformed version id", 400, (id) => requestHead("POST", addVersionPath("nope"), upload(id, UPLOAD))],
    ["a wrong content type", 400, (id) => requestHead("POST", addVersionPath(), upload(id, UPLOAD, "application/octet-stream"))],
    [
      "no Content-Length (chunked)",
      411,
      (id) => requestHead("POST", addVersionPath(), upload(id, undefined, SEGMENT_TYPE, { "transfer-encoding": "chunked" })),
    ],
    ["a declared length over MAX_BODY_BYTES", 413, (id) => requestHead("POST", addVersionPath(), upload(id, MAX_BODY_BYTES + 1))],
    [
      "an unknown client when clients are not created",
      404,
      (id) => requestHead("POST", addVersionPath(), upload(id, UPLOAD)),
      { createClients: false },
    ],
    [
      "a snapshot of an unknown client",
      404,
      (id) => requestHead("POST", `/v1/client/add-snapshot/${NIL_UUID}`, upload(id, UPLOAD, SNAPSHOT_TYPE)),
    ],
  ];

  it.each(cases)("%s: %i", async (_, status, head, rules = {}) => {
    const { port, url } = await serve({}, rules);
    const received = await refusedOnHead(port, head(newUuid()));
    expect(statusOf(received)).toBe(status);
    // The server goes on serving.
    expect((await fetch(`${url}/`)).status).toBe(200);
  });

  it("a GET with a body is answered without reading it, and its connection closed", async () => {
    const { port } = await serve();
    const received = await refusedOnHead(
      port,
      requestHead("GET", "/v1/client/snapshot", { "x-client-id": newUuid(), "content-length": UPLOAD }),
    );
    expect(statusOf(received)).toBe(404);
  });

  it("an admitted upload is read and answered, and its connection kept", async () => {
    const { port } = await serve();
    const connection = await openRaw(port);
    connection.socket.write(requestHead("POST", addVersionPath(), upload(newUuid(), 7)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing answered before the body: the head was admitted.
    expect(connection.received()).toBe("");
    connection.socket.write("segment");
    const answer = await connection.waitFor(/\r\n\r\n/);
    expect(statusOf(answer)).toBe(200);
    expect(answer).not.toMatch(/connection: close/i);
    expect(connection.isClosed()).toBe(false);
    connection.socket.destroy();
  });
});

describe("Expect: 100-continue", () => {
  it("a refused upload gets its final status and never 100 Continue", async () => {
    const { port } = await serve({}, { createClients: false });
    const received = await refusedOnHead(
      port,
      requestHead("POST", addVersionPath(), upload(newUuid(), UPLOAD, SEGMENT_TYPE, { expect: "100-continue" })),
    );
    expect(statusOf(received)).toBe(404);
    expect(received).not.toMatch(/100 Continue/);
  });

  it("an admitted upload gets 100 Continue, then its answer once the body is sent", async () => {
    const { port } = await serve();
    const connection = await openRaw(port);
    connection.socket.write(requestHead("POST", addVersionPath(), upload(newUuid(), 7, SEGMENT_TYPE, { expect: "100-continue" })));
    await connection.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    connection.socket.write("segment");
    const answer = await connection.waitFor(/HTTP\/1\.1 200 /);
    expect(statusOf(answer, 1)).toBe(200);
    expect(answer).toMatch(/\r\nx-version-id: [0-9a-f-]{36}\r\n/i);
    connection.socket.destroy();
  });
});

describe("timeouts", () => {
  it("a body trickled slowly is cut at the request timeout with 408", async () => {
    const { port, url } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 1000, bodyBytesInFlight: MAX_BODY_BYTES });
    const connection = await openRaw(port);
    connection.socket.write(requestHead("POST", addVersionPath(), upload(newUuid(), 100)));
    const trickle = setInterval(() => connection.socket.write("x"), 100);
    try {
      const cutAfter = await connection.closed(4000);
      expect(cutAfter).toBeGreaterThanOrEqual(900);
      expect(cutAfter).toBeLessThan(2500);
      expect(statusOf(connection.received())).toBe(408);
    } finally {
      clearInterval(trickle);
    }
    // The budget the upload held is free again: a body of the largest size is read.
    const big = await fetch(`${url}${addVersionPath()}`, {
      method: "POST",
      headers: upload(newUuid(), undefined),
      body: new Uint8Array(MAX_BODY_BYTES),
    });
    expect(big.status).toBe(200);
  });

  it("a body that arrives within the request timeout, slowly, is served", async () => {
    const { port } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 2000 });
    const connection = await openRaw(port);
    connection.socket.write(requestHead("POST", addVersionPath(), upload(newUuid(), 10)));
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      connection.socket.write("x");
    }
    expect(statusOf(await connection.waitFor(/\r\n\r\n/))).toBe(200);
    connection.socket.destroy();
  });

  it("a head never finished is cut at the headers timeout, well before the request timeout", async () => {
    const { port } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 10_000 });
    const partial = await openRaw(port);
    partial.socket.write(`POST ${addVersionPath()} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Client-Id: `);
    const silent = await openRaw(port);
    for (const connection of [partial, silent]) {
      const cutAfter = await connection.closed(3000);
      expect(cutAfter).toBeGreaterThanOrEqual(400);
      expect(cutAfter).toBeLessThan(2000);
    }
    expect(statusOf(partial.received())).toBe(408);
  });
});

describe("the connection cap", () => {
  it("closes connections beyond it at once, and serves again once there is room", async () => {
    const { port, url } = await serve({ maxConnections: 5 });
    const held: RawConnection[] = [];
    for (let i = 0; i < 5; i++) held.push(await openRaw(port));
    const extra = await openRaw(port);
    expect(await extra.closed(1000)).toBeLessThan(1000);
    expect(extra.received()).toBe("");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(held.every((connection) => !connection.isClosed())).toBe(true);
    for (const connection of held) connection.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${url}/`)).status).toBe(200);
  });
});

describe("the budget of body bytes in flight", () => {
  const limits = { bodyBytesInFlight: 2000 };

  async function startUpload(port: number, clientId: string): Promise<RawConnection> {
    const connection = await openRaw(port);
    connection.socket.write(requestHead("POST", addVersionPath(), upload(clientId, 1000)));
    connection.socket.write("x".repeat(500));
    return connection;
  }

  it("answers an upload it has no room for 503 with Retry-After, before its body, and serves it once room is back", async () => {
    const { port, url } = await serve(limits, {}, 1000);
    const [a, b] = [newUuid(), newUuid()];
    const first = await startUpload(port, a);
    const second = await startUpload(port, b);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const received = await refusedOnHead(port, requestHead("POST", addVersionPath(), upload(newUuid(), 1000)));
    expect(statusOf(received)).toBe(503);
    expect(received).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(received).toMatch(/\r\n\r\nthe server is receiving all the uploads it may at once, try again later\n$/);
    // A request without a body needs no room.
    expect((await fetch(`${url}/`)).status).toBe(200);
    // A refusal takes no room: a refused upload is answered as ever.
    expect(statusOf(await refusedOnHead(port, requestHead("POST", "/no/such/route", upload(a, 1000))))).toBe(404);

    first.socket.write("x".repeat(500));
    expect(statusOf(await first.waitFor(/\r\n\r\n/))).toBe(200);
    const third = await startUpload(port, newUuid());
    third.socket.write("x".repeat(500));
    expect(statusOf(await third.waitFor(/\r\n\r\n/))).toBe(200);
    second.socket.write("x".repeat(500));
    expect(statusOf(await second.waitFor(/\r\n\r\n/))).toBe(200);
    for (const connection of [first, second, third]) connection.socket.destroy();
  });

  it("gives back the room of an upload whose client went away", async () => {
    const { port, url } = await serve(limits, {}, 1000);
    const gone = await Promise.all([startUpload(port, newUuid()), startUpload(port, newUuid())]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const connection of gone) connection.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await fetch(`${url}${addVersionPath()}`, {
      method: "POST",
      headers: upload(newUuid(), undefined),
      body: "x".repeat(1000),
    });
    expect(response.status).toBe(200);
  });
});

describe("the limits' settings", () => {
  async function started(env: Record<string, string>) {
    const running = await startServer({ STORAGE: "memory", LISTEN: "127.0.0.1:0", ...env });
    stops.push(() => running.stop());
    return running;
  }

  async function problems(env: Record<string, string>): Promise<readonly string[]> {
    const error = await startServer({ STORAGE: "memory", LISTEN: "127.0.0.1:0", ...env }).then(
      (running) => running.stop(),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }

  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  it("have defaults that never cut a Taskwarrior client: heads 20 s, requests 90 s, 100 connections", async () => {
    const { server } = await started({});
    expect(server.headersTimeout).toBe(20_000);
    expect(server.requestTimeout).toBe(90_000);
    expect(server.maxConnections).toBe(100);
  });

  it("are read from the environment", async () => {
    const { server } = await started({ HEADERS_TIMEOUT_SECONDS: "2", REQUEST_TIMEOUT_SECONDS: "3", MAX_CONNECTIONS: "7" });
    expect(server.headersTimeout).toBe(2000);
    expect(server.requestTimeout).toBe(3000);
    expect(server.maxConnections).toBe(7);
  });

  it("budget four bodies of MAX_BODY_BYTES in flight by default, MAX_BODY_BYTES_IN_FLIGHT otherwise", async () => {
    for (const [env, admitted] of [
      [{ MAX_BODY_BYTES: "1000" }, 4],
      [{ MAX_BODY_BYTES: "1000", MAX_BODY_BYTES_IN_FLIGHT: "2500" }, 2],
    ] as const) {
      const { url } = await started(env);
      const port = Number(new URL(url).port);
      const uploads: RawConnection[] = [];
      for (let i = 0; i < admitted; i++) {
        const connection = await openRaw(port);
        connection.socket.write(requestHead("POST", addVersionPath(), upload(newUuid(), 1000)));
        uploads.push(connection);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(uploads.every((connection) => connection.received() === "")).toBe(true);
      const over = await refusedOnHead(port, requestHead("POST", addVersionPath(), upload(newUuid(), 1000)));
      expect(statusOf(over)).toBe(503);
      for (const connection of uploads) connection.socket.destroy();
    }
  });

  it("refuse to start on values out of their form, or that cannot work together", async () => {
    expect(
      await problems({
        HEADERS_TIMEOUT_SECONDS: "0",
        REQUEST_TIMEOUT_SECONDS: "soon",
        MAX_CONNECTIONS: "-1",
        MAX_BODY_BYTES_IN_FLIGHT: "lots",
      }),
    ).toEqual([
      expect.stringMatching(/^HEADERS_TIMEOUT_SECONDS="0" is not valid: expected a whole number of seconds, 1 or more/),
      expect.stringMatching(/^REQUEST_TIMEOUT_SECONDS="soon" is not valid/),
      expect.stringMatching(/^MAX_CONNECTIONS="-1" is not valid/),
      expect.stringMatching(/^MAX_BODY_BYTES_IN_FLIGHT="lots" is not valid/),
    ]);
    expect(
      await problems({
        HEADERS_TIMEOUT_SECONDS: "30",
        REQUEST_TIMEOUT_SECONDS: "10",
        MAX_BODY_BYTES: "1000",
        MAX_BODY_BYTES_IN_FLIGHT: "999",
      }),
    ).toEqual([
      "HEADERS_TIMEOUT_SECONDS (30) is longer than REQUEST_TIMEOUT_SECONDS (10): a request's time includes its head",
      "MAX_BODY_BYTES_IN_FLIGHT (999) is less than MAX_BODY_BYTES (1000): a body of the largest size accepted could never be read",
    ]);
  });
});

describe("a client that goes away while its head is being admitted", () => {
  it("holds no room: its upload is not waited for", async () => {
    // Every transaction starts 200 ms late: an AddSnapshot's admission (one read of the client) takes that long.
    const inner = new MemoryStorage();
    const slow = withTxn(inner, async (clientId) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return inner.txn(clientId);
    });
    const app = createApp(
      slow,
      { rules: DEFAULT_SYNC_RULES, maxBodyBytes: 1000 },
      createLogger(() => {}),
    );
    server = await serveHandler(app, { host: "127.0.0.1", port: 0, maxBodyBytes: 1000, limits: { bodyBytesInFlight: 1000 } });
    const port = Number(new URL(server.url).port);
    const clientId = newUuid();
    const added = await fetch(`${server.url}${addVersionPath()}`, { method: "POST", headers: upload(clientId, undefined), body: "first" });
    const version = added.headers.get("x-version-id")!;

    const gone = await openRaw(port);
    gone.socket.write(requestHead("POST", `/v1/client/add-snapshot/${version}`, upload(clientId, 1000, SNAPSHOT_TYPE)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    gone.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 400));

    const next = await fetch(`${server.url}${addVersionPath(version)}`, {
      method: "POST",
      headers: upload(clientId, undefined),
      body: "x".repeat(1000),
    });
    expect(next.status).toBe(200);
  });
});

describe("a handler that checks no head (a test's wrapper of the app)", () => {
  it("is given a chunked body only up to one byte past the limit, and answered then, without the rest", async () => {
    const app = createApp(
      new MemoryStorage(),
      { rules: DEFAULT_SYNC_RULES, maxBodyBytes: 1000 },
      createLogger(() => {}),
    );
    server = await serveHandler((event) => app(event), { host: "127.0.0.1", port: 0, maxBodyBytes: 1000 });
    const connection = await openRaw(Number(new URL(server.url).port));
    const head = requestHead("POST", addVersionPath(), { ...upload(newUuid(), undefined), "transfer-encoding": "chunked" });
    // 2,000 bytes in one chunk, and the body never ended: only a read that stops at 1,001 bytes answers.
    connection.socket.write(`${head}7d0\r\n${"x".repeat(2000)}\r\n`);
    await connection.waitFor(/\r\n\r\n/);
    expect(statusOf(connection.received())).toBe(413);
    expect(await connection.closed()).toBeGreaterThan(0);
  });
});

describe("a failure of the adapter itself", () => {
  it("is answered 500 without details, and its stderr line never names the client", async () => {
    const clientId = newUuid();
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      server = await serveHandler(() => Promise.reject(new Error(`the handler failed for client ${clientId}`)), {
        host: "127.0.0.1",
        port: 0,
        maxBodyBytes: 1000,
      });
      const response = await fetch(`${server.url}/`);
      expect(response.status).toBe(500);
      expect(await response.text()).toBe("");
    } finally {
      write.mockRestore();
    }
    const line = written.find((text) => text.startsWith("local adapter error:"));
    expect(line).toMatch(/the handler failed for client <[0-9a-f]{12}>/);
    expect(line).not.toContain(clientId);
  });
});
