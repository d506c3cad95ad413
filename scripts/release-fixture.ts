/**
 * `npm run release:fixture -- <tag>`: packs the release at `<tag>` as a test fixture for the
 * upgrade tests (test/upgrade/), which must not need git history (a CI clone may have no tags).
 *
 *   1. a temporary worktree at the tag, with this repository's node_modules linked into it;
 *   2. `npm pack` there (its prepack is that release's own `npm run build`): the construct, both
 *      Lambda bundles and the command, as that release shipped them;
 *   3. the tarball copied to test/fixtures/releases/, and the manifest (releases.json) given its
 *      version, tag, commit, integrity and the tag's cdk.json context (its feature flags);
 *   4. the worktree removed.
 *
 * `--replace-all` drops the other fixtures (a new release replaces the previous one; keep the
 * previous major's last release too, see the README's "Releasing"). npm pack fixes every file's
 * time, but the bundles' chunk names and path comments depend on where the worktree lies
 * relative to node_modules: a re-pack is the same code with other bytes, so keep the recorded one.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  integrityOf,
  PACKAGE_NAME,
  RELEASES_DIR,
  RELEASES_MANIFEST,
  type ReleaseFixture,
  readReleaseManifest,
} from "../dev/release-fixtures.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const replaceAll = args.includes("--replace-all");
const tag = args.find((arg) => !arg.startsWith("--"));
if (!tag) {
  console.error("usage: npm run release:fixture -- <tag> [--replace-all]   (for example v0.2.0)");
  process.exit(2);
}

const git = (...gitArgs: string[]) => execFileSync("git", gitArgs, { cwd: root, encoding: "utf8" }).trim();
const commit = git("rev-parse", `${tag}^{commit}`);
const cdkJson = JSON.parse(git("show", `${commit}:cdk.json`)) as { context?: Record<string, unknown> };
const version = (JSON.parse(git("show", `${commit}:package.json`)) as { version: string }).version;

const work = mkdtempSync(join(tmpdir(), "release-fixture-"));
const tree = join(work, "tree");
try {
  git("worktree", "add", "--detach", tree, commit);
  symlinkSync(join(root, "node_modules"), join(tree, "node_modules"));
  console.log(`packing ${tag} (${commit.slice(0, 7)}, version ${version}) ...`);
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: tree, stdio: ["ignore", "ignore", "inherit"] });
  const tarball = `${PACKAGE_NAME}-${version}.tgz`;
  const kept = replaceAll ? [] : existsSync(RELEASES_MANIFEST) ? readReleaseManifest().releases : [];
  const others = kept.filter((release) => release.version !== version);
  if (replaceAll) {
    for (const file of readdirSync(RELEASES_DIR)) if (file.endsWith(".tgz") && file !== tarball) rmSync(join(RELEASES_DIR, file));
  }
  copyFileSync(join(work, tarball), join(RELEASES_DIR, tarball));
  const fixture: ReleaseFixture = {
    version,
    tag,
    commit,
    tarball,
    integrity: integrityOf(join(RELEASES_DIR, tarball)),
    cdkContext: cdkJson.context ?? {},
  };
  const releases = [...others, fixture].sort((a, b) => a.version.localeCompare(b.version, "en", { numeric: true }));
  writeFileSync(RELEASES_MANIFEST, `${JSON.stringify({ releases }, null, 2)}\n`);
  console.log(`${join(RELEASES_DIR, tarball)}: ${fixture.integrity}`);
} finally {
  if (existsSync(tree)) git("worktree", "remove", "--force", tree);
  rmSync(work, { recursive: true, force: true });
}
