/**
 * `backup --out FILE [--force]`: a consistent copy of the local server's SQLite database, taken
 * while the server serves (README, "Backing up the local server"). The copy itself is the SQLite
 * storage's (lambda/storage/sqlite/backup.ts); this edge finds the database as the server does
 * (STORAGE, DATA_DIR), refuses the storages it cannot copy, and reports.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ConfigReader, SETTINGS } from "../../lambda/config.ts";
import { SQLITE_FILE_NAME } from "../open-storage.ts";
import { type Command, EXIT } from "./command.ts";
import { formatBytes } from "./format.ts";

/** What to use instead, for the storages this command cannot copy. */
const ELSEWHERE =
  'a deployment (STORAGE=dynamodb, --stack) is backed up by AWS (README, "Restoring a deployment"), and one user at a time by export-client';

export const backupCommand: Command = {
  name: "backup",
  summary: "copy the local server's SQLite database to FILE, consistently, while the server serves",
  usage: "--out FILE [--force]",
  options: ["out", "force"],
  args: [],
  async run(context) {
    const out = context.options.out;
    if (!out) return context.fail(EXIT.usage, "backup needs --out FILE");
    if (context.options.stack !== undefined)
      return context.fail(EXIT.usage, `backup copies the local server's SQLite database; ${ELSEWHERE}`);
    const reader = new ConfigReader(context.env);
    const kind = reader.get(SETTINGS.storage);
    const dataDir = reader.get(SETTINGS.dataDir);
    reader.check();
    if (kind === "memory")
      return context.fail(EXIT.usage, "STORAGE=memory keeps nothing beyond the server's process: there is no database to back up");
    if (kind !== "sqlite")
      return context.fail(EXIT.usage, `backup copies the local server's SQLite database (STORAGE=sqlite); ${ELSEWHERE}`);
    // Loaded on use: better-sqlite3 is optional, and the other commands must work without it.
    const { backupSqliteDatabase } = await import("../../lambda/storage/sqlite/backup.ts");
    const database = join(dataDir, SQLITE_FILE_NAME);
    const started = performance.now();
    const outcome = await backupSqliteDatabase(database, out, { overwrite: context.options.force === true });
    const durationMs = Math.round(performance.now() - started);
    switch (outcome.kind) {
      case "refused":
        return context.fail(EXIT.usage, outcome.message);
      case "failed":
        return context.fail(EXIT.failed, `the backup failed, nothing was written: ${outcome.message}`);
      case "written": {
        const { file, bytes, clients, schemaVersion } = outcome;
        await context.print(
          context.options.json
            ? JSON.stringify({ file, bytes, clients, schemaVersion, durationMs })
            : `Backed up ${database} to ${file}: ${clients} client${clients === 1 ? "" : "s"}, ${formatBytes(bytes)}, schema version ${schemaVersion}, in ${(durationMs / 1000).toFixed(1)} s.`,
        );
        return EXIT.ok;
      }
    }
  },
};
