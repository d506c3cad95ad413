/**
 * An end-to-end convergence scenario against any deployment of the sync server: several
 * replicas of one client id make interleaved local changes and sync, concurrently (so that
 * AddVersion conflicts really happen), until all agree; then a fresh replica starts from the
 * snapshot and must agree too, and a replica replaying the whole chain from nil must as well.
 * Throws on any divergence or protocol deviation; returns stats for further assertions.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Replica, type ReplicaOptions } from "../../client/replica.ts";

export interface ConvergenceOptions {
  /** Replicas syncing concurrently (default 3, at least 2). */
  replicas?: number;
  /** Rounds of local changes + concurrent syncs (default 4). */
  rounds?: number;
  /**
   * Client id (default: a fresh random one, so runs never share state). A fixed one (e.g. a
   * deployment with an allowlist) may already have versions: pass the same `secret` every time.
   */
  clientId?: string;
  /** Encryption secret (default: random). */
  secret?: string;
  /** Seed of the pseudo-random changes (default: random; reported in the stats). The changes
   * follow the seed; the interleaving of concurrent requests does not. */
  seed?: number;
  /** If > 0, one replica writes a property of this many bytes (large segments and snapshots). */
  bigValueBytes?: number;
  /** Upload snapshots on `urgency=low` too (default false: only on high). */
  snapshotOnLowUrgency?: boolean;
  /** Require that a snapshot was uploaded and that the fresh replica started from it (default true). */
  requireSnapshot?: boolean;
  /** Also check a replica that replays the whole chain from nil without a snapshot (default true). */
  replayFromNil?: boolean;
  /** Injected fetch and extra headers, passed to every replica. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
}

export interface ConvergenceStats {
  clientId: string;
  seed: number;
  /** Sync calls over all replicas. */
  syncs: number;
  /** 409 answers to AddVersion that replicas rebased over. */
  conflicts: number;
  versionsPushed: number;
  versionsPulled: number;
  snapshotsUploaded: number;
  snapshotsFetched: number;
  /** X-Snapshot-Request headers seen, by urgency. */
  snapshotRequests: { low: number; high: number };
  requests: number;
  /** Tasks in the final, agreed database. */
  tasks: number;
  /** The version every replica ended at. */
  finalVersionId: string;
  /** Whether the fresh replica started from a snapshot. */
  freshReplicaUsedSnapshot: boolean;
}

/** mulberry32: small, seedable, good enough to pick changes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A barrier for `n` parties; `arrive` resolves once all have arrived. */
function barrier(n: number): () => Promise<void> {
  let count = 0;
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return () => {
    if (++count >= n) release();
    return done;
  };
}

function once(f: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= f());
}

const PROPERTIES = ["description", "status", "project", "priority", "due"];

