import { randomUUID } from "node:crypto";

/** A UUID in canonical form: lowercase, hyphenated. Only `parseUuid` and `newUuid` make one. */
export type Uuid = string & { readonly __uuid: unique symbol };

/** The parent of a client's first version, and `latest_version_id` of a client without versions. */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000" as Uuid;

/** The max UUID (all 128 bits set, RFC 9562 section 5.10): like the nil UUID, a placeholder. */
export const MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff" as Uuid;

const HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SIMPLE = /^[0-9a-f]{32}$/i;

/**
 * Accepts the hyphenated form (any case) and the 32-hex-digit simple form, as the reference
 * server's UUID parser does, and returns the canonical form so that one id has one storage key.
 */
export function parseUuid(text: string): Uuid | undefined {
  if (HYPHENATED.test(text)) return text.toLowerCase() as Uuid;
  if (SIMPLE.test(text)) {
    const t = text.toLowerCase();
    return `${t.slice(0, 8)}-${t.slice(8, 12)}-${t.slice(12, 16)}-${t.slice(16, 20)}-${t.slice(20)}` as Uuid;
  }
  return undefined;
}

/** A client id, or why the text is not one (to follow its name in a message: "X-Client-Id is not a UUID ..."). */
export type ClientIdParse = { id: Uuid; fault?: undefined } | { id?: undefined; fault: string };

/**
 * A client id: a UUID as `parseUuid` reads it, but neither the nil nor the max UUID. Those two
 * are the first ids anyone would guess, and the nil UUID already means "no version" in the
 * protocol; a client that used one would share its history with everyone who did the same.
 * The fault never repeats the text: a malformed client id is often a mistyped one, a character
 * or two away from a user's credential.
 *
 * `lookup`: the id of a client to find, not one that enters the server: an operator may still
 * look up and remove a client that a version before this rule created under one of the two.
 */
export function parseClientId(text: string, options: { lookup?: boolean } = {}): ClientIdParse {
  const id = parseUuid(text);
  if (id === undefined) return { fault: `is not a UUID (${malformation(text)})` };
  if ((id === NIL_UUID || id === MAX_UUID) && !options.lookup) {
    return { fault: `is the ${id === NIL_UUID ? "nil" : "max"} UUID, which cannot be a client id` };
  }
  return { id };
}

const HYPHENS_AT = new Set([8, 13, 18, 23]);

/** What is wrong with text that is not a UUID, by length and position only. */
function malformation(text: string): string {
  if (text.length !== 36 && text.length !== 32) return `${text.length} characters, where a UUID has 36, or 32 without hyphens`;
  const hyphenated = text.length === 36;
  for (let i = 0; i < text.length; i++) {
    const hyphen = hyphenated && HYPHENS_AT.has(i);
    if (hyphen ? text[i] !== "-" : !/[0-9a-f]/i.test(text[i] ?? ""))
      return `character ${i + 1} is not ${hyphen ? "a hyphen" : "a hex digit"}`;
  }
  return "not of the form 8-4-4-4-12 hex digits";
}

export function newUuid(): Uuid {
  return randomUUID() as Uuid;
}

/** The 16 bytes of a UUID (the encryption's salt and associated data use them). */
export function uuidBytes(id: Uuid): Uint8Array {
  return Buffer.from(id.replaceAll("-", ""), "hex");
}

/** `value` if it is a UUID in canonical form; throws otherwise (a storage's keys are only ever canonical). */
export function canonicalUuid(value: string, what: string): Uuid {
  const id = parseUuid(value);
  // The value is not repeated: it may be a client id, which no message carries.
  if (id === undefined || id !== value) throw new TypeError(`${what} is not a canonical UUID (lowercase, hyphenated)`);
  return id;
}
