/**
 * `list-clients` streams: with 10,000 clients and a reader that stops reading, the command stops
 * too (it waits for the output to drain rather than collect the list), and once the reader goes
 * on, every client comes out once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, test } from "vitest";
import { main } from "../../bin/admin.ts";
import { SQLITE_FILE_NAME } from "../../bin/open-storage.ts";
import { SqliteStorage } from "../../lambda/storage/sqlite/storage.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { collector } from "../support/admin.ts";

const CLIENTS = 10_000;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tc-list-"));
  const path = join(dir, SQLITE_FILE_NAME);
  // The storage creates its schema; the clients are then put in by SQL, in one transaction.
  await new SqliteStorage(path).close();
  const db = new Database(path);
  const insert = db.prepare("INSERT INTO clients (client_id, latest_version_id) VALUES (?, ?)");
  db.transaction(() => {
    for (let i = 0; i < CLIENTS; i++) insert.run(newUuid(), NIL_UUID);
  })();
  db.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

test("10,000 clients: the listing waits for its reader, then prints every client once", async () => {
  let handed = 0;
  let text = "";
  const held: (() => void)[] = [];
  let reading = false;
  const stdout = new Writable({
    highWaterMark: 4096,
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      if (reading) callback();
      else held.push(callback);
    },
  });
  // Lines handed to the stream, taken or not: what the command holds back is what it does not hand over.
  const write = stdout.write.bind(stdout);
  stdout.write = ((...args: Parameters<typeof write>) => {
    handed += 1;
    return write(...args);
  }) as typeof stdout.write;
  const stderr = collector();
  const done = main(["list-clients", "--json"], {
    stdout,
    stderr: stderr.stream,
    env: { DATA_DIR: dir },
    stderrIsTTY: false,
    stdinIsTTY: false,
  });
  await sleep(500);
  // A reader that takes nothing: the command has handed over a stream buffer's worth (4 KB, some 20 lines) and waits.
  expect(handed).toBeGreaterThan(0);
  expect(handed).toBeLessThan(40);
  reading = true;
  for (const callback of held.splice(0)) callback();
  expect(await done).toBe(0);
  const ids = text
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { clientId: string }).clientId);
  expect(ids).toHaveLength(CLIENTS);
  expect(new Set(ids).size).toBe(CLIENTS);
  expect(stderr.text()).toBe("");
}, 60_000);
