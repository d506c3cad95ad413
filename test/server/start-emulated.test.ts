/**
 * `npm run start:emulated`: the server on DynamoDB Local + S3 emulator, reachable from another
 * shell through the `export` lines it prints, stopped by one signal.
 */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runSmoke } from "../../bin/smoke.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { protocolClient } from "../support/http-client.ts";
import { descendants, survivors } from "../support/process-tree.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("npm run start:emulated", () => {
  it("serves the protocol on the DynamoDB storage with the given settings, and one SIGTERM stops everything", async () => {
    // As the README runs it: SIGTERM goes to npm, which passes it on.
    const child = spawn("npm", ["run", "start:emulated"], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LISTEN: "127.0.0.1:0", SNAPSHOT_VERSIONS: "2" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no server after 60 s:\n${output}`)), 60_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+), storage: DynamoDB/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      void exited.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
    });
    const started = [...descendants(child.pid!)];
    try {
      expect(started.some(([, cmd]) => cmd.includes("DynamoDBLocal.jar"))).toBe(true);
      expect(started.some(([, cmd]) => cmd.includes("s3rver"))).toBe(true);
      expect((await runSmoke({ url, log: () => {} })).ok).toBe(true);

      // SNAPSHOT_VERSIONS=2 reached the server: low urgency two versions after a snapshot.
      const clientId = newUuid();
      const client = protocolClient(url, clientId);
      let parent = (await client.addVersion(NIL_UUID, "v1")).headers.get("x-version-id")!;
      expect((await client.addSnapshot(parent, "snapshot")).status).toBe(200);
      const urgencies: (string | null)[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await client.addVersion(parent, `v${i + 2}`);
        urgencies.push(r.headers.get("x-snapshot-request"));
        parent = r.headers.get("x-version-id")!;
      }
      expect(urgencies).toEqual([null, null, "urgency=low"]);

      // Another shell: the printed export lines are all `npm run admin` needs to reach the same storage.
      const exports = Object.fromEntries(
        [...output.matchAll(/^export ([A-Z0-9_]+)=(\S+)$/gm)].map(([, name, value]) => [name!, value!.replace(/^'(.*)'$/, "$1")]),
      );
      expect(Object.keys(exports).sort()).toEqual(
        [
          "AWS_ACCESS_KEY_ID",
          "AWS_ENDPOINT_URL_DYNAMODB",
          "AWS_ENDPOINT_URL_S3",
          "AWS_REGION",
          "AWS_REQUEST_CHECKSUM_CALCULATION",
          "AWS_RESPONSE_CHECKSUM_VALIDATION",
          "AWS_SECRET_ACCESS_KEY",
          "BUCKET_NAME",
          "S3_FORCE_PATH_STYLE",
          "STORAGE",
          "TABLE_NAME",
        ].sort(),
      );
      const admin = (...args: string[]) =>
        promisify(execFile)(join(root, "node_modules", ".bin", "tsx"), ["bin/admin.ts", ...args], {
          cwd: root,
          env: { PATH: process.env.PATH, ...exports },
        });
      const listed = (await admin("list-clients", "--json")).stdout.split("\n").filter(Boolean);
      expect(listed.map((line) => (JSON.parse(line) as { clientId: string }).clientId)).toContain(clientId);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    // Nothing it started outlives it: the server, both emulators, their helpers.
    expect(await survivors(started.map(([pid]) => pid))).toEqual([]);
  }, 90_000);
});
