/**
 * What the operations cost on AWS, from the calls and item sizes measured: per operation, per
 * sync as Taskwarrior does it, and at rest for a typical user.
 */
import { GiB, KiB, MiB } from "./bytes.ts";
import { CAPACITY, type ItemCharge, type Units } from "./capacity.ts";
import type { Sample } from "./measurement.ts";
import { type OpResult, SMALL_SEGMENT_BYTES } from "./operations.ts";

// Prices: on-demand, us-east-1, the public list prices as of 2025 (DynamoDB after its
// 2024-11-01 on-demand price cut), as the project's brief gives them; not re-checked online
// when this was written. Free tiers are ignored. Every cost below derives from these.

export const PRICES = {
  region: "us-east-1",
  asOf: "2025 (DynamoDB after the 2024-11-01 on-demand cut)",
  /** USD per million write request units (1 WRU = a standard write of up to 1 KB). */
  dynamodbUsdPerMillionWru: 0.625,
  /** USD per million read request units (1 RRU = a strongly consistent read of up to 4 KB). */
  dynamodbUsdPerMillionRru: 0.125,
  /** USD per GB-month of table storage (the first 25 GB free per month are ignored). */
  dynamodbUsdPerGbMonth: 0.25,
  /** USD per 1000 S3 Standard PUT, COPY, POST, LIST requests. */
  s3UsdPerThousandPut: 0.005,
  /** USD per 1000 S3 Standard GET, SELECT and other requests. */
  s3UsdPerThousandGet: 0.0004,
  /** S3 DELETE requests are free. */
  s3UsdPerThousandDelete: 0,
  /** USD per GB-month of S3 Standard storage (first 50 TB). */
  s3UsdPerGbMonth: 0.023,
  /** USD per GB-second of Lambda on arm64 (first 7.5 billion GB-s per month). */
  lambdaArmUsdPerGbSecond: 0.0000133334,
  /** USD per million Lambda requests. */
  lambdaUsdPerMillionRequests: 0.2,
  /**
   * The function's memory, MB: the construct's default (lib/settings-helper.ts; 256 is its
   * least). The memory section checks it against the synthesized template.
   */
  lambdaMemoryMb: 512,
  /** Lambda bills duration in 1 ms steps. */
  lambdaBillingStepMs: 1,
  /** USD per million HTTP API requests (first 300 million per month). */
  apiGatewayHttpUsdPerMillion: 1.0,
  /**
   * HTTP API requests are metered in 512 KB steps (the pricing page's note); applied here to
   * the request body, so a 1 MB upload bills as 2 requests.
   */
  apiGatewayMeteringStepBytes: 512 * KiB,
} as const;

/** The at-rest assumption: a typical user. */
export const TYPICAL_USER = {
  /** Bytes of history segments kept (the server never deletes versions). */
  versionBytes: 5 * MiB,
  /** In versions of this size, i.e. small segments stored inline in DynamoDB. */
  segmentBytes: SMALL_SEGMENT_BYTES,
  /** One snapshot, always in S3. */
  snapshotBytes: 1 * MiB,
} as const;

export interface OpCost {
  key: string;
  name: string;
  units: Units;
  lambdaBilledMs: number;
  apiRequests: number;
  usdPerMillion: { dynamodb: number; s3: number; lambda: number; apiGateway: number; total: number };
}

export function opCost(result: OpResult): OpCost {
  const { units, latencyMs } = result.stats;
  const billedMs = Math.ceil(latencyMs.p50 / PRICES.lambdaBillingStepMs) * PRICES.lambdaBillingStepMs;
  const apiRequests = Math.max(1, Math.ceil(result.op.requestBytes / PRICES.apiGatewayMeteringStepBytes));
  // Per million requests of this operation: units x USD per million units.
  const dynamodb = units.wru * PRICES.dynamodbUsdPerMillionWru + units.rru * PRICES.dynamodbUsdPerMillionRru;
  const s3 =
    (units.s3Put * PRICES.s3UsdPerThousandPut + units.s3Get * PRICES.s3UsdPerThousandGet + units.s3Delete * PRICES.s3UsdPerThousandDelete) *
    1000;
  const lambda =
    PRICES.lambdaUsdPerMillionRequests + (PRICES.lambdaMemoryMb / 1024) * (billedMs / 1000) * PRICES.lambdaArmUsdPerGbSecond * 1e6;
  const apiGateway = apiRequests * PRICES.apiGatewayHttpUsdPerMillion;
  return {
    key: result.op.key,
    name: result.op.name,
    units,
    lambdaBilledMs: billedMs,
    apiRequests,
    usdPerMillion: { dynamodb, s3, lambda, apiGateway, total: dynamodb + s3 + lambda + apiGateway },
  };
}

