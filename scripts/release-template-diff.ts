/**
 * `npm run release:template-diff [-- --write]`: what `cdk deploy` of this version does to a stack
 * of each earlier release in test/fixtures/releases/, offline (dev/template-diff.ts): the
 * summary the changelog's Unreleased section carries (written there with `--write`), then, for a
 * closer look, `cdk diff`'s own output. Exits 1 if a resource an upgrade must keep would be
 * replaced or deleted.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { installRelease, readReleaseManifest } from "../dev/release-fixtures.ts";
import { changelogBlock, withChangelogBlock } from "../dev/changelog.ts";
import { removeReports, type UpgradeReport, upgradeReports } from "../dev/template-diff.ts";

const changelogFile = fileURLToPath(new URL("../CHANGELOG.md", import.meta.url));
const write = process.argv.includes("--write");
let changelog = readFileSync(changelogFile, "utf8");
let violations = 0;
for (const fixture of readReleaseManifest().releases) {
  const release = installRelease(fixture);
  let reports: UpgradeReport[] = [];
  try {
    reports = upgradeReports(release);
    const block = changelogBlock(fixture.version, reports);
    console.log(`${block}\n`);
    for (const report of reports) {
      for (const violation of report.comparison.keptViolations)
        console.error(`KEPT RESOURCE AT RISK (${report.configuration.name}): ${violation}`);
      violations += report.comparison.keptViolations.length;
      console.log(`---- cdk diff from ${fixture.version}, ${report.configuration.name}`);
      console.log(report.diffOutput);
    }
    changelog = withChangelogBlock(changelog, fixture.version, block);
  } finally {
    removeReports(reports);
    release.remove();
  }
}
if (write) {
  writeFileSync(changelogFile, changelog);
  console.log(`${changelogFile}: the Unreleased section's template changes are up to date`);
}
if (violations > 0) process.exitCode = 1;
