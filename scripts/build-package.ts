/**
 * `npm run build` (also run by `npm pack` and `npm publish`, through prepack): the package in dist/.
 *
 *   1. dist/ is emptied;
 *   2. the library, lib/index.ts (the construct) and what it imports, is compiled with its
 *      type declarations (tsconfig.build.json);
 *   3. the commands, bin/cli.ts and the modules it loads, are compiled (tsconfig.build-bin.json;
 *      JavaScript only: they are run, not imported);
 *   4. each Lambda function is bundled into dist/bundles/, as `cdk synth` bundles it here.
 *
 * Both compilations skip type checking (`--noCheck`): `npm run typecheck` checks the whole tree.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildLambdaBundles } from "../dev/lambda-bundles.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function compile(project: string): void {
  const started = Date.now();
  const result = spawnSync(process.execPath, [tsc, "-p", join(root, project), "--noCheck"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`tsc -p ${project} failed (exit ${result.status ?? result.signal})`);
  console.log(`compiled ${project} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

rmSync(dist, { recursive: true, force: true });
compile("tsconfig.build.json");
compile("tsconfig.build-bin.json");
// The bin command runs from a checkout too (./dist/bin/cli.js); npm sets this mode on install as well.
chmodSync(join(dist, "bin", "cli.js"), 0o755);
const started = Date.now();
const bundles = buildLambdaBundles(dist);
console.log(`bundled ${bundles.map((folder) => relative(root, folder)).join(", ")} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
