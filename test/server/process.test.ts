/** `npm start` as a process: what it prints, clean stops on signals, data kept across restarts. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { protocolClient } from "../support/http-client.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsx = join(root, "node_modules", ".bin", "tsx");

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts bin/serve.ts and waits for the line saying where it listens. */
function start(env: Record<string, string>): Promise<Started> {
  const child = spawn(tsx, ["bin/serve.ts"], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+),/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tc-process-"));
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the local server process", () => {
  it("prints where it listens and the Taskwarrior configuration", async () => {
    const allowed = newUuid();
    const server = await start({ DATA_DIR: dataDir, LISTEN: "127.0.0.1:0", CLIENT_ID: allowed });
    const out = server.output();
    expect(out).toContain(`storage: SQLite at ${join(dataDir, "taskchampion-sync-server.sqlite3")}`);
    expect(out).toContain(`task config sync.server.url ${server.url}`);
    expect(out).toContain(`task config sync.server.client_id ${allowed}`);
    expect(out).toMatch(/task config sync\.encryption_secret \S{20,}/);
    const stopped = exited(server.child);
    server.child.kill("SIGTERM");
    expect(await stopped).toBe(0);
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

  it("refuses to start on invalid settings, naming each variable and its accepted form", async () => {
    const child = spawn(tsx, ["bin/serve.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH, DATA_DIR: dataDir, SNAPSHOT_DAYS: "soon", STORAGE: "floppy" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    expect(await exited(child)).toBe(2);
    expect(err).toContain('SNAPSHOT_DAYS="soon" is not valid: expected a whole number of days');
    expect(err).toContain('STORAGE="floppy" is not valid: expected sqlite, memory or dynamodb');
  });
});
