/**
 * `npm run bench`: what the server costs on the DynamoDB + S3 storage, measured through the
 * real HTTP handler (API Gateway payload 2.0 events) against DynamoDB Local and s3rver on
 * loopback, and on the synthesized function in its own process. Not a test: it prints
 * Markdown tables, writes `bench/results/latest.json`, and exits 1 when a budget is missed
 * (budgets.ts), 2 on an error (an unexpected status is one). See bench/README.md.
 *
 *   npm run bench -- [--iterations=200] [--warmup=20] [--strict] [--no-capacity-check] [--only=operations,...]
 *
 * Sections: per operation (calls, round trips, latency, units, cost), a client with 10,000
 * versions against one with 10, throughput under concurrency, the function's peak memory and
 * its cold start.
 */
import { startEmulators, type Emulators } from "../dev/emulators.ts";
import { emulatorClientOptions } from "../dev/emulator-endpoints.ts";
import { interceptCalls } from "../dev/sdk-interception.ts";
import { stopOnSignals } from "../dev/shutdown.ts";
import { createApp } from "../lambda/app.ts";
import { DEFAULT_SYNC_RULES, LAMBDA_MAX_BODY_BYTES, type ServerConfig } from "../lambda/config.ts";
import type { SyncRules } from "../lambda/core/sync.ts";
import { createAwsClients } from "../lambda/storage/dynamodb/sdk-clients.ts";
import { DynamoStorage } from "../lambda/storage/dynamodb/storage.ts";
import { type FunctionAsset, functionProcessEnv, synthesizeFunction } from "./asset.ts";
import { type BudgetResult, COLD_START_BUDGET, checkBudget, FUNCTION_MEMORY_BUDGET, PRICED_MEMORY_BUDGET } from "./budgets.ts";
import { runColdStart } from "./cold-start.ts";
import { runConcurrency } from "./concurrency.ts";
import { PRICES } from "./cost.ts";
import { runHistory } from "./history.ts";
import type { MeasureContext } from "./measurement.ts";
import { runMemory } from "./memory.ts";
import { parseArgs } from "./options.ts";
import { runOperations } from "./per-operation.ts";
import { CallRecorder } from "./recorder.ts";
import { type BenchRun, failedBudgets, markdownReport, resultsJson, writeResults } from "./report.ts";

let emulators: Emulators | undefined;
let asset: FunctionAsset | undefined;
/** Stops the emulators once: on SIGINT or SIGTERM (then exits 130 or 143), or when the run ends. */
const stopEmulators = stopOnSignals(
  [
    async () => asset?.remove().catch((error) => console.error(`removing the synthesized app: ${String(error)}`)),
    async () => emulators?.stop().catch((error) => console.error(`stopping the emulators: ${String(error)}`)),
  ],
  { announce: (signal) => console.error(`\n${signal}: stopping the emulators`) },
);

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const sections = options.sections;
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
  const rules = DEFAULT_SYNC_RULES;
  const config: ServerConfig = { rules, maxBodyBytes: LAMBDA_MAX_BODY_BYTES };
  const handler = createApp(storage, config, recorder.logger);
  const withRules = (more: Partial<SyncRules>) => createApp(storage, { ...config, rules: { ...rules, ...more } }, recorder.logger);
  const context: MeasureContext = { handler, withRules, recorder, raw, tableName: emulators.tableName };

  try {
    const run: BenchRun = {
      options,
      startedAt,
      operations: undefined,
      history: undefined,
      concurrency: undefined,
      memory: undefined,
      coldStart: undefined,
      asset: undefined,
      budgets: [],
    };
    const budgets: BudgetResult[] = run.budgets;
    if (sections.has("operations")) {
      run.operations = await runOperations(context, rules, options, log);
      budgets.push(...run.operations.results.map((r) => r.budget), run.operations.syncBudget);
    }
    if (sections.has("history")) {
      run.history = await runHistory(context, storage, rules, options, log);
      budgets.push(run.history.budget);
    }
    if (sections.has("concurrency")) run.concurrency = await runConcurrency(handler, options.iterations, log);
    if (sections.has("memory") || sections.has("cold-start")) {
      log("synthesizing the app (cdk synth)");
      asset = await synthesizeFunction();
      run.asset = { bytes: asset.bytes, memoryMb: asset.memoryMb };
      budgets.push(
        checkBudget("the cost model's Lambda memory", PRICED_MEMORY_BUDGET, {
          pricedMb: PRICES.lambdaMemoryMb,
          deployedMb: asset.memoryMb,
        }),
      );
      if (sections.has("memory")) {
        run.memory = await runMemory(asset, handler, emulators, log);
        budgets.push(...run.memory.map((m) => checkBudget(`peak memory, ${m.name}`, FUNCTION_MEMORY_BUDGET, m.peakRssBytes)));
      }
      if (sections.has("cold-start")) {
        log("cold start: whole node processes on the asset and on an empty module");
        run.coldStart = await runColdStart(asset, functionProcessEnv(asset, emulators));
        budgets.push(checkBudget("cold start", COLD_START_BUDGET, run.coldStart));
      }
    }
    console.log(markdownReport(run));

    const durationSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`wrote ${await writeResults(resultsJson(run, durationSeconds))} (${durationSeconds} s in all)`);
    return failedBudgets(run).length === 0 ? 0 : 1;
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
