/**
 * One deployment through upgrades and rollbacks: a stable address for the replicas while the
 * server behind it is replaced (the Lambda function's code, or the local server's program),
 * and a team of replicas of one client that keeps syncing through every switch.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Replica } from "../../client/replica.ts";
import { exited } from "../support/server-process.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A server process and where it listens. */
export interface RunningServer {
  url: string;
  child: ChildProcess;
  output: () => string;
}

/**
 * Starts `command args` with only `env` (plus PATH and HOME) and waits for its `listening on
 * <url>` line, as the local server and test/support/serve-asset.ts print it.
 */
export function startServer(command: string, args: readonly string[], env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(command, args, {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[^\s,]+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ url: match[1], child, output: () => out });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}:\n${out}`));
    });
  });
}

/** A Lambda bundle (or entry) behind the local payload-2.0 adapter, in its own process, as Lambda would run it. */
export function startFunction(entry: string, env: Record<string, string>): Promise<RunningServer> {
  return startServer(join(root, "node_modules", ".bin", "tsx"), [join(root, "test", "support", "serve-asset.ts"), entry, "handler"], env);
}

/**
 * Runs a maintenance function (a bundle, or this version's entry from source) once, as its
 * schedule would, in its own process, with the clock two hours ahead: its orphan sweep leaves
 * objects younger than an hour alone, so this is what makes it judge every object there is.
 * Returns its report (clients swept, objects deleted, ...).
 */
export function runMaintenance(entry: string, env: Record<string, string>): Record<string, unknown> {
  const clockAhead = `data:text/javascript,const now = Date.now; Date.now = () => now() + ${2 * 3600_000};`;
  const program = `
    const { handler } = await import(process.env.MAINTENANCE_URL);
    process.stdout.write("REPORT " + JSON.stringify(await handler({})) + "\\n");
    process.exit(0);
  `;
  const loader = entry.endsWith(".ts") ? ["--import", "tsx"] : [];
  const run = spawnSync(process.execPath, [...loader, "--import", clockAhead, "--input-type=module", "-e", program], {
    cwd: root,
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, MAINTENANCE_URL: pathToFileURL(entry).href },
    timeout: 120_000,
  });
  const line = run.stdout.split("\n").find((l) => l.startsWith("REPORT "));
  if (run.status !== 0 || !line) throw new Error(`the maintenance of ${entry} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(line.slice("REPORT ".length)) as Record<string, unknown>;
}

export async function stopServer(server: RunningServer): Promise<void> {
  const done = exited(server.child);
  server.child.kill("SIGTERM");
  await done;
}

/** What one phase of syncing did. */
export interface PhaseResult {
  syncs: number;
  conflicts: number;
  snapshotsUploaded: number;
}

/**
 * Replicas of one client id, syncing through whatever server the deployment has at the moment.
 * They never start over: a 410 or any other failure of a sync throws.
 */
export class ReplicaTeam {
  readonly clientId: string;
  readonly secret = randomBytes(16).toString("hex");
  readonly replicas: Replica[];
  /** Every task ever created: none is deleted, so each must be in the final state. */
  readonly created = new Set<string>();
  #server: RunningServer | undefined;
  #counter = 0;

  constructor(clientId: string = randomUUID(), size = 3) {
    this.clientId = clientId;
    this.replicas = Array.from({ length: size }, (_, i) => this.replica(`replica-${i}`, { snapshotOnLowUrgency: i === 1 }));
  }

  /** The server the deployment's address reaches from now on. */
  serveWith(server: RunningServer): void {
    this.#server = server;
  }

  /** A replica of this client through the deployment's address. */
  replica(name: string, options: { snapshotOnLowUrgency?: boolean; fetchSnapshot?: boolean } = {}): Replica {
    return new Replica({
      baseUrl: "",
      clientId: this.clientId,
      secret: this.secret,
      name,
      fetch: (path, init) => {
        if (!this.#server) throw new Error("the deployment has no server");
        return fetch(`${this.#server.url}${String(path)}`, init);
      },
      ...options,
    });
  }

  /**
   * `rounds` of local changes on every replica, then all of them syncing at once (each pushes only
   * after all have pulled, so that AddVersions conflict). `bigValueBytes`: the first replica also
   * writes a property that large (a history segment, and then snapshots, stored in S3).
   */
  async syncRounds(rounds: number, bigValueBytes = 0): Promise<PhaseResult> {
    const before = this.#totals();
    for (let round = 0; round < rounds; round++) {
      for (const [i, replica] of this.replicas.entries()) {
        const uuid = replica.createTask({ description: `task ${++this.#counter} by ${replica.name}`, status: "pending" });
        this.created.add(uuid);
        const existing = Object.keys(replica.taskMap());
        replica.updateTask(existing[this.#counter % existing.length]!, "project", `${replica.name}-${this.#counter}`);
        if (round === 0 && i === 0 && bigValueBytes > 0)
          replica.updateTask(uuid, "annotation_big", randomBytes(Math.ceil(bigValueBytes * 0.75)).toString("base64"));
      }
      let arrived = 0;
      let release!: () => void;
      const all = new Promise<void>((resolve) => (release = resolve));
      const barrier = () => {
        if (++arrived === this.replicas.length) release();
        return all;
      };
      await Promise.all(this.replicas.map((replica) => replica.sync({ afterPull: barrier })));
    }
    const after = this.#totals();
    return {
      syncs: after.syncs - before.syncs,
      conflicts: after.conflicts - before.conflicts,
      snapshotsUploaded: after.snapshotsUploaded - before.snapshotsUploaded,
    };
  }

  /**
   * Syncs one after another until every replica is at the same version with the same tasks,
   * every task created is there, and a new replica from the snapshot and one replaying the whole
   * chain from the start reach the same state. Returns the final version and the chain's length.
   */
  async converge(): Promise<{ versionId: string; versions: number; fromSnapshot: boolean }> {
    const [first] = this.replicas;
    const agreed = () =>
      this.replicas.every(
        (r) => r.pendingOperations.length === 0 && r.baseVersionId === first!.baseVersionId && r.tasks() === first!.tasks(),
      );
    for (let pass = 0; pass < 4 && !agreed(); pass++) for (const replica of this.replicas) await replica.sync();
    if (!agreed()) throw new Error(`replicas did not converge:\n${this.replicas.map((r) => `${r.name} @ ${r.baseVersionId}`).join("\n")}`);
    const tasks = first!.taskMap();
    const lost = [...this.created].filter((uuid) => !tasks[uuid]);
    if (lost.length > 0) throw new Error(`tasks lost: ${lost.join(", ")}`);

    const fresh = this.replica("fresh");
    const freshSync = await fresh.sync();
    const replay = this.replica("replay", { fetchSnapshot: false });
    await replay.sync();
    for (const other of [fresh, replay]) {
      if (other.baseVersionId !== first!.baseVersionId || other.tasks() !== first!.tasks()) {
        throw new Error(`${other.name} differs: @ ${other.baseVersionId} instead of ${first!.baseVersionId}`);
      }
    }
    return { versionId: first!.baseVersionId, versions: replay.stats.versionsPulled, fromSnapshot: freshSync.fetchedSnapshot };
  }

  #totals() {
    const sum = (f: (r: Replica) => number) => this.replicas.reduce((s, r) => s + f(r), 0);
    return {
      syncs: sum((r) => r.stats.syncs),
      conflicts: sum((r) => r.stats.conflicts),
      snapshotsUploaded: sum((r) => r.stats.snapshotsUploaded),
    };
  }
}
