/**
 * Loads an export file (export-format.ts) into the storage, keeping every version id, so that
 * replicas carry on as if nothing happened. Two streaming passes: the first checks the whole
 * file and writes nothing; the second writes it through `storage.importClient`, which makes
 * the client visible only once all of it is written, and checks the file again on the way (in
 * case it changed in between, the import then fails before the client appears).
 */
import { ClientExistsError } from "../storage/errors.ts";
import type { Storage, Version } from "../storage/types.ts";
import type { Uuid } from "../uuid.ts";
import { checkExport, ExportFileError, readExport, type ExportedClient, type ExportRecord } from "./export-reader.ts";

export interface ImportClientOptions {
  /** Import under this client id instead of the file's. */
  as?: Uuid;
  /** Remove the client first if it exists (otherwise an existing client is refused). */
  replace?: boolean;
  /** How far each pass is: versions checked, then versions written. */
  onProgress?: (pass: "check" | "write", versions: number) => void;
}

/**
 * `replaced`: an existing client was removed before the write pass (the storage cannot swap a
 * whole client at once). When the write pass then fails, that client is gone and the file is
 * what holds its data: the outcome says so, and a thrown error is a ReplaceFailedError.
 */
export type ImportClientOutcome =
  | { kind: "imported"; clientId: Uuid; file: ExportedClient; replaced: boolean }
  | { kind: "invalid"; line: number; reason: string; replaced: false }
  | { kind: "invalid"; line: number; reason: string; replaced: true; clientId: Uuid }
  | { kind: "exists"; clientId: Uuid; replaced: boolean };

/**
 * `--replace` failed once it had begun to remove the client it was to replace: the removal
 * itself failed part-way (`removal`: the client is gone for the protocol, some of its data may
 * be left), or the write pass after it (`write`). Either way the file holds the client: run the
 * import again.
 */
export class ReplaceFailedError extends Error {
  constructor(
    readonly clientId: Uuid,
    cause: unknown,
    readonly stage: "removal" | "write" = "write",
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "ReplaceFailedError";
  }
}

/** `open` gives the file's bytes from its start, once per pass. */
export async function importClient(
  storage: Storage,
  open: () => AsyncIterable<Uint8Array>,
  options: ImportClientOptions = {},
): Promise<ImportClientOutcome> {
  const progress = options.onProgress ?? (() => {});
  let file: ExportedClient;
  try {
    file = await checkExport(open(), (n) => progress("check", n));
  } catch (error) {
    if (error instanceof ExportFileError) return { kind: "invalid", line: error.line, reason: error.message, replaced: false };
    throw error;
  }
  const clientId = options.as ?? file.clientId;
  let replaced = false;
  if (options.replace === true) {
    try {
      replaced = await storage.removeClient(clientId);
    } catch (error) {
      // A removal stopped part-way: the client is gone for the protocol, the file has it.
      throw new ReplaceFailedError(clientId, error, "removal");
    }
  }
  const records = readExport(open())[Symbol.asyncIterator]();
  try {
    // The first pass proved the order: the header, then the snapshot if there is one.
    const header = await records.next();
    if (header.done || header.value.type !== "header") throw new ExportFileError(1, "expected the header line");
    let snapshotData: Uint8Array | undefined;
    if (file.snapshot) {
      const snapshot = await records.next();
      if (snapshot.done || snapshot.value.type !== "snapshot") throw new ExportFileError(2, "expected the snapshot line");
      snapshotData = snapshot.value.data;
    }
    await storage.importClient(clientId, {
      latestVersionId: file.latestVersionId,
      snapshot: file.snapshot && snapshotData ? { ...file.snapshot, data: snapshotData } : null,
      declined: file.snapshotDeclined,
      versions: versionsOf(records, (n) => progress("write", n)),
    });
  } catch (error) {
    if (error instanceof ExportFileError)
      return {
        kind: "invalid",
        line: error.line,
        reason: `${error.message} (the file changed after it was checked)`,
        ...(replaced ? { replaced, clientId } : { replaced }),
      };
    if (error instanceof ClientExistsError) return { kind: "exists", clientId, replaced };
    throw replaced ? new ReplaceFailedError(clientId, error) : error;
  } finally {
    await records.return?.(undefined);
  }
  return { kind: "imported", clientId, file, replaced };
}

async function* versionsOf(
  records: AsyncIterator<ExportRecord>,
  onVersion: (n: number) => void,
): AsyncGenerator<Version & { addedAt: Date }> {
  let count = 0;
  for (let r = await records.next(); !r.done; r = await records.next()) {
    if (r.value.type !== "version") throw new Error("the export reader handed out a line out of order");
    yield r.value.version;
    onVersion(++count);
  }
}
