/** `list-clients [--json]`: one line per client, printed as the storage pages them in. */
import { listClients } from "../../lambda/operations/list-clients.ts";
import { type Command, EXIT } from "./command.ts";
import { clientJson, clientTableHeader, clientTableRow } from "./format.ts";

export const listClientsCommand: Command = {
  name: "list-clients",
  summary: "list every client: versions, bytes stored and share of the quota, snapshot, last activity",
  usage: "[--json]",
  options: [],
  args: [],
  async run(context) {
    const storage = await context.storage();
    const quotaBytes = await context.quotaBytes();
    const now = context.now();
    // The header only once the storage answered: a failure prints nothing on stdout.
    let header = !context.options.json;
    for await (const client of listClients(storage)) {
      if (header) await context.print(clientTableHeader());
      header = false;
      await context.print(context.options.json ? JSON.stringify(clientJson(client, quotaBytes)) : clientTableRow(client, quotaBytes, now));
    }
    if (header) await context.print(clientTableHeader());
    return EXIT.ok;
  },
};
