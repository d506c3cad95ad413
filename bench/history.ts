/**
 * Does a long history cost more per sync? Two clients, one with 10 versions and one with
 * 10,000, written directly through the storage's import (fast, and what an operator's import
 * does), each with a fresh snapshot; then the same requests on each, measured as the
 * per-operation section measures them: a sync (GetChildVersion 404, AddVersion 200) and a pull
 * of the client's first version (the deepest lookup there is).
 */
import type { SnapshotThresholds } from "../lambda/core/urgency.ts";
import type { Handler } from "../lambda/http/handler.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import type { Storage } from "../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../lambda/uuid.ts";
import { type Budget, type BudgetResult, checkBudget } from "./budgets.ts";
import { formatCalls, type MeasureContext, type MeasuredRequest, measure, type OpStats, type Sample, summarize } from "./measurement.ts";
import { SMALL_SEGMENT_BYTES, SNAPSHOT_BYTES } from "./operations.ts";
import { addSnapshotEvent, addVersionEvent, bodyBytes, getChildEvent, header, payload } from "./requests.ts";

/** The two histories compared. */
export const HISTORY_LENGTHS = [10, 10_000] as const;

/** The versions' segments: small, since their size is not what is compared (the chain's length is). */
const IMPORTED_SEGMENT_BYTES = 256;

export interface HistoryRow {
  versions: number;
  request: string;
  stats: OpStats;
}

export interface HistorySection {
  rows: HistoryRow[];
  importSeconds: number;
  budget: BudgetResult;
}

/** A client as the section drives it. */
interface HistoryClient {
  id: Uuid;
  first: Uuid;
  latest: Uuid;
  versionsSinceSnapshot: number;
}

/** Imports a client with `count` versions and a snapshot two versions before latest. */
async function importHistory(storage: Storage, count: number): Promise<HistoryClient> {
  const ids = Array.from({ length: count }, () => newUuid());
  const segment = payload(IMPORTED_SEGMENT_BYTES);
  const addedAt = new Date();
  async function* versions() {
    for (const [i, versionId] of ids.entries()) {
      yield { versionId, parentVersionId: ids[i - 1] ?? NIL_UUID, historySegment: segment, addedAt };
    }
  }
  const first = ids[0];
  const latest = ids.at(-1);
  const snapshotAt = ids.at(-3) ?? first;
  if (!first || !latest || !snapshotAt) throw new Error("a history needs versions");
  const id = newUuid();
  await storage.importClient(id, {
    latestVersionId: latest,
    snapshot: { versionId: snapshotAt, timestamp: new Date(), versionsSince: 2, data: payload(SNAPSHOT_BYTES) },
    versions: versions(),
    declined: null,
  });
  return { id, first, latest, versionsSinceSnapshot: 2 };
}

/** The requests measured on a client: the sync's two, and a pull of its first version. */
function requestsOf(client: HistoryClient, handler: Handler, rules: SnapshotThresholds): MeasuredRequest[] {
  /** As Taskwarrior keeps it: a snapshot before one is asked for, so no answer carries a request (unmeasured). */
  const keepSnapshotFresh = async () => {
    if (client.versionsSinceSnapshot < rules.snapshotVersions) return;
    const stored = await handler(addSnapshotEvent(client.id, client.latest, payload(SNAPSHOT_BYTES)));
    if (stored.statusCode !== 200) throw new Error(`setup AddSnapshot: ${stored.statusCode}`);
    client.versionsSinceSnapshot = 0;
  };
  return [
    {
      name: "GetChildVersion up to date (404)",
      status: 404,
      outcome: "up-to-date",
      prepare: async () => ({ event: getChildEvent(client.id, client.latest) }),
    },
    {
      name: "AddVersion accepted (2 KB)",
      status: 200,
      outcome: "added",
      prepare: async () => {
        await keepSnapshotFresh();
        return {
          event: addVersionEvent(client.id, client.latest, payload(SMALL_SEGMENT_BYTES)),
          check: (result) => {
            if (header(result, HEADER.snapshotRequest)) throw new Error("the history's client was asked for a snapshot");
            client.latest = (header(result, HEADER.versionId) ?? client.latest) as Uuid;
            client.versionsSinceSnapshot += 1;
          },
        };
      },
    },
    {
      name: "GetChildVersion of its first version (found)",
      status: 200,
      outcome: "found",
      prepare: async () => ({
        event: getChildEvent(client.id, NIL_UUID),
        check: (result) => {
          if (header(result, HEADER.versionId) !== client.first || bodyBytes(result) !== IMPORTED_SEGMENT_BYTES) {
            throw new Error("the first version was not returned");
          }
        },
      }),
    },
  ];
}

/** What must not grow with the history: the calls, the round trips and the units of each request. */
function signature(s: OpStats): string {
  return `${formatCalls(s.dynamodb)}; ${formatCalls(s.s3)}; ${s.roundTrips} round trips; ${s.units.rru.toFixed(2)} RRU; ${s.units.wru.toFixed(2)} WRU`;
}

const HISTORY_BUDGET: Budget<HistoryRow[]> = {
  text: "the same calls, round trips and units per request with 10,000 versions as with 10",
  check: (rows) => {
    const short = rows.filter((r) => r.versions === HISTORY_LENGTHS[0]);
    return rows
      .filter((r) => r.versions !== HISTORY_LENGTHS[0])
      .flatMap((r) => {
        const base = short.find((s) => s.request === r.request);
        return base && signature(base.stats) === signature(r.stats)
          ? []
          : [
              `${r.request} with ${r.versions} versions: ${signature(r.stats)}; with ${HISTORY_LENGTHS[0]}: ${base ? signature(base.stats) : "—"}`,
            ];
      });
  },
};

export async function runHistory(
  context: MeasureContext,
  storage: Storage,
  rules: SnapshotThresholds,
  options: { iterations: number; warmup: number },
  log: (line: string) => void,
): Promise<HistorySection> {
  const clients: Array<{ length: number; requests: MeasuredRequest[] }> = [];
  let importMs = 0;
  for (const length of HISTORY_LENGTHS) {
    const started = performance.now();
    const client = await importHistory(storage, length);
    importMs += performance.now() - started;
    log(`history: imported a client with ${length} versions (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    clients.push({ length, requests: requestsOf(client, context.handler, rules) });
  }
  // Request by request, the clients in turn, one sample at a time: both see the same load.
  const rows: HistoryRow[] = [];
  const kinds = clients[0]?.requests.length ?? 0;
  for (let k = 0; k < kinds; k++) {
    const samples = clients.map(() => [] as Sample[]);
    for (let n = 0; n < options.warmup + options.iterations; n++) {
      for (const [c, client] of clients.entries()) {
        const request = client.requests[k];
        if (!request) throw new Error(`no request ${k}`);
        samples[c]?.push(...(await measure(request, context, { count: 1, offset: n, keep: n >= options.warmup })));
      }
    }
    for (const [c, client] of clients.entries()) {
      rows.push({ versions: client.length, request: client.requests[k]?.name ?? "?", stats: summarize(samples[c] ?? []) });
    }
  }
  return { rows, importSeconds: importMs / 1000, budget: checkBudget("a client with 10,000 versions", HISTORY_BUDGET, rows) };
}
