/**
 * importReference's outcomes per client: a client the storage fails to take is reported as
 * failed, and the import goes on with the others (the admin command then exits 1 naming it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { openReferenceSqlite } from "../../bin/admin/reference-sqlite.ts";
import { importReference, type ReferenceImportOutcome } from "../../lambda/operations/import-reference.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import { newUuid, type Uuid } from "../../lambda/uuid.ts";
import { storedClientIds } from "../support/client-state.ts";
import { emptyReferenceClient, writeReferenceSqlite } from "../support/reference-server.ts";

const work = mkdtempSync(join(tmpdir(), "tc-import-reference-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("importReference", () => {
  test("a client the storage fails to take is reported as failed; the others are imported", async () => {
    const [first, failing, last] = [newUuid(), newUuid(), newUuid()];
    const path = join(work, `${newUuid()}.sqlite3`);
    writeReferenceSqlite(
      path,
      [first, failing, last].map((clientId) => emptyReferenceClient(clientId)),
    );
    const db = openReferenceSqlite(path);
    if (typeof db === "string") throw new Error(db);
    const storage = new MemoryStorage();
    // A storage failure on one client (a fault the storages cannot be made to produce on one client only).
    const faulty: Storage = Object.assign(Object.create(storage) as Storage, {
      importClient: (clientId: Uuid, data: Parameters<Storage["importClient"]>[1]) =>
        clientId === failing ? Promise.reject(new Error("the storage is unreachable")) : storage.importClient(clientId, data),
    });
    const outcomes: ReferenceImportOutcome[] = [];
    try {
      for await (const outcome of importReference(db, faulty)) outcomes.push(outcome);
    } finally {
      await db.close();
    }
    const byClient = new Map(outcomes.map((outcome) => [outcome.clientId, outcome]));
    expect(outcomes).toHaveLength(3);
    expect(byClient.get(first)).toMatchObject({ kind: "imported", versions: 0 });
    expect(byClient.get(last)).toMatchObject({ kind: "imported", versions: 0 });
    expect(byClient.get(failing)).toMatchObject({ kind: "failed", error: new Error("the storage is unreachable") });
    expect((await storedClientIds(storage)).sort()).toEqual([first, last].sort());
  });
});
