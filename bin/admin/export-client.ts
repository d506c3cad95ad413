/** `export-client UUID --out FILE`: one client, streamed into one portable file (README, "Export file format"). */
import { exportClient } from "../../lambda/operations/export-client.ts";
import { type Command, EXIT } from "./command.ts";
import { createFileSink, type FileSink } from "./files.ts";
import { formatBytes } from "./format.ts";

export const exportClientCommand: Command = {
  name: "export-client",
  summary: "write a client (history, snapshot) to one file: a backup, or a move to another server",
  usage: "UUID --out FILE",
  options: ["out"],
  args: ["UUID"],
  async run(context) {
    const clientId = context.clientId(context.args.UUID ?? "", "the client id", "lookup");
    if (!clientId) return EXIT.usage;
    const path = context.options.out;
    if (!path) return context.fail(EXIT.usage, "export-client needs --out FILE");
    const storage = await context.storage();
    let file: FileSink;
    try {
      file = await createFileSink(path);
    } catch (error) {
      return context.fail(EXIT.usage, `cannot write ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const progress = context.progress("exporting versions");
    try {
      const outcome = await exportClient(storage, clientId, (text) => file.write(text), {
        now: context.now(),
        onProgress: (done) => progress.update(done),
      });
      progress.end();
      if (outcome.kind !== "exported") {
        await file.abort();
        return outcome.kind === "not-found"
          ? context.fail(EXIT.client, `there is no client ${clientId}`)
          : context.fail(EXIT.failed, `client ${clientId} was not exported: ${outcome.reason}`);
      }
      await file.commit();
      const { versions, historyBytes, snapshotBytes } = outcome;
      await context.print(
        context.options.json
          ? JSON.stringify({ clientId, file: path, versions, historyBytes, snapshotBytes })
          : `Exported client ${clientId} to ${path}: ${versions} versions (${formatBytes(historyBytes)}), snapshot ${snapshotBytes > 0 ? formatBytes(snapshotBytes) : "none"}.`,
      );
      return EXIT.ok;
    } catch (error) {
      progress.end();
      await file.abort();
      throw error;
    }
  },
};
