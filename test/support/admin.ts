/** The admin command in-process, through `main(argv, io)`, with its output captured. */
import { Readable, Writable } from "node:stream";
import { type AdminIo, main } from "../../bin/admin.ts";

export interface AdminRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout's lines (without the last, empty one). */
  lines: string[];
}

/** A stream that keeps what is written to it. */
export function collector(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/** Runs one command line against the storage of `env`; stdin is not a terminal unless `answer` is given. */
export async function runAdmin(
  argv: string[],
  env: Record<string, string>,
  io: Partial<AdminIo> & { answer?: string } = {},
): Promise<AdminRun> {
  const stdout = collector();
  const stderr = collector();
  const { answer, ...rest } = io;
  const code = await main(argv, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdin: Readable.from(answer === undefined ? [] : [`${answer}\n`]),
    stdinIsTTY: answer !== undefined,
    stderrIsTTY: false,
    env,
    ...rest,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text(), lines: stdout.text().split("\n").slice(0, -1) };
}
