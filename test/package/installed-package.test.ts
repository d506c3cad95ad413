/**
 * The package as a CDK app gets it: `npm pack` (which builds it) here, the tarball installed
 * into a fresh plain-JavaScript app in a temporary directory, that app (the README's example)
 * synthesized by the CDK CLI and its template asserted, and type-checked as TypeScript against
 * the package's declarations; the tarball holds exactly the files its entry points reach; then
 * the package's command run from that app as the README's systemd unit runs it: serve, smoke,
 * SIGTERM with a request in flight, the backup unit's backup, and the messages for what a build
 * or an install may lack.
 *
 * The app's aws-cdk-lib and constructs (the package's peers) are linked from this repository's
 * node_modules, the same versions an install would bring: extracting aws-cdk-lib takes minutes.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { SQLITE_FILE_NAME } from "../../bin/serve.ts";
import { SETTINGS } from "../../lambda/config.ts";
import { ROUTES } from "../../lambda/http/routes.ts";
import { TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../lambda/version.ts";
import { emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { assetFiles } from "../../dev/lambda-asset.ts";
import { httpEvent } from "../../dev/events.ts";
import { exited, startServerProcess } from "../support/server-process.ts";
import { stopWithRequestInFlight } from "../support/stop-in-flight.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const README = readFileSync(join(root, "README.md"), "utf8");
const PACKAGE = "taskchampion-sync-server-aws";

/** The first fenced code block after the README line that contains `marker`. */
function readmeBlock(marker: string): string {
  const at = README.indexOf(marker);
  expect(at, `README has ${marker}`).toBeGreaterThan(-1);
  const block = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  expect(block, `a code block after ${marker}`).not.toBeNull();
  return block![1]!;
}

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}

let work: string;
let app: string;
let installed: string;
let command: string;
let resources: [string, CfnResource][];
let outdir: string;
let tarball: string;

function run(file: string, args: string[], options: { cwd: string; env?: Record<string, string> }) {
  return spawnSync(file, args, {
    cwd: options.cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    timeout: 240_000,
  });
}

