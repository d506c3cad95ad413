/**
 * Reads an export file (export-format.ts) as a stream and checks all of it: the header, the
 * snapshot line, one linear chain of versions ending at the header's latest version with the
 * snapshot on it, the counts, and the trailer's line count and SHA-256. Any problem is an
 * `ExportFileError` naming the line. The checks that need the whole file run before the last
 * record is returned, so a consumer that stops at an error has written nothing it keeps.
 */
import { createHash } from "node:crypto";
import type { Snapshot, SnapshotDecline, Version } from "../storage/types.ts";
import { NIL_UUID, parseClientId, parseUuid, type Uuid } from "../uuid.ts";
import { ChainCheck } from "./chain-check.ts";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION } from "./export-format.ts";

/** A line longer than this is no export line (a snapshot of 96 MB would still fit). */
export const MAX_LINE_BYTES = 128 * 1024 * 1024;

export class ExportFileError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "ExportFileError";
  }
}

/** The header of an export, parsed. */
export interface ExportedClient {
  clientId: Uuid;
  exportedAt: Date;
  latestVersionId: Uuid;
  versions: number;
  historyBytes: number;
  snapshot: (Snapshot & { bytes: number }) | null;
  snapshotDeclined: SnapshotDecline | null;
}

export type ExportRecord =
  | { type: "header"; client: ExportedClient }
  | { type: "snapshot"; data: Uint8Array }
  | { type: "version"; version: Version & { addedAt: Date } };

/** Every record of the file, decoded, in file order (header, snapshot, versions). */
export function readExport(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<ExportRecord> {
  return records(chunks, true);
}

/** Checks the whole file without decoding its payloads (reporting versions checked); returns its header. */
export async function checkExport(chunks: AsyncIterable<Uint8Array>, onVersion?: (checked: number) => void): Promise<ExportedClient> {
  let client: ExportedClient | undefined;
  let versions = 0;
  for await (const record of records(chunks, false)) {
    if (record.type === "header") client = record.client;
    if (record.type === "version") onVersion?.(++versions);
  }
  if (!client) throw new ExportFileError(1, "the file is empty");
  return client;
}

type Fields = Record<string, unknown>;

async function* records(chunks: AsyncIterable<Uint8Array>, decode: boolean): AsyncGenerator<ExportRecord> {
  const hash = createHash("sha256");
  const chain = new ChainCheck();
  let client: ExportedClient | undefined;
  let snapshotSeen = false;
  let trailerSeen = false;
  let versions = 0;
  let historyBytes = 0;
  let lineNumber = 0;
  for await (const { bytes, terminated } of splitLines(chunks)) {
    lineNumber += 1;
    const fail = (message: string) => new ExportFileError(lineNumber, message);
    if (trailerSeen) throw fail("there is more after the trailer");
    if (!terminated) throw fail("the file ends in the middle of a line: it is truncated");
    const fields = parseLine(bytes, fail);
    if (fields.type === "trailer") {
      checkTrailer(fields, lineNumber - 1, hash.digest("hex"), fail);
      trailerSeen = true;
      continue;
    }
    hash.update(bytes);
    hash.update("\n");
    if (!client) {
      if (fields.type !== "header") throw fail("this is not an export file: it does not start with a header line");
      client = parseHeader(fields, fail);
      yield { type: "header", client };
      continue;
    }
    if (fields.type === "snapshot") {
      const expected = client.snapshot;
      if (!expected || snapshotSeen || versions > 0) throw fail("a snapshot line where none belongs");
      if (uuid(fields, "versionId", fail) !== expected.versionId) throw fail("the snapshot line is not for the header's snapshot version");
      const data = base64(fields, "data", fail, decode);
      if (data.bytes !== expected.bytes) throw fail(`the snapshot has ${data.bytes} bytes, the header says ${expected.bytes}`);
      snapshotSeen = true;
      yield { type: "snapshot", data: data.value };
      continue;
    }
    if (fields.type !== "version") throw fail(`unknown line type ${JSON.stringify(fields.type)}`);
    if (client.snapshot && !snapshotSeen) throw fail("the snapshot line is missing before the versions");
    const versionId = uuid(fields, "versionId", fail);
    const parentVersionId = uuid(fields, "parentVersionId", fail);
    const problem = chain.add(versionId, parentVersionId);
    if (problem) throw fail(problem);
    const addedAt = date(fields, "addedAt", fail);
    const segment = base64(fields, "historySegment", fail, decode);
    versions += 1;
    historyBytes += segment.bytes;
    yield { type: "version", version: { versionId, parentVersionId, historySegment: segment.value, addedAt } };
  }
  const fail = (message: string) => new ExportFileError(Math.max(lineNumber, 1), message);
  if (!client) throw fail("the file is empty");
  if (!trailerSeen) throw fail("the trailer line is missing: the file is truncated");
  if (client.snapshot && !snapshotSeen) throw fail("the snapshot line is missing");
  if (versions !== client.versions) throw fail(`the file has ${versions} versions, the header says ${client.versions}`);
  if (historyBytes !== client.historyBytes) throw fail(`the versions have ${historyBytes} bytes, the header says ${client.historyBytes}`);
  const latest = chain.latest ?? NIL_UUID;
  if (latest !== client.latestVersionId)
    throw fail(`the chain ends at ${latest}, the header's latest version is ${client.latestVersionId}`);
  if (client.snapshot && !chain.includes(client.snapshot.versionId)) throw fail("the snapshot's version is not on the chain");
}

/** The file's lines without their "\n", and whether each had one. */
async function* splitLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<{ bytes: Buffer; terminated: boolean }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNumber = 0;
  const tooLong = () => new ExportFileError(lineNumber + 1, `the line is longer than ${MAX_LINE_BYTES} bytes: this is not an export file`);
  for await (const chunk of chunks) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let end = buffer.indexOf(10, start); end !== -1; end = buffer.indexOf(10, start)) {
      const part = buffer.subarray(start, end);
      const bytes = pending.length === 0 ? part : Buffer.concat([...pending, part]);
      pending = [];
      pendingBytes = 0;
      if (bytes.byteLength > MAX_LINE_BYTES) throw tooLong();
      lineNumber += 1;
      yield { bytes, terminated: true };
      start = end + 1;
    }
    if (start < buffer.byteLength) {
      pending.push(buffer.subarray(start));
      pendingBytes += buffer.byteLength - start;
      if (pendingBytes > MAX_LINE_BYTES) throw tooLong();
    }
  }
  if (pendingBytes > 0) yield { bytes: Buffer.concat(pending), terminated: false };
}

