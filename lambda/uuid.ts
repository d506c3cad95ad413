import { randomUUID } from "node:crypto";

/** A UUID in canonical form: lowercase, hyphenated. Only `parseUuid` and `newUuid` make one. */
export type Uuid = string & { readonly __uuid: unique symbol };

/** The parent of a client's first version, and `latest_version_id` of a client without versions. */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000" as Uuid;

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
  if (id === undefined || id !== value) throw new TypeError(`${what} is not a canonical UUID: ${JSON.stringify(value)}`);
  return id;
}
