/** `add-client [--client-id UUID] [--url URL]`: registers a client and prints what its user pastes into Taskwarrior. */
import { addClient } from "../../lambda/operations/add-client.ts";
import { newUuid } from "../../lambda/uuid.ts";
import { type Command, EXIT } from "./command.ts";
import { newEncryptionSecret, taskConfigLines } from "../task-config.ts";

export const addClientCommand: Command = {
  name: "add-client",
  summary: "register a client (a user) and print the Taskwarrior settings for it",
  usage: "[--client-id UUID] [--url URL]",
  options: ["client-id", "url"],
  args: [],
  async run(context) {
    const given = context.options["client-id"];
    if (given && given.length > 1) return context.fail(EXIT.usage, "add-client takes one --client-id");
    const clientId = given?.[0] === undefined ? newUuid() : context.clientId(given[0], "--client-id", "new");
    if (!clientId) return EXIT.usage;
    const givenUrl = context.options.url;
    if (givenUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(givenUrl))
      return context.fail(EXIT.usage, `--url ${JSON.stringify(givenUrl)} is not an http(s) URL`);
    const url = givenUrl ?? (await context.serverUrl());
    const outcome = await addClient(await context.storage(), clientId);
    if (outcome.kind === "exists") return context.fail(EXIT.client, `client ${clientId} exists already`);
    const secret = newEncryptionSecret();
    if (context.options.json) {
      await context.print(JSON.stringify({ clientId, serverUrl: url, encryptionSecret: secret }));
      return EXIT.ok;
    }
    await context.print(`Added client ${clientId}.`);
    await context.print("On each of this user's replicas (the same id and secret on all of them; keep both secret):");
    for (const line of taskConfigLines(url, clientId, secret)) await context.print(`  ${line}`);
    return EXIT.ok;
  },
};
