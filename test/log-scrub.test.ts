/**
 * scrubIds: a client id is the user's only credential, and error messages that reach a log line
 * may carry one in any form a key, a URL or a message gives it. Each case is how an id could be
 * written next to other text; none of its 32 hex digits may survive, in any case or encoding.
 */
import { describe, expect, it } from "vitest";
import { clientTag, scrubIds } from "../lambda/log.ts";
import { newUuid } from "../lambda/uuid.ts";

/** Whether the output still holds the id's hex digits in a row, once every non-hex character and %2D is dropped. */
function leaks(output: string, id: string): boolean {
  const hex = id.replaceAll("-", "");
  const digits = output
    .toLowerCase()
    .replace(/%2d/g, "")
    .replace(/[^0-9a-f]/g, "");
  return digits.includes(hex);
}

const id = newUuid();
const simple = id.replaceAll("-", "");
const tag = `<${clientTag(id)}>`;

describe("scrubIds", () => {
  const cases: [string, string][] = [
    ["a plain id", `client ${id} failed`],
    ["an id in a key", `NoSuchKey: clients/${id}/snapshot`],
    ["upper case", `client ${id.toUpperCase()}`],
    ["the simple form", `client ${simple}.`],
    ["the simple form, upper case", `client ${simple.toUpperCase()}.`],
    ["between underscores", `item_${id}_x`],
    ["the simple form between underscores", `CLIENT_${simple}_SNAPSHOT`],
    ["a key percent-encoded around it (%2F)", `GET /bucket/clients%2F${id}%2Fsnapshot`],
    ["lower-case percent escapes", `clients%2f${id}%2fsnapshot`],
    ["hyphens percent-encoded (%2D)", `key=clients%2F${id.replaceAll("-", "%2D")}%2Fsnapshot`],
    ["hyphens percent-encoded in lower case", `key=${id.toUpperCase().replaceAll("-", "%2d")}`],
    ["hex digits before it", `nonce abc${id}`],
    ["hex digits after it", `${id}deadbeef`],
    ["hex digits on both sides", `0f${id}0f`],
    ["the simple form inside a longer hex run", `sha 0${simple}ff`],
    ["after an escape that ends in hex digits (%3A)", `x%3A${simple}`],
    ["two ids in a row", `${id}${id}`],
    ["in JSON", JSON.stringify({ key: `clients/${id}/v`, id: simple })],
  ];

  it.each(cases)("removes %s", (_what, text) => {
    const output = scrubIds(text);
    expect(leaks(output, id), output).toBe(false);
  });

  it("replaces an id whose digits are certain by its client tag, so that its log lines can still be found", () => {
    for (const text of [
      `clients/${id}/snapshot`,
      id.toUpperCase(),
      simple,
      `item_${id}_x`,
      `clients%2F${id.replaceAll("-", "%2D")}%2Fsnapshot`,
      `abc${id}def`,
      `_${simple.toUpperCase()}_`,
    ]) {
      expect(scrubIds(text), text).toContain(tag);
    }
    expect(scrubIds(`clients%2F${id}%2Fsnapshot`)).toBe(`clients%2F${tag}%2Fsnapshot`);
    expect(scrubIds(`item_${id}_x`)).toBe(`item_${tag}_x`);
  });

  it("leaves text without an id as it is: dates, short hex, escapes, hashes shorter than an id", () => {
    for (const text of [
      "2025-01-31T12:00:00.000Z",
      "the request failed with 503 after 3 attempts",
      "path%2Fto%2Dfile",
      "etag 0123456789abcdef0123456789abcde", // 31 hex digits
      "a-b-c-d-e",
      "",
    ]) {
      expect(scrubIds(text)).toBe(text);
    }
  });

  it("takes time linear in the text's length, whatever it holds", () => {
    const texts = [
      "a".repeat(500_000),
      "12345678-1234-".repeat(40_000),
      "0-".repeat(250_000),
      "%2D".repeat(170_000),
      "0123456%2D".repeat(50_000),
      `${"f".repeat(31)}_`.repeat(15_000),
      `%2F${"9".repeat(32)}`.repeat(15_000),
    ];
    const started = performance.now();
    for (const text of texts) scrubIds(text);
    // Some 3.5 MB in all: a scan quadratic in a run's length would take minutes.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
