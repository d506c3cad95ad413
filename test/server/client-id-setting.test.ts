/**
 * A typo in CLIENT_ID, as the processes that read it report it: `npm start` (its stderr is a
 * service's journal) and the Lambda entry's cold start (its error goes to CloudWatch Logs).
 * The bad entry is named by its position; no client id of the list is printed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUuid } from "../../lambda/uuid.ts";
import { runCommand } from "../support/run-command.ts";

/** The command's exit code and its stdout and stderr together (HOME: npm needs it). */
async function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await runCommand(command, args, { HOME: process.env.HOME ?? "", ...env });
  return { code, output: `${stdout}${stderr}` };
}

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tc-client-id-setting-"));
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a CLIENT_ID with a mistyped entry", () => {
  const [a, b, c] = [newUuid(), newUuid(), newUuid()];
  const clientIds = `${a},${b.slice(0, 30)}${c.slice(30, 35)},${c}`; // entry 2: a typo, 35 characters
  const expectNoId = (output: string) => {
    for (const id of [a, b, c]) expect(output).not.toContain(id.slice(0, 8));
  };

  it("stops npm start with the entry's position, and no id of the list", async () => {
    const { code, output } = await run("npm", ["start"], { DATA_DIR: dataDir, LISTEN: "127.0.0.1:0", CLIENT_ID: clientIds });
    expect(code).toBe(2);
    expect(output).toContain("CLIENT_ID is not valid: entry 2 of 3 is not a UUID (35 characters");
    expectNoId(output);
  });

  it("fails the Lambda's cold start with the entry's position, and no id of the list", async () => {
    const { code, output } = await run(process.execPath, ["--import", "tsx", "-e", 'await import("./lambda/index.ts")'], {
      CLIENT_ID: clientIds,
      TABLE_NAME: "table",
      BUCKET_NAME: "bucket",
      AWS_REGION: "us-east-1",
    });
    expect(code).not.toBe(0);
    expect(output).toContain("CLIENT_ID is not valid: entry 2 of 3 is not a UUID (35 characters");
    expectNoId(output);
  });
});
