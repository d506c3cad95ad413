/**
 * `import-reference (--sqlite PATH | --postgres URL) [--client-id UUID]...`: moves clients from
 * the reference Rust server's database, one line per client as it goes.
 */
import { importReference, type ReferenceImportOutcome } from "../../lambda/operations/import-reference.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { type Command, EXIT } from "./command.ts";
import { formatBytes } from "./format.ts";

export const importReferenceCommand: Command = {
  name: "import-reference",
  summary: "import clients from the reference server's database (taskchampion-sync-server 0.5 to 0.7)",
  usage: "(--sqlite PATH | --postgres URL) [--client-id UUID]...",
  options: ["sqlite", "postgres", "client-id"],
  args: [],
  async run(context) {
    const { sqlite, postgres } = context.options;
    if ((sqlite === undefined) === (postgres === undefined))
      return context.fail(EXIT.usage, "import-reference needs one of --sqlite PATH and --postgres URL");
    const clientIds: Uuid[] = [];
    for (const text of context.options["client-id"] ?? []) {
      const clientId = context.clientId(text, "--client-id", "new");
      if (!clientId) return EXIT.usage;
      clientIds.push(clientId);
    }
    // Each reader loads its driver on use: better-sqlite3 is optional, and the other commands
    // (and a Postgres import) must work where its build is missing.
    const db =
      sqlite !== undefined
        ? (await import("./reference-sqlite.ts")).openReferenceSqlite(sqlite)
        : await (await import("./reference-postgres.ts")).openReferencePostgres(postgres ?? "");
    if (typeof db === "string") return context.fail(EXIT.usage, db);
    try {
      const storage = await context.storage();
      let progress = context.progress("");
      let current: Uuid | undefined;
      let problems = 0;
      let imported = 0;
      for await (const outcome of importReference(db, storage, {
        ...(clientIds.length > 0 ? { clientIds } : {}),
        now: context.now(),
        onProgress: (clientId, done) => {
          if (clientId !== current) {
            progress.end();
            progress = context.progress(`${clientId}: versions`);
            current = clientId;
          }
          progress.update(done);
        },
      })) {
        progress.end();
        if (outcome.kind === "imported") imported += 1;
        else if (outcome.kind !== "already-imported") problems += 1;
        await context.print(context.options.json ? JSON.stringify(outcomeJson(outcome)) : describe(outcome));
      }
      if (problems > 0) return context.fail(EXIT.failed, `${problems} client(s) were not imported (see above); ${imported} were`);
      return EXIT.ok;
    } finally {
      await db.close();
    }
  },
};

function reason(outcome: ReferenceImportOutcome): string | undefined {
  switch (outcome.kind) {
    case "invalid":
      return outcome.reason;
    case "failed":
      return outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    case "exists":
      return "a client with this id exists here already, at another version";
    case "not-found":
      return "not in the reference database";
    default:
      return undefined;
  }
}

/** The stable `--json` line of one client. */
function outcomeJson(outcome: ReferenceImportOutcome): Record<string, unknown> {
  const status = outcome.kind;
  if (outcome.kind === "imported") {
    const { clientId, versions, historyBytes, snapshotBytes } = outcome;
    return { clientId, status, versions, historyBytes, snapshotBytes };
  }
  return { clientId: outcome.clientId, status, reason: reason(outcome) ?? null };
}

function describe(outcome: ReferenceImportOutcome): string {
  switch (outcome.kind) {
    case "imported":
      return `${outcome.clientId}: imported ${outcome.versions} versions (${formatBytes(outcome.historyBytes)}), snapshot ${outcome.snapshotBytes > 0 ? formatBytes(outcome.snapshotBytes) : "none"}`;
    case "already-imported":
      return `${outcome.clientId}: already here at the same version, left as it is`;
    default:
      return `${outcome.clientId}: NOT imported: ${reason(outcome)}`;
  }
}
