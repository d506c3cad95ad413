/**
 * A simulated TaskChampion replica that syncs over HTTP the way the Rust `taskchampion` crate's
 * server client does: real encryption (./crypto.ts), real request shapes, the real sync loop
 * (snapshot on an empty replica, pull children until 404, push, rebase on 409, give up on two
 * 409s naming the same parent, upload a snapshot when asked).
 *
 * It is also strict where the real client is lenient: every deviation from what the protocol
 * (https://gothenburgbitfactory.org/taskchampion/http.html) promises (status codes, exact Content-Type, UUID headers, Cache-Control, empty bodies) throws
 * a `ProtocolError`, so tests catch server bugs.
 *
 * Conflict resolution is deliberately simple and deterministic: every replica's state is the
 * fold of the version chain in chain order (last writer in the chain wins per property), with
 * local pending operations re-applied on top after each pull. Operations are total: an update
 * of a missing task, a create of an existing one and a delete of a missing one are no-ops.
 */
import { deflateSync, inflateSync } from "node:zlib";
import { NIL_UUID, newUuid, parseUuid } from "../lambda/uuid.ts";
import { Cryptor } from "./crypto.ts";

// The protocol's strings are typed here again on purpose, not imported from the server's
// lambda/http/protocol.ts: the test client is an independent check of the server, so a typo
// there must fail the tests rather than travel to both sides.
export const HISTORY_SEGMENT_CONTENT_TYPE = "application/vnd.taskchampion.history-segment";
export const SNAPSHOT_CONTENT_TYPE = "application/vnd.taskchampion.snapshot";
export const CACHE_CONTROL = "no-store, max-age=0";

/** One operation, serialized like TaskChampion's `SyncOp` (serde's externally tagged enum). */
export type Operation =
  | { Create: { uuid: string } }
  | { Delete: { uuid: string } }
  | { Update: { uuid: string; property: string; value: string | null; timestamp: string } };

export type Task = Record<string, string>;
export type TaskMap = Record<string, Task>;

/** The server answered with a status the sync cannot continue from (410, 4xx, 5xx, ...). */
export class HttpStatusError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    who = "replica",
  ) {
    super(`${who}: ${method} ${path} -> HTTP ${status}: ${body.length > 500 ? `${body.slice(0, 500)}...` : body}`);
    this.name = "HttpStatusError";
  }
}

/** The server broke a promise of the protocol (a header, a content type, the chain's shape). */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

export interface ReplicaOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  clientId: string;
  secret: string | Uint8Array;
  /** A name for messages. */
  name?: string;
  /** Also upload a snapshot on `urgency=low` (the default uploads only on `urgency=high`). */
  snapshotOnLowUrgency?: boolean;
  /** Fetch the snapshot when starting empty (default true, like the real client). */
  fetchSnapshot?: boolean;
  /** Injected fetch (default: global fetch). */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. for a deployment behind an auth proxy). */
  headers?: Record<string, string>;
}

export interface SyncHooks {
  /**
   * Awaited once per sync, after the first pull and before the first push attempt (also when
   * there is nothing to push). Tests use it as a barrier so that several replicas push on the
   * same parent and 409s really happen.
   */
  afterPull?: () => Promise<void> | void;
}

export interface SyncResult {
  fetchedSnapshot: boolean;
  pulled: number;
  pushed: boolean;
  conflicts: number;
  snapshotUploaded: boolean;
  snapshotUrgency: "low" | "high" | undefined;
}

export interface ReplicaStats {
  syncs: number;
  requests: number;
  versionsPulled: number;
  versionsPushed: number;
  conflicts: number;
  snapshotsFetched: number;
  snapshotsUploaded: number;
  snapshotRequests: { low: number; high: number };
}

interface Response {
  status: number;
  headers: Headers;
  body: Uint8Array;
  method: string;
  path: string;
}

function cloneTasks(tasks: Map<string, Task>): Map<string, Task> {
  return new Map([...tasks].map(([uuid, props]) => [uuid, { ...props }]));
}

/** Applies one operation; total and deterministic (see the module comment). */
export function applyOperation(tasks: Map<string, Task>, op: Operation): void {
  if ("Create" in op) {
    if (!tasks.has(op.Create.uuid)) tasks.set(op.Create.uuid, {});
  } else if ("Delete" in op) {
    tasks.delete(op.Delete.uuid);
  } else {
    const task = tasks.get(op.Update.uuid);
    if (!task) return;
    if (op.Update.value === null) delete task[op.Update.property];
    else task[op.Update.property] = op.Update.value;
  }
}

