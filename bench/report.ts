/**
 * The bench's output: Markdown tables on stdout, and every figure with the machine, the date
 * and the prices in `bench/results/latest.json` (git-ignored).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DYNAMODB_LOCAL_PACKAGE, DYNAMODB_LOCAL_PACKAGE_VERSION } from "../dev/dynamodb-local.ts";
import { type BudgetResult, isMet, LEAST_FUNCTION_MEMORY_MB } from "./budgets.ts";
import { GiB, KiB } from "./bytes.ts";
import { CAPACITY } from "./capacity.ts";
import type { ColdStartResult } from "./cold-start.ts";
import type { LoadResult } from "./concurrency.ts";
import { PRICES } from "./cost.ts";
import type { HistorySection } from "./history.ts";
import { formatCalls } from "./measurement.ts";
import type { MemoryResult } from "./memory.ts";
import { BIG_SEGMENT_BYTES, CLIENTS, INITIAL_CHAIN, SMALL_SEGMENT_BYTES, SNAPSHOT_BYTES } from "./operations.ts";
import type { Options } from "./options.ts";
import type { OperationsSection } from "./per-operation.ts";
import { mb, ms, num, table, usd } from "./report-format.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const RESULTS_FILE = join(REPO_ROOT, "bench", "results", "latest.json");

/** What one run measured and concluded; a section not run is undefined. */
export interface BenchRun {
  options: Options;
  startedAt: Date;
  operations: OperationsSection | undefined;
  history: HistorySection | undefined;
  concurrency: LoadResult[] | undefined;
  memory: MemoryResult[] | undefined;
  coldStart: ColdStartResult | undefined;
  /** The synthesized function, when the memory or cold-start section ran. */
  asset: { bytes: number; memoryMb: number } | undefined;
  /** Every budget checked. */
  budgets: BudgetResult[];
}

/** The budgets whose miss fails the run: every miss with --strict, else the misses not accepted. */
export function failedBudgets(run: BenchRun): BudgetResult[] {
  return run.budgets.filter((b) => !isMet(b) && (run.options.strict || b.acceptedMiss === undefined));
}

/** The machine the bench ran on. */
function machine() {
  return {
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round((totalmem() / GiB) * 10) / 10,
  };
}

/** The emulators' packages and versions. */
function emulatorVersions() {
  const s3rverVersion = (createRequire(import.meta.url)("s3rver/package.json") as { version: string }).version;
  return {
    dynamodbLocal: `${DYNAMODB_LOCAL_PACKAGE}@${DYNAMODB_LOCAL_PACKAGE_VERSION}`,
    s3rver: `s3rver@${s3rverVersion}`,
  };
}

function verdict(b: BudgetResult): string {
  if (isMet(b)) return "met";
  return b.acceptedMiss ? `**NOT MET** (accepted: ${b.problems.join(", ")})` : `**NOT MET** (${b.problems.join(", ")})`;
}

