/**
 * The local server's request target, sent raw over a socket as curl's `--request-target` does:
 * a malformed absolute-form target is the client's error (400), never the server's (500).
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveHandler, type LocalHttpServer } from "../../bin/local-http.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { createApp } from "../../lambda/app.ts";
import { createLogger } from "../../lambda/log.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";

let server: LocalHttpServer;
let port: number;

beforeAll(async () => {
  const app = createApp(
    new MemoryStorage(),
    { rules: DEFAULT_SYNC_RULES, maxBodyBytes: 1000 },
    createLogger(() => {}),
  );
  server = await serveHandler(app, { host: "127.0.0.1", port: 0, maxBodyBytes: 1000 });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.close();
});

/** Sends `request` as is and returns everything the server wrote until it closed the connection. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("the local server's request target", () => {
  it.each(["http://[::1", "http://[::1/v1/client/snapshot", "http://exa%mple.com/", "http://:80/", "http://a:b:c/"])(
    "answers 400 to the malformed target %s",
    async (target) => {
      const answer = await raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toMatch(/\r\ncache-control: no-store, max-age=0\r\n/i);
      expect(answer).toMatch(/\r\ncontent-type: text\/plain; charset=utf-8\r\n/i);
      expect(answer).toMatch(/\r\n\r\nmalformed request target\n$/);
    },
  );

  it("answers 400 before reading a body, and keeps serving other connections", async () => {
    const answer = await raw(`POST http://[::1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\npartial`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect((await fetch(`${server.url}/`)).status).toBe(200);
  });

  it("serves a well-formed absolute-form target by its path", async () => {
    const answer = await raw(`GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const unknown = await raw(`GET http://127.0.0.1:${port}/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(unknown).toMatch(/^HTTP\/1\.1 404 /);
  });
});