function isUuidText(x: unknown): x is string {
  return typeof x === "string" && parseUuid(x) !== undefined;
}

/** Validates a decrypted history segment `{"operations": [...]}`. */
export function parseOperations(json: unknown): Operation[] {
  if (typeof json !== "object" || json === null || !Array.isArray((json as { operations?: unknown }).operations)) {
    throw new ProtocolError(`history segment is not {"operations": [...]}: ${JSON.stringify(json).slice(0, 200)}`);
  }
  const ops = (json as { operations: unknown[] }).operations;
  for (const op of ops) {
    const o = op as Record<string, Record<string, unknown>>;
    const ok =
      typeof op === "object" &&
      op !== null &&
      Object.keys(op).length === 1 &&
      ((o.Create !== undefined && isUuidText(o.Create.uuid)) ||
        (o.Delete !== undefined && isUuidText(o.Delete.uuid)) ||
        (o.Update !== undefined &&
          isUuidText(o.Update.uuid) &&
          typeof o.Update.property === "string" &&
          (typeof o.Update.value === "string" || o.Update.value === null) &&
          typeof o.Update.timestamp === "string"));
    if (!ok) throw new ProtocolError(`malformed operation in history segment: ${JSON.stringify(op).slice(0, 200)}`);
  }
  return ops as Operation[];
}

/** Validates a decrypted snapshot `{uuid: {property: value}}`. */
export function parseSnapshot(json: unknown): Map<string, Task> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ProtocolError("snapshot is not a JSON object");
  }
  const tasks = new Map<string, Task>();
  for (const [uuid, props] of Object.entries(json)) {
    if (!isUuidText(uuid) || typeof props !== "object" || props === null || Array.isArray(props)) {
      throw new ProtocolError(`malformed task in snapshot: ${uuid}`);
    }
    const task: Task = {};
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
      if (typeof v !== "string") throw new ProtocolError(`malformed property ${k} of task ${uuid} in snapshot`);
      task[k] = v;
    }
    tasks.set(uuid, task);
  }
  return tasks;
}

/** A canonical JSON string of a task database: tasks and properties sorted. */
export function canonicalTasks(tasks: Map<string, Task> | TaskMap): string {
  const entries = tasks instanceof Map ? [...tasks] : Object.entries(tasks);
  const sorted = entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([uuid, props]) => [uuid, Object.fromEntries(Object.entries(props).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))]);
  return JSON.stringify(Object.fromEntries(sorted));
}

export class Replica {
  readonly name: string;
  readonly clientId: string;
  readonly stats: ReplicaStats = {
    syncs: 0,
    requests: 0,
    versionsPulled: 0,
    versionsPushed: 0,
    conflicts: 0,
    snapshotsFetched: 0,
    snapshotsUploaded: 0,
    snapshotRequests: { low: 0, high: 0 },
  };

  readonly #cryptor: Cryptor;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;
  readonly #snapshotOnLow: boolean;
  readonly #fetchSnapshot: boolean;
  /** The state at `#base`: exactly the fold of the server's chain (or snapshot + chain). */
  #baseTasks = new Map<string, Task>();
  /** What the user sees: `#baseTasks` with `#pending` applied. */
  #tasks = new Map<string, Task>();
  #pending: Operation[] = [];
  #base: string = NIL_UUID;
  #syncing = false;

  constructor(opts: ReplicaOptions) {
    const clientId = parseUuid(opts.clientId);
    if (!clientId) throw new Error(`client id is not a UUID: ${opts.clientId}`);
    this.clientId = clientId;
    this.name = opts.name ?? "replica";
    this.#cryptor = new Cryptor(clientId, opts.secret);
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.#fetch = opts.fetch ?? fetch;
    this.#headers = opts.headers ?? {};
    this.#snapshotOnLow = opts.snapshotOnLowUrgency ?? false;
    this.#fetchSnapshot = opts.fetchSnapshot ?? true;
  }

  /** The version this replica's synced state is at (nil before its first sync). */
  get baseVersionId(): string {
    return this.#base;
  }

  get pendingOperations(): readonly Operation[] {
    return this.#pending;
  }

  // ---- local changes ----

  #local(op: Operation): void {
    this.#pending.push(op);
    applyOperation(this.#tasks, op);
  }

  /** Creates a task with the given properties; returns its uuid. */
  createTask(props: Task = {}, uuid: string = newUuid()): string {
    this.#local({ Create: { uuid } });
    for (const [property, value] of Object.entries(props)) this.updateTask(uuid, property, value);
    return uuid;
  }

