/**
 * The protocol operations the bench measures, the clients their requests rotate over, and
 * the budget each is held to (budgets.ts).
 */
import type { Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import type { SyncRules } from "../lambda/core/sync.ts";
import type { SnapshotThresholds } from "../lambda/core/urgency.ts";
import { NIL_UUID, newUuid, type Uuid } from "../lambda/uuid.ts";
import { KiB, MiB } from "./bytes.ts";
import {
  ADD_VERSION_BUDGET,
  ADD_VERSION_CONFLICT_BUDGET,
  ADD_VERSION_NEW_CLIENT_BUDGET,
  ADD_VERSION_S3_BUDGET,
  ADD_VERSION_URGENCY_HIGH_BUDGET,
  addSnapshotBudget,
  type Budget,
  type BudgetResult,
  GET_CHILD_BUDGET,
  GET_CHILD_GONE_BUDGET,
  GET_SNAPSHOT_BUDGET,
} from "./budgets.ts";
import type { MeasuredRequest, OpStats } from "./measurement.ts";
import type { CallRecorder } from "./recorder.ts";
import { addSnapshotEvent, addVersionEvent, bodyBytes, getChildEvent, getSnapshotEvent, header, payload } from "./requests.ts";

/** A typical small history segment (one sync's worth of edits, encrypted). */
export const SMALL_SEGMENT_BYTES = 2 * KiB;
/** A big history segment (first sync of a large database): over the inline limit, goes to S3. */
export const BIG_SEGMENT_BYTES = 1 * MiB;
/** A typical snapshot (a compressed, encrypted task database). */
export const SNAPSHOT_BYTES = 50 * KiB;
/** Clients the requests rotate over; each starts with a chain and a snapshot. */
export const CLIENTS = 10;
/** Versions per client at the start (all small). */
export const INITIAL_CHAIN = 12;
/** The initial snapshot is of this version (0-based), so latest is a few versions past it. */
const INITIAL_SNAPSHOT_AT = 8;

// ---------------------------------------------------------------------------------------------
// The clients

/** A client of the benchmark: its chain as the server has it. */
export interface BenchClient {
  id: Uuid;
  /** Version ids, oldest first; versions[0]'s parent is nil. */
  versions: Uuid[];
  snapshotVersion: Uuid | undefined;
}

function latestOf(client: BenchClient): Uuid {
  return client.versions.at(-1) ?? NIL_UUID;
}

function snapshotOf(client: BenchClient): Uuid {
  if (!client.snapshotVersion) throw new Error(`client ${client.id} has no snapshot`);
  return client.snapshotVersion;
}

/** The i-th element, which must be there. */
function nth<T>(list: readonly T[], i: number): T {
  const value = list[i];
  if (value === undefined) throw new Error(`no element ${i} in a list of ${list.length}`);
  return value;
}

/** The X-Version-Id of a 200 answer to AddVersion. */
function versionIdOf(result: HttpResult): Uuid {
  const id = header(result, HEADER.versionId);
  if (!id) throw new Error("200 without X-Version-Id");
  return id as Uuid;
}

async function call(handler: Handler, recorder: CallRecorder, event: HttpEvent, expectStatus: number, what: string): Promise<HttpResult> {
  const result = await handler(event);
  if ((result.statusCode ?? 200) !== expectStatus) {
    throw new Error(
      `${what}: expected ${expectStatus}, got ${result.statusCode}: ${result.body ?? ""} ${JSON.stringify(recorder.lastRequestLog)}`,
    );
  }
  return result;
}

async function addVersion(handler: Handler, recorder: CallRecorder, client: BenchClient, bytes: number): Promise<Uuid> {
  const result = await call(handler, recorder, addVersionEvent(client.id, latestOf(client), payload(bytes)), 200, "setup AddVersion");
  const versionId = versionIdOf(result);
  client.versions.push(versionId);
  return versionId;
}

/** A client created by its first AddVersion (unmeasured): one version, no snapshot. */
async function newClient(handler: Handler, recorder: CallRecorder): Promise<BenchClient> {
  const client: BenchClient = { id: newUuid(), versions: [], snapshotVersion: undefined };
  await addVersion(handler, recorder, client, SMALL_SEGMENT_BYTES);
  return client;
}

function versionsSinceSnapshot(client: BenchClient): number {
  return client.versions.length - 1 - client.versions.indexOf(snapshotOf(client));
}

/** Checks the snapshot urgency a 200 answer to AddVersion asked for. */
function expectUrgency(result: HttpResult, expected: "high" | "not high"): void {
  const urgency = /urgency=(\w+)/.exec(header(result, HEADER.snapshotRequest) ?? "")?.[1] ?? "none";
  if ((urgency === "high") !== (expected === "high")) {
    throw new Error(`AddVersion answered snapshot urgency ${urgency}, the bench expected ${expected}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Operations and budgets

export interface Operation extends MeasuredRequest {
  key: string;
  /** Request body bytes (API Gateway metering). */
  requestBytes: number;
  budget: Budget<OpStats>;
  /** A request the server refuses (reported apart: what it costs the owner). */
  refusal?: boolean;
}

export function buildOperations(
  handler: Handler,
  recorder: CallRecorder,
  clients: BenchClient[],
  rules: SnapshotThresholds,
  withRules: (rules: Partial<SyncRules>) => Handler,
): Operation[] {
  /** Asks for a snapshot after every version: each AddSnapshot measured is one the server asked for. */
  const asking = withRules({ snapshotVersions: 1 });
  const pick = (i: number) => nth(clients, i % clients.length);
  /**
   * Before a measured AddVersion: a snapshot of latest (unmeasured) once the versions since the
   * snapshot reach the threshold, so that the measured request is never answered urgency high
   * (and followed by its bookkeeping) however many iterations run.
   */
  const keepSnapshotFresh = async (client: BenchClient) => {
    if (versionsSinceSnapshot(client) < rules.snapshotVersions) return;
    const at = latestOf(client);
    await call(handler, recorder, addSnapshotEvent(client.id, at, payload(SNAPSHOT_BYTES)), 200, "setup AddSnapshot");
    client.snapshotVersion = at;
  };
  /** Versions with a 1 MB segment, from the AddVersion 1 MB operation: [client, parent, id]. */
  const bigVersions: Array<[BenchClient, Uuid, Uuid]> = [];
  return [
    {
      key: "get-child-found",
      name: "GetChildVersion found (2 KB)",
      status: 200,
      outcome: "found",
      requestBytes: 0,
      budget: GET_CHILD_BUDGET,
      prepare: async (i) => {
        const client = pick(i);
        const k = Math.floor(i / clients.length) % (INITIAL_CHAIN - 1);
        const parent = k === 0 ? NIL_UUID : nth(client.versions, k - 1);
        const child = nth(client.versions, k);
        return {
          event: getChildEvent(client.id, parent),
          check: (result) => {
            if (header(result, HEADER.versionId) !== child || bodyBytes(result) !== SMALL_SEGMENT_BYTES) throw new Error("wrong child");
          },
        };
      },
    },
    {
      key: "get-child-up-to-date",
      name: "GetChildVersion up to date (404)",
      status: 404,
      outcome: "up-to-date",
      requestBytes: 0,
      budget: GET_CHILD_BUDGET,
      prepare: async (i) => ({ event: getChildEvent(pick(i).id, latestOf(pick(i))) }),
    },
    {
      key: "get-child-gone",
      name: "GetChildVersion gone (410)",
      status: 410,
      outcome: "gone",
      requestBytes: 0,
      budget: GET_CHILD_GONE_BUDGET,
      prepare: async (i) => ({ event: getChildEvent(pick(i).id, newUuid()) }),
    },
    {
      key: "add-version-conflict",
      name: "AddVersion conflict (409)",
      status: 409,
      outcome: "conflict",
      requestBytes: SMALL_SEGMENT_BYTES,
      budget: ADD_VERSION_CONFLICT_BUDGET,
      prepare: async (i) => {
        const client = pick(i);
        const stale = nth(client.versions, client.versions.length - 2);
        return {
          event: addVersionEvent(client.id, stale, payload(SMALL_SEGMENT_BYTES)),
          check: (result) => {
            if (header(result, HEADER.parentVersionId) !== latestOf(client)) throw new Error("409 does not name the latest version");
          },
        };
      },
    },
    {
      key: "add-version-small",
      name: "AddVersion accepted (2 KB, inline)",
      status: 200,
      outcome: "added",
      requestBytes: SMALL_SEGMENT_BYTES,
      budget: ADD_VERSION_BUDGET,
      prepare: async (i) => {
        const client = pick(i);
        await keepSnapshotFresh(client);
        return {
          event: addVersionEvent(client.id, latestOf(client), payload(SMALL_SEGMENT_BYTES)),
          check: (result) => {
            expectUrgency(result, "not high");
            client.versions.push(versionIdOf(result));
          },
        };
      },
    },
    {
      key: "add-version-1mb",
      name: "AddVersion accepted (1 MB, S3)",
      status: 200,
      outcome: "added",
      requestBytes: BIG_SEGMENT_BYTES,
      budget: ADD_VERSION_S3_BUDGET,
      prepare: async (i) => {
        const client = pick(i);
        await keepSnapshotFresh(client);
        const parent = latestOf(client);
        return {
          event: addVersionEvent(client.id, parent, payload(BIG_SEGMENT_BYTES)),
          check: (result) => {
            expectUrgency(result, "not high");
            const id = versionIdOf(result);
            client.versions.push(id);
            bigVersions.push([client, parent, id]);
          },
        };
      },
    },
    {
      key: "add-version-urgency-high",
      name: "AddVersion accepted, urgency high (no snapshot)",
      status: 200,
      outcome: "added",
      requestBytes: SMALL_SEGMENT_BYTES,
      budget: ADD_VERSION_URGENCY_HIGH_BUDGET,
      prepare: async () => {
        // A client with one version and no snapshot: its second version is answered "high" and
        // counted (the first was too; a decline is recorded only at the third in a row).
        const client = await newClient(handler, recorder);
        return {
          event: addVersionEvent(client.id, latestOf(client), payload(SMALL_SEGMENT_BYTES)),
          check: (result) => expectUrgency(result, "high"),
        };
      },
    },
    {
      key: "add-version-new-client",
      name: "AddVersion of a new client (first version)",
      status: 200,
      outcome: "added",
      requestBytes: SMALL_SEGMENT_BYTES,
      budget: ADD_VERSION_NEW_CLIENT_BUDGET,
      prepare: async () => ({
        event: addVersionEvent(newUuid(), NIL_UUID, payload(SMALL_SEGMENT_BYTES)),
        check: (result) => expectUrgency(result, "high"),
      }),
    },
    {
      key: "get-child-1mb",
      name: "GetChildVersion found (1 MB, S3)",
      status: 200,
      outcome: "found",
      requestBytes: 0,
      budget: GET_CHILD_BUDGET,
      prepare: async (i) => {
        const [client, parent, id] = nth(bigVersions, i % bigVersions.length);
        return {
          event: getChildEvent(client.id, parent),
          check: (result) => {
            if (header(result, HEADER.versionId) !== id || bodyBytes(result) !== BIG_SEGMENT_BYTES) throw new Error("wrong 1 MB child");
          },
        };
      },
    },
    {
      key: "get-snapshot",
      name: "GetSnapshot (50 KB)",
      status: 200,
      outcome: "found",
      requestBytes: 0,
      budget: GET_SNAPSHOT_BUDGET,
      prepare: async (i) => {
        const client = pick(i);
        return {
          event: getSnapshotEvent(client.id),
          check: (result) => {
            if (header(result, HEADER.versionId) !== client.snapshotVersion || bodyBytes(result) !== SNAPSHOT_BYTES)
              throw new Error("wrong snapshot");
          },
        };
      },
    },
    {
      key: "add-snapshot-stored",
      name: "AddSnapshot stored (50 KB, replaces one)",
      status: 200,
      outcome: "stored",
      requestBytes: SNAPSHOT_BYTES,
      budget: addSnapshotBudget(true),
      handler: asking,
      prepare: async (i) => {
        // As Taskwarrior does it: a version is pushed, the server asks for a snapshot of it.
        const client = pick(i);
        const versionId = await addVersion(asking, recorder, client, SMALL_SEGMENT_BYTES);
        return {
          event: addSnapshotEvent(client.id, versionId, payload(SNAPSHOT_BYTES)),
          check: () => {
            client.snapshotVersion = versionId;
          },
        };
      },
    },
    {
      key: "add-snapshot-ignored",
      name: "AddSnapshot ignored (older version)",
      status: 200,
      outcome: "ignored:newer-snapshot-exists",
      requestBytes: SNAPSHOT_BYTES,
      budget: addSnapshotBudget(false),
      prepare: async (i) => {
        // A version just before the current snapshot: the walk from latest meets the snapshot first.
        const client = pick(i);
        const at = client.versions.indexOf(snapshotOf(client));
        return { event: addSnapshotEvent(client.id, nth(client.versions, at - 1), payload(SNAPSHOT_BYTES)) };
      },
    },
  ];
}

/** Creates the clients the operations rotate over: each with a chain of small versions and a snapshot. */
export async function setupClients(handler: Handler, recorder: CallRecorder, log: (line: string) => void): Promise<BenchClient[]> {
  log(
    `setting up ${CLIENTS} clients: ${INITIAL_CHAIN} versions of ${SMALL_SEGMENT_BYTES / KiB} KiB, a ${SNAPSHOT_BYTES / KiB} KiB snapshot`,
  );
  const benchClients: BenchClient[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const client: BenchClient = { id: newUuid(), versions: [], snapshotVersion: undefined };
    for (let v = 0; v < INITIAL_CHAIN; v++) await addVersion(handler, recorder, client, SMALL_SEGMENT_BYTES);
    const at = nth(client.versions, INITIAL_SNAPSHOT_AT);
    await call(handler, recorder, addSnapshotEvent(client.id, at, payload(SNAPSHOT_BYTES)), 200, "setup AddSnapshot");
    client.snapshotVersion = at;
    benchClients.push(client);
  }
  return benchClients;
}

/** An operation measured, with its stats and how they compare with its budget. */
export interface OpResult {
  op: Operation;
  stats: OpStats;
  budget: BudgetResult;
  /** The capacity check: the estimate, DynamoDB Local's report, and its rule applied to the estimate's item sizes. */
  capacity?: {
    estimatedRru: number;
    estimatedWru: number;
    reportedRead: number;
    reportedWrite: number;
    predictedLocalWrite: number;
    samples: number;
  };
}