function mustRun(file: string, args: string[], options: { cwd: string; env?: Record<string, string> }): string {
  const result = run(file, args, options);
  if (result.status !== 0) throw new Error(`${file} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "tc-package-"));
  mustRun("npm", ["pack", "--pack-destination", work], { cwd: root });
  tarball = join(work, `${PACKAGE}-${SERVER_VERSION}.tgz`);

  app = join(work, "task-sync");
  mkdirSync(join(app, "bin"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "task-sync", private: true }));
  // A CDK app that only deploys: without the optional better-sqlite3 (nothing to compile).
  mustRun("npm", ["install", "--prefer-offline", "--legacy-peer-deps", "--omit=optional", "--no-audit", "--no-fund", tarball], {
    cwd: app,
  });
  for (const peer of ["aws-cdk-lib", "constructs"]) symlinkSync(join(root, "node_modules", peer), join(app, "node_modules", peer));
  installed = join(app, "node_modules", PACKAGE);
  command = join(app, "node_modules", ".bin", PACKAGE);

  writeFileSync(join(app, "bin", "app.mjs"), readmeBlock("`bin/app.mjs`:"));
  writeFileSync(join(app, "cdk.json"), JSON.stringify({ app: "node bin/app.mjs" }));
  outdir = join(app, "cdk.out");
  mustRun(join(root, "node_modules", ".bin", "cdk"), ["synth", "--quiet", "--no-notices", "-o", outdir], {
    cwd: app,
    env: { CDK_DISABLE_CLI_TELEMETRY: "true" },
  });
  const template = JSON.parse(readFileSync(join(outdir, "TaskSync.template.json"), "utf8")) as { Resources: Record<string, CfnResource> };
  resources = Object.entries(template.Resources);
}, 420_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);

describe("the package, installed in a plain JavaScript CDK app", () => {
  it("holds compiled JavaScript with declarations, the command and both bundles, and no TypeScript source", () => {
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    expect(Object.keys(manifest.peerDependencies!).sort()).toEqual(["aws-cdk-lib", "constructs"]);
    expect(manifest.optionalDependencies).toHaveProperty("better-sqlite3");
    expect(manifest.dependencies).not.toHaveProperty("aws-cdk-lib");
    for (const file of ["dist/lib/index.js", "dist/lib/index.d.ts", "dist/lib/sync-server.d.ts", "dist/bin/cli.js"]) {
      expect(existsSync(join(installed, file)), file).toBe(true);
    }
    // Each bundle: its entry and the chunks it loads.
    for (const bundle of ["index", "maintenance"]) {
      const bundleFiles = assetFiles(join(installed, "dist/bundles/lambda", bundle));
      expect(bundleFiles).toContain("index.mjs");
      for (const file of bundleFiles) expect(file === "index.mjs" || /^chunks\/[\w-]+\.mjs$/.test(file), file).toBe(true);
    }
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
    expect(files(installed).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    // Nothing to build or transpile at synth, and nothing native to compile for a deploy-only app.
    for (const absent of ["esbuild", "tsx", "typescript", "better-sqlite3"])
      expect(existsSync(join(app, "node_modules", absent)), absent).toBe(false);
  });

  it("holds exactly what a consumer needs: what its entry points load and declare, both bundles, the README, changelog and license", () => {
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      exports: { ".": { types: string; default: string } };
      types: string;
      bin: Record<string, string>;
    };
    // The entry points: the library (code and types) and the command, which loads admin by its path.
    const entries = [
      manifest.exports["."].default,
      manifest.exports["."].types,
      manifest.types,
      ...Object.values(manifest.bin),
      "dist/bin/admin.js",
    ];
    const needed = new Set(["package.json", "README.md", "CHANGELOG.md", "LICENSE"]);
    const pending = entries.map((entry) => join(entry));
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (needed.has(file)) continue;
      needed.add(file);
      const code = existsSync(join(installed, file)) ? readFileSync(join(installed, file), "utf8") : "";
      // Static and dynamic imports and re-exports; a declaration file's "./x.ts" or "./x.js" is ./x.d.ts.
      for (const [, specifier] of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["']([^"']+)["']/g)) {
        if (!specifier?.startsWith(".")) continue;
        const target = join(dirname(file), specifier);
        pending.push(file.endsWith(".d.ts") ? target.replace(/\.(ts|js)$/, ".d.ts") : target);
      }
    }
    for (const bundle of ["index", "maintenance"]) {
      for (const file of assetFiles(join(installed, "dist/bundles/lambda", bundle))) needed.add(join("dist/bundles/lambda", bundle, file));
    }
    const packed = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => line.replace(/^package\//, ""));
    expect(packed.sort(), 'the packed files against those its entry points reach (package.json\'s "files" decides what is packed)').toEqual(
      [...needed].sort(),
    );
  });

  it("declares its types for a TypeScript app: the README's app type-checks against them, and a wrong prop does not", () => {
    const ts = join(app, "bin", "typed-app.mts");
    writeFileSync(
      ts,
      `${readmeBlock("`bin/app.mjs`:")}\n// @ts-expect-error: not a prop of TaskChampionSyncServerProps\nnew TaskChampionSyncServer(stack, "Typo", { clientIdz: [] });\n`,
    );
    const options = [
      "--noEmit",
      "--strict",
      "--skipLibCheck",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--target",
      "es2022",
    ];
    const checked = run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), ...options, ts], { cwd: app });
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.status).toBe(0);
  }, 120_000);

  it("synthesizes the README's app: the HTTP API with the route table's routes, the table, the bucket", () => {
    expect(ofType("AWS::ApiGatewayV2::Api")).toHaveLength(1);
    const routeKeys = ofType("AWS::ApiGatewayV2::Route").map(([, r]) => r.Properties.RouteKey);
    expect(routeKeys.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    const [[, table]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    expect(table.Properties.KeySchema).toEqual([
      { AttributeName: TABLE.partitionKey.name, KeyType: "HASH" },
      { AttributeName: TABLE.sortKey.name, KeyType: "RANGE" },
    ]);
    expect(ofType("AWS::S3::Bucket")).toHaveLength(1);
  });

  it("gives each function the package's prebuilt bundle as its code, and the sync function the app's settings", () => {
    const byId = new Map(resources);
    /** The function's asset, compared with the package's bundle file by file. */
    const sameAsBundle = (fnId: string, bundle: string) => {
      const key = (byId.get(fnId)!.Properties.Code as { S3Key: string }).S3Key;
      const asset = join(outdir, `asset.${key.replace(/\.zip$/, "")}`);
      const packaged = join(installed, "dist/bundles/lambda", bundle);
      expect(assetFiles(asset)).toEqual(assetFiles(packaged));
      for (const file of assetFiles(asset))
        expect(readFileSync(join(asset, file)).equals(readFileSync(join(packaged, file))), file).toBe(true);
    };
    // The function behind the API, and the one the schedule runs.
    const [, integration] = ofType("AWS::ApiGatewayV2::Integration")[0]!;
    const syncId = (integration.Properties.IntegrationUri as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
    const [, rule] = ofType("AWS::Events::Rule")[0]!;
    const sweepId = (rule.Properties.Targets as { Arn: { "Fn::GetAtt": [string, string] } }[])[0]!.Arn["Fn::GetAtt"][0];
    sameAsBundle(syncId, "index");
    sameAsBundle(sweepId, "maintenance");

    const fn = byId.get(syncId)!;
    expect(fn.Properties.Handler).toBe("index.handler");
    const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const [[bucketId]] = ofType("AWS::S3::Bucket") as [[string, CfnResource]];
    expect(env[SETTINGS.tableName.name]).toEqual({ Ref: tableId });
    expect(env[SETTINGS.bucketName.name]).toEqual({ Ref: bucketId });
    // The README's app registers its users in the table: no allowlist, no client created on its own.
    expect(env).not.toHaveProperty(SETTINGS.clientIdAllowlist.name);
    expect(env[SETTINGS.createClients.name]).toBe("false");
  });

  it("deploys a bundle that loads on its own, with nothing beside it but its chunks, and answers", () => {
    const alone = mkdtempSync(join(tmpdir(), "tc-bundle-"));
    try {
      cpSync(join(installed, "dist/bundles/lambda/index"), alone, { recursive: true });
      const script = `
        const { handler } = await import(process.env.BUNDLE_URL);
        const result = await handler(JSON.parse(process.env.EVENT));
        process.stdout.write("RESULT " + JSON.stringify(result) + "\\n");
      `;
      const stdout = execFileSync(process.execPath, ["--no-warnings", "--input-type=module", "-e", script], {
        cwd: alone,
        encoding: "utf8",
        env: {
          PATH: process.env.PATH ?? "",
          BUNDLE_URL: pathToFileURL(join(alone, "index.mjs")).href,
          EVENT: JSON.stringify(httpEvent("GET", "/")),
          [SETTINGS.tableName.name]: "table",
          [SETTINGS.bucketName.name]: "bucket",
          AWS_REGION: "eu-west-1",
        },
        timeout: 30_000,
      });
      // The function logs its request line to stdout as well.
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      const result = JSON.parse(line!.slice("RESULT ".length)) as { statusCode: number; body: string };
      expect(result.statusCode).toBe(200);
      expect(result.body).toContain(SERVER_VERSION);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });
});

describe("the package's command", () => {
  it("lists its commands, and refuses an unknown one", () => {
    const help = run(command, ["--help"], { cwd: app });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`usage: ${SERVER_NAME} <command>`));
    for (const name of ["serve", "smoke", "admin"]) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    expect(run(command, ["--version"], { cwd: app }).stdout.trim()).toBe(SERVER_VERSION);
    const unknown = run(command, ["deploy"], { cwd: app });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown command: deploy");
  });

  it("says that admin is missing from a build without it, instead of a stack trace", () => {
    // Simulates a build without bin/admin.ts, whether or not this one has it; put back for the tests that run admin.
    const adminFile = join(installed, "dist/bin/admin.js");
    const had = existsSync(adminFile);
    if (had) renameSync(adminFile, `${adminFile}.aside`);
    try {
      const admin = run(command, ["admin", "--help"], { cwd: app });
      expect(admin.status).toBe(1);
      expect(admin.stderr).toMatch(
        /admin: this build of taskchampion-sync-server-aws has no admin command \(.*dist\/bin\/admin\.js is missing\)/,
      );
      expect(admin.stderr).not.toMatch(/\n\s+at /);
    } finally {
      if (had) renameSync(`${adminFile}.aside`, adminFile);
    }
  });

  describe("without a working better-sqlite3", () => {
    it("serve on SQLite says how to get it, and serve in memory needs none", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "tc-nosqlite-"));
      try {
        const refused = run(command, ["serve"], { cwd: app, env: { DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" } });
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain("needs better-sqlite3, which could not be loaded");
        expect(refused.stderr).toContain("npm install better-sqlite3");
        expect(refused.stderr).toContain("STORAGE=memory");
        expect(refused.stderr).not.toMatch(/\n\s+at /);

        const memory = await startServerProcess(command, ["serve"], { cwd: app, env: { STORAGE: "memory", LISTEN: "127.0.0.1:0" } });
        expect((await fetch(`${memory.url}/`)).status).toBe(200);
        const stopped = exited(memory.child);
        memory.child.kill("SIGTERM");
        expect(await stopped).toBe(0);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it("serve on DynamoDB + S3 (the emulators) needs only the package's own dependencies, and passes smoke", async () => {
      const server = await startServerProcess(command, ["serve"], {
        cwd: app,
        env: { ...emulatorEnv(emulatorsFrom(inject("emulators"))), LISTEN: "127.0.0.1:0" },
      });
      try {
        expect(server.output()).toMatch(/storage: DynamoDB/);
        const smoke = run(command, ["smoke", "--url", server.url], { cwd: app });
        expect(smoke.status, smoke.stdout + smoke.stderr).toBe(0);
      } finally {
        const stopped = exited(server.child);
        server.child.kill("SIGTERM");
        expect(await stopped).toBe(0);
      }
    });

    it("serve on SQLite with better-sqlite3 installed but not built (its install script not run) says the same", () => {
      const stub = join(app, "node_modules", "better-sqlite3");
      const dataDir = mkdtempSync(join(tmpdir(), "tc-unbuilt-"));
      try {
        // The package's JavaScript and its dependency, without build/ (what its install script makes).
        for (const part of ["package.json", "lib"])
          cpSync(join(root, "node_modules", "better-sqlite3", part), join(stub, part), { recursive: true });
        symlinkSync(join(root, "node_modules", "bindings"), join(app, "node_modules", "bindings"));
        const refused = run(command, ["serve"], { cwd: app, env: { DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" } });
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain("Could not locate the bindings file");
        expect(refused.stderr).toContain("npm install better-sqlite3");
        expect(refused.stderr).not.toMatch(/\n\s+at /);
      } finally {
        rmSync(stub, { recursive: true, force: true });
        rmSync(join(app, "node_modules", "bindings"), { force: true });
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe("with better-sqlite3, as the README's systemd unit runs it", () => {
    beforeAll(() => {
      // What `npm install` of the package brings by default (the optional dependency, compiled
      // by its install script): this repository's copy, built for this Node.js.
      symlinkSync(join(root, "node_modules", "better-sqlite3"), join(app, "node_modules", "better-sqlite3"));
    });

    it("serves on SQLite, passes smoke, and on SIGTERM finishes the request in flight, closes the database and exits 0", async () => {
      const unit = readmeBlock("/etc/systemd/system/taskchampion-sync-server.service");
      const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(" ");
      const [file, ...args] = execStart.map((word) => word.replace("/opt/taskchampion", app));
      expect(file).toBe(command);
      const dataDir = mkdtempSync(join(tmpdir(), "tc-service-"));
      try {
        const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
        expect(Object.keys(env).sort()).toEqual(["DATA_DIR", "LISTEN"]);
        // The unit's settings, on a free port and a temporary directory.
        const server = await startServerProcess(file!, args, { cwd: "/", env: { ...env, DATA_DIR: dataDir, LISTEN: "127.0.0.1:0" } });
        expect(server.output()).toContain(`storage: SQLite at ${join(dataDir, SQLITE_FILE_NAME)}`);

        const smoke = run(command, ["smoke", "--url", server.url], { cwd: app });
        expect(smoke.status, smoke.stdout + smoke.stderr).toBe(0);
        expect(smoke.stdout).toMatch(/^PASSED: /m);

        await stopWithRequestInFlight(server, join(dataDir, SQLITE_FILE_NAME));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it("backs up as the README's backup unit runs it: one owner-only file per weekday, replaced a week later", () => {
      const unit = readmeBlock("/etc/systemd/system/taskchampion-sync-server-backup.service");
      const dataDir = mkdtempSync(join(tmpdir(), "tc-service-"));
      const backups = mkdtempSync(join(tmpdir(), "tc-backups-"));
      try {
        const added = run(command, ["admin", "add-client", "--json"], { cwd: "/", env: { DATA_DIR: dataDir } });
        expect(added.status, added.stderr).toBe(0);
        const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
        expect(Object.keys(env)).toEqual(["DATA_DIR"]);
        // systemd's own unescaping first: %% and $$ are a literal % and $ (systemd.unit(5), systemd.service(5)); a lone % or $ would be systemd's.
        const line = /^ExecStart=(.+)$/m.exec(unit)![1]!;
        expect(line.replaceAll("%%", "")).not.toContain("%");
        expect(line.replaceAll("$$", "")).not.toContain("$");
        const execStart = line
          .replaceAll("%%", "%")
          .replaceAll("$$", "$")
          .replaceAll("/opt/taskchampion", app)
          .replaceAll("/var/lib/taskchampion-sync-server-backups", backups);
        for (let time = 0; time < 2; time++) {
          const backup = run("sh", ["-c", execStart], { cwd: "/", env: { ...env, DATA_DIR: dataDir } });
          expect(backup.stderr).toBe("");
          expect(backup.status).toBe(0);
          expect(backup.stdout).toMatch(/^Backed up .* 1 client, /);
        }
        const day = new Date().toLocaleDateString("en-US", { weekday: "short" });
        expect(readdirSync(backups)).toEqual([`backup-${day}.sqlite3`]);
        expect(statSync(join(backups, `backup-${day}.sqlite3`)).mode & 0o777).toBe(0o600);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(backups, { recursive: true, force: true });
      }
    });
  });
});
