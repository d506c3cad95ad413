/**
 * Where each Lambda function's code comes from. Run from this repository (TypeScript source,
 * through tsx), a function is bundled from its entry at synth (function-bundling.ts). Run from
 * the installed package (JavaScript compiled to dist/), it is the bundle `npm run build` made
 * from that same entry the same way and put in the package, so a consumer's synth needs
 * neither esbuild nor tsx, nor this repository's sources.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { AssetHashType, DockerImage } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import { BUNDLE_FILE, BUNDLE_HANDLER, bundleFunction, CHUNKS_FOLDER } from "./function-bundling.ts";

export { BUNDLE_FILE } from "./function-bundling.ts";

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

/** Where the package keeps the bundle of `entry`, under dist/: bundles/<the entry's path without .ts>/. */
export function bundlePath(entry: string): string {
  if (!LAMBDA_ENTRIES.includes(entry))
    throw new Error(`${entry} is not in LAMBDA_ENTRIES (lib/function-code.ts): the package would not carry it`);
  return join("bundles", relative(ROOT, entry).replace(/\.ts$/, ""));
}

/** The props that give a NodejsFunction its code and handler. */
export type FunctionCodeProps = Pick<nodejs.NodejsFunctionProps, "entry" | "handler" | "code">;

/** The code of the function whose entry is `entry`: bundled here from source, or the package's bundle. */
export function functionCode(entry: string): FunctionCodeProps {
  const bundle = bundlePath(entry);
  if (FROM_SOURCE) {
    return {
      // Given its code, NodejsFunction bundles nothing itself; `entry` only names the function.
      entry,
      code: lambda.Code.fromAsset(join(ROOT, "lambda"), {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never pulled: the local bundling always runs (esbuild is installed here).
          image: DockerImage.fromRegistry("public.ecr.aws/docker/library/node:22"),
          // Part of CDK's key for reusing a bundling of the same source folder: one per entry.
          environment: { FUNCTION_ENTRY: relative(ROOT, entry) },
          local: {
            tryBundle(outputDir: string): boolean {
              bundleFunction(entry, ROOT, outputDir);
              return true;
            },
          },
        },
      }),
      handler: BUNDLE_HANDLER,
    };
  }
  const folder = join(ROOT, bundle);
  if (!existsSync(join(folder, BUNDLE_FILE))) {
    throw new Error(`the package has no bundle at ${folder}: it was packed without \`npm run build\``);
  }
  // The asset is the folder: the entry and its chunks, nothing else.
  const extra = readdirSync(folder).filter((file) => file !== BUNDLE_FILE && file !== CHUNKS_FOLDER);
  if (extra.length > 0) throw new Error(`${folder} holds more than ${BUNDLE_FILE} and ${CHUNKS_FOLDER}/: ${extra.join(", ")}`);
  return { code: lambda.Code.fromAsset(folder), handler: BUNDLE_HANDLER };
}
