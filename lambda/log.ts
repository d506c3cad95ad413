/**
 * Structured logs: one JSON object per line on stdout (CloudWatch and any log shipper parse
 * them as they are). A client id is the user's only credential, so it never appears in a log
 * line: `clientTag` gives a short, irreversible tag that still lets lines of one client be found.
 */
import { createHash } from "node:crypto";

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function createLogger(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  base: LogFields = {},
): Logger {
  const emit = (level: string, msg: string, fields: LogFields | undefined) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }));
  return {
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

/** The first 12 hex digits of SHA-256 of the client id. */
export function clientTag(clientId: string): string {
  return createHash("sha256").update(clientId).digest("hex").slice(0, 12);
}
