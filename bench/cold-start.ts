/**
 * The cold start of the sync function: how long `node index.mjs` (the synthesized asset, its
 * top level run: settings, SDK clients, the storage) takes as a whole process, against `node`
 * on an empty module; the fastest of N runs of each, alternating, as a ratio. The ratio is
 * what carries over to Lambda: both include Node's own start, which Lambda's runtime pays too.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { assetFiles, startupFiles, totalBytes } from "../dev/lambda-asset.ts";
import type { FunctionAsset } from "./asset.ts";

/** Runs of each process. */
export const COLD_START_RUNS = 20;

export interface ColdStartResult {
  runs: number;
  /** The fastest whole `node` process on an empty module, and on the asset, ms. */
  emptyMs: number;
  assetMs: number;
  ratio: number;
  /** What the cold start loads: the entry and the chunks it imports statically. */
  startupBytes: number;
  /** The whole asset, with the chunks loaded on a request's first need (S3, the operators' code). */
  assetBytes: number;
  /** The whole asset gzip-compressed: about what the deployment package weighs. */
  assetGzipBytes: number;
}

/** One whole process on `file`, wall time in ms. */
function timeProcess(file: string, env: Record<string, string>): number {
  const start = performance.now();
  const run = spawnSync(process.execPath, [file], { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = performance.now() - start;
  if (run.status !== 0) throw new Error(`node ${file} exited with ${run.status}: ${run.stderr.toString()}`);
  return elapsed;
}

/** `env`: the function's environment (its import reads and checks its settings). */
export async function runColdStart(asset: FunctionAsset, env: Record<string, string>, runs = COLD_START_RUNS): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), "bench-cold-start-"));
  try {
    const empty = join(dir, "empty.mjs");
    await writeFile(empty, "");
    let emptyMs = Number.POSITIVE_INFINITY;
    let assetMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      emptyMs = Math.min(emptyMs, timeProcess(empty, env));
      assetMs = Math.min(assetMs, timeProcess(asset.file, env));
    }
    const files = assetFiles(asset.assetDir);
    const gzipBytes = await Promise.all(files.map(async (file) => gzipSync(await readFile(join(asset.assetDir, file))).byteLength));
    return {
      runs,
      emptyMs,
      assetMs,
      ratio: assetMs / emptyMs,
      startupBytes: totalBytes(asset.assetDir, startupFiles(asset.assetDir)),
      assetBytes: totalBytes(asset.assetDir, files),
      assetGzipBytes: gzipBytes.reduce((sum, bytes) => sum + bytes, 0),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
