/**
 * The package's Lambda bundles (`npm run build`): each entry of LAMBDA_ENTRIES bundled exactly
 * as `cdk synth` bundles it from this repository (the same code props, from
 * lib/function-code.ts), by synthesizing a throwaway stack of those functions and copying each
 * function's asset (its entry and chunks) to the place function-code.ts looks for it.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import { CHUNKS_FOLDER } from "../lib/function-bundling.ts";
import { BUNDLE_FILE, bundlePath, functionCode, LAMBDA_ENTRIES } from "../lib/function-code.ts";
import { LAMBDA_RUNTIME } from "../lib/function-helper.ts";

/** Writes `<distDir>/<bundlePath(entry)>/index.mjs` for every entry; returns those folders. */
export function buildLambdaBundles(distDir: string): string[] {
  const outdir = mkdtempSync(join(tmpdir(), "lambda-bundles-"));
  try {
    const app = new App({ outdir });
    const stack = new Stack(app, "LambdaBundles");
    const functions = LAMBDA_ENTRIES.map(
      (entry, i) =>
        [
          entry,
          new nodejs.NodejsFunction(stack, `Function${i}`, {
            ...functionCode(entry),
            runtime: LAMBDA_RUNTIME,
            architecture: lambda.Architecture.ARM_64,
          }),
        ] as const,
    );
    app.synth();
    return functions.map(([entry, fn]) => {
      // The asset's S3 key is `<asset hash>.zip`; the cloud assembly stages it in `asset.<hash>/`.
      const { s3Key } = stack.resolve((fn.node.defaultChild as lambda.CfnFunction).code) as { s3Key: string };
      const staged = join(outdir, `asset.${s3Key.replace(/\.zip$/, "")}`);
      const files = readdirSync(staged);
      if (!files.includes(BUNDLE_FILE) || files.some((file) => file !== BUNDLE_FILE && file !== CHUNKS_FOLDER))
        throw new Error(`the bundle of ${entry} is ${files.join(", ")}, not ${BUNDLE_FILE} and its ${CHUNKS_FOLDER}/`);
      const target = join(distDir, bundlePath(entry));
      mkdirSync(target, { recursive: true });
      cpSync(staged, target, { recursive: true });
      return target;
    });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
