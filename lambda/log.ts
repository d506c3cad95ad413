/**
 * Structured logs: one JSON object per line on stdout (CloudWatch and any log shipper parse
 * them as they are). A client id is the user's only credential, so it never appears in a log
 * line: `clientTag` gives a short, irreversible tag that still lets lines of one client be found.
 */
import { createHash } from "node:crypto";
import { parseUuid } from "./uuid.ts";

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

/**
 * A run of hex digits and hyphens, a hyphen also percent-encoded (`%2D`); or any other percent
 * escape, matched on its own so that its two hex digits (the `2F` of an encoded slash) never join
 * the run after it. The alternatives start with different characters, so matching never
 * backtracks: the scan is linear in the text's length.
 */
const RUN_OR_ESCAPE = /((?:[0-9a-f]|-|%2d)+)|%[0-9a-f]{2}/gi;
const SEPARATOR = /(-|%2d)/i;
const ID_HEX_DIGITS = 32;
const REDACTED = "<redacted>";

type Piece = { kind: "id"; hex: string } | { kind: "digits" | "separator"; text: string } | { kind: "redacted" };

/**
 * `text` with every client id in it replaced by the tag of its canonical form: error messages
 * may carry a client id (in a key, an object name, a URL) and must still be loggable. An id is
 * found in any case, hyphenated or not, its hyphens percent-encoded or not, and whatever is next
 * to it (`_`, other hex digits, a percent escape): word boundaries are no help there. Hex digits
 * that may hold an id at an unknown offset (more than 32 in a row, say) become `<redacted>`.
 * Version ids are replaced too; nothing needs them in a log line.
 */
export function scrubIds(text: string): string {
  return text.replace(RUN_OR_ESCAPE, (match, run: string | undefined) => (run === undefined ? match : scrubRun(run)));
}

/** One run of hex digits and separators, its ids replaced. */
function scrubRun(run: string): string {
  // Even indexes: the groups of hex digits (maybe empty); odd: the separators between them.
  const parts = run.split(SEPARATOR);
  let digits = 0;
  for (let k = 0; k < parts.length; k += 2) digits += (parts[k] ?? "").length;
  if (digits < ID_HEX_DIGITS) return run;
  return render(findSimple(findHyphenated(parts)));
}

/**
 * The hyphenated ids (8-4-4-4-12 digits): the first and last groups may be longer, with other
 * hex digits before or after the id; what follows an id's last 12 digits may start the next id.
 */
function findHyphenated(parts: readonly string[]): Piece[] {
  const group = (k: number) => parts[2 * k] ?? "";
  const groups = (parts.length + 1) / 2;
  const pieces: Piece[] = [];
  let k = 0;
  let current = group(0);
  while (k < groups) {
    const isId =
      k + 4 < groups && current.length >= 8 && group(k + 1).length === 4 && group(k + 2).length === 4 && group(k + 3).length === 4;
    if (isId && group(k + 4).length >= 12) {
      if (current.length > 8) pieces.push({ kind: "digits", text: current.slice(0, -8) });
      pieces.push({ kind: "id", hex: current.slice(-8) + group(k + 1) + group(k + 2) + group(k + 3) + group(k + 4).slice(0, 12) });
      k += 4;
      current = group(k).slice(12);
      continue;
    }
    if (current !== "") pieces.push({ kind: "digits", text: current });
    const separator = parts[2 * k + 1];
    if (separator !== undefined) pieces.push({ kind: "separator", text: separator });
    k += 1;
    current = group(k);
  }
  return pieces;
}

/**
 * What is left between the hyphenated ids: a group of exactly 32 digits is an id in the simple
 * form; a longer group, or a stretch of groups with 32 digits or more (an id hyphenated
 * elsewhere), may hold one and is redacted unless it has exactly 32 digits.
 */
function findSimple(pieces: readonly Piece[]): Piece[] {
  const found: Piece[] = [];
  let stretch: Piece[] = [];
  const flush = () => {
    const digits = stretch.reduce((sum, piece) => sum + (piece.kind === "digits" ? piece.text.length : 0), 0);
    if (digits === ID_HEX_DIGITS) {
      const hex = stretch.map((piece) => (piece.kind === "digits" ? piece.text : "")).join("");
      const [first, last] = [stretch[0], stretch.at(-1)];
      // Separators at either end belong to the text around the id.
      if (first?.kind === "separator") found.push(first);
      found.push({ kind: "id", hex });
      if (last?.kind === "separator" && stretch.length > 1) found.push(last);
    } else if (digits > ID_HEX_DIGITS) {
      found.push({ kind: "redacted" });
    } else {
      found.push(...stretch);
    }
    stretch = [];
  };
  for (const piece of pieces) {
    if (piece.kind === "id") {
      flush();
      found.push(piece);
    } else if (piece.kind === "digits" && piece.text.length >= ID_HEX_DIGITS) {
      flush();
      found.push(piece.text.length === ID_HEX_DIGITS ? { kind: "id", hex: piece.text } : { kind: "redacted" });
    } else {
      stretch.push(piece);
    }
  }
  flush();
  return found;
}

function render(pieces: readonly Piece[]): string {
  return pieces
    .map((piece) => {
      if (piece.kind === "redacted") return REDACTED;
      if (piece.kind !== "id") return piece.text;
      // 32 hex digits: the simple form, whose canonical form is the client id's.
      return `<${clientTag(parseUuid(piece.hex) ?? piece.hex)}>`;
    })
    .join("");
}
