/**
 * The admin command's files: an export is written under a temporary name and renamed into place
 * when complete (an interrupted export never leaves a file that looks whole), owner-only since
 * it holds the client id; an import reads its file as a stream, once per pass.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, constants, rename, rm, stat } from "node:fs/promises";
import { once } from "node:events";

export interface FileSink {
  /** Appends text, resolving when the file may be given more. */
  write(text: string): Promise<void>;
  /** Flushes and puts the file in place. */
  commit(): Promise<void>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

/** A new file at `path` (replacing any there once committed); rejects when it cannot be created. */
export async function createFileSink(path: string): Promise<FileSink> {
  const partial = `${path}.partial-${randomBytes(4).toString("hex")}`;
  const stream = createWriteStream(partial, { flags: "wx", mode: 0o600 });
  let failure: unknown;
  stream.on("error", (error) => {
    failure ??= error;
  });
  await once(stream, "open");
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  return {
    async write(text) {
      check();
      if (!stream.write(text)) await once(stream, "drain");
    },
    async commit() {
      check();
      stream.end();
      await once(stream, "finish");
      check();
      await rename(partial, path);
    },
    async abort() {
      stream.destroy();
      await rm(partial, { force: true });
    },
  };
}

/** Why `path` cannot be read as a file, or undefined when it can. */
export async function unreadable(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.R_OK);
    if (!(await stat(path)).isFile()) return `${path} is not a file`;
    return undefined;
  } catch (error) {
    return `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The file's bytes, from its start. */
export function fileChunks(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path);
}