  /** Sets (or, with null, removes) one property. */
  updateTask(uuid: string, property: string, value: string | null): void {
    this.#local({ Update: { uuid, property, value, timestamp: new Date().toISOString() } });
  }

  deleteTask(uuid: string): void {
    this.#local({ Delete: { uuid } });
  }

  /** The task database as a canonical JSON string (sorted): equal strings mean equal databases. */
  tasks(): string {
    return canonicalTasks(this.#tasks);
  }

  /** The task database as a plain object (a copy). */
  taskMap(): TaskMap {
    return Object.fromEntries([...this.#tasks].map(([uuid, props]) => [uuid, { ...props }]));
  }

  task(uuid: string): Task | undefined {
    const t = this.#tasks.get(uuid);
    return t && { ...t };
  }

  // ---- HTTP ----

  async #request(method: "GET" | "POST", path: string, body?: Uint8Array, contentType?: string): Promise<Response> {
    this.stats.requests++;
    const headers: Record<string, string> = { ...this.#headers, "X-Client-Id": this.clientId, Accept: "*/*" };
    if (contentType) headers["Content-Type"] = contentType;
    const init: RequestInit = { method, headers };
    if (body) init.body = body;
    let res: globalThis.Response;
    try {
      res = await this.#fetch(this.#baseUrl + path, init);
    } catch (err) {
      throw new Error(`${this.name}: ${method} ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const out: Response = { status: res.status, headers: res.headers, body: bytes, method, path };
    const cacheControl = res.headers.get("cache-control");
    if (cacheControl !== CACHE_CONTROL) {
      throw new ProtocolError(
        `${this.name}: ${method} ${path} -> ${res.status} has Cache-Control ${JSON.stringify(cacheControl)}, expected ${JSON.stringify(CACHE_CONTROL)}`,
      );
    }
    return out;
  }

  #fail(res: Response): never {
    throw new HttpStatusError(res.method, res.path, res.status, Buffer.from(res.body).toString("utf8"), this.name);
  }

  #uuidHeader(res: Response, name: string): string {
    const value = res.headers.get(name);
    const id = value === null ? undefined : parseUuid(value);
    if (!id) {
      throw new ProtocolError(
        `${this.name}: ${res.method} ${res.path} -> ${res.status} without a valid UUID in ${name}: ${JSON.stringify(value)}`,
      );
    }
    return id;
  }

  #expectContentType(res: Response, expected: string): void {
    const value = res.headers.get("content-type");
    if (value !== expected) {
      throw new ProtocolError(
        `${this.name}: ${res.method} ${res.path} -> ${res.status} has Content-Type ${JSON.stringify(value)}, expected exactly ${JSON.stringify(expected)}`,
      );
    }
  }

  #expectEmptyBody(res: Response): void {
    if (res.body.length !== 0) {
      throw new ProtocolError(`${this.name}: ${res.method} ${res.path} -> ${res.status} has a ${res.body.length}-byte body, expected none`);
    }
  }

  // ---- sync ----

  /** One sync, as the real client does it. Throws on any error (the replica stays usable). */
  async sync(hooks: SyncHooks = {}): Promise<SyncResult> {
    if (this.#syncing) throw new Error(`${this.name}: sync already running`);
    this.#syncing = true;
    this.stats.syncs++;
    const result: SyncResult = {
      fetchedSnapshot: false,
      pulled: 0,
      pushed: false,
      conflicts: 0,
      snapshotUploaded: false,
      snapshotUrgency: undefined,
    };
    try {
      if (this.#fetchSnapshot && this.#base === NIL_UUID && this.#tasks.size === 0 && this.#pending.length === 0) {
        result.fetchedSnapshot = await this.#getSnapshot();
      }
      result.pulled += await this.#pull();
      await hooks.afterPull?.();
      if (this.#pending.length === 0) return result;

      let requestedParent: string | undefined;
      for (;;) {
        const parent = this.#base;
        const segment = new TextEncoder().encode(JSON.stringify({ operations: this.#pending }));
        const res = await this.#request(
          "POST",
          `/v1/client/add-version/${parent}`,
          this.#cryptor.seal(parent, segment),
          HISTORY_SEGMENT_CONTENT_TYPE,
        );
        if (res.status === 409) {
          this.#expectEmptyBody(res);
          const expected = this.#uuidHeader(res, "x-parent-version-id");
          if (expected === parent) {
            throw new ProtocolError(`${this.name}: 409 on add-version/${parent} names the same parent ${expected}`);
          }
          result.conflicts++;
          this.stats.conflicts++;
          if (requestedParent === expected) {
            throw new ProtocolError(
              `${this.name}: out of sync: two 409s name parent ${expected}, but pulling did not reach it (stale read after write?)`,
            );
          }
          requestedParent = expected;
          result.pulled += await this.#pull();
          continue;
        }
        if (res.status !== 200) this.#fail(res);
        this.#expectEmptyBody(res);
        const versionId = this.#uuidHeader(res, "x-version-id");
        if (versionId === parent) throw new ProtocolError(`${this.name}: add-version/${parent} answered X-Version-Id = its parent`);
        for (const op of this.#pending) applyOperation(this.#baseTasks, op);
        this.#pending = [];
        this.#base = versionId;
        this.#tasks = cloneTasks(this.#baseTasks);
        result.pushed = true;
        this.stats.versionsPushed++;

        const urgency = this.#snapshotUrgency(res);
        result.snapshotUrgency = urgency;
        if (urgency) this.stats.snapshotRequests[urgency]++;
        if (urgency === "high" || (urgency === "low" && this.#snapshotOnLow)) {
          await this.#addSnapshot();
          result.snapshotUploaded = true;
        }
        return result;
      }
    } finally {
      this.#syncing = false;
    }
  }

  #snapshotUrgency(res: Response): "low" | "high" | undefined {
    const value = res.headers.get("x-snapshot-request");
    if (value === null) return undefined;
    if (value === "urgency=low") return "low";
    if (value === "urgency=high") return "high";
    throw new ProtocolError(`${this.name}: ${res.method} ${res.path}: unexpected X-Snapshot-Request ${JSON.stringify(value)}`);
  }

  /** GET snapshot; adopts it on 200. Returns whether there was one. */
  async #getSnapshot(): Promise<boolean> {
    const res = await this.#request("GET", "/v1/client/snapshot");
    if (res.status === 404) return false;
    if (res.status !== 200) this.#fail(res);
    this.#expectContentType(res, SNAPSHOT_CONTENT_TYPE);
    const versionId = this.#uuidHeader(res, "x-version-id");
    const plain = this.#cryptor.unseal(versionId, res.body);
    const tasks = parseSnapshot(JSON.parse(Buffer.from(inflateSync(plain)).toString("utf8")));
    this.#baseTasks = tasks;
    this.#tasks = cloneTasks(tasks);
    this.#base = versionId;
    this.stats.snapshotsFetched++;
    return true;
  }

  /** Pulls children of the base until 404, then re-applies pending local operations. */
  async #pull(): Promise<number> {
    let pulled = 0;
    const seen = new Set<string>([this.#base]);
    try {
      for (;;) {
        const parent = this.#base;
        const res = await this.#request("GET", `/v1/client/get-child-version/${parent}`);
        if (res.status === 404) return pulled;
        if (res.status !== 200) this.#fail(res);
        this.#expectContentType(res, HISTORY_SEGMENT_CONTENT_TYPE);
        const versionId = this.#uuidHeader(res, "x-version-id");
        const parentHeader = this.#uuidHeader(res, "x-parent-version-id");
        if (parentHeader !== parent) {
          throw new ProtocolError(`${this.name}: child of ${parent} came with X-Parent-Version-Id ${parentHeader}`);
        }
        if (seen.has(versionId)) throw new ProtocolError(`${this.name}: the chain has a cycle at ${versionId}`);
        seen.add(versionId);
        const plain = this.#cryptor.unseal(parent, res.body);
        const ops = parseOperations(JSON.parse(Buffer.from(plain).toString("utf8")));
        for (const op of ops) applyOperation(this.#baseTasks, op);
        this.#base = versionId;
        pulled++;
        this.stats.versionsPulled++;
      }
    } finally {
      // Rebase: remote operations first (already in #baseTasks), then the local ones.
      this.#tasks = cloneTasks(this.#baseTasks);
      for (const op of this.#pending) applyOperation(this.#tasks, op);
    }
  }

  async #addSnapshot(): Promise<void> {
    const versionId = this.#base;
    const plain = deflateSync(Buffer.from(canonicalTasks(this.#baseTasks), "utf8"));
    const res = await this.#request(
      "POST",
      `/v1/client/add-snapshot/${versionId}`,
      this.#cryptor.seal(versionId, plain),
      SNAPSHOT_CONTENT_TYPE,
    );
    if (res.status !== 200) this.#fail(res);
    this.stats.snapshotsUploaded++;
  }
}
