/**
 * What a transaction has read and what it will write, until its commit (README.md, "A
 * transaction"), and the client as the transaction sees it: the item it read with its own
 * writes applied. Pure: no SDK call.
 */
import { NIL_UUID, type Uuid } from "../../uuid.ts";
import { ChainMovedError } from "../errors.ts";
import { type ClientState, nextTail } from "./client-item.ts";
import { versionUsed } from "./quota.ts";
import type { PendingWrite } from "./write-request.ts";

export interface PendingState {
  /** The client item as last read: undefined = not read yet, null = it does not exist. */
  base: ClientState | null | undefined;
  /** newClient(latest) of this transaction. */
  create: Uuid | undefined;
  writes: PendingWrite[];
  /** The tightest `maxClientBytes` of the writes (the quota), if any. */
  maxClientBytes: number | undefined;
}

export function emptyPendingState(): PendingState {
  return { base: undefined, create: undefined, writes: [], maxClientBytes: undefined };
}

/** Whether the commit has anything to write. */
export function hasWrites(pending: PendingState): boolean {
  return pending.create !== undefined || pending.writes.length > 0;
}

/** Whether nothing was read yet and nothing is created: a read of the client item is due. */
export function needsRead(pending: PendingState): boolean {
  return pending.base === undefined && pending.create === undefined;
}

/** A client that newClient(latest) creates: no versions stored, its given latest not among them. */
function createdClient(latest: Uuid): ClientState {
  return {
    latest,
    tail: [],
    base: null,
    versionCount: 0,
    pruned: 0,
    bytes: 0,
    used: 0,
    kept: new Map(),
    lease: null,
    lastAddedMs: null,
    high: 0,
    snapshot: null,
    declined: null,
  };
}

/**
 * The client as the transaction sees it: the base plus its own writes. Strict, a version that
 * does not follow latest is the chain moving (ChainMovedError); lenient (for reads), it is left
 * out: the commit will find out.
 */
export function pendingView(pending: PendingState, strict = true): ClientState | null {
  const start = pending.create !== undefined ? createdClient(pending.create) : (pending.base ?? null);
  if (!start) return null;
  const state: ClientState = { ...start, tail: [...start.tail], kept: new Map(start.kept) };
  for (const write of pending.writes) {
    switch (write.kind) {
      case "version":
        if (state.latest !== NIL_UUID && state.latest !== write.parentId) {
          if (strict) throw new ChainMovedError(state.latest);
          continue;
        }
        state.tail = nextTail(state.versionCount === 0 ? [] : state.tail, [write.versionId], write.parentId);
        state.latest = write.versionId;
        state.base = state.base === null ? write.parentId : state.base;
        state.versionCount += 1;
        state.bytes = state.bytes === undefined ? undefined : state.bytes + write.data.byteLength;
        state.used = state.used === undefined ? undefined : state.used + versionUsed(write.data.byteLength);
        state.lastAddedMs = Date.now();
        break;
      case "snapshot":
        state.bytes = state.bytes === undefined ? undefined : state.bytes - (state.snapshot?.size ?? 0) + write.data.byteLength;
        // The replaced snapshot's object is deleted, and kept by the bucket: still counted.
        state.used = state.used === undefined ? undefined : state.used + write.data.byteLength;
        state.snapshot = {
          versionId: write.snapshot.versionId,
          timeMs: write.snapshot.timestamp.getTime(),
          at: write.at,
          key: undefined,
          size: write.data.byteLength,
          parent: write.parent,
        };
        state.declined = null;
        state.high = 0;
        break;
      case "decline":
        state.declined = { timeMs: write.timeMs, at: write.at };
        state.high = 0;
        break;
      case "reset-high-urgency":
        state.high = 0;
        break;
      case "remove-oldest":
        state.base = write.versions.at(-1)?.versionId ?? state.base;
        state.pruned += write.versions.length;
        state.bytes = (state.bytes ?? 0) - write.versions.reduce((sum, version) => sum + version.bytes, 0);
        // A removed segment in S3 is kept by the bucket: only its overhead stops counting.
        state.used =
          state.used === undefined
            ? undefined
            : state.used - write.versions.reduce((sum, version) => sum + versionUsed(version.segmentKey ? 0 : version.bytes), 0);
        break;
    }
  }
  return state;
}
