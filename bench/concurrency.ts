/**
 * Throughput and tail latency under concurrency, through the handler on the emulators:
 *  - C clients syncing in parallel, each as Taskwarrior does it: GetChildVersion until 404,
 *    then AddVersion (and AddSnapshot when the answer asks for one);
 *  - K replicas of ONE client writing at once: every round all K push on the same parent,
 *    exactly one gets 200 and the others 409; the others pull (the winner's version, then 404)
 *    and every replica pushes again on the new latest.
 * Every answer must be one the protocol allows at that point; any other status (a 5xx, a
 * second 200 in a round) fails the bench. The levels take turns in slices, so that a change of
 * the machine's background load falls on all of them alike.
 */
import type { Handler, HttpEvent, HttpResult } from "../lambda/http/handler.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import { NIL_UUID, newUuid, type Uuid } from "../lambda/uuid.ts";
import { percentile } from "./measurement.ts";
import { SMALL_SEGMENT_BYTES, SNAPSHOT_BYTES } from "./operations.ts";
import { addSnapshotEvent, addVersionEvent, getChildEvent, header, payload } from "./requests.ts";

/** The levels measured: clients syncing in parallel, and replicas contending on one client. */
export const PARALLEL_CLIENTS = [1, 4, 16] as const;
export const CONTENDING_WRITERS = [2, 8] as const;

export interface LoadResult {
  kind: "parallel" | "contention";
  /** C or K. */
  level: number;
  name: string;
  /** Syncs completed (parallel) or rounds (contention). */
  units: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Every request's latency, ms. */
  latencyMs: { p50: number; p99: number };
  /** AddVersion's alone (the contended write). */
  addVersionMs: { p50: number; p99: number };
  /** "AddVersion 200" → count, in the order first seen. */
  statuses: Record<string, number>;
}

type Kind = "GetChildVersion" | "AddVersion" | "AddSnapshot";

/** What one load sent: every request's latency and status. */
class LoadLog {
  readonly latencies: number[] = [];
  readonly addVersionLatencies: number[] = [];
  readonly statuses: Record<string, number> = {};

  constructor(private readonly handler: Handler) {}

  /** Sends one request; its status must be one of `allowed`. */
  async send(kind: Kind, event: HttpEvent, allowed: readonly number[]): Promise<HttpResult> {
    const start = performance.now();
    const result = await this.handler(event);
    const elapsed = performance.now() - start;
    const status = result.statusCode ?? 200;
    this.latencies.push(elapsed);
    if (kind === "AddVersion") this.addVersionLatencies.push(elapsed);
    const key = `${kind} ${status}`;
    this.statuses[key] = (this.statuses[key] ?? 0) + 1;
    if (!allowed.includes(status)) {
      throw new Error(`${kind} answered ${status} where the protocol allows ${allowed.join(" or ")}: ${result.body ?? ""}`);
    }
    return result;
  }
}

/** A replica of a client as the load drives it: the latest version it knows. */
interface Replica {
  clientId: Uuid;
  latest: Uuid;
}

function versionIdOf(result: HttpResult): Uuid {
  const id = header(result, HEADER.versionId);
  if (!id) throw new Error("a 200 without X-Version-Id");
  return id as Uuid;
}

/** Uploads a snapshot of latest when AddVersion's answer asked for one, as Taskwarrior does. */
async function snapshotIfAsked(log: LoadLog, replica: Replica, answer: HttpResult): Promise<void> {
  if (!header(answer, HEADER.snapshotRequest)) return;
  await log.send("AddSnapshot", addSnapshotEvent(replica.clientId, replica.latest, payload(SNAPSHOT_BYTES)), [200]);
}

/** Taskwarrior's sync of a replica with one local change: pull until 404, then push it. */
async function sync(log: LoadLog, replica: Replica): Promise<void> {
  for (;;) {
    const pulled = await log.send("GetChildVersion", getChildEvent(replica.clientId, replica.latest), [200, 404]);
    if (pulled.statusCode === 404) break;
    replica.latest = versionIdOf(pulled);
  }
  const pushed = await log.send("AddVersion", addVersionEvent(replica.clientId, replica.latest, payload(SMALL_SEGMENT_BYTES)), [200]);
  replica.latest = versionIdOf(pushed);
  await snapshotIfAsked(log, replica, pushed);
}

/** A new client with one version and a snapshot of it (unmeasured): syncs of it ask for no snapshot. */
async function newReplica(handler: Handler): Promise<Replica> {
  const setup = new LoadLog(handler);
  const replica: Replica = { clientId: newUuid(), latest: NIL_UUID };
  const first = await setup.send("AddVersion", addVersionEvent(replica.clientId, NIL_UUID, payload(SMALL_SEGMENT_BYTES)), [200]);
  replica.latest = versionIdOf(first);
  await setup.send("AddSnapshot", addSnapshotEvent(replica.clientId, replica.latest, payload(SNAPSHOT_BYTES)), [200]);
  return replica;
}

/** A level of load: its setup done, run in slices (`run`) so that the levels can take turns. */
interface Load {
  kind: LoadResult["kind"];
  level: number;
  name: string;
  log: LoadLog;
  /** Syncs or rounds done so far, and the time they took. */
  units: number;
  elapsedMs: number;
  /** Runs about `units` more syncs or rounds. */
  run(units: number): Promise<void>;
}

