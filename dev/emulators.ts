/**
 * The AWS emulators the DynamoDB storage is tested on, as real separate processes on free
 * loopback ports:
 * - DynamoDB Local (Java), from the pinned package that dev/dynamodb-local.ts fetches;
 * - s3rver (a devDependency), an S3 emulator, run as its own Node process on a temp directory.
 * Each runs under a tiny Node supervisor that kills it when the test process goes away (its
 * stdin closes), so a crashed test run leaves no Java process behind.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { checkJava, fetchDynamoDbLocal } from "./dynamodb-local.ts";
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, type EmulatorEndpoints } from "./emulator-endpoints.ts";
import { createTableAndBucket } from "./dynamodb-fixtures.ts";
import { freePort, SUPERVISOR, spawnKept, stopChild, waitFor } from "./processes.ts";

export interface Emulators extends EmulatorEndpoints {
  /** Stops both emulators and removes their data. */
  stop(): Promise<void>;
}

export interface StartedProcess {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts DynamoDB Local (in memory, one shared database) on a free port. */
export async function startDynamoDbLocal(log: (line: string) => void = () => {}): Promise<StartedProcess> {
  checkJava();
  const dir = await fetchDynamoDbLocal(log);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const args = [
    "-e",
    SUPERVISOR,
    "java",
    `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
    "-Xmx512m",
    "-jar",
    join(dir, "DynamoDBLocal.jar"),
    "-inMemory",
    "-sharedDb",
    "-port",
    String(port),
  ];
  const { child, output, exited } = spawnKept(process.execPath, args, { cwd: dir });
  const stop = () => stopChild(child, exited);
  try {
    const client = new DynamoDBClient({
      endpoint,
      region: EMULATOR_REGION,
      credentials: EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      await waitFor("DynamoDB Local", 60_000, exited, output, async () => {
        await client.send(new ListTablesCommand({}));
        return true;
      });
    } finally {
      client.destroy();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, stop };
}

const S3RVER_SCRIPT = `
const S3rver = require(process.argv[1]);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2] });
server.run().then((address) => {
  process.stdout.write(JSON.stringify({ port: address.port }) + "\\n");
}, (error) => { console.error(String(error)); process.exit(1); });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 1000).unref();
  server.close().then(() => process.exit(0), () => process.exit(0));
};
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
`;

/** Starts s3rver as its own process on a free port, storing in a temp directory. */
export async function startS3rver(): Promise<StartedProcess> {
  const directory = await mkdtemp(join(tmpdir(), "s3rver-"));
  const s3rverMain = createRequire(import.meta.url).resolve("s3rver");
  const { child, output, exited } = spawnKept(process.execPath, ["-e", S3RVER_SCRIPT, s3rverMain, directory]);
  const stop = async () => {
    await stopChild(child, exited);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const port = await waitFor("s3rver", 30_000, exited, output, async () => {
      const match = /\{"port":(\d+)\}/.exec(output());
      return match ? Number(match[1]) : undefined;
    });
    return { endpoint: `http://127.0.0.1:${port}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts both emulators, creates the table (from `TABLE` in layout.ts) and the bucket. */
export async function startEmulators(
  options: { tableName?: string; bucketName?: string; log?: (line: string) => void } = {},
): Promise<Emulators> {
  const tableName = options.tableName ?? "taskchampion";
  const bucketName = options.bucketName ?? "taskchampion-payloads";
  const [dynamo, s3] = await Promise.allSettled([startDynamoDbLocal(options.log), startS3rver()]);
  if (dynamo.status === "rejected" || s3.status === "rejected") {
    if (dynamo.status === "fulfilled") await dynamo.value.stop();
    if (s3.status === "fulfilled") await s3.value.stop();
    throw dynamo.status === "rejected" ? dynamo.reason : (s3 as PromiseRejectedResult).reason;
  }
  const stop = async () => {
    await Promise.all([dynamo.value.stop(), s3.value.stop()]);
  };
  const endpoints: EmulatorEndpoints = {
    dynamodbEndpoint: dynamo.value.endpoint,
    s3Endpoint: s3.value.endpoint,
    region: EMULATOR_REGION,
    ...EMULATOR_CREDENTIALS,
    tableName,
    bucketName,
  };
  try {
    await createTableAndBucket(endpoints);
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...endpoints, stop };
}
