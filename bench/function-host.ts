/**
 * The program of the memory section's child process (bundled by esbuild and run by plain
 * `node`, so that no loader adds to its memory): it imports the bundled function as Lambda's
 * runtime does, then, for each event file in turn, reads and parses the event, calls the
 * handler, and serializes its result, as the runtime does; it prints what the process's memory
 * was, as one JSON line (HostReport).
 *
 *   node function-host.mjs <asset file> <handler export> <event file>...
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { Handler, HttpEvent } from "../lambda/http/handler.ts";

/** What one request did to the process's memory. */
export interface HostRequest {
  status: number;
  /** The serialized result's length. */
  resultChars: number;
  /** Peak resident set size of the process so far (VmHWM), bytes. */
  peakRssBytes: number;
  /** The most heap used, and memory outside the heap (buffers), sampled every millisecond during the request. */
  heapUsedBytes: number;
  externalBytes: number;
}

export interface HostReport {
  /** VmHWM before the function was imported: Node and this program. */
  startRssBytes: number;
  /** VmHWM once the function was imported (its cold start). */
  importedRssBytes: number;
  requests: HostRequest[];
}

/** A field of /proc/self/status in bytes (Linux reports kB). */
function procStatus(field: "VmHWM" | "VmRSS"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  if (!match?.[1]) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]) * 1024;
}

/** Reads and parses one event: the text is dropped once parsed, as the runtime drops it. */
function readEvent(file: string): HttpEvent {
  return JSON.parse(readFileSync(file, "utf8")) as HttpEvent;
}

async function main(): Promise<HostReport> {
  const [assetFile, exportName, ...eventFiles] = process.argv.slice(2);
  if (!assetFile || !exportName) throw new Error("usage: function-host.mjs <asset file> <handler export> <event file>...");
  const startRssBytes = procStatus("VmHWM");
  const module = (await import(pathToFileURL(assetFile).href)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== "function") throw new Error(`${assetFile} exports no function ${exportName}`);
  const importedRssBytes = procStatus("VmHWM");
  const requests: HostRequest[] = [];
  for (const file of eventFiles) {
    let heapUsedBytes = 0;
    let externalBytes = 0;
    const sample = () => {
      const usage = process.memoryUsage();
      heapUsedBytes = Math.max(heapUsedBytes, usage.heapUsed);
      externalBytes = Math.max(externalBytes, usage.external);
    };
    const sampler = setInterval(sample, 1);
    const result = await (handler as Handler)(readEvent(file));
    const serialized = JSON.stringify(result);
    sample();
    const resultChars = serialized.length;
    clearInterval(sampler);
    requests.push({ status: result.statusCode ?? 200, resultChars, peakRssBytes: procStatus("VmHWM"), heapUsedBytes, externalBytes });
  }
  return { startRssBytes, importedRssBytes, requests };
}

main().then(
  (report) => {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    // The function's SDK clients keep connections alive; the report is what was wanted.
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
