/**
 * The export file: what the writer writes is what the reader reads back, and every kind of
 * damage (truncation, an altered byte, a gap, a fork, a repeat, a snapshot off the chain,
 * wrong counts, malformed fields) is found, with its line, before the last record is handed out.
 */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { EXPORT_FORMAT, type ExportHeader, type ExportVersionLine, ExportWriter, toBase64 } from "../../lambda/operations/export-format.ts";
import { checkExport, ExportFileError, type ExportRecord, readExport } from "../../lambda/operations/export-reader.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";

interface Sample {
  ids: Uuid[];
  segments: Uint8Array[];
  snapshot: Uint8Array;
  text: string;
}

const bytes = (size: number, seed: number) => Uint8Array.from({ length: size }, (_, i) => (i * 7 + seed) % 256);

/** An export of `count` versions (the snapshot at the one before last) through ExportWriter. */
async function sample(count = 5): Promise<Sample> {
  const ids = Array.from({ length: count }, () => newUuid());
  const segments = ids.map((_, i) => bytes(10 + i, i));
  const snapshot = bytes(33, 99);
  let text = "";
  const writer = new ExportWriter(async (chunk) => {
    text += chunk;
  });
  await writer.line(header(ids, segments, snapshot));
  await writer.line({ type: "snapshot", versionId: ids[count - 2]!, data: toBase64(snapshot) });
  for (const [i, versionId] of ids.entries()) await writer.line(versionLine(versionId, i === 0 ? NIL_UUID : ids[i - 1]!, segments[i]!, i));
  await writer.finish();
  return { ids, segments, snapshot, text };
}

function header(ids: Uuid[], segments: Uint8Array[], snapshot: Uint8Array): ExportHeader {
  return {
    type: "header",
    format: EXPORT_FORMAT,
    formatVersion: 1,
    clientId: newUuid(),
    exportedAt: "2026-03-01T10:00:00.000Z",
    latestVersionId: ids.at(-1)!,
    versions: ids.length,
    historyBytes: segments.reduce((sum, s) => sum + s.byteLength, 0),
    snapshot: { versionId: ids.at(-2)!, timestamp: "2026-02-01T00:00:00.000Z", versionsSince: 1, bytes: snapshot.byteLength },
    snapshotDeclined: { timestamp: "2026-02-20T00:00:00.000Z", versionsSince: 0 },
  };
}

function versionLine(versionId: Uuid, parentVersionId: Uuid, segment: Uint8Array, day: number): ExportVersionLine {
  return {
    type: "version",
    versionId,
    parentVersionId,
    addedAt: new Date(Date.UTC(2026, 0, 1 + day)).toISOString(),
    historySegment: toBase64(segment),
  };
}

/** The text as a stream of small chunks, so lines are split across them. */
async function* chunks(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const all = Buffer.from(text, "utf8");
  for (let i = 0; i < all.byteLength; i += size) yield all.subarray(i, i + size);
}

async function readAll(text: string): Promise<ExportRecord[]> {
  const records: ExportRecord[] = [];
  for await (const record of readExport(chunks(text))) records.push(record);
  return records;
}

/** Rewrites the lines (not the trailer) and writes a trailer that matches them: damage only the structure can find. */
function resealed(text: string, edit: (lines: Record<string, unknown>[]) => Record<string, unknown>[]): string {
  const lines = text
    .trimEnd()
    .split("\n")
    .slice(0, -1)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const body = edit(lines)
    .map((line) => `${JSON.stringify(line)}\n`)
    .join("");
  const trailer = { type: "trailer", lines: body.split("\n").length - 1, sha256: createHash("sha256").update(body).digest("hex") };
  return `${body}${JSON.stringify(trailer)}\n`;
}