function operationsReport(section: OperationsSection, options: Options): string[] {
  const { costs, syncs, atRest } = section;
  const results = section.results.filter((r) => !r.op.refusal);
  const refusals = section.results.filter((r) => r.op.refusal);
  const out: string[] = [
    table(
      ["Operation", "HTTP", "DynamoDB calls", "S3 calls", "Round trips (DynamoDB)", "p50", "p90", "p99", "max", "Budget", "Result"],
      results.map((r) => [
        r.op.name,
        String(r.op.status),
        formatCalls(r.stats.dynamodb) + (r.stats.callsVary ? " (varies, max shown)" : ""),
        formatCalls(r.stats.s3),
        `${r.stats.roundTrips} (${r.stats.dynamodbRoundTrips})`,
        ms(r.stats.latencyMs.p50),
        ms(r.stats.latencyMs.p90),
        ms(r.stats.latencyMs.p99),
        ms(r.stats.latencyMs.max),
        r.budget.budget,
        verdict(r.budget),
      ]),
      ["l", "r", "l", "l", "r", "r", "r", "r", "r", "l", "l"],
    ),
    "",
    "Round trips: the longest chain of SDK calls in which each starts after the previous one ended (calls in flight together count once); in parentheses, DynamoDB calls only.",
    "",
    "### What a refused request costs the owner",
    "",
    table(
      ["Refused request", "HTTP", "DynamoDB calls", "S3 calls", "Stored", "USD per million", "Budget", "Result"],
      refusals.map((r) => [
        r.op.name,
        String(r.op.status),
        formatCalls(r.stats.dynamodb) + (r.stats.callsVary ? " (varies, max shown)" : ""),
        formatCalls(r.stats.s3),
        r.stats.s3Calls === 0 ? "nothing" : "**an object**",
        usd(costs.find((c) => c.key === r.op.key)?.usdPerMillion.total ?? 0),
        r.budget.budget,
        verdict(r.budget),
      ]),
      ["l", "r", "l", "l", "l", "r", "l", "l"],
    ),
    "",
    "USD per million: the refused requests' DynamoDB units (a refused write charged as if it had run: AWS does not document what a cancelled one costs), the function at its p50, and API Gateway's requests (a body is metered per 512 KB).",
    "",
    "### What one sync reads and writes, item by item",
    "",
    table(
      ["Request", "Call", "Item", "Bytes", "Read units", "Write units"],
      section.syncItems.flatMap(({ operation, charges }) =>
        charges.map((c) => [
          results.find((r) => r.op.key === operation)?.op.name ?? operation,
          `${c.command}${c.transactional ? ` (${c.action})` : ""}${c.refused ? ", refused" : ""}`,
          c.item,
          String(c.bytes),
          num(c.rru),
          num(c.wru),
        ]),
      ),
      ["l", "l", "l", "r", "r", "r"],
    ),
    "",
    `Write units by AWS's documented rules (${CAPACITY.transactionalWriteFactor} per started KB of each item a transaction writes; ` +
      "an update is charged on the larger of the item before and after). " +
      `Sync budget (${section.syncBudget.budget}): ${verdict(section.syncBudget)}.`,
    "",
    `### Cost per million requests of each operation (USD, on-demand, ${PRICES.region}, prices of ${PRICES.asOf})`,
    "",
    table(
      [
        "Operation",
        "RRU",
        "WRU",
        "S3 PUT",
        "S3 GET",
        "Lambda ms (p50, billed)",
        "API requests",
        "DynamoDB",
        "S3",
        "Lambda",
        "API Gateway",
        "Total",
      ],
      costs.map((c) => [
        c.name,
        num(c.units.rru),
        num(c.units.wru),
        num(c.units.s3Put),
        num(c.units.s3Get),
        String(c.lambdaBilledMs),
        String(c.apiRequests),
        usd(c.usdPerMillion.dynamodb),
        usd(c.usdPerMillion.s3),
        usd(c.usdPerMillion.lambda),
        usd(c.usdPerMillion.apiGateway),
        usd(c.usdPerMillion.total),
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
    "",
    "### Cost per million syncs (USD)",
    "",
    table(
      ["Sync", "Requests", "RRU", "WRU", "Lambda ms", "DynamoDB", "S3", "Lambda", "API Gateway", "Total per million syncs"],
      syncs.map((s) => [
        s.name,
        String(s.operations.length),
        num(s.rru),
        num(s.wru),
        String(s.lambdaBilledMs),
        usd(s.usdPerMillion.dynamodb),
        usd(s.usdPerMillion.s3),
        usd(s.usdPerMillion.lambda),
        usd(s.usdPerMillion.apiGateway),
        `**${usd(s.usdPerMillion.total)}**`,
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
    "",
    ...syncs.map((s) => `- **${s.name}**: ${s.definition}`),
    "",
    `Storage at rest, 1000 typical users: **$${usd(atRest.usdPerMonth.total)} per month** ` +
      `(DynamoDB ${atRest.dynamodbGb.toFixed(2)} GB = $${usd(atRest.usdPerMonth.dynamodb)}, S3 ${atRest.s3Gb.toFixed(2)} GB = $${usd(atRest.usdPerMonth.s3)}); ` +
      `${atRest.assumption}.`,
    "",
    "RRU/WRU are estimated from the item sizes seen (strongly consistent read: 1 RRU per started 4 KB, a missing item 1; " +
      "write: 1 WRU per started 1 KB of the larger of the item before and after; transactional: ×2 per item; a refused " +
      "transaction is charged as if it had run, the upper bound, since AWS does not document it). " +
      `Lambda: ${PRICES.lambdaMemoryMb} MB arm64, GB-seconds at the measured p50 on the emulators (AWS latency differs); ` +
      "data transfer out to the internet ($0.09/GB) is not included.",
  ];
  if (options.capacityCheck) {
    out.push(
      "",
      "### Capacity estimate vs DynamoDB Local's ConsumedCapacity (separate untimed pass)",
      "",
      table(
        [
          "Operation",
          "RRU est.",
          "read units reported",
          "WRU est. (AWS's rule)",
          "write units by DynamoDB Local's rule",
          "write units reported",
        ],
        results.map((r) =>
          r.capacity
            ? [
                r.op.name,
                num(r.capacity.estimatedRru),
                num(r.capacity.reportedRead),
                num(r.capacity.estimatedWru),
                num(r.capacity.predictedLocalWrite),
                num(r.capacity.reportedWrite),
              ]
            : [r.op.name, "—", "—", "—", "—", "—"],
        ),
        ["l", "r", "r", "r", "r", "r"],
      ),
      "",
      "Reads and single-item writes agree with the estimate. For TransactWriteItems DynamoDB Local reports 4 units per started " +
        "KB of each item (twice AWS's documented 2), items of the same figure counted once, and nothing for a refused one; its " +
        "rule applied to the estimate's item sizes must give what it reported, which confirms the sizes behind the estimate.",
    );
  }
  return out;
}

function historyReport(section: HistorySection): string[] {
  return [
    table(
      ["Client", "Request", "DynamoDB calls", "Round trips (DynamoDB)", "RRU", "WRU", "p50", "p99"],
      section.rows.map((r) => [
        `${r.versions.toLocaleString("en-US")} versions`,
        r.request,
        formatCalls(r.stats.dynamodb),
        `${r.stats.roundTrips} (${r.stats.dynamodbRoundTrips})`,
        num(r.stats.units.rru),
        num(r.stats.units.wru),
        ms(r.stats.latencyMs.p50),
        ms(r.stats.latencyMs.p99),
      ]),
      ["l", "l", "l", "r", "r", "r", "r", "r"],
    ),
    "",
    `Both clients imported through the storage (${section.importSeconds.toFixed(1)} s), each with a fresh snapshot. ` +
      `Budget (${section.budget.budget}): ${verdict(section.budget)}.`,
  ];
}

function concurrencyReport(results: readonly LoadResult[]): string[] {
  return [
    table(
      ["Load", "Syncs / rounds", "Requests", "Statuses", "Requests/s", "p50", "p99", "AddVersion p50", "AddVersion p99"],
      results.map((r) => [
        r.name,
        String(r.units),
        String(r.requests),
        Object.entries(r.statuses)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([status, n]) => `${status} ×${n}`)
          .join(", "),
        r.requestsPerSecond.toFixed(0),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        ms(r.addVersionMs.p50),
        ms(r.addVersionMs.p99),
      ]),
      ["l", "r", "r", "l", "r", "r", "r", "r", "r"],
    ),
    "",
    "One process sends every request through the handler on the emulators, on this machine's cores: the emulators' figures, " +
      "not AWS's (where each concurrent request has its own function instance). Compare rows with each other.",
  ];
}

function memoryReport(results: readonly MemoryResult[], deployedMb: number | undefined): string[] {
  const headroom = (peak: number, limitMb: number) => `${(limitMb - peak / 2 ** 20).toFixed(0)} MB`;
  const first = results[0];
  return [
    table(
      [
        "Request (3 in one process)",
        "Node alone",
        "After import",
        "Peak RSS",
        "Peak heap used",
        "Peak outside the heap",
        `Headroom to ${LEAST_FUNCTION_MEMORY_MB} MB`,
        `Headroom to ${deployedMb ?? "?"} MB (default)`,
      ],
      results.map((r) => [
        r.name,
        `${mb(r.report.startRssBytes)} MB`,
        `${mb(r.report.importedRssBytes)} MB`,
        `**${mb(r.peakRssBytes)} MB**`,
        `${mb(Math.max(...r.report.requests.map((q) => q.heapUsedBytes)))} MB`,
        `${mb(Math.max(...r.report.requests.map((q) => q.externalBytes)))} MB`,
        headroom(r.peakRssBytes, LEAST_FUNCTION_MEMORY_MB),
        deployedMb === undefined ? "—" : headroom(r.peakRssBytes, deployedMb),
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r"],
    ),
    "",
    `The synthesized asset in its own \`node\` process, the template's environment pointed at the emulators; each event read ` +
      `and parsed, and each result serialized, as Lambda's runtime does (an event of ${first ? mb((first.payloadBytes * 4) / 3) : "?"} MB ` +
      "of base64). RSS is the process's VmHWM; heap and outside-the-heap figures are sampled every millisecond.",
  ];
}

function coldStartReport(r: ColdStartResult, budget: BudgetResult | undefined): string[] {
  const kib = (bytes: number) => `${(bytes / KiB).toFixed(0)} KiB`;
  return [
    table(
      ["Process", "Fastest of runs", "Loaded at start", "Whole asset", "Whole asset, gzip"],
      [
        ["`node` on an empty module", `${ms(r.emptyMs)} ms`, "—", "—", "—"],
        ["`node index.mjs` (the sync function)", `${ms(r.assetMs)} ms`, kib(r.startupBytes), kib(r.assetBytes), kib(r.assetGzipBytes)],
      ],
      ["l", "r", "r", "r", "r"],
    ),
    "",
    `Cold start: **${r.ratio.toFixed(2)}×** an empty module (fastest of ${r.runs} whole processes each, alternating)` +
      (budget ? `; budget ${budget.budget}: ${verdict(budget)}.` : "."),
  ];
}

/** The report printed on stdout. */
export function markdownReport(run: BenchRun): string {
  const { options, startedAt } = run;
  const { node, cpus: cpuCount, cpuModel } = machine();
  const out: string[] = [
    `Bench of ${startedAt.toISOString().slice(0, 10)}: Node ${node}, ${cpuCount} × ${cpuModel}; ${options.iterations} measured ` +
      `requests per operation after ${options.warmup} warm-up. Latency is the whole handler call in ms on DynamoDB Local + s3rver ` +
      "on loopback: not AWS latency.",
    "",
  ];
  if (run.operations) {
    out.push("### Calls and latency per operation (through the HTTP handler)", "", ...operationsReport(run.operations, options), "");
  }
  if (run.history) out.push("### A client with 10,000 versions against one with 10", "", ...historyReport(run.history), "");
  if (run.concurrency) out.push("### Throughput and tail latency under concurrency", "", ...concurrencyReport(run.concurrency), "");
  if (run.memory) out.push("### Peak memory of the function", "", ...memoryReport(run.memory, run.asset?.memoryMb), "");
  if (run.coldStart) {
    const budget = run.budgets.find((b) => b.subject === "cold start");
    out.push("### Cold start of the sync function", "", ...coldStartReport(run.coldStart, budget), "");
  }
  const accepted = run.budgets.filter((b) => !isMet(b) && b.acceptedMiss !== undefined && !options.strict);
  for (const b of accepted) out.push(`Accepted miss — ${b.subject}: ${b.problems.join(", ")}. ${b.acceptedMiss}`, "");
  const failed = failedBudgets(run);
  const met = run.budgets.filter(isMet).length;
  out.push(
    (run.budgets.length === 0 ? "Budgets: none in the sections run" : `Budgets: ${met} of ${run.budgets.length} met`) +
      (accepted.length > 0
        ? `; ${accepted.length} accepted miss${accepted.length === 1 ? "" : "es"} (above; --strict fails on them)`
        : "") +
      (failed.length > 0 ? `; NOT met: ${failed.map((b) => `${b.subject} (${b.problems.join(", ")})`).join("; ")}.` : "."),
  );
  return out.join("\n");
}

/** Every figure of the run, as written to the results file. */
export function resultsJson(run: BenchRun, durationSeconds: number) {
  const { options, startedAt, operations } = run;
  return {
    date: startedAt.toISOString(),
    durationSeconds,
    machine: machine(),
    emulators: emulatorVersions(),
    iterations: options.iterations,
    warmup: options.warmup,
    strict: options.strict,
    sections: [...options.sections],
    sizes: {
      smallSegmentBytes: SMALL_SEGMENT_BYTES,
      bigSegmentBytes: BIG_SEGMENT_BYTES,
      snapshotBytes: SNAPSHOT_BYTES,
      clients: CLIENTS,
      initialChain: INITIAL_CHAIN,
    },
    roundTripRule: "longest chain of SDK calls in which each starts after the previous one ended; overlapping calls count once",
    operations:
      operations?.results.map((r, i) => ({
        key: r.op.key,
        name: r.op.name,
        status: r.op.status,
        outcome: r.op.outcome,
        ...r.stats,
        budget: r.budget,
        cost: operations.costs[i],
        capacityCheck: r.capacity ?? null,
      })) ?? null,
    cost: operations
      ? { prices: PRICES, capacity: CAPACITY, syncs: operations.syncs, syncItems: operations.syncItems, atRest: operations.atRest }
      : null,
    history: run.history ?? null,
    concurrency: run.concurrency ?? null,
    memory: run.memory ?? null,
    coldStart: run.coldStart ?? null,
    asset: run.asset ?? null,
    budgets: run.budgets.map((b) => ({ ...b, met: isMet(b) })),
    budgetsMet: failedBudgets(run).length === 0,
  };
}

/** Writes the results file; returns its path. */
export async function writeResults(json: ReturnType<typeof resultsJson>): Promise<string> {
  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
  return RESULTS_FILE;
}
