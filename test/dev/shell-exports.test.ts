/** The `export` lines of `npm run start:emulated`: a real shell reads every value back as it was. */
import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";
import { shellExports } from "../../dev/shell-exports.ts";

test("plain and awkward values survive a POSIX shell", () => {
  const env = {
    PLAIN: "http://127.0.0.1:8000",
    SPACES: "two words",
    QUOTES: `it's "quoted" $HOME \`x\``,
    EMPTY: "",
  };
  const lines = shellExports(env);
  expect(lines[0]).toBe("export PLAIN=http://127.0.0.1:8000");
  const script = `${lines.join("\n")}\nprintf '%s\\n' "$PLAIN" "$SPACES" "$QUOTES" "$EMPTY"`;
  expect(execFileSync("sh", ["-c", script], { encoding: "utf8", env: {} })).toBe(`${Object.values(env).join("\n")}\n`);
});
