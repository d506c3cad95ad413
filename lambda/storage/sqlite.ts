/**
 * SQLite storage, for running the server locally (`STORAGE=sqlite`): one database file on
 * better-sqlite3, whose API is synchronous.
 *
 * Locking. A transaction of the interface spans awaits (the core reads the client, decides,
 * then writes), and every request of the process shares this one connection, so:
 *  - in the process, transactions run one at a time behind a KeyedMutex with one constant key
 *    (SQLite has a single writer anyway, so a per-client lock would buy nothing here);
 *  - inside it, each transaction is a `BEGIN IMMEDIATE` SQLite transaction, which takes the
 *    database's write lock at once, so that another process (or another SqliteStorage on the
 *    same file) serializes with this one too. A transaction therefore always reads the latest
 *    committed state and nobody can write between its `getClient` and its `addVersion`.
 *  - `addVersion` still re-checks latest in the same SQLite transaction, and the versions
 *    table has UNIQUE(client_id, parent_version_id): a second, independent guard against a fork.
 *
 * Waiting for the write lock. `busy_timeout` makes SQLite wait for a lock by sleeping in the
 * calling thread, which here is the event loop. That is right for ordinary statements (the
 * lock holder is another process, or a checkpoint, and lets go quickly), but not for `BEGIN
 * IMMEDIATE`: the holder may be another SqliteStorage in this same process, whose transaction
 * can only finish if the event loop runs, so a blocking wait would stall until the timeout.
 * `BEGIN IMMEDIATE` is therefore tried without the busy handler and retried on SQLITE_BUSY
 * after short asynchronous sleeps, until `lockTimeoutMs`; then it fails with
 * StorageUnavailableError (the request may succeed later).
 *
 * Durability: WAL journal with `synchronous=FULL`. With NORMAL, WAL commits are not fsynced
 * and the last ones may be lost on a power cut or OS crash (not on a mere process crash). Here
 * that is not acceptable: a replica that was told "200, X-Version-Id: V" and later finds V
 * missing gets 410 Gone, a hard error that only a reset from the snapshot repairs. FULL costs
 * one fsync of the WAL per commit, which a personal sync server's request rate easily affords.
 *
 * Schema: ids are canonical UUID text, timestamps epoch milliseconds. The snapshot's bytes live
 * in their own table: SQLite rewrites a whole row on UPDATE, and the clients row is updated on
 * every AddVersion, so a snapshot blob there would be rewritten (MBs) on every version.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ChainMovedError, ClientExistsError, ClientNotFoundError, StorageUnavailableError } from "./errors.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import type { Client, Snapshot, Storage, StorageTxn, Version } from "./types.ts";
import { NIL_UUID, type Uuid } from "../uuid.ts";

export interface SqliteStorageOptions {
  /**
   * How long to wait for the database's write lock (held by another process or another
   * SqliteStorage on the same file) before giving up with StorageUnavailableError; also the
   * connection's `busy_timeout`. Default 10 s.
   */
  lockTimeoutMs?: number;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY NOT NULL,
  latest_version_id TEXT NOT NULL,
  snapshot_version_id TEXT,
  snapshot_timestamp INTEGER,
  versions_since INTEGER NOT NULL DEFAULT 0,
  declined_timestamp INTEGER,
  declined_versions_since INTEGER,
  CHECK ((snapshot_version_id IS NULL) = (snapshot_timestamp IS NULL)),
  CHECK ((declined_timestamp IS NULL) = (declined_versions_since IS NULL))
) STRICT;
CREATE TABLE IF NOT EXISTS snapshot_data (
  client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id),
  data BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS versions (
  client_id TEXT NOT NULL REFERENCES clients (client_id),
  version_id TEXT NOT NULL,
  parent_version_id TEXT NOT NULL,
  history_segment BLOB NOT NULL,
  PRIMARY KEY (client_id, version_id),
  UNIQUE (client_id, parent_version_id)
) STRICT;
`;

/** The in-process lock's one key: every transaction of this storage takes it. */
const DATABASE_KEY = "database";

interface ClientRow {
  latest_version_id: string;
  snapshot_version_id: string | null;
  snapshot_timestamp: number | null;
  versions_since: number;
  declined_timestamp: number | null;
  declined_versions_since: number | null;
}

interface VersionRow {
  version_id: string;
  parent_version_id: string;
  history_segment: Buffer;
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: Database.Database) {
  return {
    getClient: db.prepare<[string], ClientRow>(
      `SELECT latest_version_id, snapshot_version_id, snapshot_timestamp, versions_since, declined_timestamp, declined_versions_since
       FROM clients WHERE client_id = ?`,
    ),
    insertClient: db.prepare<[string, string]>("INSERT INTO clients (client_id, latest_version_id, versions_since) VALUES (?, ?, 0)"),
    setSnapshot: db.prepare<[string, number, number, string]>(
      `UPDATE clients SET snapshot_version_id = ?, snapshot_timestamp = ?, versions_since = ?,
         declined_timestamp = NULL, declined_versions_since = NULL
       WHERE client_id = ?`,
    ),
    declineSnapshot: db.prepare<[number, string]>(
      "UPDATE clients SET declined_timestamp = ?, declined_versions_since = 0 WHERE client_id = ?",
    ),
    setSnapshotData: db.prepare<[string, Buffer]>(
      "INSERT INTO snapshot_data (client_id, data) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET data = excluded.data",
    ),
    getSnapshotData: db.prepare<[string, string], { data: Buffer }>(
      "SELECT d.data FROM clients c JOIN snapshot_data d ON d.client_id = c.client_id WHERE c.client_id = ? AND c.snapshot_version_id = ?",
    ),
    getVersion: db.prepare<[string, string], VersionRow>(
      "SELECT version_id, parent_version_id, history_segment FROM versions WHERE client_id = ? AND version_id = ?",
    ),
    getVersionByParent: db.prepare<[string, string], VersionRow>(
      "SELECT version_id, parent_version_id, history_segment FROM versions WHERE client_id = ? AND parent_version_id = ?",
    ),
    insertVersion: db.prepare<[string, string, string, Buffer]>(
      "INSERT INTO versions (client_id, version_id, parent_version_id, history_segment) VALUES (?, ?, ?, ?)",
    ),
    // Compare-and-set on latest: changes() is 0 if it is not what addVersion just checked.
    advanceLatest: db.prepare<[string, string, string]>(
      `UPDATE clients SET latest_version_id = ?,
         versions_since = CASE WHEN snapshot_version_id IS NULL THEN versions_since ELSE versions_since + 1 END,
         declined_versions_since = declined_versions_since + 1
       WHERE client_id = ? AND latest_version_id = ?`,
    ),
  };
}

/**
 * Creates the tables if they are missing: idempotent, and atomic against another process
 * opening the same file at once. A database already at this schema version is only read, so
 * that opening it takes no write lock (another writer may hold it).
 */
function createSchema(db: Database.Database, path: string): void {
  const check = (version: number) => {
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path} has schema version ${version}; this server knows up to ${SCHEMA_VERSION}`);
    }
  };
  const current = db.pragma("user_version", { simple: true }) as number;
  check(current);
  if (current === SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = db.pragma("user_version", { simple: true }) as number; // again, under the lock
    check(version);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

export class SqliteStorage implements Storage {
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly lock = new KeyedMutex();
  private readonly lockTimeoutMs: number;
  private closing: Promise<void> | undefined;

  /** Opens (creating if needed) the database file at `path`, and its directory. */
  constructor(path: string, options: SqliteStorageOptions = {}) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.lockTimeoutMs))}`);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (typeof mode !== "string" || mode.toLowerCase() !== "wal") {
        throw new Error(`SQLite refused WAL mode for ${path} (journal_mode is ${String(mode)})`);
      }
      db.pragma("synchronous = FULL"); // see the comment at the top of this file
      db.pragma("foreign_keys = ON");
      createSchema(db, path);
      this.statements = prepare(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
  }

  async txn(clientId: Uuid): Promise<StorageTxn> {
    if (this.closing) throw new Error("the SQLite storage is closed");
    const unlock = await this.lock.acquire(DATABASE_KEY);
    try {
      // Those that were already waiting when close() was called still run; close waits for them.
      if (!this.db.open) throw new Error("the SQLite storage is closed");
      await this.beginImmediate();
    } catch (error) {
      unlock();
      throw error;
    }
    return new SqliteTxn(this.db, this.statements, clientId, unlock);
  }

  /** Waits for the transactions already begun or waiting, then closes the database. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const unlock = await this.lock.acquire(DATABASE_KEY);
      try {
        this.db.close();
      } finally {
        unlock();
      }
    })();
    return this.closing;
  }

  /** `BEGIN IMMEDIATE`, waiting asynchronously for a write lock held elsewhere. */
  private async beginImmediate(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    let pause = 1;
    for (;;) {
      try {
        this.withoutBusyWait(() => this.db.exec("BEGIN IMMEDIATE"));
        return;
      } catch (error) {
        if (!isBusy(error)) throw error;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StorageUnavailableError("the SQLite database is locked by another writer", 1, { cause: error });
        }
        await sleep(Math.min(left, pause * (0.5 + Math.random())));
        pause = Math.min(pause * 2, 50);
      }
    }
  }

  private withoutBusyWait<T>(work: () => T): T {
    this.db.pragma("busy_timeout = 0");
    try {
      return work();
    } finally {
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.lockTimeoutMs))}`);
    }
  }
}

