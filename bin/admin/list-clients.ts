/** `list-clients [--json]`: one line per client, printed as the storage pages them in. */
import { listClients } from "../../lambda/operations/list-clients.ts";
import { type Command, EXIT } from "./command.ts";
import { clientJson, clientTableHeader, clientTableRow } from "./format.ts";

export const listClientsCommand: Command = {
  name: "list-clients",
  summary: "list every client: versions, bytes stored, snapshot, last activity",
  usage: "[--json]",
  options: [],
  args: [],
  async run(context) {
    const storage = await context.storage();
    const now = context.now();
    if (!context.options.json) await context.print(clientTableHeader());
    for await (const client of listClients(storage)) {
      await context.print(context.options.json ? JSON.stringify(clientJson(client)) : clientTableRow(client, now));
    }
    return EXIT.ok;
  },
};
