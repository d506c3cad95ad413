/**
 * The operators' command: `npm run admin -- <command> [options]` (README, "Operating"). A thin
 * edge over lambda/operations: it parses the command line, reaches the storage as the local
 * server does (or a deployed stack's, with --stack), prints human lines or stable JSON, shows
 * progress on a terminal, and turns every failure into one line on stderr and an exit code.
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import type { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { ConfigError, type Env } from "../lambda/config.ts";
import { StorageUnavailableError } from "../lambda/storage/errors.ts";
import type { Storage } from "../lambda/storage/types.ts";
import { parseClientId } from "../lambda/uuid.ts";
import { addClientCommand } from "./admin/add-client.ts";
import { backupCommand } from "./admin/backup.ts";
import {
  AdminFailure,
  type Command,
  type CommandContext,
  EXIT,
  type ExitCode,
  GLOBAL_OPTIONS,
  OPTIONS,
  type OptionName,
  type ParsedOptions,
} from "./admin/command.ts";
import { exportClientCommand } from "./admin/export-client.ts";
import { importClientCommand } from "./admin/import-client.ts";
import { importReferenceCommand } from "./admin/import-reference.ts";
import { listClientsCommand } from "./admin/list-clients.ts";
import { pruneCommand } from "./admin/prune.ts";
import { removeClientCommand } from "./admin/remove-client.ts";
import { showClientCommand } from "./admin/show-client.ts";
import { Target } from "./admin/target.ts";
import { verifyCommand } from "./admin/verify.ts";
import { askYesNo, printLine, progressLine } from "./admin/terminal.ts";

export const COMMANDS: readonly Command[] = [
  addClientCommand,
  listClientsCommand,
  showClientCommand,
  removeClientCommand,
  exportClientCommand,
  importClientCommand,
  importReferenceCommand,
  pruneCommand,
  backupCommand,
  verifyCommand,
];

/** Where the command reads and writes; the process's own by default. */
export interface AdminIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** Whether stdin is a terminal: questions are asked only then. */
  stdinIsTTY: boolean;
  /** Whether stderr is a terminal: progress is shown only then. */
  stderrIsTTY: boolean;
  env: Env;
  /** The CloudFormation client that `--stack` reads outputs with. */
  cloudFormation: (region: string | undefined) => Promise<CloudFormationClient>;
  now: () => Date;
}

function processIo(): AdminIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdinIsTTY: process.stdin.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    cloudFormation: sdkCloudFormation,
    now: () => new Date(),
  };
}

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: npm run admin -- <command> [arguments] [--stack NAME [--region R]] [--json]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.usage}\n  ${"".padEnd(width)}  ${c.summary}`),
    "",
    "The storage is the local server's (STORAGE, DATA_DIR, TABLE_NAME, BUCKET_NAME and the AWS SDK's",
    "variables); --stack NAME uses a deployed stack's table and bucket instead (--region: its region).",
    '--json prints stable JSON (README, "Operating"). Exit codes: 0 done, 1 failed, 2 bad usage or',
    "input, 3 no such client (or it exists already).",
  ].join("\n");
}

/** Runs one admin command line; resolves to the exit code. */
export async function main(argv: string[], io: Partial<AdminIo> = {}): Promise<number> {
  const { stdout, stderr, stdin, stdinIsTTY, stderrIsTTY, env, now, cloudFormation } = { ...processIo(), ...io };
  const fail = (code: ExitCode, message: string): ExitCode => {
    stderr.write(`error: ${message.split("\n")[0]}\n`);
    return code;
  };
  let parsed: { values: ParsedOptions & { help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return fail(EXIT.usage, `${error instanceof Error ? error.message : String(error)} (npm run admin -- --help)`);
  }
  const [name, ...positionals] = parsed.positionals;
  if (name === undefined || name === "help") {
    const help = parsed.values.help === true || name === "help";
    (help ? stdout : stderr).write(`${usage()}\n`);
    return help ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return fail(EXIT.usage, `unknown command ${JSON.stringify(name)} (npm run admin -- --help)`);
  if (parsed.values.help) {
    stdout.write(`usage: npm run admin -- ${command.name} ${command.usage}\n  ${command.summary}\n`);
    return EXIT.ok;
  }
  const allowed = new Set<OptionName>([...GLOBAL_OPTIONS, ...command.options]);
  const unknown = (Object.keys(parsed.values) as OptionName[]).find((option) => !allowed.has(option));
  if (unknown) return fail(EXIT.usage, `${command.name} takes no --${unknown}`);
  if (positionals.length !== command.args.length) {
    return fail(EXIT.usage, `usage: npm run admin -- ${command.name} ${command.usage}`);
  }
  const { stack, region } = parsed.values;
  const target = new Target({
    env,
    cloudFormation,
    notify: (line) => stderr.write(`${line}\n`),
    ...(stack !== undefined ? { stack } : {}),
    ...(region !== undefined ? { region } : {}),
  });
  let storage: Promise<Storage> | undefined;
  const context: CommandContext = {
    options: parsed.values,
    env,
    args: Object.fromEntries(command.args.map((arg, i) => [arg, positionals[i] ?? ""])),
    storage: () => {
      storage ??= target.openStorage();
      return storage;
    },
    serverUrl: () => target.serverUrl(),
    quotaBytes: () => target.quotaBytes(),
    print: (line) => printLine(stdout, line),
    progress: (label) => progressLine(stderr, stderrIsTTY, label),
    confirm: (question) => (stdinIsTTY ? askYesNo(stdin, stderr, question) : Promise.resolve(false)),
    interactive: stdinIsTTY,
    fail,
    clientId: (text, what, use) => {
      const { id, fault } = parseClientId(text, { lookup: use === "lookup" });
      if (id === undefined) fail(EXIT.usage, `${what} ${fault}`);
      return id;
    },
    now,
  };
  try {
    return await command.run(context);
  } catch (error) {
    return fail(...describeFailure(error));
  } finally {
    await target.close();
    // Closing is best effort: the command's outcome is already decided.
    await storage?.then((s) => s.close()).catch(() => undefined);
  }
}

/** The exit code and the one line of an error that ended a command. */
function describeFailure(error: unknown): [ExitCode, string] {
  if (error instanceof AdminFailure) return [error.code, error.message];
  if (error instanceof ConfigError) return [EXIT.usage, `invalid settings: ${error.problems.join("; ")}`];
  if (error instanceof StorageUnavailableError) return [EXIT.failed, `the storage is unavailable: ${error.message}`];
  if (error instanceof Error) return [EXIT.failed, error.message || error.name];
  return [EXIT.failed, String(error)];
}

/** The SDK's CloudFormation client, loaded only when a command uses --stack. */
async function sdkCloudFormation(region: string | undefined): Promise<CloudFormationClient> {
  const { CloudFormationClient } = await import("@aws-sdk/client-cloudformation");
  return new CloudFormationClient(region !== undefined ? { region } : {});
}

/**
 * `main` as the whole process, whichever entry runs it (`npm run admin`, the package's
 * `admin` command): the process-wide settings a command's output and writes need.
 */
export async function runAsProcess(argv: string[]): Promise<number> {
  // A reader that stops early (`| head`) ends the command quietly, as for any Unix filter.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  });
  const code = await main(argv);
  process.exitCode = code;
  // A connection left open (an SDK socket, a database) must not keep a finished command alive.
  setTimeout(() => process.exit(code), 2_000).unref();
  return code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runAsProcess(process.argv.slice(2));