class SqliteTxn implements StorageTxn {
  private committed = false;
  private released = false;

  constructor(
    private readonly db: Database.Database,
    private readonly sql: Statements,
    private readonly clientId: Uuid,
    private readonly unlock: () => void,
  ) {}

  async getClient(): Promise<Client | null> {
    this.assertOpen();
    const row = this.sql.getClient.get(this.clientId);
    if (!row) return null;
    const latestVersionId = row.latest_version_id as Uuid;
    const snapshot: Snapshot | null =
      row.snapshot_version_id === null || row.snapshot_timestamp === null
        ? null
        : {
            versionId: row.snapshot_version_id as Uuid,
            timestamp: new Date(row.snapshot_timestamp),
            versionsSince: row.versions_since,
          };
    const snapshotDeclined =
      row.declined_timestamp === null || row.declined_versions_since === null
        ? null
        : { timestamp: new Date(row.declined_timestamp), versionsSince: row.declined_versions_since };
    return { latestVersionId, snapshot, snapshotDeclined };
  }

  async newClient(latestVersionId: Uuid): Promise<void> {
    this.assertOpen();
    if (this.sql.getClient.get(this.clientId)) throw new ClientExistsError();
    this.sql.insertClient.run(this.clientId, latestVersionId);
  }

  async setSnapshot(snapshot: Snapshot, data: Uint8Array): Promise<void> {
    this.assertOpen();
    const timestamp = snapshot.timestamp.getTime();
    if (!Number.isFinite(timestamp)) throw new Error("the snapshot's timestamp is not a valid date");
    this.db.transaction(() => {
      const changed = this.sql.setSnapshot.run(snapshot.versionId, timestamp, snapshot.versionsSince, this.clientId);
      if (changed.changes !== 1) throw new ClientNotFoundError();
      this.sql.setSnapshotData.run(this.clientId, asBuffer(data));
    })();
  }

