/**
 * Operators' work racing replicas on DynamoDB Local + s3rver: an import or a removal holds the
 * client item (`hidden`) for as long as it runs, so no replica can see, create or write the
 * client meanwhile; an import completes whole or leaves nothing a replica can see; an
 * interrupted removal stays a removal. And an answer of urgency high counted once when the SDK
 * retries its write. Faults and pauses are injected through the SDK's middleware.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { SyncServer } from "../../lambda/core/sync.ts";
import { ATTR, HIDDEN, SK, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import type { DynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { sdkError } from "../../dev/sdk-interception.ts";
import { chainVersions } from "../support/chain-import.ts";
import { type Around, dynamoOnEmulators } from "../support/dynamo-on-emulators.ts";
import { added } from "../support/sync-outcomes.ts";
import { inTxn } from "../support/txn.ts";

const dynamo = dynamoOnEmulators();

function storage(around?: Around, step?: "initialize" | "deserialize"): DynamoStorage {
  return dynamo.storage({ around, step });
}

/** A replica's server: creates clients (the case where a race could make one). */
const replicaServer = () => new SyncServer(storage(), { ...DEFAULT_SYNC_RULES, createClients: true });

const clientItem = (clientId: Uuid) => dynamo.clientItem(clientId);

const bytes = (n: number, seed: number) => new Uint8Array(n).fill(seed);

/** An import's data: `count` versions from nil, and a snapshot of the last. */
function importOf(count: number, ids = Array.from({ length: count }, () => newUuid())) {
  return {
    ids,
    client: {
      latestVersionId: ids[count - 1]!,
      snapshot: { versionId: ids[count - 1]!, timestamp: new Date(), versionsSince: 0, data: bytes(100, 9) },
      versions: chainVersions(ids, (i) => ({ historySegment: bytes(10, i), addedAt: new Date() })),
    },
  };
}

/** A pause at the import's last write (the whole client item over its mark), and its release. */
function pausedAtLastWrite(): { around: Around; reached: Promise<void>; release: () => void } {
  let reach = () => {};
  let release = () => {};
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const around: Around = async (call, send) => {
    const item = call.input.Item as Record<string, AttributeValue> | undefined;
    if (call.command === "PutItemCommand" && item?.[TABLE.sortKey.name]?.S === SK.client && item[ATTR.hidden] === undefined) {
      reach();
      await released;
    }
    return send();
  };
  return { around, reached, release };
}

describe("an import racing replicas", () => {
  test("a replica at the file's latest version, held before the import's last write: unknown client; then it carries on on top", async () => {
    const clientId = newUuid();
    const { ids, client } = importOf(12);
    const pause = pausedAtLastWrite();
    const importing = storage(pause.around).importClient(clientId, client);
    await pause.reached;
    const sync = replicaServer();
    // Nothing of the client is visible, and nothing can create it or write to it.
    expect(await sync.addVersion(clientId, ids[11]!, bytes(5, 1))).toEqual({ kind: "unknown-client" });
    expect(await sync.addVersion(clientId, NIL_UUID, bytes(5, 1))).toEqual({ kind: "unknown-client" });
    expect(await sync.getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "unknown-client" });
    expect(await sync.getSnapshot(clientId)).toEqual({ kind: "unknown-client" });
    expect(await sync.addSnapshot(clientId, ids[11]!, bytes(5, 1))).toEqual({ kind: "unknown-client" });
    expect((await clientItem(clientId))?.[ATTR.hidden]?.S).toBe(HIDDEN.importing);
    pause.release();
    await importing;
    // Whole: every imported version counted, and the replica's next version goes on top.
    const v13 = added(await sync.addVersion(clientId, ids[11]!, bytes(5, 1)));
    const details = await inTxn(storage(), clientId, (txn) => txn.getClientDetails());
    expect(details).toMatchObject({
      versions: 13,
      storedBytes: 12 * 10 + 100 + 5,
      latestVersionId: v13,
      oldestVersion: { versionId: ids[0], parentVersionId: NIL_UUID },
    });
  });

  test("a fresh replica during an import: unknown client (a 404), never a failure; the import completes", async () => {
    const clientId = newUuid();
    const { client } = importOf(3);
    const pause = pausedAtLastWrite();
    const importing = storage(pause.around).importClient(clientId, client);
    await pause.reached;
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => replicaServer().addVersion(clientId, NIL_UUID, bytes(5, 2))));
    expect(outcomes).toEqual(Array.from({ length: 4 }, () => ({ kind: "unknown-client" })));
    pause.release();
    await importing;
    expect(await inTxn(storage(), clientId, (txn) => txn.getClientDetails())).toMatchObject({ versions: 3 });
  });

  test("an interrupted import leaves no client; a re-run of it completes; another file cannot take its place", async () => {
    const clientId = newUuid();
    const first = importOf(4);
    const failing = storage(async (call, send) => {
      const item = call.input.Item as Record<string, AttributeValue> | undefined;
      if (call.command === "PutItemCommand" && item?.[TABLE.sortKey.name]?.S === SK.client && item[ATTR.hidden] === undefined) {
        throw sdkError(400, "ValidationException", "interrupted");
      }
      return send();
    });
    await expect(failing.importClient(clientId, first.client)).rejects.toThrow();
    expect(await inTxn(storage(), clientId, (txn) => txn.getClient())).toBeNull();
    expect(await replicaServer().addVersion(clientId, NIL_UUID, bytes(5, 3))).toEqual({ kind: "unknown-client" });
    await expect(storage().importClient(clientId, importOf(2).client)).rejects.toMatchObject({ name: "ClientExistsError" });
    // The same file again: the versions' own items are rewritten, the client appears.
    await storage().importClient(clientId, importOf(4, first.ids).client);
    expect(await inTxn(storage(), clientId, (txn) => txn.getClientDetails())).toMatchObject({ versions: 4, latestVersionId: first.ids[3] });
  });
});

