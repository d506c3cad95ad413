/**
 * The changelog's record of what `cdk deploy` over each earlier release changes in the template:
 * a block in the Unreleased section, between markers that `npm run release:template-diff -- --write`
 * finds again to replace it, and that the upgrade test compares with what it computes.
 */
import { summaryLines, type UpgradeReport } from "./template-diff.ts";

const blockStart = (version: string) => `<!-- template changes from ${version}: start -->`;
const blockEnd = (version: string) => `<!-- template changes from ${version}: end -->`;

/** The changelog's block for the upgrade from `version`, between markers the release script finds again. */
export function changelogBlock(version: string, reports: readonly UpgradeReport[]): string {
  return [
    blockStart(version),
    "",
    `Template changes over a ${version} stack (\`npm run release:template-diff\`, offline: the same settings synthesized by both):`,
    "",
    ...reports.flatMap((report) => summaryLines(report.configuration.name, report.comparison, report.diff)),
    "",
    blockEnd(version),
  ].join("\n");
}

/** The text of the changelog's "Unreleased" section (up to the next release's heading). */
export function unreleasedSection(changelog: string): string {
  const start = changelog.indexOf("\n## [Unreleased]");
  if (start < 0) throw new Error('CHANGELOG.md has no "## [Unreleased]" section');
  const next = changelog.indexOf("\n## [", start + 1);
  return changelog.slice(start, next < 0 ? undefined : next);
}

/** The changelog with the block for `version` in its Unreleased section put in or replaced. */
export function withChangelogBlock(changelog: string, version: string, block: string): string {
  const section = unreleasedSection(changelog);
  const from = section.indexOf(blockStart(version));
  const to = section.indexOf(blockEnd(version));
  const updated =
    from >= 0 && to > from
      ? `${section.slice(0, from)}${block}${section.slice(to + blockEnd(version).length)}`
      : `${section.trimEnd()}\n\n${block}\n\n`;
  return changelog.replace(section, updated);
}
