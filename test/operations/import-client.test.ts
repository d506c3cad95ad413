/**
 * import-client with --replace: the storage cannot swap a whole client at once, so the client
 * is removed before the write pass; when that pass then fails, the outcome (or the error) says
 * the client was removed, so that the operator knows the file now holds its only copy.
 */
import { describe, expect, test } from "vitest";
import { importClient, ReplaceFailedError } from "../../lambda/operations/import-client.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { storedClientIds } from "../support/client-state.ts";
import { exportText } from "../support/export-file.ts";
import { writeTxn } from "../support/txn.ts";

const chunks = (text: string) =>
  (async function* () {
    yield new TextEncoder().encode(text);
  })();

/** A storage with one client of one version, the one the import replaces. */
async function storageWithClient(clientId: Uuid): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  await writeTxn(storage, clientId, async (txn) => {
    await txn.newClient(NIL_UUID);
    await txn.addVersion(newUuid(), NIL_UUID, Uint8Array.of(1));
  });
  return storage;
}

/** `storage` whose `method` fails with `message` (a fault the storages cannot be made to produce). */
function failingAt(storage: Storage, method: "importClient" | "removeClient", message: string): Storage {
  return Object.assign(Object.create(storage) as Storage, { [method]: () => Promise.reject(new Error(message)) });
}

describe("import-client --replace", () => {
  test("a file that changes between its check and its write: the outcome says the client was removed", async () => {
    const clientId = newUuid();
    const storage = await storageWithClient(clientId);
    const good = await exportText(clientId, 3);
    let opened = 0;
    const outcome = await importClient(storage, () => chunks(++opened === 1 ? good : good.slice(0, good.length - 40)), { replace: true });
    expect(outcome).toMatchObject({ kind: "invalid", replaced: true, clientId });
    expect(await storedClientIds(storage)).toEqual([]);
  });

  test("a file that is broken from the start: nothing is removed", async () => {
    const clientId = newUuid();
    const storage = await storageWithClient(clientId);
    const good = await exportText(clientId, 3);
    const outcome = await importClient(storage, () => chunks(good.slice(0, good.length - 40)), { replace: true });
    expect(outcome).toMatchObject({ kind: "invalid", replaced: false });
    expect(await storedClientIds(storage)).toEqual([clientId]);
  });

  test.each([
    ["a storage failure in the write pass", "importClient", "the storage is unreachable", "write"],
    ["a removal that fails part-way", "removeClient", "S3 refused a delete", "removal"],
  ] as const)("%s: a ReplaceFailedError of that stage, naming the client", async (_, method, message, stage) => {
    const clientId = newUuid();
    const storage = failingAt(await storageWithClient(clientId), method, message);
    const text = await exportText(clientId, 2);
    const imported = importClient(storage, () => chunks(text), { replace: true });
    await expect(imported).rejects.toBeInstanceOf(ReplaceFailedError);
    await expect(imported).rejects.toMatchObject({ clientId, stage, message });
  });

  test("without --replace, the same failure is the storage's own error", async () => {
    const storage = failingAt(new MemoryStorage(), "importClient", "the storage is unreachable");
    const text = await exportText(newUuid(), 2);
    await expect(importClient(storage, () => chunks(text))).rejects.not.toBeInstanceOf(ReplaceFailedError);
  });
});
