/**
 * The import direction is enforced by a tool, not only described: `npm run lint` runs
 * dependency-cruiser with .dependency-cruiser.cjs. Here it runs on a small tree laid out like
 * this one, once clean and once with each kind of deliberate violation, and must catch each.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A tree with the given files (path → source), cruised with the project's rules. */
function cruise(files: Record<string, string>): { status: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), "import-rules-"));
  dirs.push(root);
  symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
  const base: Record<string, string> = {
    "tsconfig.json": JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true },
    }),
    "lambda/uuid.ts": "export type Uuid = string;\n",
    "lambda/storage/types.ts": 'import type { Uuid } from "../uuid.ts";\nexport interface Storage { id: Uuid }\n',
    "lambda/storage/dynamodb/storage.ts":
      'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\nexport const client = DynamoDBClient;\n',
    "lambda/storage/dynamodb/layout.ts": 'export const TABLE = "pk";\n',
    "lambda/core/sync.ts": 'import type { Storage } from "../storage/types.ts";\nexport type Rules = Storage;\n',
    "lib/construct.ts": 'import { TABLE } from "../lambda/storage/dynamodb/layout.ts";\nexport const table = TABLE;\n',
    "dev/events.ts": "export const event = {};\n",
  };
  for (const [path, source] of Object.entries({ ...base, ...files })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  const result = spawnSync(
    join(REPO, "node_modules", ".bin", "depcruise"),
    ["--config", join(REPO, ".dependency-cruiser.cjs"), "lambda", "lib", "dev"],
    { cwd: root, encoding: "utf8" },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("the import rules (dependency-cruiser)", () => {
  it("pass a tree that keeps the direction", () => {
    const { status, output } = cruise({});
    expect(output).toContain("no dependency violations found");
    expect(status).toBe(0);
  });

  it("fail on a deliberate violation of each rule, naming it", () => {
    const { status, output } = cruise({
      "lambda/core/uses-storage.ts": 'import { client } from "../storage/dynamodb/storage.ts";\nexport const c = client;\n',
      "lambda/core/uses-sdk.ts": 'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\nexport const c = DynamoDBClient;\n',
      "lambda/core/uses-http.ts": 'import { createServer } from "node:http";\nexport const s = createServer;\n',
      "lambda/uses-dev.ts": 'import { event } from "../dev/events.ts";\nexport const e = event;\n',
      "lib/uses-sdk.ts": 'import { client } from "../lambda/storage/dynamodb/storage.ts";\nexport const c = client;\n',
    });
    expect(status).not.toBe(0);
    for (const [rule, from] of [
      ["core-is-pure", "lambda/core/uses-storage.ts"],
      ["core-is-pure", "lambda/core/uses-sdk.ts"],
      ["core-has-no-http", "lambda/core/uses-http.ts"],
      ["lambda-stands-alone", "lambda/uses-dev.ts"],
      ["lib-loads-no-sdk-client", "lib/uses-sdk.ts"],
    ]) {
      expect(output).toMatch(new RegExp(`error ${rule}: ${from}`));
    }
  });
});
