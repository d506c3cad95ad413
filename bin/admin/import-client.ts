/** `import-client FILE [--as UUID] [--replace]`: loads an export, checked whole before anything is written. */
import { importClient, ReplaceFailedError } from "../../lambda/operations/import-client.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { type Command, EXIT } from "./command.ts";
import { fileChunks, unreadable } from "./files.ts";
import { formatBytes } from "./format.ts";

export const importClientCommand: Command = {
  name: "import-client",
  summary: "load a client from an export file (refused if it exists, unless --replace)",
  usage: "FILE [--as UUID] [--replace]",
  options: ["as", "replace"],
  args: ["FILE"],
  async run(context) {
    const path = context.args.FILE ?? "";
    let as: Uuid | undefined;
    if (context.options.as !== undefined) {
      as = context.clientId(context.options.as, "--as", "new");
      if (!as) return EXIT.usage;
    }
    const problem = await unreadable(path);
    if (problem) return context.fail(EXIT.usage, problem);
    const storage = await context.storage();
    const checking = context.progress("checking versions");
    const writing = context.progress("writing versions");
    // What a failed write pass after --replace says: the old client is gone, the file holds it.
    const lost = (clientId: Uuid) => `client ${clientId} was removed to be replaced and is not imported: run import-client ${path} again`;
    let outcome: Awaited<ReturnType<typeof importClient>>;
    try {
      outcome = await importClient(storage, () => fileChunks(path), {
        ...(as ? { as } : {}),
        replace: context.options.replace === true,
        onProgress: (pass, done) => {
          if (pass === "write") checking.end();
          (pass === "check" ? checking : writing).update(done);
        },
      });
    } catch (error) {
      if (error instanceof ReplaceFailedError) {
        const what =
          error.stage === "removal"
            ? `the removal of client ${error.clientId}, to replace it, stopped part-way: it is gone for replicas and not imported: run import-client ${path} --replace again`
            : lost(error.clientId);
        return context.fail(EXIT.failed, `${what} (${error.message})`);
      }
      throw error;
    } finally {
      checking.end();
      writing.end();
    }
    switch (outcome.kind) {
      case "invalid":
        return outcome.replaced
          ? context.fail(EXIT.usage, `${path} changed while it was imported: ${outcome.reason}; ${lost(outcome.clientId)}`)
          : context.fail(EXIT.usage, `${path} is not a valid export, nothing was imported: ${outcome.reason}`);
      case "exists":
        return outcome.replaced
          ? context.fail(
              EXIT.client,
              `client ${outcome.clientId} was created again while it was replaced (a replica synced meanwhile); the import stopped`,
            )
          : context.fail(EXIT.client, `client ${outcome.clientId} exists already (--replace replaces it)`);
      case "imported": {
        const { clientId, file, replaced } = outcome;
        const snapshotBytes = file.snapshot?.bytes ?? 0;
        await context.print(
          context.options.json
            ? JSON.stringify({ clientId, versions: file.versions, historyBytes: file.historyBytes, snapshotBytes, replaced })
            : `Imported client ${clientId}${replaced ? " (replacing the one there)" : ""}: ${file.versions} versions (${formatBytes(file.historyBytes)}), snapshot ${snapshotBytes > 0 ? formatBytes(snapshotBytes) : "none"}.`,
        );
        return EXIT.ok;
      }
    }
  },
};
