/**
 * The budgets the bench holds the server to: per protocol operation (SDK calls and round
 * trips), per sync (write units), for the function's memory and its cold start. Each check
 * returns the problems it found; none means the budget is met. A miss that is known and
 * explained is "accepted": reported, but it fails the run only with --strict.
 */
import type { ColdStartResult } from "./cold-start.ts";
import { formatCalls, type OpStats } from "./measurement.ts";

export interface Budget<T> {
  /** The budget in words, as the report prints it. */
  text: string;
  check: (measured: T) => string[];
  /** Why a miss is known and accepted (reported as NOT MET, fails only with --strict). */
  acceptedMiss?: string;
}

/** One budget checked: what it was checked on, and what was found. */
export interface BudgetResult {
  subject: string;
  budget: string;
  problems: string[];
  acceptedMiss: string | undefined;
}

export function checkBudget<T>(subject: string, budget: Budget<T>, measured: T): BudgetResult {
  return { subject, budget: budget.text, problems: budget.check(measured), acceptedMiss: budget.acceptedMiss };
}

export const isMet = (r: BudgetResult) => r.problems.length === 0;

function problems(checks: Array<[boolean, string]>): string[] {
  return checks.filter(([ok]) => !ok).map(([, problem]) => problem);
}

/** No DynamoDB command beyond those named (an unexpected Query, a second write, ...). */
function onlyCommands(s: OpStats, allowed: Record<string, number>): Array<[boolean, string]> {
  return [
    ...Object.entries(allowed).map(([command, most]): [boolean, string] => [
      (s.dynamodb[command] ?? 0) <= most,
      `${s.dynamodb[command]} ${command}`,
    ]),
    [Object.keys(s.dynamodb).every((command) => command in allowed), `other DynamoDB calls: ${formatCalls(s.dynamodb)}`],
  ];
}

// ---------------------------------------------------------------------------------------------
// Per operation

export const GET_CHILD_BUDGET: Budget<OpStats> = {
  text: "≤ 2 DynamoDB calls in 1 round trip",
  check: (s) =>
    problems([
      [s.dynamodbCalls <= 2, `${s.dynamodbCalls} DynamoDB calls`],
      [s.dynamodbRoundTrips <= 1, `${s.dynamodbRoundTrips} DynamoDB round trips`],
    ]),
};

export const GET_CHILD_GONE_BUDGET: Budget<OpStats> = {
  ...GET_CHILD_BUDGET,
  acceptedMiss:
    "By design in lambda/core/sync.ts: the child lookup and the client read run in parallel; when they say " +
    "'no child' and 'latest is not the parent', the core reads the child once more, ordered after the client " +
    "read, because a child committed between the two parallel reads would otherwise get a false 410 (final " +
    "for a replica). Only the rare 410 path pays it; found and up-to-date stay at 2 calls in 1 round trip.",
};

/** The accepted AddVersion of an existing client, its segment inline: the read and the write in flight together. */
export const ADD_VERSION_BUDGET: Budget<OpStats> = {
  text: "1 read + 1 transaction, in flight together: 1 round trip",
  check: (s) => problems([...onlyCommands(s, { GetItem: 1, TransactWriteItems: 1 }), [s.roundTrips <= 1, `${s.roundTrips} round trips`]]),
};

/**
 * The same with a segment too big for the item: the read and the upload's lease (an update that
 * decides every refusal) together, then the S3 put, then the transaction.
 */
export const ADD_VERSION_S3_BUDGET: Budget<OpStats> = {
  text: "1 read + the lease together, then 1 S3 put, then 1 transaction: 3 round trips",
  check: (s) =>
    problems([
      ...onlyCommands(s, { GetItem: 1, UpdateItem: 1, TransactWriteItems: 1 }),
      [(s.s3.PutObject ?? 0) === 1 && s.s3Calls === 1, `S3 calls: ${formatCalls(s.s3)}`],
      [s.roundTrips <= 3, `${s.roundTrips} round trips`],
    ]),
};

/**
 * A refused request stores nothing: no S3 call (a versioned bucket keeps even a deleted upload),
 * at most one read of the client item and one write DynamoDB refuses.
 */
export const REFUSAL_BUDGET: Budget<OpStats> = {
  text: "no S3 call; ≤ 1 read + ≤ 1 refused write",
  check: (s) =>
    problems([
      [s.s3Calls === 0, `S3 calls: ${formatCalls(s.s3)}`],
      [s.clientReads + s.walkBackReads <= 1, `${s.clientReads + s.walkBackReads} DynamoDB reads`],
      [s.dynamodbWrites <= 1, `${s.dynamodbWrites} DynamoDB writes`],
      [s.dynamodbCalls <= 2, `DynamoDB calls: ${formatCalls(s.dynamodb)}`],
    ]),
};

/** A snapshot past the quota: nothing stored, but the decline is recorded so that none is asked for a while. */
export const SNAPSHOT_DECLINE_BUDGET: Budget<OpStats> = {
  text: "no S3 call; the lease refused, then the decline recorded (1 write)",
  check: (s) => problems([[s.s3Calls === 0, `S3 calls: ${formatCalls(s.s3)}`], ...onlyCommands(s, { GetItem: 2, UpdateItem: 2 })]),
};

/** A conflict: the refused transaction's ALL_OLD names the latest version, no second read. */
export const ADD_VERSION_CONFLICT_BUDGET: Budget<OpStats> = {
  text: "1 read + 1 refused transaction, in flight together: 1 round trip",
  check: ADD_VERSION_BUDGET.check,
};

