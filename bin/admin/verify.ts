/**
 * `verify [--repair]`: checks every client as a restore left it (README, "Restoring a
 * deployment"): its chain whole from its start to its latest, no version after latest, its
 * snapshot on the chain with its data, every segment's data. With --repair, repairs what a
 * repair may (only by following or shortening the stored chain). Exit 0 when every client is
 * whole (or was repaired), 1 when something is left.
 */
import { verifyAllClients } from "../../lambda/operations/verify.ts";
import type { ClientVerification } from "../../lambda/storage/types.ts";
import { type Command, EXIT } from "./command.ts";

export const verifyCommand: Command = {
  name: "verify",
  summary: "check every client's chain, snapshot and payloads after a restore; --repair fixes what it may",
  usage: "[--repair]",
  options: ["repair"],
  args: [],
  async run(context) {
    const repair = context.options.repair === true;
    const storage = await context.storage();
    const progress = context.progress("verifying clients");
    const problems: ClientVerification[] = [];
    let done = 0;
    const tally = await verifyAllClients(storage, {
      repair,
      onClient: async (result) => {
        progress.update(++done);
        if (result.status === "ok") return;
        problems.push(result);
        if (!context.options.json) for (const line of clientLines(result)) await context.print(line);
      },
    });
    progress.end();
    const left = tally.found + tally.unrepaired;
    if (context.options.json) {
      await context.print(JSON.stringify({ repair, ...tally, problems: problems.map(clientJson) }));
    } else {
      await context.print(
        `Verified ${tally.clients} clients: ${tally.ok} whole` +
          (tally.repaired > 0 ? `, ${tally.repaired} repaired` : "") +
          (tally.found > 0 ? `, ${tally.found} to repair (verify --repair)` : "") +
          (tally.unrepaired > 0 ? `, ${tally.unrepaired} not repaired (see above)` : "") +
          ".",
      );
    }
    return left > 0 ? EXIT.failed : EXIT.ok;
  },
};

function clientLines(result: ClientVerification): string[] {
  const lines = [`${result.clientId}: ${result.status}`];
  for (const finding of result.findings) lines.push(`  found ${finding.problem}: ${finding.detail}`);
  for (const repair of result.repairs) lines.push(`  repaired: ${repair}`);
  if (result.latestAfter !== result.latestBefore) lines.push(`  latest: ${result.latestBefore} -> ${result.latestAfter}`);
  return lines;
}

/** The stable `--json` form of one client's result. */
function clientJson(result: ClientVerification): Record<string, unknown> {
  return {
    clientId: result.clientId,
    status: result.status,
    findings: result.findings.map((finding) => ({ problem: finding.problem, detail: finding.detail })),
    repairs: result.repairs,
    latestBefore: result.latestBefore,
    latestAfter: result.latestAfter,
    droppedVersions: result.droppedVersions,
    snapshotDropped: result.snapshotDropped,
  };
}
