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
 * The two compilations run in their own processes while this one bundles: none reads what
 * another writes. Both skip type checking (`--noCheck`): `npm run typecheck` checks the whole tree.
 */
import { spawn } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildLambdaBundles } from "../dev/lambda-bundles.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

function compile(project: string): Promise<void> {
  const child = spawn(process.execPath, [tsc, "-p", join(root, project), "--noCheck"], { cwd: root, stdio: "inherit" });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code !== 0) reject(new Error(`tsc -p ${project} failed (exit ${code ?? signal})`));
      else {
        console.log(`compiled ${project} (${seconds()})`);
        resolve();
      }
    });
  });
}

rmSync(dist, { recursive: true, force: true });
const compiled = Promise.all([compile("tsconfig.build.json"), compile("tsconfig.build-bin.json")]);
// Settled at once so that a failed compilation is reported after the bundling, not as an unhandled rejection.
const outcome = compiled.then(
  () => undefined,
  (error: unknown) => error,
);
const bundles = buildLambdaBundles(dist);
console.log(`bundled ${bundles.map((folder) => relative(root, folder)).join(", ")} (${seconds()})`);
const failure = await outcome;
if (failure !== undefined) throw failure;
// The bin command runs from a checkout too (./dist/bin/cli.js); npm sets this mode on install as well.
chmodSync(join(dist, "bin", "cli.js"), 0o755);
