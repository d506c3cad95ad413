/**
 * What every admin command is: its name, its usage, the options and arguments it takes, and a
 * `run` that does its work through the context and returns the exit code.
 */
import type { Env } from "../../lambda/config.ts";
import type { Storage } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";

/**
 * The exit codes (README, "Operating"): 0 done; 1 the operation failed (storage unreachable,
 * an error while working, a removal not confirmed, some clients not imported); 2 bad usage or
 * input (unknown command or option, malformed UUID or number, invalid settings, an unreadable
 * or corrupt file); 3 the client is not as the command needs it (unknown, or already there).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, client: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The options any command may take; each command names those it accepts. */
export const OPTIONS = {
  stack: { type: "string" },
  region: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "client-id": { type: "string", multiple: true },
  url: { type: "string" },
  yes: { type: "boolean" },
  out: { type: "string" },
  as: { type: "string" },
  replace: { type: "boolean" },
  sqlite: { type: "string" },
  postgres: { type: "string" },
  days: { type: "string" },
  force: { type: "boolean" },
  repair: { type: "boolean" },
} as const;

export type OptionName = keyof typeof OPTIONS;

/** Every command takes these: where the storage is, and the output's form. */
export const GLOBAL_OPTIONS: readonly OptionName[] = ["stack", "region", "json", "help"];

export interface ParsedOptions {
  stack?: string;
  region?: string;
  json?: boolean;
  "client-id"?: string[];
  url?: string;
  yes?: boolean;
  out?: string;
  as?: string;
  replace?: boolean;
  sqlite?: string;
  postgres?: string;
  days?: string;
  force?: boolean;
  repair?: boolean;
}

export interface CommandContext {
  options: ParsedOptions;
  /** The settings' environment (HISTORY_DAYS, LISTEN, ...). */
  env: Env;
  /** The command's arguments, by the names in `Command.args`. */
  args: Record<string, string>;
  /** Opens the storage on first use (the main closes it). */
  storage(): Promise<Storage>;
  /** The server's URL: the stack's output, or the local server's LISTEN address. */
  serverUrl(): Promise<string>;
  /** The bytes a client may store: the stack's output or MAX_CLIENT_BYTES; 0 no limit, null unknown (a stack from before the output). */
  quotaBytes(): Promise<number | null>;
  /** Writes one line to stdout, waiting while the stream is full. */
  print(line: string): Promise<void>;
  /** Progress of long work on stderr, shown only when stderr is a terminal. */
  progress(label: string): ProgressLine;
  /** Asks a yes/no question on the terminal; false when stdin is not one. */
  confirm(question: string): Promise<boolean>;
  /** Whether stdin is a terminal (a question can be asked). */
  interactive: boolean;
  /** Writes the one line of an error to stderr and returns the code to exit with. */
  fail(code: ExitCode, message: string): ExitCode;
  /**
   * A client id argument or option, or undefined after reporting what is wrong with it (never
   * repeating it). `new`: an id that enters the storage (neither the nil nor the max UUID);
   * `lookup`: the id of a client that may be there already (parseClientId).
   */
  clientId(text: string, what: string, use: "new" | "lookup"): Uuid | undefined;
  now(): Date;
}

export interface ProgressLine {
  update(done: number): void;
  /** Ends the line (a no-op when nothing was shown). */
  end(): void;
}

export interface Command {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  /** The usage line's arguments and options, after the command's name. */
  usage: string;
  options: readonly OptionName[];
  /** Names of the positional arguments, all required. */
  args: readonly string[];
  run(context: CommandContext): Promise<ExitCode>;
}

/** A command that cannot go on, with the code to exit with (the edge's one way to stop from deep inside). */
export class AdminFailure extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "AdminFailure";
  }
}
