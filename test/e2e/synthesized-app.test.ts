/**
 * End to end on what would be deployed: `cdk synth` the app, take the bundled Lambda asset
 * from cdk.out and the table definition from the synthesized template, create that table in
 * DynamoDB Local and a bucket in the S3 emulator, serve the asset behind the local payload-2.0
 * adapter with the environment the template gives the function, register users in the table
 * as an operator does (the deployed server creates no client on its own), and sync encrypted
 * replicas through it until they converge; then the operators' smoke test.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runSmoke } from "../../bin/smoke.ts";
import { CONTENT_TYPE, HEADER } from "../../lambda/http/protocol.ts";
import { DEFAULT_INLINE_SEGMENT_MAX_BYTES } from "../../lambda/storage/dynamodb/constants.ts";
import { openDynamoStorage } from "../../lambda/storage/dynamodb/storage.ts";
import { NIL_UUID, type Uuid } from "../../lambda/uuid.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import { emulatorClientOptions, emulatorEnv, emulatorsFrom, type EmulatorEndpoints } from "../../dev/emulator-endpoints.ts";
import { runConvergence } from "../support/replica-scenario.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

let outdir: string;
let server: ChildProcess | undefined;
let url: string;
/** Registers a client in the table, as `npm run admin -- add-client` does. */
let register: (clientId: string) => Promise<void>;

/** Replaces the template's `{ Ref: <logical id> }` values by what the emulators gave. */
function resolveRefs(value: unknown, refs: Record<string, string>): string {
  if (typeof value === "string") return value;
  const ref = (value as { Ref?: string }).Ref;
  if (ref && refs[ref] !== undefined) return refs[ref]!;
  throw new Error(`cannot resolve ${JSON.stringify(value)} outside AWS`);
}

beforeAll(async () => {
  const emulators: EmulatorEndpoints = emulatorsFrom(inject("emulators"));
  outdir = mkdtempSync(join(tmpdir(), "cdk-e2e-"));
  const synth = spawnSync(bin("cdk"), ["synth", "--quiet", "--no-notices", "-o", outdir], {
    cwd: root,
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CDK_DISABLE_CLI_TELEMETRY: "true" },
  });
  if (synth.status !== 0) throw new Error(`cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);
  const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const stackArtifact = Object.values(manifest.artifacts).find((a) => a.type === "aws:cloudformation:stack");
  const template = JSON.parse(readFileSync(join(outdir, stackArtifact!.properties!.templateFile!), "utf8")) as {
    Resources: Record<string, CfnResource>;
  };
  const resources = Object.entries(template.Resources);
  const [tableId, table] = resources.find(([, r]) => r.Type === "AWS::DynamoDB::Table")!;
  const [bucketId] = resources.find(([, r]) => r.Type === "AWS::S3::Bucket")!;
  // The function behind the API's integration (the stack has a scheduled maintenance function too).
  const [, integration] = resources.find(([, r]) => r.Type === "AWS::ApiGatewayV2::Integration")!;
  const fnId = (integration.Properties.IntegrationUri as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  const fn = template.Resources[fnId]!;

  // The table exactly as the template defines it (keys, indexes, billing), under a fresh name.
  const tableName = `e2e-${Date.now()}`;
  const bucketName = `e2e-${Date.now()}`;
  const p = table.Properties;
  await createTableAndBucket({ ...emulators, tableName, bucketName }, {
    TableName: tableName,
    KeySchema: p.KeySchema,
    AttributeDefinitions: p.AttributeDefinitions,
    BillingMode: p.BillingMode,
    LocalSecondaryIndexes: p.LocalSecondaryIndexes,
    GlobalSecondaryIndexes: p.GlobalSecondaryIndexes,
  } as CreateTableCommandInput);

  register = async (clientId) => {
    const storage = openDynamoStorage(
      { tableName, bucketName, forcePathStyle: true, inlineSegmentMaxBytes: DEFAULT_INLINE_SEGMENT_MAX_BYTES },
      emulatorClientOptions(emulators),
    );
    const txn = await storage.txn(clientId as Uuid);
    await txn.newClient(NIL_UUID);
    await txn.commit();
    await txn.release();
  };

  // The function's environment from the template, pointed at the emulators.
  const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const refs = { [tableId]: tableName, [bucketId]: bucketName };
  const functionEnv = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolveRefs(v, refs)]));
  const emulated = emulatorEnv(emulators);
  const env = {
    PATH: process.env.PATH!,
    ...functionEnv,
    AWS_REGION: emulated.AWS_REGION!,
    AWS_ACCESS_KEY_ID: emulated.AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: emulated.AWS_SECRET_ACCESS_KEY!,
    AWS_ENDPOINT_URL_DYNAMODB: emulated.AWS_ENDPOINT_URL_DYNAMODB!,
    AWS_ENDPOINT_URL_S3: emulated.AWS_ENDPOINT_URL_S3!,
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    // Only the emulator needs path-style S3; the deployed function does not set it.
    S3_FORCE_PATH_STYLE: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
  const [file, exportName] = String(fn.Properties.Handler).split(".");
  const asset = join(outdir, String(fn.Metadata!["aws:asset:path"]), `${file}.mjs`);
  server = spawn(bin("tsx"), [join(root, "test/support/serve-asset.ts"), asset, exportName!], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the asset did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    server!.stdout!.on("data", onData);
    server!.stderr!.on("data", onData);
    server!.once("exit", (code) => reject(new Error(`the asset exited with ${code}:\n${output}`)));
  });
}, 180_000);

afterAll(() => {
  server?.kill("SIGTERM");
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe("the synthesized app, its bundled function on the emulators", () => {
  it("creates no client on its own: an unregistered client id is refused", async () => {
    const response = await fetch(`${url}/v1/client/add-version/${NIL_UUID}`, {
      method: "POST",
      headers: { [HEADER.clientId]: randomUUID(), [HEADER.contentType]: CONTENT_TYPE.historySegment },
      body: new Uint8Array([1, 2, 3]),
    });
    await response.arrayBuffer();
    expect(response.status).toBe(404);
  });

  it("syncs several encrypted replicas of a registered user until they converge, and a fresh one from the snapshot", async () => {
    const clientId = randomUUID();
    await register(clientId);
    const stats = await runConvergence(url, { replicas: 3, rounds: 3, clientId });
    expect(stats.conflicts).toBeGreaterThan(0);
    expect(stats.freshReplicaUsedSnapshot).toBe(true);
  }, 120_000);

  it("passes the operators' smoke test", async () => {
    const lines: string[] = [];
    const clientId = randomUUID();
    await register(clientId);
    const result = await runSmoke({ url, clientId, log: (line) => lines.push(line) });
    expect(
      result.checks.filter((c) => !c.ok),
      lines.join("\n"),
    ).toEqual([]);
  }, 60_000);
});
