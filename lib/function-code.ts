/**
 * Where each Lambda function's code comes from. Run from this repository (TypeScript source,
 * through tsx), a function is bundled from its entry by esbuild at synth. Run from the
 * installed package (JavaScript compiled to dist/), it is the bundle `npm run build` made from
 * that same entry with these same options and put in the package, so a consumer's synth needs
 * neither esbuild nor tsx, nor this repository's sources.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";

/** The folder that holds lib/ and lambda/: the repository, or the package's dist/. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Compiled, this file is function-code.js in the package; from source, function-code.ts. */
const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** The sync function's entry: exports `handler`. */
export const LAMBDA_ENTRY = join(ROOT, "lambda", "index.ts");
/** The orphan sweep's entry: exports `handler`. */
export const SWEEP_ENTRY = join(ROOT, "lambda", "maintenance.ts");
/** Every function entry; the package carries a bundle of each (`npm run build`). */
export const LAMBDA_ENTRIES: readonly string[] = [LAMBDA_ENTRY, SWEEP_ENTRY];

/** The bundled handler file inside the asset (ESM output of NodejsFunction). */
export const BUNDLE_FILE = "index.mjs";
const BUNDLE_TARGET = "node22";
const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

const BUNDLING: nodejs.BundlingOptions = {
  forceDockerBundling: false,
  // Bundle the AWS SDK (pinned by package-lock.json) instead of the runtime's copy.
  externalModules: [],
  minify: true,
  sourceMap: false,
  target: BUNDLE_TARGET,
  // index.mjs: ESM by its extension wherever the asset lies (a `.js` CJS bundle inside
  // this "type": "module" repository, e.g. in cdk.out, would be loaded as ESM and break).
  format: nodejs.OutputFormat.ESM,
  // The SDK's few CommonJS dependencies call require(): give the ESM bundle one.
  banner: ESM_REQUIRE_BANNER,
  // ESM sources of the SDK tree-shake far better than its CJS builds.
  mainFields: ["module", "main"],
  charset: nodejs.Charset.UTF8,
  logLevel: nodejs.LogLevel.WARNING,
  esbuildArgs: { "--tree-shaking": "true", "--legal-comments": "none" },
};

/** Where the package keeps the bundle of `entry`, under dist/: bundles/<the entry's path without .ts>/. */
export function bundlePath(entry: string): string {
  if (!LAMBDA_ENTRIES.includes(entry))
    throw new Error(`${entry} is not in LAMBDA_ENTRIES (lib/function-code.ts): the package would not carry it`);
  return join("bundles", relative(ROOT, entry).replace(/\.ts$/, ""));
}

/** The props that give a NodejsFunction its code and handler. */
export type FunctionCodeProps = Pick<
  nodejs.NodejsFunctionProps,
  "entry" | "handler" | "projectRoot" | "depsLockFilePath" | "bundling" | "code"
>;

/** The code of the function whose entry is `entry`: bundled here from source, or the package's bundle. */
export function functionCode(entry: string): FunctionCodeProps {
  const bundle = bundlePath(entry);
  if (FROM_SOURCE) {
    return { entry, handler: "handler", projectRoot: ROOT, depsLockFilePath: join(ROOT, "package-lock.json"), bundling: BUNDLING };
  }
  const folder = join(ROOT, bundle);
  if (!existsSync(join(folder, BUNDLE_FILE))) {
    throw new Error(`the package has no bundle at ${folder}: it was packed without \`npm run build\``);
  }
  // The asset is the folder: it must hold the bundle alone.
  const extra = readdirSync(folder).filter((file) => file !== BUNDLE_FILE);
  if (extra.length > 0) throw new Error(`${folder} holds more than ${BUNDLE_FILE}: ${extra.join(", ")}`);
  return { code: lambda.Code.fromAsset(folder), handler: `${BUNDLE_FILE.replace(/\.mjs$/, "")}.handler` };
}
