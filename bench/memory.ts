/**
 * Peak memory of the sync function handling the largest requests API Gateway passes it: an
 * AddVersion and a GetSnapshot of LAMBDA_MAX_BODY_BYTES. The synthesized asset runs in a child
 * `node` process as Lambda runs it (function-host.ts), with the template's environment pointed
 * at the emulators; each kind of request is sent three times in one process (a warm
 * environment reuses its memory), and the process's peak RSS (VmHWM) and heap are read.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { EmulatorEndpoints } from "../dev/emulator-endpoints.ts";
import { LAMBDA_MAX_BODY_BYTES } from "../lambda/config.ts";
import type { Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import { NIL_UUID, newUuid, type Uuid } from "../lambda/uuid.ts";
import { type FunctionAsset, functionProcessEnv } from "./asset.ts";
import type { HostReport } from "./function-host.ts";
import { SMALL_SEGMENT_BYTES, SNAPSHOT_BYTES } from "./operations.ts";
import { addSnapshotEvent, addVersionEvent, getSnapshotEvent, header, payload } from "./requests.ts";

const HOST_SOURCE = fileURLToPath(new URL("./function-host.ts", import.meta.url));

/** Requests of each kind sent to one process. */
export const MEMORY_REQUESTS = 3;

export interface MemoryResult {
  name: string;
  payloadBytes: number;
  report: HostReport;
  /** The process's peak RSS over all its requests, bytes. */
  peakRssBytes: number;
}

async function expect(handler: Handler, event: HttpEvent, status: number, what: string): Promise<HttpResult> {
  const result = await handler(event);
  if ((result.statusCode ?? 200) !== status) throw new Error(`memory setup, ${what}: ${result.statusCode} ${result.body ?? ""}`);
  return result;
}

/** A client with one small version and a snapshot (in-process, unmeasured); returns it and its latest. */
async function setupClient(handler: Handler, snapshotBytes: number): Promise<{ id: Uuid; latest: Uuid }> {
  const id = newUuid();
  const added = await expect(handler, addVersionEvent(id, NIL_UUID, payload(SMALL_SEGMENT_BYTES)), 200, "AddVersion");
  const latest = header(added, HEADER.versionId) as Uuid;
  await expect(handler, addSnapshotEvent(id, latest, payload(snapshotBytes)), 200, "AddSnapshot");
  return { id, latest };
}

/** Runs the bundled host on the asset with these events; returns its report. */
function runHost(host: string, asset: FunctionAsset, env: Record<string, string>, eventFiles: readonly string[]): Promise<HostReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [host, asset.file, asset.handlerExport, ...eventFiles], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`the function's process exited with ${code}:\n${stderr}`));
      try {
        // The function logs its request lines on stdout too; the report is the last line.
        resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as HostReport);
      } catch (error) {
        reject(new Error(`the function's process printed no report: ${String(error)}\n${stdout}\n${stderr}`));
      }
    });
  });
}

export async function runMemory(
  asset: FunctionAsset,
  handler: Handler,
  emulators: EmulatorEndpoints,
  log: (line: string) => void,
): Promise<MemoryResult[]> {
  const dir = await mkdtemp(join(tmpdir(), "bench-memory-"));
  try {
    const host = join(dir, "function-host.mjs");
    await build({ entryPoints: [HOST_SOURCE], outfile: host, bundle: true, platform: "node", format: "esm", logLevel: "warning" });
    const env = functionProcessEnv(asset, emulators);
    const bytes = LAMBDA_MAX_BODY_BYTES;
    const kinds: Array<{ name: string; events: () => Promise<HttpEvent[]> }> = [
      {
        name: `AddVersion of ${(bytes / 1e6).toFixed(1)} MB`,
        events: async () => {
          const events: HttpEvent[] = [];
          for (let i = 0; i < MEMORY_REQUESTS; i++) {
            const client = await setupClient(handler, SNAPSHOT_BYTES);
            events.push(addVersionEvent(client.id, client.latest, payload(bytes)));
          }
          return events;
        },
      },
      {
        name: `GetSnapshot of ${(bytes / 1e6).toFixed(1)} MB`,
        events: async () => {
          const client = await setupClient(handler, bytes);
          return Array.from({ length: MEMORY_REQUESTS }, () => getSnapshotEvent(client.id));
        },
      },
    ];
    const results: MemoryResult[] = [];
    for (const kind of kinds) {
      const files: string[] = [];
      for (const [i, event] of (await kind.events()).entries()) {
        const file = join(dir, `event-${results.length}-${i}.json`);
        await writeFile(file, JSON.stringify(event));
        files.push(file);
      }
      const report = await runHost(host, asset, env, files);
      const failed = report.requests.filter((r) => r.status !== 200);
      if (failed.length > 0) throw new Error(`${kind.name}: the function answered ${failed.map((r) => r.status).join(", ")}`);
      const peakRssBytes = Math.max(report.importedRssBytes, ...report.requests.map((r) => r.peakRssBytes));
      log(`memory, ${kind.name}: peak RSS ${(peakRssBytes / 2 ** 20).toFixed(1)} MB`);
      results.push({ name: kind.name, payloadBytes: bytes, report, peakRssBytes });
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
