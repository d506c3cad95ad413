/**
 * The package declares better-sqlite3 an optional dependency: it is native, compiled when it
 * is installed, and a CDK app that only synthesizes the construct should not have to build it.
 * When the SQLite storage cannot load it (absent, its install script not run, or built for
 * another Node.js), this tells the user what to do instead of a stack trace.
 */

/** Whether `error` is better-sqlite3 failing to load, as opposed to SQLite itself failing. */
export function isSqliteUnavailable(error: unknown): boolean {
  if (!(error instanceof Error) || !/better[-_]sqlite3/.test(error.message)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  // Not installed; built for another Node.js; installed without its build (the `bindings` package's message).
  return code === "ERR_MODULE_NOT_FOUND" || code === "ERR_DLOPEN_FAILED" || error.message.startsWith("Could not locate the bindings file");
}

export function sqliteUnavailableMessage(error: Error): string {
  return [
    "The SQLite storage (STORAGE=sqlite, the default) needs better-sqlite3, which could not be loaded:",
    `  ${error.message.split("\n")[0]}`,
    "It is an optional, native dependency of taskchampion-sync-server-aws, compiled when installed. Either:",
    "  - install it where this package is installed, letting its install script run:",
    "      npm install better-sqlite3      (if npm holds back install scripts: npm install-scripts approve better-sqlite3)",
    "  - or serve another storage: STORAGE=memory (lost on exit) or STORAGE=dynamodb (see the README).",
  ].join("\n");
}
