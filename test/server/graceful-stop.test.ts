/** Stopping the local server: a client that stalls mid-request cannot hold the stop past the grace period. */
import { existsSync } from "node:fs";
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { stopGracefully } from "../../bin/serve.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { SEGMENT_TYPE } from "../support/http-client.ts";
import { startTestServer } from "../support/local-server.ts";

describe("stopGracefully", () => {
  it("cuts a request still unfinished after the grace period, then closes the storage", async () => {
    const server = await startTestServer("sqlite");
    const database = /SQLite at (.+)$/.exec(server.description)![1]!;
    expect(existsSync(`${database}-wal`)).toBe(true);
    const { hostname, port } = new URL(server.url);
    // An upload that announces 1000 bytes, sends 10 and stalls.
    const stalled = request({
      host: hostname,
      port,
      method: "POST",
      path: `/v1/client/add-version/${NIL_UUID}`,
      headers: { "x-client-id": newUuid(), "content-type": SEGMENT_TYPE, "content-length": 1000, expect: "100-continue" },
    });
    const cut = new Promise<string>((resolve) => {
      stalled.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      stalled.on("response", (res) => resolve(`answered ${res.statusCode}`));
    });
    await new Promise<void>((resolve) => {
      stalled.once("continue", resolve);
      stalled.flushHeaders();
    });
    stalled.write(Buffer.alloc(10));

    const started = Date.now();
    await stopGracefully(server, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await cut).toBe("ECONNRESET");
    // The database is closed too (the last connection's close removes the WAL file).
    expect(existsSync(`${database}-wal`)).toBe(false);
    await server.stop(); // removes the temporary directory
  });
});
