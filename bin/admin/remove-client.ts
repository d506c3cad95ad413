/** `remove-client UUID [--yes]`: deletes a client and all its data, after confirmation on a terminal. */
import { removeClient } from "../../lambda/operations/remove-client.ts";
import { showClient } from "../../lambda/operations/show-client.ts";
import { type Command, EXIT } from "./command.ts";
import { formatBytes } from "./format.ts";

export const removeClientCommand: Command = {
  name: "remove-client",
  summary: "delete a client and everything stored for it (asks first unless --yes)",
  usage: "UUID [--yes]",
  options: ["yes"],
  args: ["UUID"],
  async run(context) {
    const clientId = context.clientId(context.args.UUID ?? "", "the client id", "lookup");
    if (!clientId) return EXIT.usage;
    const storage = await context.storage();
    if (!context.options.yes) {
      if (!context.interactive) return context.fail(EXIT.usage, "remove-client asks before it deletes; without a terminal, pass --yes");
      // Only a client the protocol still sees is described; a half-removed one is finished without details.
      const details = await showClient(storage, clientId);
      const what = details ? `${details.versions} versions, ${formatBytes(details.storedBytes)}` : "what is left of it";
      if (!(await context.confirm(`Remove client ${clientId} and all its data (${what})? This cannot be undone.`))) {
        return context.fail(EXIT.failed, "not removed");
      }
    }
    const progress = context.progress("removing (items and objects)");
    const outcome = await removeClient(storage, clientId, (done) => progress.update(done));
    progress.end();
    if (outcome.kind === "not-found") return context.fail(EXIT.client, `there is no client ${clientId}`);
    await context.print(context.options.json ? JSON.stringify({ clientId, removed: true }) : `Removed client ${clientId}.`);
    return EXIT.ok;
  },
};
