/**
 * `prune [--days N] [--client-id UUID]`: removes the versions older than N days (HISTORY_DAYS by
 * default) that precede each client's snapshot (README, "History retention").
 */
import type { Uuid } from "../../lambda/uuid.ts";
import { ConfigReader, SETTINGS } from "../../lambda/config.ts";
import { pruneAllClients, pruneClient, type PruneResult } from "../../lambda/operations/prune.ts";
import { type Command, type CommandContext, EXIT } from "./command.ts";
import { formatBytes } from "./format.ts";

export const pruneCommand: Command = {
  name: "prune",
  summary: "remove versions older than HISTORY_DAYS that precede the snapshot (all clients, or one)",
  usage: "[--days N] [--client-id UUID]",
  options: ["days", "client-id"],
  args: [],
  async run(context) {
    const days = historyDays(context);
    if (days === undefined) return EXIT.usage;
    const given = context.options["client-id"];
    if (given && given.length > 1) return context.fail(EXIT.usage, "prune takes one --client-id (or none for every client)");
    let clientId: Uuid | undefined;
    if (given?.[0] !== undefined) {
      clientId = context.clientId(given[0], "--client-id", "lookup");
      if (!clientId) return EXIT.usage;
    }
    const storage = await context.storage();
    const now = context.now();
    if (clientId !== undefined) {
      const result = await pruneClient(storage, clientId, { historyDays: days, now });
      if (result.status === "unknown-client") return context.fail(EXIT.client, `there is no client ${clientId}`);
      await context.print(
        context.options.json
          ? JSON.stringify({
              clientId,
              historyDays: days,
              removedVersions: result.removedVersions,
              removedBytes: result.removedBytes,
              status: result.status,
            })
          : `${clientId}: ${describe(result)}`,
      );
      return result.status === "complete" ? EXIT.ok : EXIT.failed;
    }
    const total = await pruneAllClients(storage, {
      historyDays: days,
      now,
      onClient: async (clientId, result) => {
        if (!context.options.json && (result.removedVersions > 0 || result.status !== "complete"))
          await context.print(`${clientId}: ${describe(result)}`);
      },
    });
    for (const { clientId, error } of total.failures) {
      context.fail(EXIT.failed, `pruning client ${clientId} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const { failures, ...counts } = total;
    await context.print(
      context.options.json
        ? JSON.stringify({ historyDays: days, ...counts, failed: failures.length })
        : `Pruned ${counts.prunedClients} of ${counts.clients} clients with a snapshot: ${counts.removedVersions} versions, ${formatBytes(counts.removedBytes)}` +
            `${days === 0 ? " (HISTORY_DAYS=0 keeps every version)" : ""}${counts.contended > 0 ? `; ${counts.contended} left for another run (busy)` : ""}.`,
    );
    return failures.length > 0 || counts.contended > 0 ? EXIT.failed : EXIT.ok;
  },
};

function historyDays(context: CommandContext): number | undefined {
  const raw = context.options.days;
  if (raw === undefined) {
    const reader = new ConfigReader(context.env);
    const days = reader.get(SETTINGS.historyDays);
    reader.check();
    return days;
  }
  const days = SETTINGS.historyDays.parse(raw);
  if (days === undefined) context.fail(EXIT.usage, `--days ${JSON.stringify(raw)}: expected ${SETTINGS.historyDays.accepted}`);
  return days;
}

function describe(result: PruneResult): string {
  const removed = `removed ${result.removedVersions} versions (${formatBytes(result.removedBytes)})`;
  switch (result.status) {
    case "complete":
      return removed;
    case "stopped":
      return `${removed}, stopped before the end`;
    case "contended":
      return `${removed}, then left for another run: other removals kept running`;
    case "unknown-client":
      return "no such client";
  }
}
