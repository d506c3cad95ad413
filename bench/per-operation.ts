/**
 * The per-operation section: each protocol operation sent one request at a time through the
 * handler, its calls, round trips, latency and units, its budget checked; then an untimed pass
 * asking DynamoDB Local for ConsumedCapacity; then what the operations cost, per sync and at rest.
 */
import type { SyncRules } from "../lambda/core/sync.ts";
import { type BudgetResult, checkBudget, SYNC_WRITE_UNITS_BUDGET } from "./budgets.ts";
import { dynamodbLocalWriteUnits, type ItemCharge, reportedCapacity } from "./capacity.ts";
import { type AtRestCost, atRestCost, type OpCost, opCost, type SyncCost, syncCosts, syncItems } from "./cost.ts";
import { type MeasureContext, measure, type Sample, summarize } from "./measurement.ts";
import { buildOperations, type OpResult, setupClients } from "./operations.ts";
import { buildRefusals } from "./refusals.ts";
import type { Options } from "./options.ts";
import { ms } from "./report-format.ts";

export interface OperationsSection {
  results: OpResult[];
  costs: OpCost[];
  syncs: SyncCost[];
  /** The items one sync reads and writes, request by request. */
  syncItems: Array<{ operation: string; charges: ItemCharge[] }>;
  atRest: AtRestCost;
  /** The sync's write units against their budget. */
  syncBudget: BudgetResult;
}

/** Requests of each operation in the capacity check. */
const CAPACITY_CHECK_REQUESTS = 10;

export async function runOperations(
  context: MeasureContext,
  rules: SyncRules,
  options: Options,
  log: (line: string) => void,
): Promise<OperationsSection> {
  const { handler, recorder } = context;
  const benchClients = await setupClients(handler, recorder, log);
  const operations = [
    ...buildOperations(handler, recorder, benchClients, rules, context.withRules),
    ...buildRefusals(context, benchClients),
  ];
  const results: OpResult[] = [];
  const samplesOf = new Map<string, Sample[]>();
  for (const op of operations) {
    const opStart = performance.now();
    await measure(op, context, { count: options.warmup, offset: 0, keep: false });
    const samples = await measure(op, context, { count: options.iterations, offset: options.warmup, keep: true });
    samplesOf.set(op.key, samples);
    const stats = summarize(samples);
    results.push({ op, stats, budget: checkBudget(op.name, op.budget, stats) });
    log(`${op.name}: p50 ${ms(stats.latencyMs.p50)} ms (${((performance.now() - opStart) / 1000).toFixed(1)} s)`);
  }

  if (options.capacityCheck) {
    // A separate, untimed pass: the same requests with ReturnConsumedCapacity added by the
    // interceptor, to compare the size-based estimate with DynamoDB Local's own accounting.
    log("capacity check: the same requests asking DynamoDB Local for ConsumedCapacity");
    for (const r of results) {
      const samples = await measure(r.op, context, {
        count: CAPACITY_CHECK_REQUESTS,
        offset: options.warmup + options.iterations,
        keep: true,
        askCapacity: true,
      });
      const reported = samples.map((s) => reportedCapacity(s.calls));
      const mean = (f: (s: Sample, i: number) => number) => samples.reduce((sum, s, i) => sum + f(s, i), 0) / samples.length;
      r.capacity = {
        samples: samples.length,
        estimatedRru: mean((s) => s.units.rru),
        estimatedWru: mean((s) => s.units.wru),
        reportedRead: mean((_, i) => reported[i]?.read ?? 0),
        reportedWrite: mean((_, i) => reported[i]?.write ?? 0),
        predictedLocalWrite: mean((s) => dynamodbLocalWriteUnits(s.charges)),
      };
    }
  }

  const costs = results.map(opCost);
  const syncs = syncCosts(costs);
  const small = samplesOf.get("add-version-small");
  if (!small) throw new Error("add-version-small was not measured");
  const sync = syncs.find((s) => s.key === "sync");
  if (!sync) throw new Error("no sync cost");
  const localOf = (key: string) => results.find((r) => r.op.key === key)?.capacity;
  const locals = sync.operations.map(localOf);
  const syncBudget = checkBudget(`${sync.name}: write units`, SYNC_WRITE_UNITS_BUDGET, {
    estimated: sync.wru,
    dynamodbLocal: locals.every((c) => c !== undefined)
      ? {
          reported: locals.reduce((sum, c) => sum + (c?.reportedWrite ?? 0), 0),
          predicted: locals.reduce((sum, c) => sum + (c?.predictedLocalWrite ?? 0), 0),
        }
      : undefined,
  });
  return { results, costs, syncs, syncItems: syncItems(samplesOf), atRest: atRestCost(small), syncBudget };
}
