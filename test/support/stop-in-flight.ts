/**
 * The stop every documented way of running the local server must make on SIGTERM to the process
 * it starts: the request in flight finishes, new connections are refused, the SQLite database
 * is closed, the process exits 0 and nothing it started is left running.
 */
import { existsSync } from "node:fs";
import { Agent, request } from "node:http";
import Database from "better-sqlite3";
import { expect } from "vitest";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { SEGMENT_TYPE } from "./http-client.ts";
import { descendants, survivors } from "./process-tree.ts";
import type { ServerProcess } from "./server-process.ts";

/** Waits until `output()` matches `pattern` (the child's output arrives in chunks). */
async function printed(server: ServerProcess, pattern: RegExp, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!pattern.test(server.output())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the output:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * An AddVersion whose headers the server has taken (it answered `100 Continue`, so the request
 * is in its handler) and whose body is sent only by `finish`, on a kept-alive connection as
 * Taskwarrior's would be.
 */
async function addVersionInFlight(url: string, clientId: string, body: Buffer) {
  const agent = new Agent({ keepAlive: true });
  const { hostname, port } = new URL(url);
  const req = request({
    host: hostname,
    port,
    agent,
    method: "POST",
    path: `/v1/client/add-version/${NIL_UUID}`,
    headers: { "x-client-id": clientId, "content-type": SEGMENT_TYPE, "content-length": body.length, expect: "100-continue" },
  });
  const response = new Promise<{ status: number | undefined; versionId: string | undefined; connection: string | undefined }>(
    (resolve, reject) => {
      req.on("response", (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            versionId: res.headers["x-version-id"] as string | undefined,
            connection: res.headers.connection,
          }),
        );
      });
      req.on("error", reject);
    },
  );
  await new Promise<void>((resolve, reject) => {
    req.once("continue", resolve);
    req.once("error", reject);
    req.flushHeaders();
  });
  return {
    finish: async () => {
      req.end(body);
      const answer = await response;
      agent.destroy();
      return answer;
    },
  };
}

/**
 * Sends SIGTERM to `server.child` while an AddVersion is in flight and checks the whole stop.
 * `sqliteFile` is the database the server opened (WAL mode: its last connection's close
 * checkpoints it and removes the -wal and -shm files; a process that died without closing
 * leaves them).
 */
export async function stopWithRequestInFlight(server: ServerProcess, sqliteFile: string): Promise<void> {
  const started = [...descendants(server.child.pid!).keys(), server.child.pid!];
  const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
  expect(existsSync(`${sqliteFile}-wal`), "the database is open, in WAL mode").toBe(true);

  const clientId = newUuid();
  const body = Buffer.from("a version sent while the server stops");
  const inFlight = await addVersionInFlight(server.url, clientId, body);
  server.child.kill("SIGTERM");
  await printed(server, /SIGTERM: stopping/);
  await expect(fetch(`${server.url}/`), "new connections are refused").rejects.toThrow();

  const answer = await inFlight.finish();
  expect(answer.status, server.output()).toBe(200);
  expect(answer.versionId).toMatch(/^[0-9a-f-]{36}$/);
  expect(answer.connection, "the answer closes its kept-alive connection").toBe("close");
  expect(await exited, server.output()).toBe(0);
  expect(await survivors(started), "processes left running").toEqual([]);

  expect(existsSync(`${sqliteFile}-wal`), "the database was closed").toBe(false);
  expect(existsSync(`${sqliteFile}-shm`), "the database was closed").toBe(false);
  const db = new Database(sqliteFile, { readonly: true });
  try {
    const row = db.prepare("SELECT history_segment FROM versions WHERE client_id = ? AND version_id = ?").get(clientId, answer.versionId) as
      | { history_segment: Buffer }
      | undefined;
    expect(row?.history_segment.equals(body), "the version answered 200 is committed").toBe(true);
  } finally {
    db.close();
  }
}
