/** `show-client UUID [--json]`: one client's counts, bytes against the quota, snapshot and the ends of its stored chain. */
import { showClient } from "../../lambda/operations/show-client.ts";
import { type Command, EXIT } from "./command.ts";
import { clientDetailLines, clientDetailsJson } from "./format.ts";

export const showClientCommand: Command = {
  name: "show-client",
  summary: "show one client, with its chain's first and latest versions",
  usage: "UUID [--json]",
  options: [],
  args: ["UUID"],
  async run(context) {
    const clientId = context.clientId(context.args.UUID ?? "", "the client id", "lookup");
    if (!clientId) return EXIT.usage;
    const details = await showClient(await context.storage(), clientId);
    if (!details) return context.fail(EXIT.client, `there is no client ${clientId}`);
    const quotaBytes = await context.quotaBytes();
    if (context.options.json) await context.print(JSON.stringify(clientDetailsJson(details, quotaBytes)));
    else for (const line of clientDetailLines(details, quotaBytes, context.now())) await context.print(line);
    return EXIT.ok;
  },
};