/** C clients syncing in parallel, each made with one version and a snapshot. */
async function parallelSyncs(handler: Handler, clients: number): Promise<Load> {
  const replicas: Replica[] = [];
  for (let c = 0; c < clients; c++) replicas.push(await newReplica(handler));
  const load: Load = {
    kind: "parallel",
    level: clients,
    name: `C = ${clients} client${clients === 1 ? "" : "s"} syncing`,
    log: new LoadLog(handler),
    units: 0,
    elapsedMs: 0,
    run: async (syncs) => {
      const perClient = Math.ceil(syncs / clients);
      const start = performance.now();
      await Promise.all(
        replicas.map(async (replica) => {
          for (let s = 0; s < perClient; s++) await sync(load.log, replica);
        }),
      );
      load.elapsedMs += performance.now() - start;
      load.units += perClient * clients;
      // Each client has one replica: a pull that finds a version would be one nobody pushed.
      if (load.log.statuses["GetChildVersion 200"]) throw new Error(`${load.name}: a pull found a version that no replica pushed`);
    },
  };
  return load;
}

/** K replicas of one client pushing on the same parent every round. */
async function contendingWriters(handler: Handler, writers: number): Promise<Load> {
  const first = await newReplica(handler);
  const replicas: Replica[] = Array.from({ length: writers }, () => ({ ...first }));
  const log = new LoadLog(handler);
  const round = async (n: number) => {
    const parent = first.latest;
    const answers = await Promise.all(
      replicas.map((replica) =>
        log.send("AddVersion", addVersionEvent(replica.clientId, replica.latest, payload(SMALL_SEGMENT_BYTES)), [200, 409]),
      ),
    );
    const winners = answers.flatMap((answer, i) => (answer.statusCode === 200 ? [i] : []));
    const [winner] = winners;
    const winnerAnswer = winner === undefined ? undefined : answers[winner];
    if (winners.length !== 1 || winner === undefined || !winnerAnswer) {
      throw new Error(`K = ${writers}, round ${n}: ${winners.length} writers got 200, not exactly one`);
    }
    const latest = versionIdOf(winnerAnswer);
    await Promise.all(
      replicas.map(async (replica, i) => {
        if (i === winner) {
          replica.latest = latest;
          await snapshotIfAsked(log, replica, winnerAnswer);
          return;
        }
        if (header(answers[i] ?? {}, HEADER.parentVersionId) !== latest) {
          throw new Error(`K = ${writers}, round ${n}: a 409 does not name the winner's version`);
        }
        // The loser pulls: the winner's version, then up to date; its change is pushed next round.
        const pulled = await log.send("GetChildVersion", getChildEvent(replica.clientId, parent), [200]);
        if (versionIdOf(pulled) !== latest) throw new Error(`K = ${writers}, round ${n}: the pull did not return the winner's version`);
        replica.latest = latest;
        await log.send("GetChildVersion", getChildEvent(replica.clientId, latest), [404]);
      }),
    );
    first.latest = latest;
  };
  const load: Load = {
    kind: "contention",
    level: writers,
    name: `K = ${writers} writers on one client`,
    log,
    units: 0,
    elapsedMs: 0,
    run: async (rounds) => {
      const start = performance.now();
      for (let r = 0; r < rounds; r++) await round(load.units + r);
      load.elapsedMs += performance.now() - start;
      load.units += rounds;
    },
  };
  return load;
}

function resultOf(load: Load): LoadResult {
  const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
  const all = sorted(load.log.latencies);
  const adds = sorted(load.log.addVersionLatencies);
  return {
    kind: load.kind,
    level: load.level,
    name: load.name,
    units: load.units,
    requests: all.length,
    seconds: load.elapsedMs / 1000,
    requestsPerSecond: all.length / (load.elapsedMs / 1000),
    latencyMs: { p50: percentile(all, 50), p99: percentile(all, 99) },
    addVersionMs: { p50: percentile(adds, 50), p99: percentile(adds, 99) },
    statuses: load.log.statuses,
  };
}

/** The levels take turns, a slice each, so that they see the same background load. */
const SLICES = 5;

/** Every level: `work` syncs per level of C, and work / K rounds (at least 5) per level of K. */
export async function runConcurrency(handler: Handler, work: number, log: (line: string) => void): Promise<LoadResult[]> {
  const loads: Array<{ load: Load; slice: number }> = [];
  for (const clients of PARALLEL_CLIENTS) loads.push({ load: await parallelSyncs(handler, clients), slice: Math.ceil(work / SLICES) });
  for (const writers of CONTENDING_WRITERS) {
    loads.push({ load: await contendingWriters(handler, writers), slice: Math.ceil(Math.max(5, Math.ceil(work / writers)) / SLICES) });
  }
  for (let s = 0; s < SLICES; s++) for (const { load, slice } of loads) await load.run(slice);
  const results = loads.map(({ load }) => resultOf(load));
  for (const r of results) log(`${r.name}: ${r.requestsPerSecond.toFixed(0)} requests/s, p99 ${r.latencyMs.p99.toFixed(1)} ms`);
  return results;
}
