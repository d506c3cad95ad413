/**
 * How a function's entry becomes its Lambda code (from this repository: at synth, and by
 * `npm run build` for the package). One esbuild run, ESM, split into chunks:
 * - the entry and what it imports statically are what a cold start loads and parses; what is
 *   only imported dynamically (the S3 client and its operations, operators' work) lands in
 *   chunks loaded on first use, so a function that serves DynamoDB reads and writes never
 *   parses the S3 client's code;
 * - the AWS SDK's default credential provider chain is replaced by the environment's
 *   (lambda/storage/dynamodb/lambda-credentials.ts): on Lambda the role's credentials are in the environment,
 *   and the chain (profiles, SSO, web identity, instance metadata, with their STS and SSO
 *   clients) is a third of the SDK code a cold start would otherwise parse;
 * - the AWS SDK is bundled (pinned by package-lock.json) rather than the runtime's copy.
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { BuildOptions } from "esbuild";

/** The entry's file inside the asset, and the Lambda handler it exports. */
export const BUNDLE_FILE = "index.mjs";
export const BUNDLE_HANDLER = "index.handler";
/** The chunks the entry loads, beside it. */
export const CHUNKS_FOLDER = "chunks";

/** The oldest Node.js runtime the code supports. */
export const BUNDLE_TARGET = "node22";

const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** esbuild's options for `entry`, written to `outdir`. */
function bundleOptions(entry: string, root: string, outdir: string): BuildOptions {
  return {
    entryPoints: { index: entry },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    // .mjs: ESM by its extension wherever the asset lies (a `.js` inside this "type": "module"
    // repository, e.g. in cdk.out, would be read with the repository's package.json).
    outExtension: { ".js": ".mjs" },
    chunkNames: `${CHUNKS_FOLDER}/[name]-[hash]`,
    platform: "node",
    target: BUNDLE_TARGET,
    minify: true,
    treeShaking: true,
    legalComments: "none",
    charset: "utf8",
    // ESM sources of the SDK tree-shake far better than its CJS builds.
    mainFields: ["module", "main"],
    // The SDK's few CommonJS dependencies call require(): give every ESM file one.
    banner: { js: ESM_REQUIRE_BANNER },
    alias: { "@aws-sdk/credential-provider-node": join(root, "lambda", "storage", "dynamodb", "lambda-credentials.ts") },
    absWorkingDir: root,
    logLevel: "warning",
  };
}

/**
 * Bundles `entry` into `outdir` (synchronously, as CDK's local bundling runs). esbuild is a
 * development dependency: only this repository bundles; the package carries its bundles.
 */
export function bundleFunction(entry: string, root: string, outdir: string): void {
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  mkdirSync(outdir, { recursive: true });
  esbuild.buildSync(bundleOptions(entry, root, outdir));
}
