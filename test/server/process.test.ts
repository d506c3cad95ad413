/**
 * `npm start` as a process, as the README runs it: what it prints, clean stops on signals sent
 * to the process npm is (npm passes them on), data kept across restarts.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/serve.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { protocolClient } from "../support/http-client.ts";
import { exited, startServerProcess } from "../support/server-process.ts";
import { stopWithRequestInFlight } from "../support/stop-in-flight.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

const start = (env: Record<string, string>) => startServerProcess("npm", ["start"], { cwd: root, env });

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tc-process-"));
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm start", () => {
  it("prints where it listens and the Taskwarrior configuration, without an allowlisted client id", async () => {
    const allowed = newUuid();
    const server = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0", CLIENT_ID: allowed });
    const out = server.output();
    expect(out).toContain(`storage: SQLite at ${join(dataDir, SQLITE_FILE_NAME)}`);
    expect(out).toContain(`task config sync.server.url ${server.url}`);
    // A user's credential never goes to the log that a service's output becomes.
    expect(out).not.toContain(allowed);
    expect(out).toContain("task config sync.server.client_id <one of the client ids in CLIENT_ID>");
    expect(out).toContain('task config sync.encryption_secret "$(openssl rand -base64 24)"');
    const stopped = exited(server.child);
    server.child.kill("SIGTERM");
    expect(await stopped).toBe(0);
  });

  it("without an allowlist, prints a command that makes a client id", async () => {
    const server = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" });
    expect(server.output()).toContain('task config sync.server.client_id "$(uuidgen)"');
    const stopped = exited(server.child);
    server.child.kill("SIGTERM");
    expect(await stopped).toBe(0);
  });

  it("stops on SIGTERM to npm: the request in flight finishes, the database closes, exit 0, nothing left running", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tc-stop-"));
    try {
      const server = await start({ DATA_DIR: dir, LISTEN: "127.0.0.1:0" });
      await stopWithRequestInFlight(server, join(dir, SQLITE_FILE_NAME));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(["SIGTERM", "SIGINT"] as const)("stops cleanly on %s and keeps committed data across a restart", async (signal) => {
    const clientId = newUuid();
    const first = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" });
    const added = await protocolClient(first.url, clientId).addVersion(NIL_UUID, "kept");
    expect(added.status).toBe(200);
    const stopped = exited(first.child);
    first.child.kill(signal);
    expect(await stopped).toBe(0);

    const second = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" });
    const child = await protocolClient(second.url, clientId).getChildVersion(NIL_UUID);
    expect(child.status).toBe(200);
    expect(child.headers.get("x-version-id")).toBe(added.headers.get("x-version-id"));
    expect(await child.text()).toBe("kept");
    const stoppedAgain = exited(second.child);
    second.child.kill("SIGTERM");
    expect(await stoppedAgain).toBe(0);
  });

  it("says in one line why it cannot start (its address in use), with no stack trace, and exits 1", async () => {
    const first = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" });
    const port = new URL(first.url).port;
    const child = spawn("npm", ["start"], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: join(dataDir, "second"), LISTEN: `127.0.0.1:${port}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    expect(await exited(child)).toBe(1);
    const firstStopped = exited(first.child);
    first.child.kill("SIGTERM");
    expect(await firstStopped).toBe(0);
    expect(err).toMatch(/^error: could not start: listen EADDRINUSE.*\n/m);
    expect(err).not.toMatch(/^\s+at /m);
  });

  it("refuses to start on invalid settings, naming each variable and its accepted form", async () => {
    const child = spawn("npm", ["start"], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, SNAPSHOT_DAYS: "soon", STORAGE: "floppy" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    expect(await exited(child)).toBe(2);
    expect(err).toContain('SNAPSHOT_DAYS="soon" is not valid: expected a whole number of days');
    expect(err).toContain('STORAGE="floppy" is not valid: expected sqlite, memory or dynamodb');
  });
});
