/**
 * The packed tarballs of earlier releases kept as test fixtures (test/fixtures/releases/): the
 * manifest that lists them, and a throwaway install of one, for the upgrade tests and the release
 * scripts. Each tarball is what `npm pack` made at that release's tag (scripts/release-fixture.ts),
 * so its construct, its two Lambda bundles and its command are that release's own code.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RELEASES_DIR = join(ROOT, "test", "fixtures", "releases");
export const RELEASES_MANIFEST = join(RELEASES_DIR, "releases.json");
/** The package's name, in the tarballs and in this repository's package.json. */
export const PACKAGE_NAME = "taskchampion-sync-server-aws";

/** One earlier release, as the manifest records it. */
export interface ReleaseFixture {
  /** Its package.json version, e.g. `0.2.0`. */
  version: string;
  /** The git tag it was packed from, and the commit the tag names. */
  tag: string;
  commit: string;
  /** The tarball's file name, beside the manifest. */
  tarball: string;
  /** `sha512-<base64>`, as npm writes a package's integrity. */
  integrity: string;
  /** cdk.json's `context` at that tag (the feature flags its stack was synthesized with). */
  cdkContext: Record<string, unknown>;
}

export interface ReleaseManifest {
  releases: ReleaseFixture[];
}

export function readReleaseManifest(): ReleaseManifest {
  return JSON.parse(readFileSync(RELEASES_MANIFEST, "utf8")) as ReleaseManifest;
}

/** The integrity string of a file, in npm's form. */
export function integrityOf(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

/** A release's package, unpacked where Node resolves its dependencies to this repository's. */
export interface InstalledRelease {
  fixture: ReleaseFixture;
  /** The package's folder (`<temp>/node_modules/taskchampion-sync-server-aws`). */
  packageDir: string;
  /** A folder beside node_modules, for programs that import the package by name. */
  workDir: string;
  /** The package's command (`taskchampion-sync-server-aws serve | admin | smoke`). */
  cli: string;
  /** The sync function's bundle, as Lambda runs it (export `handler`). */
  syncBundle: string;
  /** The maintenance function's bundle (export `handler`). */
  maintenanceBundle: string;
  remove(): void;
}

/**
 * Unpacks the release's tarball (checked against the manifest's integrity first) into a fresh
 * temporary folder's node_modules, with every other entry of this repository's node_modules
 * linked beside it: its dependencies and peers (aws-cdk-lib, the AWS SDK, better-sqlite3)
 * resolve to the versions installed here, as an install next to them would. Nothing is
 * downloaded and nothing is built.
 */
export function installRelease(fixture: ReleaseFixture): InstalledRelease {
  const tarball = join(RELEASES_DIR, fixture.tarball);
  const actual = integrityOf(tarball);
  if (actual !== fixture.integrity) {
    throw new Error(`${tarball} is not the fixture the manifest records (${actual} instead of ${fixture.integrity})`);
  }
  const workDir = mkdtempSync(join(tmpdir(), `tc-release-${fixture.version}-`));
  const modules = join(workDir, "node_modules");
  mkdirSync(modules);
  const unpacked = spawnSync("tar", ["-xzf", tarball, "-C", workDir], { encoding: "utf8" });
  if (unpacked.status !== 0) throw new Error(`tar could not unpack ${tarball}: ${unpacked.stderr}`);
  const packageDir = join(modules, PACKAGE_NAME);
  renameSync(join(workDir, "package"), packageDir);
  const ours = join(ROOT, "node_modules");
  for (const entry of readdirSync(ours)) {
    if (entry === PACKAGE_NAME || entry.startsWith(".")) continue;
    symlinkSync(join(ours, entry), join(modules, entry));
  }
  const bundle = (name: string) => join(packageDir, "dist", "bundles", "lambda", name, "index.mjs");
  return {
    fixture,
    packageDir,
    workDir,
    cli: join(packageDir, "dist", "bin", "cli.js"),
    syncBundle: bundle("index"),
    maintenanceBundle: bundle("maintenance"),
    remove: () => rmSync(workDir, { recursive: true, force: true }),
  };
}
