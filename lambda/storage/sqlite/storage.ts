/**
 * SQLite storage, for running the server locally (`STORAGE=sqlite`): one database file on
 * better-sqlite3, whose API is synchronous. The schema: schema.ts; a transaction: transaction.ts.
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
 * Files: the directory and the database are their owner's only, tightened when opened if they
 * are not (files.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import type { Uuid } from "../../uuid.ts";
import { ClientExistsError, StorageUnavailableError } from "../errors.ts";
import { KeyedMutex } from "../keyed-mutex.ts";
import type { ClientImport, ClientSummary, ClientVerification, Storage, StorageTxn, TxnOptions, VerifyOptions } from "../types.ts";
import { verifyThroughTransactions } from "../transactional-verify.ts";
import { isBusy } from "./errors.ts";
import { type LooseFile, secureDatabaseFiles } from "./files.ts";
import { snapshotFootprint, versionFootprint } from "./footprint.ts";
import { asBuffer, toDetails } from "./rows.ts";
import { createOrMigrateSchema } from "./schema.ts";
import { prepare, type Statements } from "./statements.ts";
import { SqliteTxn } from "./transaction.ts";

export interface SqliteStorageOptions {
  /**
   * How long to wait for the database's write lock (held by another process or another
   * SqliteStorage on the same file) before giving up with StorageUnavailableError; also the
   * connection's `busy_timeout`. Default 10 s.
   */
  lockTimeoutMs?: number;
}

/** The in-process lock's one key: every transaction of this storage takes it. */
const DATABASE_KEY = "database";

/** Clients per page of `listClients`. */
const LIST_PAGE_SIZE = 200;

export class SqliteStorage implements Storage {
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly lock = new KeyedMutex();
  private readonly lockTimeoutMs: number;
  private closing: Promise<void> | undefined;
  /** What was readable by others when this storage opened it, and whether it was tightened: to be said once. */
  readonly looseFiles: readonly LooseFile[];

  /** Opens (creating if needed, owner-only) the database file at `path`, and its directory. */
  constructor(path: string, options: SqliteStorageOptions = {}) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.looseFiles = secureDatabaseFiles(path);
    const db = new Database(path);
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.lockTimeoutMs))}`);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (typeof mode !== "string" || mode.toLowerCase() !== "wal") {
        throw new Error(`SQLite refused WAL mode for ${path} (journal_mode is ${String(mode)})`);
      }
      db.pragma("synchronous = FULL"); // see the comment at the top of this file
      db.pragma("foreign_keys = ON");
      createOrMigrateSchema(db, path);
      this.statements = prepare(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
  }

  /** A request's deadline bounds the wait for the write lock too (StorageUnavailableError past it). */
  async txn(clientId: Uuid, options: TxnOptions = {}): Promise<StorageTxn> {
    const unlock = await this.begin(options.deadline);
    return new SqliteTxn(this.db, this.statements, clientId, unlock);
  }

  async *listClients(): AsyncIterable<ClientSummary> {
    let after = "";
    for (;;) {
      // One short read per page under the lock: the connection is shared with transactions.
      const unlock = await this.lock.acquire(DATABASE_KEY);
      let page: ClientSummary[];
      try {
        this.assertOpen();
        page = this.statements.listSummaries.all(after, LIST_PAGE_SIZE).map(toDetails);
      } finally {
        unlock();
      }
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < LIST_PAGE_SIZE) return;
      after = last.clientId;
    }
  }

  async removeClient(clientId: Uuid): Promise<boolean> {
    return this.inWriteTransaction(() => {
      this.statements.deleteVersions.run(clientId);
      this.statements.deleteSnapshotData.run(clientId);
      return this.statements.deleteClient.run(clientId).changes > 0;
    });
  }

  async importClient(clientId: Uuid, client: ClientImport): Promise<void> {
    const unlock = await this.begin();
    try {
      const sql = this.statements;
      if (sql.getClient.get(clientId)) throw new ClientExistsError();
      // The client row first (the versions reference it), its counters and snapshot last.
      sql.insertClient.run(clientId, client.latestVersionId);
      let chainStart: string | null = null;
      let storedBytes = 0;
      let usedBytes = 0;
      let latestAddedAt: number | null = null;
      for await (const version of client.versions) {
        chainStart ??= version.parentVersionId;
        sql.insertVersion.run(
          clientId,
          version.versionId,
          version.parentVersionId,
          asBuffer(version.historySegment),
          version.addedAt.getTime(),
        );
        storedBytes += version.historySegment.byteLength;
        usedBytes += versionFootprint(version.historySegment.byteLength);
        latestAddedAt = version.addedAt.getTime();
      }
      const snapshot = client.snapshot;
      sql.completeImport.run(
        chainStart,
        storedBytes + (snapshot?.data.byteLength ?? 0),
        usedBytes + (snapshot ? snapshotFootprint(snapshot.data.byteLength) : 0),
        latestAddedAt,
        snapshot?.versionId ?? null,
        snapshot?.timestamp.getTime() ?? null,
        snapshot?.versionsSince ?? 0,
        client.declined?.timestamp.getTime() ?? null,
        client.declined?.versionsSince ?? null,
        clientId,
      );
      if (snapshot) sql.setSnapshotData.run(clientId, asBuffer(snapshot.data));
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    } finally {
      unlock();
    }
  }

  /** Its transactions commit whole: only a corrupted database could fail the checks, and nothing is repaired. */
  verifyClients(options: VerifyOptions): AsyncIterable<ClientVerification> {
    return verifyThroughTransactions(this, options);
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

  /** The in-process lock, then `BEGIN IMMEDIATE`; returns the function that gives the lock up. */
  private async begin(deadline?: number): Promise<() => void> {
    if (this.closing) throw new Error("the SQLite storage is closed");
    const unlock = await this.lock.acquire(DATABASE_KEY);
    try {
      // Those that were already waiting when close() was called still run; close waits for them.
      this.assertOpen();
      await this.beginImmediate(deadline);
    } catch (error) {
      unlock();
      throw error;
    }
    return unlock;
  }

  private async inWriteTransaction<T>(work: () => T): Promise<T> {
    const unlock = await this.begin();
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    } finally {
      unlock();
    }
  }

  private assertOpen(): void {
    if (!this.db.open) throw new Error("the SQLite storage is closed");
  }

  /** `BEGIN IMMEDIATE`, waiting asynchronously for a write lock held elsewhere. */
  private async beginImmediate(requestDeadline = Number.POSITIVE_INFINITY): Promise<void> {
    const deadline = Math.min(Date.now() + this.lockTimeoutMs, requestDeadline);
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
