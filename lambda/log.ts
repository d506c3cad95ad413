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

export function createLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`), base: LogFields = {}): Logger {
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

const UUID_ANYWHERE = /\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b/gi;

/**
 * `text` with every UUID-looking string (any case, with or without hyphens) replaced by the
 * tag of its canonical form: error messages may carry a client id (in a key, an object name)
 * and must still be loggable. Version ids are replaced too; nothing needs them in a log line.
 */
export function scrubIds(text: string): string {
  return text.replace(UUID_ANYWHERE, (id) => {
    const hex = id.replaceAll("-", "").toLowerCase();
    const canonical = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    return `<${clientTag(canonical)}>`;
  });
}
