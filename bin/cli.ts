#!/usr/bin/env node
/**
 * The package's command: `taskchampion-sync-server-aws <serve | smoke | admin> [arguments]`.
 * Compiled JavaScript that node runs itself, with no wrapper process (npm, a shell, tsx)
 * between a service manager and the server, so that SIGTERM reaches the server.
 */
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { SERVER_NAME, SERVER_VERSION } from "../lambda/version.ts";

/** What every command module exports: runs with its arguments, resolves with the exit code. */
type Main = (argv: string[]) => Promise<number>;

/** A command this build of the package cannot run: told to the user, exit code 1. */
class CommandUnavailable extends Error {}

/**
 * bin/admin.ts (the operators' tools) is loaded by its path, not a static import, so that a
 * build without it still has the other commands and says why admin is missing. Its extension
 * is this file's: .ts from source (tsx), .js compiled.
 */
async function loadAdmin(): Promise<Main> {
  const url = new URL(`./admin${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  if (!existsSync(url))
    throw new CommandUnavailable(`admin: this build of ${SERVER_NAME} has no admin command (${fileURLToPath(url)} is missing)`);
  const module = (await import(url.href)) as { runAsProcess?: unknown };
  if (typeof module.runAsProcess !== "function") throw new CommandUnavailable(`admin: ${fileURLToPath(url)} exports no runAsProcess(argv)`);
  return module.runAsProcess as Main;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Main> }> = {
  serve: {
    summary: "run the local server (settings are environment variables: STORAGE, DATA_DIR, LISTEN, CLIENT_ID, ...)",
    load: async () => (await import("./serve.ts")).main,
  },
  smoke: {
    summary: "check a server against the protocol: smoke --url <server URL> [--client-id <dedicated id>]",
    load: async () => (await import("./smoke.ts")).main,
  },
  admin: { summary: "the operators' tools: admin --help", load: loadAdmin },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    `usage: ${SERVER_NAME} <command> [arguments]`,
    "",
    ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`),
    "",
    `${SERVER_NAME} --version | --help`,
  ].join("\n");
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (name === "--version") {
    process.stdout.write(`${SERVER_VERSION}\n`);
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`${name === undefined ? "" : `unknown command: ${name}\n`}${usage()}\n`);
    return 2;
  }
  try {
    return await (await command.load())(rest);
  } catch (error) {
    if (error instanceof CommandUnavailable) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exit(await run(process.argv.slice(2)));
