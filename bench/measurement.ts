/**
 * Measuring requests through the handler: each request's SDK calls (from the recorder), its
 * latency and its capacity units; then, per operation, the calls by command (the worst
 * request), the sequential round trips, and latency percentiles.
 */
import { type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { SdkCall } from "../dev/sdk-interception.ts";
import type { SyncRules } from "../lambda/core/sync.ts";
import type { Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { SK, TABLE } from "../lambda/storage/dynamodb/layout.ts";
import {
  DDB_READS,
  DDB_WRITES,
  estimateUnits,
  type ItemCharge,
  itemCharges,
  itemSize,
  keyOf,
  type Units,
  updatedKeys,
} from "./capacity.ts";
import { type CallRecord, type CallRecorder, dynamoCall } from "./recorder.ts";
import { bodyBytes } from "./requests.ts";

export interface Prepared {
  event: HttpEvent;
  /** Checks the response (beyond its status) and updates the benchmark's state. */
  check?: (result: HttpResult) => void;
}

/** A kind of request to measure. */
export interface MeasuredRequest {
  name: string;
  status: number;
  /** The handler's logged outcome the request must have (proves which path ran); undefined for a request refused before the storage. */
  outcome: string | undefined;
  /** The handler to send it to, when not the context's (another server's settings on the same storage). */
  handler?: Handler;
  /** Builds the i-th request; may send unmeasured setup requests first. */
  prepare: (i: number) => Promise<Prepared>;
}

/** The handler under measurement, and what measuring it needs. */
export interface MeasureContext {
  handler: Handler;
  /** A handler on the same storage and recorder with other sync rules (a server that creates no clients, a quota). */
  withRules: (rules: Partial<SyncRules>) => Handler;
  recorder: CallRecorder;
  /** An uncounted client: reads the size of each updated item after the request. */
  raw: DynamoDBClient;
  tableName: string;
}

export interface Sample {
  ms: number;
  calls: CallRecord[];
  /** What each item read or written costs (the units are their sum, plus S3). */
  charges: ItemCharge[];
  units: Units;
  responseBytes: number;
}

export interface OpStats {
  samples: number;
  /** Calls per request: identical in every sample, or the worst (max) per command when not. */
  dynamodb: Record<string, number>;
  s3: Record<string, number>;
  callsVary: boolean;
  dynamodbCalls: number;
  s3Calls: number;
  clientReads: number;
  walkBackReads: number;
  dynamodbWrites: number;
  roundTrips: number;
  dynamodbRoundTrips: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  units: Units;
  responseBytes: number;
}

/**
 * Sends `count` requests of the kind (the `offset`-th on), one at a time, checking each one's
 * status and logged outcome. Returns their samples when `keep` (warm-up requests are not kept).
 * `askCapacity` asks DynamoDB for ConsumedCapacity on every call (the capacity check).
 */
export async function measure(
  request: MeasuredRequest,
  context: MeasureContext,
  run: { count: number; offset: number; keep: boolean; askCapacity?: boolean },
): Promise<Sample[]> {
  const { recorder, raw, tableName } = context;
  const handler = request.handler ?? context.handler;
  const samples: Sample[] = [];
  for (let n = 0; n < run.count; n++) {
    const { event, check } = await request.prepare(run.offset + n);
    const { result, calls, ms, log: logged } = await recorder.record(() => handler(event), { askCapacity: run.askCapacity ?? false });
    if ((result.statusCode ?? 200) !== request.status || logged?.outcome !== request.outcome) {
      throw new Error(
        `${request.name}: expected ${request.status} ${request.outcome}, got ${result.statusCode} ${String(logged?.outcome)}: ${result.body ?? ""} ${JSON.stringify(logged)}`,
      );
    }
    const unfinished = calls.filter((c) => Number.isNaN(c.end));
    if (unfinished.length > 0) throw new Error(`${request.name}: ${unfinished.length} call(s) still in flight after the handler returned`);
    check?.(result);
    if (!run.keep) continue;
    // Outside the timed part: the size of each updated item after the update (for its WRU).
    const after = new Map<string, number>();
    for (const key of updatedKeys(calls)) {
      const read = await raw.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
      after.set(keyOf(key), itemSize(read.Item));
    }
    samples.push({ ms, calls, charges: itemCharges(calls, after), units: estimateUnits(calls, after), responseBytes: bodyBytes(result) });
  }
  return samples;
}

/** A strongly consistent read of the client item (as opposed to a walk-back read of a version). */
function isClientRead(call: CallRecord): boolean {
  const typed = dynamoCall(call);
  return typed?.command === "GetItem" && typed.input.Key?.[TABLE.sortKey.name]?.S === SK.client;
}

export function summarize(samples: readonly Sample[]): OpStats {
  const first = samples[0];
  if (!first) throw new Error("no samples to summarize");
  const count = (calls: readonly CallRecord[], service: SdkCall["service"]) => {
    const byCommand: Record<string, number> = {};
    for (const c of calls) if (c.service === service) byCommand[c.command] = (byCommand[c.command] ?? 0) + 1;
    return byCommand;
  };
  const signature = (s: Sample) => JSON.stringify([count(s.calls, "dynamodb"), count(s.calls, "s3")]);
  const callsVary = samples.some((s) => signature(s) !== signature(first));
  const worst = (service: SdkCall["service"]) => {
    const merged: Record<string, number> = {};
    for (const s of samples) for (const [k, v] of Object.entries(count(s.calls, service))) merged[k] = Math.max(merged[k] ?? 0, v);
    return merged;
  };
  const maxOf = (f: (s: Sample) => number) => Math.max(...samples.map(f));
  const ddb = (s: Sample) => s.calls.filter((c) => c.service === "dynamodb");
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const mean = (f: (s: Sample) => number) => samples.reduce((sum, s) => sum + f(s), 0) / samples.length;
  return {
    samples: samples.length,
    dynamodb: worst("dynamodb"),
    s3: worst("s3"),
    callsVary,
    dynamodbCalls: maxOf((s) => ddb(s).length),
    s3Calls: maxOf((s) => s.calls.length - ddb(s).length),
    clientReads: maxOf((s) => ddb(s).filter(isClientRead).length),
    walkBackReads: maxOf((s) => ddb(s).filter((c) => DDB_READS.has(c.command) && !isClientRead(c)).length),
    dynamodbWrites: maxOf((s) => ddb(s).filter((c) => DDB_WRITES.has(c.command)).length),
    roundTrips: maxOf((s) => roundTrips(s.calls)),
    dynamodbRoundTrips: maxOf((s) => roundTrips(ddb(s))),
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: percentile(sorted, 100),
      mean: mean((s) => s.ms),
    },
    units: {
      rru: mean((s) => s.units.rru),
      wru: mean((s) => s.units.wru),
      s3Put: mean((s) => s.units.s3Put),
      s3Get: mean((s) => s.units.s3Get),
      s3Delete: mean((s) => s.units.s3Delete),
    },
    responseBytes: mean((s) => s.responseBytes),
  };
}

/**
 * Sequential round trips on the critical path: the length of the longest chain of calls in
 * which each call starts only after the previous one has ended. Calls that overlap in time
 * (sent together, `Promise.all`) can never be in one chain, so they count once; a call that
 * starts after another ended may depend on it, so it counts as the next round trip.
 */
export function roundTrips(calls: readonly CallRecord[]): number {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  /** Each earlier call's end and the length of the longest chain that ends with it. */
  const chains: Array<{ end: number; depth: number }> = [];
  let longest = 0;
  for (const call of sorted) {
    let depth = 1;
    for (const earlier of chains) if (earlier.end <= call.start) depth = Math.max(depth, earlier.depth + 1);
    chains.push({ end: call.end, depth });
    longest = Math.max(longest, depth);
  }
  return longest;
}

/** Nearest-rank percentile of sorted values (p100 is the largest). */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  const value = sorted[rank - 1];
  if (value === undefined) throw new Error("percentile of no values");
  return value;
}

/** Calls by command, "GetItem ×2, TransactWriteItems"; "—" for none. */
export function formatCalls(byCommand: Record<string, number>): string {
  const entries = Object.entries(byCommand);
  if (entries.length === 0) return "—";
  return entries.map(([command, n]) => (n === 1 ? command : `${command} ×${n}`)).join(", ");
}