/** The syncs the cost is given for, as Taskwarrior 3 does them. */
export const SYNCS = [
  {
    key: "sync",
    name: "sync (one local change)",
    definition:
      "a replica with one local change and nothing new on the server: GetChildVersion(its latest) → 404 up to date, " +
      "then AddVersion(2 KB segment) → 200. No snapshot upload (asked for about once per 100 versions or 14 days).",
    operations: ["get-child-up-to-date", "add-version-small"],
  },
  {
    key: "pull-only",
    name: "pull-only sync",
    definition: "a replica with no local change and nothing new: one GetChildVersion → 404 up to date.",
    operations: ["get-child-up-to-date"],
  },
] as const;

/** The cost of each of SYNCS, from the cost of its operations. */
export function syncCosts(costs: readonly OpCost[]) {
  return SYNCS.map((sync) => {
    const parts = sync.operations.map((key) => {
      const cost = costs.find((c) => c.key === key);
      if (!cost) throw new Error(`sync ${sync.key}: no operation ${key} was measured`);
      return cost;
    });
    const sum = (f: (c: OpCost) => number) => parts.reduce((total, c) => total + f(c), 0);
    return {
      key: sync.key,
      name: sync.name,
      definition: sync.definition,
      operations: [...sync.operations],
      rru: sum((c) => c.units.rru),
      wru: sum((c) => c.units.wru),
      lambdaBilledMs: sum((c) => c.lambdaBilledMs),
      usdPerMillion: {
        dynamodb: sum((c) => c.usdPerMillion.dynamodb),
        s3: sum((c) => c.usdPerMillion.s3),
        lambda: sum((c) => c.usdPerMillion.lambda),
        apiGateway: sum((c) => c.usdPerMillion.apiGateway),
        total: sum((c) => c.usdPerMillion.total),
      },
    };
  });
}

/** The items one request of each of a sync's operations read and wrote, from its first sample. */
export function syncItems(samplesOf: ReadonlyMap<string, readonly Sample[]>): Array<{ operation: string; charges: ItemCharge[] }> {
  const sync = SYNCS.find((s) => s.key === "sync");
  if (!sync) throw new Error("no sync defined");
  return sync.operations.map((key) => {
    const first = samplesOf.get(key)?.[0];
    if (!first) throw new Error(`sync: no sample of ${key}`);
    return { operation: key, charges: first.charges };
  });
}

/** Storage at rest of 1000 typical users, from the item sizes seen in AddVersion (2 KB). */
export function atRestCost(small: readonly Sample[]) {
  // An inline AddVersion writes one item per version, CHILD#<parent> with the segment, and
  // updates the client item.
  const charges = small.flatMap((s) => s.charges);
  const versionItem = Math.max(...charges.filter((c) => c.action === "put").map((c) => c.bytes));
  const clientItemSeen = Math.max(...charges.filter((c) => c.action === "update").map((c) => c.bytes));
  if (!Number.isFinite(versionItem) || !Number.isFinite(clientItemSeen)) throw new Error("at rest: no version put or client update seen");
  const perVersionOverhead = versionItem - SMALL_SEGMENT_BYTES + CAPACITY.storageOverheadBytesPerItem;
  const versions = Math.ceil(TYPICAL_USER.versionBytes / TYPICAL_USER.segmentBytes);
  // The client item with its snapshot attributes (no bigger for a long history: its slots are fixed).
  const clientItem = clientItemSeen + CAPACITY.storageOverheadBytesPerItem;
  const dynamodbBytesPerUser = TYPICAL_USER.versionBytes + versions * perVersionOverhead + clientItem;
  const s3BytesPerUser = TYPICAL_USER.snapshotBytes;
  const users = 1000;
  const dynamodbGb = (dynamodbBytesPerUser * users) / GiB;
  const s3Gb = (s3BytesPerUser * users) / GiB;
  return {
    assumption:
      `per user: ${TYPICAL_USER.versionBytes / MiB} MiB of history segments in ${versions} versions of ` +
      `${TYPICAL_USER.segmentBytes / KiB} KiB (inline in DynamoDB: 1 item each, ${versionItem} bytes seen, ` +
      `+ ${CAPACITY.storageOverheadBytesPerItem} bytes of index overhead per item; the client item ${clientItemSeen} bytes), ` +
      `one ${TYPICAL_USER.snapshotBytes / MiB} MiB snapshot in S3; 1 GB = 2^30 bytes; free tiers ignored`,
    users,
    versionsPerUser: versions,
    versionItemBytes: versionItem,
    clientItemBytes: clientItemSeen,
    dynamodbBytesPerUser,
    s3BytesPerUser,
    dynamodbGb,
    s3Gb,
    usdPerMonth: {
      dynamodb: dynamodbGb * PRICES.dynamodbUsdPerGbMonth,
      s3: s3Gb * PRICES.s3UsdPerGbMonth,
      total: dynamodbGb * PRICES.dynamodbUsdPerGbMonth + s3Gb * PRICES.s3UsdPerGbMonth,
    },
  };
}

export type SyncCost = ReturnType<typeof syncCosts>[number];
export type AtRestCost = ReturnType<typeof atRestCost>;
