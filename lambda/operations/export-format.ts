/**
 * The export file of one client (README, "Export file format"): JSON Lines, written and read
 * as a stream, so that a history of any length needs no more memory than one version.
 *
 *   {"type":"header", "format", "formatVersion", "clientId", "exportedAt", "latestVersionId",
 *    "versions", "historyBytes", "snapshot": {versionId, timestamp, versionsSince, bytes} | null,
 *    "snapshotDeclined": {timestamp, versionsSince} | null}
 *   {"type":"snapshot", "versionId", "data": base64}                    only with a snapshot
 *   {"type":"version", "versionId", "parentVersionId", "addedAt", "historySegment": base64}
 *                                                                     one per version, chain order
 *   {"type":"trailer", "lines", "sha256"}        the count and SHA-256 of every line before it
 *
 * Each line ends with "\n"; times are ISO 8601 in UTC. The trailer makes a truncated or altered
 * file detectable before anything of it is written.
 */
import { createHash, type Hash } from "node:crypto";
import type { Uuid } from "../uuid.ts";

export const EXPORT_FORMAT = "taskchampion-sync-server-client-export";
export const EXPORT_FORMAT_VERSION = 1;

export interface ExportHeader {
  type: "header";
  format: typeof EXPORT_FORMAT;
  formatVersion: typeof EXPORT_FORMAT_VERSION;
  clientId: Uuid;
  exportedAt: string;
  latestVersionId: Uuid;
  /** How many version lines follow. */
  versions: number;
  /** The sum of their history segments' lengths. */
  historyBytes: number;
  snapshot: { versionId: Uuid; timestamp: string; versionsSince: number; bytes: number } | null;
  snapshotDeclined: { timestamp: string; versionsSince: number } | null;
}

export interface ExportSnapshotLine {
  type: "snapshot";
  versionId: Uuid;
  data: string;
}

export interface ExportVersionLine {
  type: "version";
  versionId: Uuid;
  parentVersionId: Uuid;
  addedAt: string;
  historySegment: string;
}

export interface ExportTrailer {
  type: "trailer";
  /** How many lines come before the trailer. */
  lines: number;
  /** Hex SHA-256 of the bytes of those lines, newlines included. */
  sha256: string;
}

/** Writes the lines of an export and keeps the count and hash the trailer needs. */
export class ExportWriter {
  private readonly hash: Hash = createHash("sha256");
  private lines = 0;

  /** `write` takes text to append to the file, resolving when it may be given more. */
  constructor(private readonly write: (text: string) => Promise<void>) {}

  async line(record: ExportHeader | ExportSnapshotLine | ExportVersionLine): Promise<void> {
    const text = `${JSON.stringify(record)}\n`;
    this.hash.update(text);
    this.lines += 1;
    await this.write(text);
  }

  /** Writes the trailer: the file is complete. */
  async finish(): Promise<void> {
    const trailer: ExportTrailer = { type: "trailer", lines: this.lines, sha256: this.hash.digest("hex") };
    await this.write(`${JSON.stringify(trailer)}\n`);
  }
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
