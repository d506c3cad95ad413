/** Export files written through the real ExportWriter, for tests of what reads them. */
import { EXPORT_FORMAT, ExportWriter, toBase64 } from "../../lambda/operations/export-format.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";

/**
 * The text of an export of a client with `count` versions (4-byte segments) and no snapshot.
 * `clientId` goes into the header as it is, so that a test can write an id the import refuses.
 */
export async function exportText(clientId: string, count: number): Promise<string> {
  const ids = Array.from({ length: count }, () => newUuid());
  let text = "";
  const writer = new ExportWriter(async (chunk) => {
    text += chunk;
  });
  await writer.line({
    type: "header",
    format: EXPORT_FORMAT,
    formatVersion: 1,
    clientId: clientId as Uuid,
    exportedAt: "2026-03-01T10:00:00.000Z",
    latestVersionId: ids.at(-1) ?? NIL_UUID,
    versions: count,
    historyBytes: count * 4,
    snapshot: null,
    snapshotDeclined: null,
  });
  for (const [i, versionId] of ids.entries()) {
    await writer.line({
      type: "version",
      versionId,
      parentVersionId: i === 0 ? NIL_UUID : ids[i - 1]!,
      addedAt: "2026-02-01T00:00:00.000Z",
      historySegment: toBase64(Uint8Array.of(i, i, i, i)),
    });
  }
  await writer.finish();
  return text;
}
