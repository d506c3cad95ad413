/**
 * The admin command where a client id enters: the nil and the max UUID are refused wherever a
 * client id would enter the storage (an option, an export file's header, a reference database's
 * row), nothing is stored for them; a client that an older version created under one of them can
 * still be looked up and removed. A malformed id is described without being repeated.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Storage } from "../../lambda/storage/types.ts";
import { MAX_UUID, NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { runAdmin } from "../support/admin.ts";
import { storedClientIds } from "../support/client-state.ts";
import { exportText } from "../support/export-file.ts";
import { emptyReferenceClient, writeReferenceSqlite } from "../support/reference-server.ts";
import { sqliteStore, type Store } from "../support/stores.ts";
import { writeTxn } from "../support/txn.ts";

let store: Store;
let storage: Storage;
let work: string;

beforeAll(async () => {
  store = await sqliteStore();
  storage = store.open();
  work = mkdtempSync(join(tmpdir(), "tc-client-ids-"));
});
afterAll(async () => {
  await store.close();
  rmSync(work, { recursive: true, force: true });
});

/** An export of a client without versions, under `clientId` as its header says. */
async function emptyExport(clientId: string): Promise<string> {
  const text = await exportText(clientId, 0);
  const file = join(work, `${newUuid()}.tcexport`);
  writeFileSync(file, text);
  return file;
}

const NIL = "the nil UUID, which cannot be a client id";
const MAX = "the max UUID, which cannot be a client id";

describe("the nil and the max UUID as client ids", () => {
  test.each([
    [["add-client", "--client-id", NIL_UUID], `--client-id is ${NIL}`],
    [["add-client", "--client-id", MAX_UUID.toUpperCase()], `--client-id is ${MAX}`],
    [["add-client", "--client-id", NIL_UUID.replaceAll("-", "")], `--client-id is ${NIL}`],
    [["import-reference", "--sqlite", "/nonexistent", "--client-id", MAX_UUID], `--client-id is ${MAX}`],
  ])("%j is bad usage (exit 2) and stores nothing", async (argv, message) => {
    expect(await runAdmin(argv, store.env)).toEqual({ code: 2, stdout: "", stderr: `error: ${message}\n`, lines: [] });
    expect(await storedClientIds(storage)).toEqual([]);
  });

  test("import-client --as the nil UUID is refused before the file is read", async () => {
    const file = await emptyExport(newUuid());
    expect(await runAdmin(["import-client", file, "--as", NIL_UUID], store.env)).toMatchObject({
      code: 2,
      stderr: `error: --as is ${NIL}\n`,
    });
    expect(await storedClientIds(storage)).toEqual([]);
  });

  test.each([
    ["nil", NIL_UUID, NIL],
    ["max", MAX_UUID, MAX],
  ])("an export file whose client id is the %s UUID is not a valid export", async (_name, clientId, message) => {
    const file = await emptyExport(clientId);
    expect(await runAdmin(["import-client", file], store.env)).toMatchObject({
      code: 2,
      stderr: `error: ${file} is not a valid export, nothing was imported: line 1: clientId is ${message}\n`,
    });
    expect(await storedClientIds(storage)).toEqual([]);
  });

  test("import-reference reports a client whose id is the nil or the max UUID as invalid and imports the others", async () => {
    const good = newUuid();
    const file = join(work, "reference.sqlite3");
    writeReferenceSqlite(file, [emptyReferenceClient(NIL_UUID), emptyReferenceClient(MAX_UUID), emptyReferenceClient(good)]);
    const run = await runAdmin(["import-reference", "--sqlite", file, "--json"], store.env);
    expect(run.code).toBe(1);
    expect(run.lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { clientId: NIL_UUID, status: "invalid", reason: `the client id is ${NIL}` },
      { clientId: good, status: "imported", versions: 0, historyBytes: 0, snapshotBytes: 0 },
      { clientId: MAX_UUID, status: "invalid", reason: `the client id is ${MAX}` },
    ]);
    expect(await storedClientIds(storage)).toEqual([good]);
    await runAdmin(["remove-client", good, "--yes"], store.env);
  });
});

describe("a client an older version created under the nil or the max UUID", () => {
  test.each([NIL_UUID, MAX_UUID])("%s can still be looked up, exported, pruned and removed (and not imported again)", async (clientId) => {
    await writeTxn(storage, clientId, (txn) => txn.newClient(NIL_UUID));
    expect((await runAdmin(["show-client", clientId, "--json"], store.env)).code).toBe(0);
    const out = join(work, `${clientId}.tcexport`);
    expect((await runAdmin(["export-client", clientId, "--out", out], store.env)).code).toBe(0);
    expect((await runAdmin(["prune", "--client-id", clientId], store.env)).code).toBe(0);
    expect(await runAdmin(["remove-client", clientId, "--yes"], store.env)).toMatchObject({ code: 0 });
    expect(await storedClientIds(storage)).toEqual([]);
    // Its export is a backup to look into: no import makes the client again.
    expect((await runAdmin(["import-client", out], store.env)).code).toBe(2);
  });
});

describe("a malformed client id", () => {
  test("is described by its length or a character's position, never repeated", async () => {
    const typo = `${newUuid().slice(0, 20)}x${newUuid().slice(21)}`;
    const run = await runAdmin(["add-client", "--client-id", typo], store.env);
    expect(run).toMatchObject({ code: 2, stderr: "error: --client-id is not a UUID (character 21 is not a hex digit)\n" });
    expect(run.stderr).not.toContain(typo.slice(0, 8));
    expect(await runAdmin(["show-client", typo.slice(2)], store.env)).toMatchObject({
      code: 2,
      stderr: "error: the client id is not a UUID (34 characters, where a UUID has 36, or 32 without hyphens)\n",
    });
  });

  test("in an export file's header is not repeated either", async () => {
    const typo = newUuid().slice(1);
    const file = await emptyExport(typo);
    const run = await runAdmin(["import-client", file], store.env);
    expect(run).toMatchObject({
      code: 2,
      stderr: `error: ${file} is not a valid export, nothing was imported: line 1: clientId is not a UUID (35 characters, where a UUID has 36, or 32 without hyphens)\n`,
    });
  });
});