export async function runConvergence(baseUrl: string, opts: ConvergenceOptions = {}): Promise<ConvergenceStats> {
  const n = Math.max(2, opts.replicas ?? 3);
  const rounds = opts.rounds ?? 4;
  const clientId = opts.clientId ?? randomUUID();
  const secret = opts.secret ?? randomBytes(16).toString("hex");
  const seed = opts.seed ?? randomBytes(4).readUInt32LE(0);
  const requireSnapshot = opts.requireSnapshot ?? true;
  const log = opts.log ?? (() => {});
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ctx = `client ${clientId}, seed ${seed}`;

  const replicaOptions = (name: string, extra: Partial<ReplicaOptions> = {}): ReplicaOptions => ({
    baseUrl,
    clientId,
    secret,
    name,
    snapshotOnLowUrgency: opts.snapshotOnLowUrgency ?? false,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...extra,
  });
  const replicas = Array.from({ length: n }, (_, i) => new Replica(replicaOptions(`replica-${i}`)));
  const all: Replica[] = [...replicas];
  /** Every task ever created, and those some replica deleted: the rest must survive. */
  const created = new Set<string>();
  const deleted = new Set<string>();
  let counter = 0;

  const randomChanges = (r: Replica, count: number): void => {
    for (let i = 0; i < count; i++) {
      const existing = Object.keys(r.taskMap());
      const x = rand();
      if (existing.length === 0 || x < 0.3) {
        const uuid = r.createTask({
          description: `task ${++counter} by ${r.name}`,
          status: "pending",
          entry: String(1_700_000_000 + counter),
        });
        created.add(uuid);
      } else if (x < 0.9) {
        // Few properties, many writers: concurrent writes to the same property are common.
        r.updateTask(pick(existing), pick(PROPERTIES), `${r.name} r${counter}-${i} ${rand().toString(36).slice(2, 8)}`);
      } else if (x < 0.95) {
        r.updateTask(pick(existing), pick(PROPERTIES), null);
      } else {
        const uuid = pick(existing);
        r.deleteTask(uuid);
        deleted.add(uuid);
      }
    }
  };

  /** All given replicas sync at once; each pushes only after all have pulled (so 409s happen). */
  const syncConcurrently = async (rs: Replica[]): Promise<void> => {
    const arrive = barrier(rs.length);
    await Promise.all(
      rs.map((r) => {
        const arrived = once(arrive);
        return r.sync({ afterPull: arrived }).finally(() => void arrived());
      }),
    );
  };

  // Round 0: the first replica starts empty (adopting whatever the client already has, when a
  // fixed client id is reused), then pushes a version. With no snapshot on the server yet, a
  // conforming server asks for one with high urgency, and the replica uploads it.
  const first = replicas[0]!;
  const initial = await first.sync();
  randomChanges(first, 3);
  const firstSync = await first.sync();
  log(
    `round 0: ${first.name} existing snapshot=${initial.fetchedSnapshot} pulled=${initial.pulled}, ` +
      `pushed=${firstSync.pushed} urgency=${firstSync.snapshotUrgency ?? "none"}`,
  );
  if (requireSnapshot && !initial.fetchedSnapshot && !firstSync.snapshotUploaded) {
    throw new Error(
      `first version of a client without a snapshot did not get X-Snapshot-Request: urgency=high (got ${firstSync.snapshotUrgency ?? "none"}; ${ctx})`,
    );
  }
  // The others start empty: they begin from that snapshot, then pull what follows.
  for (const r of replicas.slice(1)) {
    const res = await r.sync();
    if (requireSnapshot && !res.fetchedSnapshot) throw new Error(`${r.name} did not get the snapshot (${ctx})`);
  }

  for (let round = 1; round <= rounds; round++) {
    for (const [i, r] of replicas.entries()) {
      randomChanges(r, 2 + Math.floor(rand() * 4));
      if (round === 1 && i === 0 && (opts.bigValueBytes ?? 0) > 0) {
        // A task of its own, so that there is one whatever the random changes deleted.
        const uuid = r.createTask({ description: "with a big value" });
        r.updateTask(uuid, "annotation_big", randomBytes(Math.ceil((opts.bigValueBytes ?? 0) * 0.75)).toString("base64"));
      }
    }
    const before = replicas.reduce((s, r) => s + r.stats.conflicts, 0);
    await syncConcurrently(replicas);
    // Interleave: a random subset changes and syncs again, also concurrently.
    const subset = replicas.filter(() => rand() < 0.6);
    for (const r of subset) randomChanges(r, 1 + Math.floor(rand() * 2));
    if (subset.length > 0) await syncConcurrently(subset);
    const after = replicas.reduce((s, r) => s + r.stats.conflicts, 0);
    log(`round ${round}: ${after - before} conflicts`);
  }

  // Final rounds: sync one after another until every replica is at the same version and state.
  const agreed = (): boolean =>
    replicas.every((r) => r.pendingOperations.length === 0 && r.baseVersionId === first.baseVersionId && r.tasks() === first.tasks());
  for (let pass = 0; pass < 4 && !agreed(); pass++) {
    for (const r of replicas) await r.sync();
  }
  if (!agreed()) {
    const states = replicas.map((r) => `${r.name} @ ${r.baseVersionId} pending ${r.pendingOperations.length}: ${r.tasks()}`);
    throw new Error(`replicas did not converge (${ctx}):\n${states.join("\n")}`);
  }
  const finalVersionId = first.baseVersionId;
  const finalTasks = first.tasks();

  const finalMap = first.taskMap();
  for (const uuid of created) {
    if (!deleted.has(uuid) && !finalMap[uuid]) throw new Error(`task ${uuid} was created, never deleted, and is lost (${ctx})`);
  }
  for (const uuid of deleted) {
    if (finalMap[uuid]) throw new Error(`task ${uuid} was deleted but is still there (${ctx})`);
  }

  // A fresh replica starts from the snapshot and pulls the versions after it.
  const fresh = new Replica(replicaOptions("fresh"));
  all.push(fresh);
  const freshSync = await fresh.sync();
  if (requireSnapshot && !freshSync.fetchedSnapshot) throw new Error(`the fresh replica found no snapshot (${ctx})`);
  if (fresh.baseVersionId !== finalVersionId || fresh.tasks() !== finalTasks) {
    throw new Error(
      `fresh replica (snapshot ${freshSync.fetchedSnapshot}, pulled ${freshSync.pulled}) differs (${ctx}):\n` +
        `expected @ ${finalVersionId}: ${finalTasks}\ngot @ ${fresh.baseVersionId}: ${fresh.tasks()}`,
    );
  }

  // A replica that replays the whole chain from nil must reach the same state.
  if (opts.replayFromNil ?? true) {
    const replay = new Replica(replicaOptions("replay", { fetchSnapshot: false }));
    all.push(replay);
    await replay.sync();
    if (replay.baseVersionId !== finalVersionId || replay.tasks() !== finalTasks) {
      throw new Error(
        `replaying the chain from nil differs (${ctx}):\nexpected @ ${finalVersionId}: ${finalTasks}\n` +
          `got @ ${replay.baseVersionId}: ${replay.tasks()}`,
      );
    }
  }

  // The fresh replica writes too, and everybody sees it.
  const freshTask = fresh.createTask({ description: "from the fresh replica", status: "pending" });
  await fresh.sync();
  for (const r of replicas) await r.sync();
  for (const r of replicas) {
    if (r.tasks() !== fresh.tasks() || r.baseVersionId !== fresh.baseVersionId || !r.task(freshTask)) {
      throw new Error(`${r.name} does not see the fresh replica's change (${ctx})`);
    }
  }

  const sum = (f: (r: Replica) => number): number => all.reduce((s, r) => s + f(r), 0);
  const stats: ConvergenceStats = {
    clientId,
    seed,
    syncs: sum((r) => r.stats.syncs),
    conflicts: sum((r) => r.stats.conflicts),
    versionsPushed: sum((r) => r.stats.versionsPushed),
    versionsPulled: sum((r) => r.stats.versionsPulled),
    snapshotsUploaded: sum((r) => r.stats.snapshotsUploaded),
    snapshotsFetched: sum((r) => r.stats.snapshotsFetched),
    snapshotRequests: {
      low: sum((r) => r.stats.snapshotRequests.low),
      high: sum((r) => r.stats.snapshotRequests.high),
    },
    requests: sum((r) => r.stats.requests),
    tasks: Object.keys(fresh.taskMap()).length,
    finalVersionId: fresh.baseVersionId,
    freshReplicaUsedSnapshot: freshSync.fetchedSnapshot,
  };
  log(`done: ${JSON.stringify(stats)}`);
  return stats;
}
