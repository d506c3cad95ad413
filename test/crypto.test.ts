import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Cryptor } from "../client/crypto.ts";

const VECTORS = new URL("./fixtures/vectors/", import.meta.url);
const CLIENT_ID = "0666d464-418a-4a08-ad53-6f15c78270cd";
const SECRET = "b4a4e6b7b811eda1dc1a2693ded";
const VERSION_ID = "b0517957-f912-4d49-8330-f612e73030c4";
const OTHER_VERSION_ID = "7a0f3d51-5c5e-4d43-9e0b-3cf1a9d4a2b7";

function vector(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, VECTORS)));
}

describe("Cryptor on TaskChampion's test vectors", () => {
  const cryptor = new Cryptor(CLIENT_ID, SECRET);

  it("decrypts test-good.data to the 7 bytes SUCCESS", () => {
    const plain = cryptor.unseal(VERSION_ID, vector("test-good.data"));
    expect(Buffer.from(plain)).toEqual(Buffer.from("SUCCESS", "utf8"));
    expect(plain.length).toBe(7);
  });

  it("accepts the version id in any form parseUuid accepts", () => {
    const simple = VERSION_ID.replaceAll("-", "").toUpperCase();
    expect(Buffer.from(cryptor.unseal(simple, vector("test-good.data"))).toString()).toBe("SUCCESS");
  });

  for (const name of ["app-id", "client-id", "secret", "version-id", "version"]) {
    it(`rejects test-bad-${name}.data`, () => {
      expect(() => cryptor.unseal(VERSION_ID, vector(`test-bad-${name}.data`))).toThrow();
    });
  }

  it("rejects the bad envelope version by its version byte", () => {
    expect(() => cryptor.unseal(VERSION_ID, vector("test-bad-version.data"))).toThrow(/envelope version/);
  });

  it("fails with the wrong secret or client id", () => {
    const good = vector("test-good.data");
    expect(() => new Cryptor(CLIENT_ID, `${SECRET}x`).unseal(VERSION_ID, good)).toThrow();
    expect(() => new Cryptor(OTHER_VERSION_ID, SECRET).unseal(VERSION_ID, good)).toThrow();
  });
});

describe("Cryptor seal/unseal", () => {
  const cryptor = new Cryptor(CLIENT_ID, SECRET);

  it("round-trips, empty and large plaintexts included", () => {
    for (const size of [0, 1, 7, 1000, 300_000]) {
      const plain = new Uint8Array(size);
      for (let i = 0; i < size; i++) plain[i] = (i * 31 + size) & 0xff;
      const sealed = cryptor.seal(VERSION_ID, plain);
      expect(sealed.length).toBe(1 + 12 + size + 16);
      expect(sealed[0]).toBe(1);
      expect(Buffer.from(cryptor.unseal(VERSION_ID, sealed)).equals(plain)).toBe(true);
    }
  });

  it("uses a fresh nonce every time", () => {
    const plain = new TextEncoder().encode("same plaintext");
    const a = cryptor.seal(VERSION_ID, plain);
    const b = cryptor.seal(VERSION_ID, plain);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("a second Cryptor for the same client and secret reads what the first sealed", () => {
    const sealed = cryptor.seal(VERSION_ID, new TextEncoder().encode("hello"));
    expect(Buffer.from(new Cryptor(CLIENT_ID, SECRET).unseal(VERSION_ID, sealed)).toString()).toBe("hello");
  });

  it("fails when any single byte is tampered with", () => {
    const sealed = cryptor.seal(VERSION_ID, new TextEncoder().encode("SUCCESS"));
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] = bad[i]! ^ 0x01;
      expect(() => cryptor.unseal(VERSION_ID, bad), `byte ${i}`).toThrow();
    }
  });

  it("fails when truncated or extended", () => {
    const sealed = cryptor.seal(VERSION_ID, new TextEncoder().encode("SUCCESS"));
    for (let len = 0; len < sealed.length; len++) {
      expect(() => cryptor.unseal(VERSION_ID, sealed.slice(0, len)), `length ${len}`).toThrow();
    }
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    expect(() => cryptor.unseal(VERSION_ID, longer)).toThrow();
  });

  it("fails with a wrong version id", () => {
    const sealed = cryptor.seal(VERSION_ID, new TextEncoder().encode("SUCCESS"));
    expect(() => cryptor.unseal(OTHER_VERSION_ID, sealed)).toThrow();
    expect(() => cryptor.unseal("00000000-0000-0000-0000-000000000000", sealed)).toThrow();
    expect(() => cryptor.unseal("not-a-uuid", sealed)).toThrow();
  });
});