function parseLine(bytes: Buffer, fail: (message: string) => Error): Fields {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw fail("the line is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail("the line is not a JSON object");
  return value as Fields;
}

function parseHeader(fields: Fields, fail: (message: string) => Error): ExportedClient {
  if (fields.format !== EXPORT_FORMAT) throw fail(`this is not an export file (format ${JSON.stringify(fields.format)})`);
  if (fields.formatVersion !== EXPORT_FORMAT_VERSION) {
    throw fail(`format version ${JSON.stringify(fields.formatVersion)} is not ${EXPORT_FORMAT_VERSION}, the one this version reads`);
  }
  const snapshot = nullableObject(fields, "snapshot", fail);
  const declined = nullableObject(fields, "snapshotDeclined", fail);
  return {
    clientId: clientId(fields, fail),
    exportedAt: date(fields, "exportedAt", fail),
    latestVersionId: uuid(fields, "latestVersionId", fail),
    versions: count(fields, "versions", fail),
    historyBytes: count(fields, "historyBytes", fail),
    snapshot: snapshot && {
      versionId: uuid(snapshot, "versionId", fail),
      timestamp: date(snapshot, "timestamp", fail),
      versionsSince: count(snapshot, "versionsSince", fail),
      bytes: count(snapshot, "bytes", fail),
    },
    snapshotDeclined: declined && { timestamp: date(declined, "timestamp", fail), versionsSince: count(declined, "versionsSince", fail) },
  };
}

function checkTrailer(fields: Fields, lines: number, sha256: string, fail: (message: string) => Error): void {
  if (count(fields, "lines", fail) !== lines) throw fail(`the trailer counts ${String(fields.lines)} lines before it, there are ${lines}`);
  if (fields.sha256 !== sha256) throw fail("the SHA-256 of the lines before the trailer does not match it: the file was altered");
}

/** The header's client id; a fault is told without the value, which may be a mistyped credential. */
function clientId(fields: Fields, fail: (message: string) => Error): Uuid {
  const value = fields.clientId;
  if (typeof value !== "string") throw fail("clientId is not a string");
  const { id, fault } = parseClientId(value);
  if (id === undefined) throw fail(`clientId ${fault}`);
  return id;
}

function uuid(fields: Fields, key: string, fail: (message: string) => Error): Uuid {
  const value = fields[key];
  const id = typeof value === "string" ? parseUuid(value) : undefined;
  if (id === undefined) throw fail(`${key} is not a UUID: ${JSON.stringify(value)}`);
  return id;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function date(fields: Fields, key: string, fail: (message: string) => Error): Date {
  const value = fields[key];
  const time = typeof value === "string" && ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) throw fail(`${key} is not a UTC time in ISO 8601: ${JSON.stringify(value)}`);
  return new Date(time);
}

function count(fields: Fields, key: string, fail: (message: string) => Error): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw fail(`${key} is not a count: ${JSON.stringify(value)}`);
  return value;
}

function nullableObject(fields: Fields, key: string, fail: (message: string) => Error): Fields | null {
  const value = fields[key];
  if (value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) throw fail(`${key} is neither an object nor null`);
  return value as Fields;
}

const EMPTY = new Uint8Array(0);

/** Base64 checked character by character (Buffer's decoder skips what it does not know). */
function base64(fields: Fields, key: string, fail: (message: string) => Error, decode: boolean): { value: Uint8Array; bytes: number } {
  const text = fields[key];
  if (typeof text !== "string" || text.length % 4 !== 0) throw fail(`${key} is not base64`);
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  for (let i = 0; i < text.length - padding; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) throw fail(`${key} is not base64`);
  }
  const bytes = (text.length / 4) * 3 - padding;
  return { value: decode ? Buffer.from(text, "base64") : EMPTY, bytes };
}
