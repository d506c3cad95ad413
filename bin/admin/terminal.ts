/** The admin command's terminal: lines on stdout (waiting while the stream is full), progress on stderr, a yes/no question. */
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { ProgressLine } from "./command.ts";

export async function printLine(stream: NodeJS.WritableStream, line: string): Promise<void> {
  if (!stream.write(`${line}\n`)) await once(stream, "drain");
}

/** Redrawn at most every 100 ms on one line; nothing at all when `enabled` is false (stderr is no terminal). */
export function progressLine(stream: NodeJS.WritableStream, enabled: boolean, label: string): ProgressLine {
  let shown = false;
  let latest = 0;
  let drawnAt = 0;
  const draw = () => stream.write(`\r${label}: ${latest}`);
  return {
    update(done) {
      latest = done;
      if (!enabled || Date.now() - drawnAt < 100) return;
      drawnAt = Date.now();
      shown = true;
      draw();
    },
    end() {
      if (!shown) return;
      draw();
      stream.write("\n");
      shown = false;
    },
  };
}

/** Asks on stderr, reads one line from stdin: true for "y" or "yes"; false for anything else or no answer. */
export async function askYesNo(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, question: string): Promise<boolean> {
  const lines = createInterface({ input, terminal: false });
  output.write(`${question} Type yes to go on: `);
  const answer = await new Promise<string | null>((resolve) => {
    lines.once("line", resolve);
    lines.once("close", () => resolve(null));
  });
  lines.close();
  return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
}
