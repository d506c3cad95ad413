/**
 * `npm run bench`: what each protocol operation costs on the DynamoDB + S3 storage, measured
 * through the real HTTP handler (API Gateway payload 2.0 events) against DynamoDB Local and
 * s3rver on loopback. Not a test: it prints Markdown tables, writes `bench/results/latest.json`,
 * and exits 1 when one of issue 3's targets is missed. See bench/README.md.
 *
 *   npm run bench -- [--iterations=200] [--warmup=20] [--strict] [--no-capacity-check]
 *
 * Per operation: the SDK calls by service and command (counted once per logical call, before
 * the SDK's retries), the sequential round trips on the critical path, the latency of the
 * whole handler call, and an estimate of DynamoDB capacity units from the item sizes seen.
 */
import { startEmulators, type Emulators } from "../dev/emulators.ts";
import { emulatorClientOptions } from "../dev/emulator-endpoints.ts";
import { interceptCalls } from "../dev/sdk-interception.ts";
import { stopOnSignals } from "../dev/shutdown.ts";
import { createApp } from "../lambda/app.ts";
import { DEFAULT_SYNC_RULES, LAMBDA_MAX_BODY_BYTES, type ServerConfig } from "../lambda/config.ts";
import { createAwsClients } from "../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../lambda/storage/dynamodb/storage.ts";
import { reportedCapacity } from "./capacity.ts";
import { atRestCost, opCost, syncCosts } from "./cost.ts";
import { type MeasureContext, measure, type Sample, summarize } from "./measurement.ts";
import { buildOperations, type OpResult, setupClients } from "./operations.ts";
import { parseArgs } from "./options.ts";
import { CallRecorder } from "./recorder.ts";
import { type BenchRun, markdownReport, ms, resultsJson, writeResults } from "./report.ts";

let emulators: Emulators | undefined;
/** Stops the emulators once: on SIGINT or SIGTERM (then exits 130 or 143), or when the run ends. */
const stopEmulators = stopOnSignals(
  [async () => emulators?.stop().catch((error) => console.error(`stopping the emulators: ${String(error)}`))],
  { announce: (signal) => console.error(`\n${signal}: stopping the emulators`) },
);

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const log = (line: string) => console.error(`[bench] ${line}`);
  const startedAt = new Date();
  const t0 = performance.now();
  log("starting DynamoDB Local and s3rver");
  emulators = await startEmulators({ log });
  const clientOptions = emulatorClientOptions(emulators);
  const clients = createAwsClients(clientOptions);
  const recorder = new CallRecorder();
  interceptCalls(clients, recorder.intercept, "initialize");
  const raw = createAwsClients(clientOptions).dynamodb; // uncounted: item sizes after updates
  const storage = new DynamoStorage({ ...clients, tableName: emulators.tableName, bucketName: emulators.bucketName, ownsClients: true });
  const config: ServerConfig = {
    rules: DEFAULT_SYNC_RULES,
    maxBodyBytes: LAMBDA_MAX_BODY_BYTES,
  };
  const handler = createApp(storage, config, recorder.logger);

  try {
    const benchClients = await setupClients(handler, recorder, log);

    const operations = buildOperations(handler, recorder, benchClients);
    const context: MeasureContext = { handler, recorder, raw, tableName: emulators.tableName };
    const results: OpResult[] = [];
    const samplesOf = new Map<string, Sample[]>();
    for (const op of operations) {
      const opStart = performance.now();
      await measure(op, context, { count: options.warmup, offset: 0, keep: false });
      const samples = await measure(op, context, { count: options.iterations, offset: options.warmup, keep: true });
      samplesOf.set(op.key, samples);
      const stats = summarize(samples);
      const found = op.target.check(stats);
      results.push({ op, stats, problems: found, met: found.length === 0 });
      log(`${op.name}: p50 ${ms(stats.latencyMs.p50)} ms (${((performance.now() - opStart) / 1000).toFixed(1)} s)`);
    }

    if (options.capacityCheck) {
      // A separate, untimed pass: the same requests with ReturnConsumedCapacity added by the
      // interceptor, to compare the size-based estimate with DynamoDB Local's own accounting.
      log("capacity check: the same requests asking DynamoDB Local for ConsumedCapacity");
      const checkSamples = 10;
      for (const r of results) {
        const samples = await measure(r.op, context, {
          count: checkSamples,
          offset: options.warmup + options.iterations,
          keep: true,
          askCapacity: true,
        });
        const reported = samples.map((s) => reportedCapacity(s.calls));
        r.capacity = {
          samples: samples.length,
          estimatedRru: samples.reduce((sum, s) => sum + s.units.rru, 0) / samples.length,
          estimatedWru: samples.reduce((sum, s) => sum + s.units.wru, 0) / samples.length,
          reportedRead: reported.reduce((sum, c) => sum + c.read, 0) / samples.length,
          reportedWrite: reported.reduce((sum, c) => sum + c.write, 0) / samples.length,
        };
      }
    }

    // ------------------------------------------------------------------- report
    const costs = results.map(opCost);
    const syncs = syncCosts(costs);
    const small = samplesOf.get("add-version-small");
    if (!small) throw new Error("add-version-small was not measured");
    const atRest = atRestCost(small);
    const failed = results.filter((r) => !r.met && (options.strict || !r.op.target.acceptedMiss));
    const accepted = results.filter((r) => !r.met && !options.strict && r.op.target.acceptedMiss);
    const run: BenchRun = { options, startedAt, results, costs, syncs, atRest, failed, accepted };
    console.log(markdownReport(run));

    const durationSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`wrote ${await writeResults(resultsJson(run, durationSeconds))} (${durationSeconds} s in all)`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await storage.close();
    raw.destroy();
  }
}

main().then(
  async (code) => {
    await stopEmulators();
    process.exit(code);
  },
  async (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    await stopEmulators();
    process.exit(2);
  },
);