async function refusal(text: string): Promise<ExportFileError> {
  const error = await checkExport(chunks(text)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExportFileError);
  // Reading it decoded fails the same way, before the last record is handed out.
  const records: ExportRecord[] = [];
  await expect(
    (async () => {
      for await (const record of readExport(chunks(text))) records.push(record);
    })(),
  ).rejects.toBeInstanceOf(ExportFileError);
  return error as ExportFileError;
}

describe("the export file", () => {
  test("reads back what was written: header, snapshot, every version byte for byte, in chain order", async () => {
    const { ids, segments, snapshot, text } = await sample();
    const records = await readAll(text);
    expect(records.map((r) => r.type)).toEqual(["header", "snapshot", ...ids.map(() => "version")]);
    const [first, second, ...versions] = records;
    expect(first?.type === "header" && first.client).toMatchObject({
      latestVersionId: ids.at(-1),
      versions: 5,
      snapshot: { versionId: ids[3], timestamp: new Date("2026-02-01T00:00:00Z"), versionsSince: 1, bytes: 33 },
      snapshotDeclined: { timestamp: new Date("2026-02-20T00:00:00Z"), versionsSince: 0 },
    });
    expect(second?.type === "snapshot" && Buffer.from(second.data).equals(Buffer.from(snapshot))).toBe(true);
    for (const [i, record] of versions.entries()) {
      if (record.type !== "version") throw new Error("not a version");
      expect(record.version.versionId).toBe(ids[i]);
      expect(record.version.addedAt).toEqual(new Date(Date.UTC(2026, 0, 1 + i)));
      expect(Buffer.from(record.version.historySegment).equals(Buffer.from(segments[i]!))).toBe(true);
    }
    expect((await checkExport(chunks(text))).versions).toBe(5);
  });

  test("a client without versions or snapshot is a header and a trailer", async () => {
    let text = "";
    const writer = new ExportWriter(async (chunk) => {
      text += chunk;
    });
    await writer.line({
      ...header([NIL_UUID], [], new Uint8Array()),
      latestVersionId: NIL_UUID,
      versions: 0,
      snapshot: null,
      snapshotDeclined: null,
    });
    await writer.finish();
    expect(text.split("\n")).toHaveLength(3);
    expect(await checkExport(chunks(text))).toMatchObject({ versions: 0, latestVersionId: NIL_UUID, snapshot: null });
  });

  describe("damage is found, with its line", () => {
    test("truncated: at a line's end (no trailer) or in the middle of one", async () => {
      const { text } = await sample();
      const lines = text.split("\n");
      expect((await refusal(`${lines.slice(0, 4).join("\n")}\n`)).message).toMatch(/trailer line is missing: the file is truncated/);
      expect((await refusal(text.slice(0, text.length - 30))).message).toMatch(/truncated/);
      expect((await refusal(text.slice(0, -1))).message).toMatch(/ends in the middle of a line/);
      expect((await refusal("")).message).toMatch(/empty/);
    });

    test("one altered byte in a segment changes the SHA-256", async () => {
      const { text } = await sample();
      const at = text.indexOf('"historySegment":"') + 20;
      const altered = text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
      const error = await refusal(altered);
      expect(error.message).toMatch(/SHA-256/);
      expect(error.line).toBe(8);
    });

    test("a gap, a fork, a repeated version, a loop back to the start", async () => {
      const { text, ids } = await sample();
      // Drop the third version: the fourth's parent is not the version before it.
      expect(
        (await refusal(resealed(text, (l) => l.filter((line) => line.versionId !== ids[2] || line.type !== "version")))).message,
      ).toMatch(/gap or a fork/);
      // A second child of the first version.
      const fork = resealed(text, (l) =>
        l.map((line) => (line.versionId === ids[2] && line.type === "version" ? { ...line, parentVersionId: ids[0] } : line)),
      );
      expect((await refusal(fork)).message).toMatch(/gap or a fork/);
      // The chain comes back to a version it had.
      const repeat = resealed(text, (l) => [...l.slice(0, -1), { ...l.at(-1)!, versionId: ids[1], parentVersionId: ids[3] }]);
      expect((await refusal(repeat)).message).toMatch(/comes twice/);
    });

    test("the snapshot off the chain, missing, or where it does not belong", async () => {
      const { text, ids } = await sample();
      const elsewhere = newUuid();
      const off = resealed(text, (l) =>
        l.map((line) =>
          line.type === "header"
            ? { ...line, snapshot: { ...(line.snapshot as object), versionId: elsewhere } }
            : line.type === "snapshot"
              ? { ...line, versionId: elsewhere }
              : line,
        ),
      );
      expect((await refusal(off)).message).toMatch(/snapshot's version is not on the chain/);
      expect((await refusal(resealed(text, (l) => l.filter((line) => line.type !== "snapshot")))).message).toMatch(
        /snapshot line is missing/,
      );
      const late = resealed(text, (l) => [l[0]!, ...l.slice(2, 4), l[1]!, ...l.slice(4)]);
      expect((await refusal(late)).message).toMatch(/snapshot line is missing before the versions/);
      const twice = resealed(text, (l) => [l[0]!, l[1]!, ...l.slice(1)]);
      expect((await refusal(twice)).message).toMatch(/snapshot line where none belongs/);
      const unasked = resealed(text, (l) => [{ ...l[0]!, snapshot: null }, ...l.slice(1)]);
      expect((await refusal(unasked)).message).toMatch(/snapshot line where none belongs/);
      expect(ids).toHaveLength(5);
    });

    test("counts, bytes and the latest version must agree with the header", async () => {
      const { text, ids } = await sample();
      const edit = (change: Record<string, unknown>) =>
        resealed(text, (l) => l.map((line) => (line.type === "header" ? { ...line, ...change } : line)));
      expect((await refusal(edit({ versions: 6 }))).message).toMatch(/has 5 versions, the header says 6/);
      expect((await refusal(edit({ historyBytes: 1 }))).message).toMatch(/the header says 1/);
      expect((await refusal(edit({ latestVersionId: ids[3] }))).message).toMatch(/chain ends at/);
      const header = JSON.parse(text.split("\n")[0]!) as { snapshot: Record<string, unknown> };
      expect((await refusal(edit({ snapshot: { ...header.snapshot, bytes: 1 } }))).message).toMatch(
        /the snapshot has \d+ bytes, the header says 1/,
      );
    });

    test("malformed lines and fields", async () => {
      const { text } = await sample();
      const lines = text.split("\n");
      const withLine = (index: number, line: string) => {
        const copy = [...lines];
        copy[index] = line;
        return resealed(copy.join("\n"), (l) => l);
      };
      expect((await refusal(`not json\n${text}`)).line).toBe(1);
      expect((await refusal(resealed(text, (l) => l.slice(1)))).message).toMatch(/does not start with a header/);
      expect((await refusal(resealed(text, (l) => [{ ...l[0]!, format: "other" }, ...l.slice(1)]))).message).toMatch(/not an export file/);
      expect((await refusal(resealed(text, (l) => [{ ...l[0]!, formatVersion: 2 }, ...l.slice(1)]))).message).toMatch(/format version 2/);
      const version = JSON.parse(lines[2]!) as Record<string, unknown>;
      expect((await refusal(withLine(2, JSON.stringify({ ...version, versionId: "v1" })))).message).toMatch(/versionId is not a UUID/);
      expect((await refusal(withLine(2, JSON.stringify({ ...version, addedAt: "yesterday" })))).message).toMatch(
        /addedAt is not a UTC time/,
      );
      expect((await refusal(withLine(2, JSON.stringify({ ...version, historySegment: "a*b=" })))).message).toMatch(/not base64/);
      expect((await refusal(withLine(2, JSON.stringify({ ...version, type: "other" })))).message).toMatch(/unknown line type/);
      expect((await refusal(`${text}{"type":"version"}\n`)).message).toMatch(/more after the trailer/);
    });
  });
});
