/**
 * The local server's memory under many connections each starting a 4.4 MB upload, measured as
 * the peak resident memory (VmHWM, Linux) of `npm start`'s server process: refused uploads are
 * never read, admitted ones only within the budget of body bytes in flight.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { SEGMENT_TYPE } from "../support/http-client.ts";
import { requestHead, upload } from "../support/raw-http.ts";
import { exited, type ServerProcess, startServerProcess } from "../support/server-process.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const UPLOAD = 4_400_000;
const MB = 1024 * 1024;

let server: ServerProcess | undefined;

afterEach(async () => {
  if (!server) return;
  const stopped = exited(server.child);
  server.child.kill("SIGKILL");
  await stopped;
  server = undefined;
});

async function start(): Promise<{ port: number; pid: number }> {
  server = await startServerProcess(process.execPath, ["--import", "tsx", "bin/serve.ts"], {
    cwd: root,
    env: { STORAGE: "memory", LISTEN: "127.0.0.1:0" },
  });
  const port = Number(new URL(server.url).port);
  // Warm: the code paths of a refusal and of an upload are loaded before the baseline.
  await fetch(`${server.url}/no/such/route`);
  await fetch(`${server.url}/v1/client/add-version/${NIL_UUID}`, {
    method: "POST",
    headers: { "x-client-id": newUuid(), "content-type": SEGMENT_TYPE },
    body: "warm",
  });
  return { port, pid: server.child.pid! };
}

/** Resident memory now and at its peak, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

function uploadHead(path: string, clientId: string): string {
  return requestHead("POST", path, {
    connection: "close",
    "x-client-id": clientId,
    "content-type": SEGMENT_TYPE,
    "content-length": UPLOAD,
  });
}

describe("the local server's memory under many 4.4 MB uploads", () => {
  it("40 connections to an unknown route: not read, the peak stays within 40 MB of the start (it was 250 MB above)", async () => {
    const { port, pid } = await start();
    const before = memory(pid).rss;
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async () => (await upload(port, uploadHead("/no/such/route", newUuid()), UPLOAD)).status),
    );
    expect(statuses.filter((s) => s === 404).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 404 || s === undefined)).toBe(true);
    expect(memory(pid).peak - before).toBeLessThan(40 * MB);
  });

  it("60 connections to AddVersion: four bodies read at once, others 503, the peak within 150 MB of the start (it was 390 MB above)", async () => {
    const { port, pid } = await start();
    const before = memory(pid).rss;
    const clientId = newUuid();
    const statuses = await Promise.all(
      Array.from(
        { length: 60 },
        async () => (await upload(port, uploadHead(`/v1/client/add-version/${NIL_UUID}`, clientId), UPLOAD)).status,
      ),
    );
    // One version added; the uploads read alongside it lost the race (409); those beyond the budget
    // of bytes in flight were refused unread (503: how many depends on how fast the first are read).
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.every((s) => s === 200 || s === 409 || s === 503 || s === undefined)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(memory(pid).peak - before).toBeLessThan(150 * MB);
  });
});
