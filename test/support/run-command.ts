/** A command run to its end in the repository, as an operator's shell would, with a known environment. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface CommandExit {
  /** The exit code; -1 when the command could not be run or was killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `args` in the repository, with only PATH and `env` set. */
export function runCommand(command: string, args: string[], env: Record<string, string>): Promise<CommandExit> {
  return new Promise((resolve) => {
    // The AWS SDK's notice that it will need Node 22 is not the command's output.
    const base = { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };
    execFile(command, args, { cwd: root, env: { ...base, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