describe("a removal racing replicas", () => {
  test("interrupted after its first step on a server that creates clients: the client stays gone; a re-run finishes it", async () => {
    const sync = replicaServer();
    const clientId = newUuid();
    let parent = NIL_UUID;
    for (let i = 0; i < 5; i++) parent = added(await sync.addVersion(clientId, parent, bytes(400_000, i)));
    // The removal stops at its first delete of the client's items.
    const interrupted = storage(async (call, send) => {
      if (call.command === "BatchWriteItemCommand") throw sdkError(400, "ValidationException", "interrupted");
      return send();
    });
    await expect(interrupted.removeClient(clientId)).rejects.toThrow();
    // Gone for the protocol, and no replica revives it: not as a new client, not on its old chain.
    expect(await sync.addVersion(clientId, parent, bytes(3, 1))).toEqual({ kind: "unknown-client" });
    expect(await sync.addVersion(clientId, NIL_UUID, bytes(3, 1))).toEqual({ kind: "unknown-client" });
    expect(await sync.getChildVersion(clientId, NIL_UUID)).toEqual({ kind: "unknown-client" });
    expect((await clientItem(clientId))?.[ATTR.hidden]?.S).toBe(HIDDEN.removing);
    expect(await storage().removeClient(clientId)).toBe(true);
    expect(await clientItem(clientId)).toBeUndefined();
    // Removed: the id may be used again, from nothing.
    added(await sync.addVersion(clientId, NIL_UUID, bytes(3, 1)));
    expect(await inTxn(storage(), clientId, (txn) => txn.getClientDetails())).toMatchObject({ versions: 1 });
  });
});

describe("an answer of urgency high", () => {
  test("counted once when the SDK retries a count whose answer was lost", async () => {
    const sync = replicaServer();
    const clientId = newUuid();
    // The first version is answered high (no snapshot) and counted: 1.
    const v1 = added(await sync.addVersion(clientId, NIL_UUID, bytes(5, 1)));
    let lost = 0;
    const flaky = storage(async (call, send) => {
      const update = call.input.UpdateExpression as string | undefined;
      if (call.command !== "UpdateItemCommand" || !update?.includes(`ADD #high`) || lost > 0) return send();
      lost += 1;
      await send();
      throw sdkError(503, "ServiceUnavailable");
    }, "deserialize");
    const outcome = await new SyncServer(flaky, { ...DEFAULT_SYNC_RULES, createClients: true }).addVersion(clientId, v1, bytes(5, 2));
    expect(outcome).toMatchObject({ kind: "added", snapshotUrgency: "high" });
    expect(lost).toBe(1);
    // Two answers, two counts; not three (the third would record a decline).
    expect((await clientItem(clientId))?.[ATTR.high]?.N).toBe("2");
    expect((await clientItem(clientId))?.[ATTR.declTime]).toBeUndefined();
  });
});