/** An answer of snapshot urgency high is counted after the write: one atomic update, no read. */
export const ADD_VERSION_URGENCY_HIGH_BUDGET: Budget<OpStats> = {
  text: "the accepted write's round trip, then 1 update: 2 round trips",
  check: (s) =>
    problems([
      ...onlyCommands(s, { GetItem: 1, TransactWriteItems: 1, UpdateItem: 1 }),
      [s.dynamodbRoundTrips <= 2, `${s.dynamodbRoundTrips} DynamoDB round trips`],
    ]),
};

/** A new client's first version: the write is refused (no client), then the create, then the count. */
export const ADD_VERSION_NEW_CLIENT_BUDGET: Budget<OpStats> = {
  text: "1 read + 1 refused transaction, the create, then the count (1 update): 3 round trips",
  check: (s) =>
    problems([
      ...onlyCommands(s, { GetItem: 1, TransactWriteItems: 2, UpdateItem: 1 }),
      [s.dynamodbRoundTrips <= 3, `${s.dynamodbRoundTrips} DynamoDB round trips`],
    ]),
};

export const GET_SNAPSHOT_BUDGET: Budget<OpStats> = {
  text: "1 DynamoDB + 1 S3 call",
  check: (s) =>
    problems([
      [s.dynamodbCalls === 1, `${s.dynamodbCalls} DynamoDB calls`],
      [s.s3Calls === 1, `${s.s3Calls} S3 calls`],
    ]),
};

/** AddSnapshot: decided from the client item alone (its recent version ids); when stored, the lease, one put and one write. */
export function addSnapshotBudget(stored: boolean): Budget<OpStats> {
  return {
    text: stored ? "1 read, ≤ 5 walk-back reads, the lease, 1 S3 put, 1 write" : "1 read, ≤ 5 walk-back reads, no put, no write",
    check: (s) =>
      problems([
        [s.clientReads === 1, `${s.clientReads} client reads`],
        [s.walkBackReads <= 5, `${s.walkBackReads} walk-back reads`],
        [(s.s3.PutObject ?? 0) === (stored ? 1 : 0), `${s.s3.PutObject ?? 0} S3 PutObject`],
        [s.dynamodbWrites === (stored ? 2 : 0), `${s.dynamodbWrites} DynamoDB writes`],
        [s.dynamodbCalls === s.clientReads + s.walkBackReads + s.dynamodbWrites, `other DynamoDB calls: ${formatCalls(s.dynamodb)}`],
      ]),
  };
}

// ---------------------------------------------------------------------------------------------
// Per sync

/** What the write units of a sync were checked on: the estimate, and DynamoDB Local's own figure. */
export interface SyncWriteUnits {
  /** Estimated by AWS's documented rules from the item sizes seen. */
  estimated: number;
  /** From the capacity check: DynamoDB Local's report, and its rule applied to the estimate's item sizes. */
  dynamodbLocal: { reported: number; predicted: number } | undefined;
}

/** A sync with one local change (GetChildVersion 404, AddVersion 200 of 2 KB). */
export const SYNC_WRITE_UNITS_BUDGET: Budget<SyncWriteUnits> = {
  text: "≤ 8 write units",
  check: (w) =>
    problems([
      [w.estimated <= 8, `${w.estimated} write units estimated`],
      [
        w.dynamodbLocal === undefined || w.dynamodbLocal.reported === w.dynamodbLocal.predicted,
        `DynamoDB Local reported ${w.dynamodbLocal?.reported} write units where the estimate's item sizes give ${w.dynamodbLocal?.predicted} by its rule`,
      ],
    ]),
};

// ---------------------------------------------------------------------------------------------
// The function

/** The least memory the construct allows a function (lib/settings-helper.ts), MB. */
export const LEAST_FUNCTION_MEMORY_MB = 256;

/** The function's peak RSS (bytes) handling the largest requests. */
export const FUNCTION_MEMORY_BUDGET: Budget<number> = {
  text: `peak RSS ≤ ${LEAST_FUNCTION_MEMORY_MB} MB, the least memory the construct allows`,
  check: (peakBytes) => problems([[peakBytes <= LEAST_FUNCTION_MEMORY_MB * 2 ** 20, `peak RSS ${(peakBytes / 2 ** 20).toFixed(1)} MB`]]),
};

/** The cost model prices the function at the memory the construct gives it by default. */
export const PRICED_MEMORY_BUDGET: Budget<{ pricedMb: number; deployedMb: number }> = {
  text: "the cost model's Lambda memory is the synthesized function's MemorySize",
  check: ({ pricedMb, deployedMb }) =>
    problems([[pricedMb === deployedMb, `priced at ${pricedMb} MB, deployed with ${deployedMb} MB: update PRICES.lambdaMemoryMb`]]),
};

/** The sync function's cold start against an empty Node module, whole processes. */
export const COLD_START_BUDGET: Budget<ColdStartResult> = {
  text: "≤ 1.5× the start of an empty Node module",
  check: (r) => problems([[r.ratio <= 1.5, `${r.ratio.toFixed(2)}×`]]),
  acceptedMiss:
    "The start loads the entry and its static chunks: the settings, the handler, the storage and the DynamoDB client. " +
    "The S3 client and the operators' code are chunks loaded on first need, and the SDK's credential chain is replaced " +
    "by the environment's credentials, which Lambda sets. Most of the time left is loading the DynamoDB client's own " +
    "modules (@smithy/core, its protocol serde), which every request needs.",
};
