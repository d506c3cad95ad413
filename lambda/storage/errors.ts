import type { Uuid } from "../uuid.ts";

/**
 * The chain moved under a write: another transaction added a version after this one read the
 * client. Not a failure: the core answers the protocol's conflict naming `latestVersionId`.
 */
export class ChainMovedError extends Error {
  constructor(readonly latestVersionId: Uuid) {
    super("the client's latest version changed during the transaction");
    this.name = "ChainMovedError";
  }
}

/**
 * The storage is unreachable or overloaded right now, after its own retries; the request may
 * succeed later. Nothing of the transaction was kept.
 */
export class StorageUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/**
 * A write of a transaction whose client does not exist (the core creates a client before its
 * first write, so this is a caller's mistake or a client removed meanwhile).
 */
export class ClientNotFoundError extends Error {
  constructor() {
    super("the client does not exist");
    this.name = "ClientNotFoundError";
  }
}

/** `newClient` for a client that exists already. */
export class ClientExistsError extends Error {
  constructor() {
    super("the client already exists");
    this.name = "ClientExistsError";
  }
}

/** A write would take the client past its quota; nothing was kept. `usedBytes`: what the quota counts now. */
export class QuotaExceededError extends Error {
  constructor(readonly usedBytes: number) {
    super("the client's used bytes are at their quota");
    this.name = "QuotaExceededError";
  }
}

/** A version with this id is stored already (ids are random UUIDs: a replay, or an import run twice). */
export class VersionExistsError extends Error {
  constructor(detail = "") {
    super(`the version already exists${detail}`);
    this.name = "VersionExistsError";
  }
}

/**
 * `removeOldestVersions` was given versions that are not (or no longer) the client's oldest:
 * another removal ran first. Nothing was removed; read the oldest again.
 */
export class OldestVersionsMovedError extends Error {
  constructor(detail = "") {
    super(`these are not the client's oldest versions${detail}`);
    this.name = "OldestVersionsMovedError";
  }
}
