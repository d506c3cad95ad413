/**
 * TaskChampion's client-side encryption, as the Rust `taskchampion` crate does it, with nothing
 * but `node:crypto`. Confirmed byte-for-byte on TaskChampion's test vectors
 * (test/fixtures/vectors):
 *
 *   key     = PBKDF2-HMAC-SHA256(secret bytes, salt = 16 bytes of the client id, 600000, 32 bytes)
 *   payload = 0x01 (envelope version) ‖ 12-byte random nonce ‖ ChaCha20-Poly1305 ciphertext ‖ 16-byte tag
 *   AAD     = 0x01 (app id: "task") ‖ 16 bytes of the version id
 *
 * The version id is the parent version's id for history segments (AddVersion / GetChildVersion)
 * and the snapshot's own version id for snapshots.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from "node:crypto";
import { parseUuid, uuidBytes } from "../lambda/uuid.ts";

export const PBKDF2_ITERATIONS = 600_000;
export const ENVELOPE_VERSION = 0x01;
export const TASK_APP_ID = 0x01;
const KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const HEADER_LEN = 1 + NONCE_LEN;

/** Derived keys by (client id, secret): deriving one takes 600000 rounds of HMAC. */
const keyCache = new Map<string, Buffer>();

function toBytes(secret: string | Uint8Array): Buffer {
  return typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
}

function versionBytes(versionId: string): Uint8Array {
  const id = parseUuid(versionId);
  if (!id) throw new Error(`not a UUID: ${JSON.stringify(versionId)}`);
  return uuidBytes(id);
}

function aad(versionId: string): Buffer {
  return Buffer.concat([Buffer.from([TASK_APP_ID]), versionBytes(versionId)]);
}

export class Cryptor {
  readonly clientId: string;
  readonly #key: Buffer;

  /** `secret` is the encryption secret; a string is taken as its UTF-8 bytes. */
  constructor(clientId: string, secret: string | Uint8Array) {
    const id = parseUuid(clientId);
    if (!id) throw new Error(`client id is not a UUID: ${JSON.stringify(clientId)}`);
    this.clientId = id;
    const secretBytes = toBytes(secret);
    const cacheKey = `${id}:${secretBytes.toString("hex")}`;
    let key = keyCache.get(cacheKey);
    if (!key) {
      key = pbkdf2Sync(secretBytes, uuidBytes(id), PBKDF2_ITERATIONS, KEY_LEN, "sha256");
      keyCache.set(cacheKey, key);
    }
    this.#key = key;
  }

  /** Encrypts `plaintext` bound to `versionId`, with a fresh random nonce. */
  seal(versionId: string, plaintext: Uint8Array): Uint8Array {
    const ad = aad(versionId);
    const nonce = randomBytes(NONCE_LEN);
    const cipher = createCipheriv("chacha20-poly1305", this.#key, nonce, { authTagLength: TAG_LEN });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return new Uint8Array(Buffer.concat([Buffer.from([ENVELOPE_VERSION]), nonce, ciphertext, tag]));
  }

  /** Decrypts a payload made by `seal` for the same version id; throws on any failure. */
  unseal(versionId: string, payload: Uint8Array): Uint8Array {
    const ad = aad(versionId);
    if (payload.length < HEADER_LEN + TAG_LEN) {
      throw new Error(`sealed payload too short: ${payload.length} bytes`);
    }
    if (payload[0] !== ENVELOPE_VERSION) {
      throw new Error(`unknown envelope version ${payload[0]}`);
    }
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const nonce = bytes.subarray(1, HEADER_LEN);
    const ciphertext = bytes.subarray(HEADER_LEN, bytes.length - TAG_LEN);
    const tag = bytes.subarray(bytes.length - TAG_LEN);
    const decipher = createDecipheriv("chacha20-poly1305", this.#key, nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(ad, { plaintextLength: ciphertext.length });
    decipher.setAuthTag(tag);
    try {
      return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
    } catch (err) {
      throw new Error(`decryption failed (wrong key, version id or tampered payload): ${(err as Error).message}`);
    }
  }
}
