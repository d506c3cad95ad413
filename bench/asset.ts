/**
 * The sync function as it would be deployed: `cdk synth` of the app into a temporary
 * directory, then, from the synthesized template, the function behind the API's integration:
 * its bundled asset (`index.mjs` and its chunks), its handler export, its memory and its environment (the
 * table and bucket references resolved to the emulators' names). The memory and cold-start
 * sections run this file in their own Node processes.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { emulatorEnv, type EmulatorEndpoints } from "../dev/emulator-endpoints.ts";
import { assetFiles, totalBytes } from "../dev/lambda-asset.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const CDK = join(REPO_ROOT, "node_modules", ".bin", "cdk");

export interface FunctionAsset {
  /** The synthesized cloud assembly (removed by `remove`). */
  dir: string;
  /** The function's asset directory: the entry and its chunks. */
  assetDir: string;
  /** The bundled handler file, in it. */
  file: string;
  /** The whole asset's size in bytes. */
  bytes: number;
  handlerExport: string;
  /** The function's MemorySize in the template, MB. */
  memoryMb: number;
  /** The function's environment with the table and bucket named. */
  environment(tableName: string, bucketName: string): Record<string, string>;
  remove(): Promise<void>;
}

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

interface Manifest {
  artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
}

/** Runs `cdk synth --quiet -o <dir>`; resolves when it succeeded. */
function synth(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(CDK, ["synth", "--quiet", "--no-notices", "-o", dir], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CDK_DISABLE_CLI_TELEMETRY: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`cdk synth exited with ${code}:\n${output}`))));
  });
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the synthesized template has no ${what}`);
  return value;
}

/** Synthesizes the app and finds the sync function in it. */
export async function synthesizeFunction(): Promise<FunctionAsset> {
  const dir = await mkdtemp(join(tmpdir(), "bench-synth-"));
  try {
    await synth(dir);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    const stack = Object.values(manifest.artifacts).find((a) => a.type === "aws:cloudformation:stack");
    const templateFile = required(stack?.properties?.templateFile, "stack artifact");
    const template = JSON.parse(await readFile(join(dir, templateFile), "utf8")) as { Resources: Record<string, CfnResource> };
    const resources = Object.entries(template.Resources);
    const idOf = (type: string) => required(resources.find(([, r]) => r.Type === type)?.[0], type);
    const tableId = idOf("AWS::DynamoDB::Table");
    const bucketId = idOf("AWS::S3::Bucket");
    // The function behind the API's integration (the stack has a scheduled maintenance function too).
    const integration = required(resources.find(([, r]) => r.Type === "AWS::ApiGatewayV2::Integration")?.[1], "API integration");
    const uri = integration.Properties?.IntegrationUri as { "Fn::GetAtt"?: [string, string] } | undefined;
    const functionId = required(uri?.["Fn::GetAtt"]?.[0], "integration target");
    const fn = required(template.Resources[functionId], `function ${functionId}`);
    const [fileStem, handlerExport] = String(fn.Properties?.Handler ?? "").split(".");
    const assetPath = required(fn.Metadata?.["aws:asset:path"] as string | undefined, "asset path");
    const assetDir = join(dir, assetPath);
    const file = join(assetDir, `${required(fileStem, "handler file")}.mjs`);
    const variables = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return {
      dir,
      assetDir,
      file,
      bytes: totalBytes(assetDir, assetFiles(assetDir)),
      handlerExport: required(handlerExport, "handler export"),
      memoryMb: Number(fn.Properties?.MemorySize),
      environment: (tableName, bucketName) => {
        const refs: Record<string, string> = { [tableId]: tableName, [bucketId]: bucketName };
        return Object.fromEntries(
          Object.entries(variables).map(([name, value]) => {
            if (typeof value === "string") return [name, value];
            const ref = (value as { Ref?: string }).Ref;
            const resolved = ref === undefined ? undefined : refs[ref];
            if (resolved === undefined) throw new Error(`cannot resolve ${name} = ${JSON.stringify(value)} outside AWS`);
            return [name, resolved];
          }),
        );
      },
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The environment of a process running the function on the emulators: the template's, the
 * table and bucket named, the SDK pointed at the emulators. The SDK's warning about Node 20
 * is off: Lambda runs the function on the runtime the construct names, which it does not warn on.
 */
export function functionProcessEnv(asset: FunctionAsset, emulators: EmulatorEndpoints): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    ...emulatorEnv(emulators),
    ...asset.environment(emulators.tableName, emulators.bucketName),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}