  async declineSnapshot(timestamp: Date): Promise<void> {
    this.assertOpen();
    const ms = timestamp.getTime();
    if (!Number.isFinite(ms)) throw new Error("the decline's timestamp is not a valid date");
    if (this.sql.declineSnapshot.run(ms, this.clientId).changes !== 1) throw new ClientNotFoundError();
  }

  async getSnapshotData(versionId: Uuid): Promise<Uint8Array | null> {
    this.assertOpen();
    const row = this.sql.getSnapshotData.get(this.clientId, versionId);
    return row ? new Uint8Array(row.data) : null;
  }

  async getVersionByParent(parentVersionId: Uuid): Promise<Version | null> {
    this.assertOpen();
    return toVersion(this.sql.getVersionByParent.get(this.clientId, parentVersionId));
  }

  async getVersion(versionId: Uuid): Promise<Version | null> {
    this.assertOpen();
    return toVersion(this.sql.getVersion.get(this.clientId, versionId));
  }

  async addVersion(versionId: Uuid, parentVersionId: Uuid, historySegment: Uint8Array): Promise<void> {
    this.assertOpen();
    // A savepoint: a rejected addVersion leaves nothing behind, even if the caller commits.
    this.db.transaction(() => {
      const client = this.sql.getClient.get(this.clientId);
      if (!client) throw new ClientNotFoundError();
      const latest = client.latest_version_id as Uuid;
      if (latest !== NIL_UUID && latest !== parentVersionId) throw new ChainMovedError(latest);
      if (this.sql.getVersion.get(this.clientId, versionId)) throw new Error("the version already exists");
      try {
        this.sql.insertVersion.run(this.clientId, versionId, parentVersionId, asBuffer(historySegment));
      } catch (error) {
        if (isUniqueViolation(error)) {
          // Latest is the parent (or nil) yet the parent already has a child: the stored chain is
          // inconsistent. Refuse rather than fork it.
          throw new Error(`version ${parentVersionId} already has a child; refusing to fork the chain`, { cause: error });
        }
        throw error;
      }
      const advanced = this.sql.advanceLatest.run(versionId, this.clientId, latest);
      if (advanced.changes !== 1) throw new ChainMovedError(latest);
    })();
  }

  async commit(): Promise<void> {
    this.assertOpen();
    try {
      this.db.exec("COMMIT");
    } catch (error) {
      if (isBusy(error)) throw new StorageUnavailableError("the SQLite database is busy", 1, { cause: error });
      throw error;
    }
    this.committed = true;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
    } finally {
      this.unlock();
    }
  }

  private assertOpen(): void {
    if (this.committed || this.released) throw new Error("the transaction has already ended");
  }
}

function toVersion(row: VersionRow | undefined): Version | null {
  if (!row) return null;
  return {
    versionId: row.version_id as Uuid,
    parentVersionId: row.parent_version_id as Uuid,
    historySegment: new Uint8Array(row.history_segment),
  };
}

/** A Buffer view of the caller's bytes (no copy: SQLite copies them when binding). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sqliteCode(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}

function isBusy(error: unknown): boolean {
  const code = sqliteCode(error);
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

function isUniqueViolation(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
