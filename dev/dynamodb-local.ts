/**
 * DynamoDB Local, AWS's own emulator (Java), taken from the pinned npm package
 * `amplify-dynamodb-simulator`: `npm pack` into the git-ignored `.cache/dynamodb-local/<version>/`,
 * only `package/emulator/` extracted, checked against the pinned integrity. The package is not a
 * dependency of the project (its dependency tree stays out). Running it needs Java: `checkJava`.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DYNAMODB_LOCAL_PACKAGE = "amplify-dynamodb-simulator";
/** Pinned: bump both together (`npm view amplify-dynamodb-simulator@<v> dist.integrity`). */
export const DYNAMODB_LOCAL_PACKAGE_VERSION = "2.9.30";
export const DYNAMODB_LOCAL_PACKAGE_INTEGRITY =
  "sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Where the emulator is cached (git-ignored `.cache/`). */
export const DYNAMODB_LOCAL_DIR = join(REPO_ROOT, ".cache", "dynamodb-local", DYNAMODB_LOCAL_PACKAGE_VERSION);
const COMPLETE_MARKER = ".complete";

const JAVA_MISSING = [
  "DynamoDB Local needs Java (17 or newer), and `java` was not found on the PATH.",
  "Install it, for example on Debian or Ubuntu: apt-get install -y openjdk-17-jre-headless",
  "(macOS: brew install openjdk@17). Then run the tests again.",
].join("\n");

/**
 * Makes sure the pinned DynamoDB Local is in the cache; returns its directory (with
 * `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`). Safe to run concurrently: the extraction
 * happens in a temp directory that is renamed into place.
 */
export async function fetchDynamoDbLocal(log: (line: string) => void = () => {}): Promise<string> {
  if (existsSync(join(DYNAMODB_LOCAL_DIR, COMPLETE_MARKER))) return DYNAMODB_LOCAL_DIR;
  const parent = join(REPO_ROOT, ".cache", "dynamodb-local");
  await mkdir(parent, { recursive: true });
  const work = await mkdtemp(join(parent, ".fetch-"));
  try {
    const spec = `${DYNAMODB_LOCAL_PACKAGE}@${DYNAMODB_LOCAL_PACKAGE_VERSION}`;
    log(`fetching ${spec} (DynamoDB Local) with npm pack`);
    const pack = spawnSync("npm", ["pack", spec, "--pack-destination", work, "--json", "--no-audit", "--no-fund"], {
      cwd: work,
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
    if (pack.error || pack.status !== 0) {
      throw new Error(`npm pack ${spec} failed: ${pack.error?.message ?? ""}${pack.stderr ?? ""}`);
    }
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
    if (!info) throw new Error(`npm pack ${spec} printed no file name`);
    const tarball = join(work, info.filename.replace(/^@/, "").replace(/\//g, "-"));
    const integrity = `sha512-${await sha512Base64(tarball)}`;
    if (integrity !== DYNAMODB_LOCAL_PACKAGE_INTEGRITY) {
      throw new Error(`${spec}: integrity ${integrity} is not the pinned ${DYNAMODB_LOCAL_PACKAGE_INTEGRITY}`);
    }
    const extracted = join(work, "emulator");
    await mkdir(extracted);
    const tar = spawnSync("tar", ["-xzf", tarball, "-C", extracted, "--strip-components=2", "package/emulator"], { encoding: "utf8" });
    if (tar.error || tar.status !== 0) throw new Error(`extracting ${tarball} failed: ${tar.error?.message ?? ""}${tar.stderr ?? ""}`);
    if (!existsSync(join(extracted, "DynamoDBLocal.jar"))) throw new Error(`${spec} has no emulator/DynamoDBLocal.jar`);
    await writeFile(join(extracted, COMPLETE_MARKER), `${spec} ${integrity}\n`);
    try {
      await rename(extracted, DYNAMODB_LOCAL_DIR);
    } catch (error) {
      // Another fetch won the race: fine if it completed.
      if (!existsSync(join(DYNAMODB_LOCAL_DIR, COMPLETE_MARKER))) throw error;
    }
    log(`DynamoDB Local is in ${DYNAMODB_LOCAL_DIR}`);
    return DYNAMODB_LOCAL_DIR;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function sha512Base64(file: string): Promise<string> {
  const hash = createHash("sha512");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("base64");
}

/** Throws the install hint when `java` cannot run. */
export function checkJava(): void {
  const result = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) throw new Error(JAVA_MISSING);
}
