/**
 * `cdk deploy` of this version over a stack of each earlier release in test/fixtures/releases/
 * (dev/template-diff.ts): that release's construct, from its packed package, and this version's
 * app, synthesized with the same settings. Nothing that holds data, or that replicas and operators
 * rely on, is replaced or deleted: the same logical id and type, none of the properties that force
 * a replacement changed, still retained; `cdk diff`, by the CDK CLI's own resource specification,
 * agrees; and the changelog's Unreleased section says what the deploy changes. This tests whatever
 * this version's template is, with no expectation of what it adds or updates.
 *
 * Apart from the fixtures, the logical ids of those resources are pinned: a refactor that would
 * make CloudFormation replace one fails here instead of orphaning a team's data.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstalledRelease, installRelease, readReleaseManifest } from "../../dev/release-fixtures.ts";
import {
  type CfnTemplate,
  cdkDiff,
  compareTemplates,
  KEPT_RESOURCES,
  removeReports,
  type SynthesizedTemplate,
  synthesizeCurrent,
  UPGRADE_CONFIGURATIONS,
  type UpgradeReport,
  upgradeReports,
} from "../../dev/template-diff.ts";
import { changelogBlock, unreleasedSection } from "../../dev/changelog.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const keptIn = (template: CfnTemplate) =>
  Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type in KEPT_RESOURCES)
    .map(([id, resource]) => `${id} ${resource.Type}`)
    .sort();

describe.each(readReleaseManifest().releases)("cdk deploy over a $version stack", (fixture) => {
  let release: InstalledRelease;
  let reports: UpgradeReport[] = [];

  beforeAll(() => {
    release = installRelease(fixture);
    reports = upgradeReports(release);
  }, 240_000);

  afterAll(() => {
    removeReports(reports);
    release?.remove();
  });

  describe.each(UPGRADE_CONFIGURATIONS.map((configuration) => configuration.name))("with %s", (name) => {
    const report = () => reports.find((r) => r.configuration.name === name)!;

    it("keeps each table, bucket, key, topic, log group, API, domain and distribution: same logical id and type, no replacing property changed (but the log groups ACCEPTED_REPLACEMENTS names), still retained", () => {
      const { previous, current, comparison } = report();
      // Not vacuous: the earlier release has such resources in this configuration.
      const kept = keptIn(previous.template);
      expect(kept.some((entry) => entry.endsWith("AWS::DynamoDB::Table"))).toBe(true);
      expect(kept.filter((entry) => entry.endsWith("AWS::Logs::LogGroup")).length).toBeGreaterThanOrEqual(3);
      expect(comparison.keptViolations).toEqual([]);
      expect(keptIn(current.template)).toEqual(expect.arrayContaining(kept));
    });

    it("cdk diff, by the CDK CLI's resource specification, replaces, destroys or orphans none of them", () => {
      const { diff, previous, accepted } = report();
      const kept = new Set(
        Object.keys(previous.template.Resources).filter((id) => previous.template.Resources[id]!.Type in KEPT_RESOURCES),
      );
      const accepting = (line: (typeof diff)[number]) => line.impact === "replace" && accepted.has(line.id);
      const atRisk = diff.filter((line) => kept.has(line.id) && (line.change === "-" || (line.impact !== undefined && !accepting(line))));
      expect(atRisk.map((line) => line.line)).toEqual([]);
      // cdk diff saw the kept resources at all (its lines name them by logical id).
      expect(diff.length).toBeGreaterThan(0);
    });
  });

  it("the changelog's Unreleased section says what the deploy changes", () => {
    const changelog = readFileSync(join(root, "CHANGELOG.md"), "utf8");
    const block = changelogBlock(fixture.version, reports);
    expect(
      unreleasedSection(changelog).includes(block),
      `CHANGELOG.md's Unreleased section does not have this version's template changes from ${fixture.version}: ` +
        `run \`npm run release:template-diff -- --write\`. Expected:\n${block}`,
    ).toBe(true);
  });

  it("reads cdk diff's marks: a table whose KeySchema changed is a replacement, a removed topic is destroyed", () => {
    const { previous, current } = reports[0]!;
    const template = structuredClone(previous.template);
    const [tableId, table] = Object.entries(template.Resources).find(([, r]) => r.Type === "AWS::DynamoDB::Table")!;
    table.Properties = { ...table.Properties, KeySchema: [{ AttributeName: "other", KeyType: "HASH" }] };
    template.Resources.GoneTopic = { Type: "AWS::SNS::Topic", Properties: {} };
    const file = join(previous.assemblyDir, "altered.template.json");
    writeFileSync(file, JSON.stringify(template));
    const { lines } = cdkDiff(current, file);
    expect(lines.find((line) => line.id === tableId)).toMatchObject({ change: "~", type: "AWS::DynamoDB::Table", impact: "replace" });
    expect(lines.find((line) => line.id === "GoneTopic")).toMatchObject({ change: "-", impact: "destroy" });
    expect(compareTemplates(template, current.template).keptViolations).toEqual([
      `AWS::DynamoDB::Table ${tableId}: KeySchema changes, which replaces it (${KEPT_RESOURCES["AWS::DynamoDB::Table"]!.source})`,
      "AWS::SNS::Topic GoneTopic is gone: CloudFormation would delete it",
    ]);
    // Only a log group kept on replacement may be replaced on purpose.
    expect(compareTemplates(template, current.template, new Set([tableId])).keptViolations).toContain(
      `AWS::DynamoDB::Table ${tableId} is an accepted replacement, but only a log group kept on replacement may be one`,
    );
  }, 60_000);
});

/**
 * The logical ids of every resource an upgrade must keep, with every option on, and with the
 * edge (which only this version knows: CloudFront's URL is then the clients'). A new such
 * resource is added here on purpose; an id that changes is a replacement on every deployed stack.
 */
const PINNED_LOGICAL_IDS: Readonly<Record<string, string>> = {
  SyncServerTableAAC59835: "AWS::DynamoDB::Table",
  SyncServerBucketC92ACD01: "AWS::S3::Bucket",
  SyncServerEncryptionKeyF528EA00: "AWS::KMS::Key",
  SyncServerAlarmTopic6D12C933: "AWS::SNS::Topic",
  SyncServerFunctionLogs0AA3889E: "AWS::Logs::LogGroup",
  SyncServerMaintenanceFunctionLogs1D894413: "AWS::Logs::LogGroup",
  SyncServerAccessLogs4357552F: "AWS::Logs::LogGroup",
  SyncServerApiF8F5C3F9: "AWS::ApiGatewayV2::Api",
  SyncServerDomain143D4D39: "AWS::ApiGatewayV2::DomainName",
};
const PINNED_EDGE_LOGICAL_IDS: Readonly<Record<string, string>> = {
  ...PINNED_LOGICAL_IDS,
  SyncServerEdge8681582F: "AWS::CloudFront::Distribution",
};

/**
 * The stack's outputs, with every option on: part of the public surface (the admin command's
 * `--stack` reads some, operators' scripts the others). A release may add outputs; removing or
 * renaming one is a major change.
 */
const PINNED_OUTPUTS = [
  "Url",
  "TaskConfigUrl",
  "TaskConfigOrigin",
  "TaskConfigClient",
  "TableName",
  "BucketName",
  "MaxClientBytes",
  "EncryptionKeyArn",
  "AlarmTopicArn",
  "DashboardName",
  "ApiEndpoint",
  "CustomDomainTarget",
];

const pinned = (ids: Readonly<Record<string, string>>) =>
  Object.entries(ids)
    .map(([id, type]) => `${id} ${type}`)
    .sort();

describe("the resources an upgrade must keep, and the stack's outputs", () => {
  const everyOption = UPGRADE_CONFIGURATIONS.find((configuration) => Object.keys(configuration.props).length > 0)!;
  const edge = { webAclArn: "arn:aws:wafv2:us-east-1:123456789012:global/webacl/tasks/00000000-0000-4000-8000-000000000000" };
  let synthesized: SynthesizedTemplate[] = [];

  beforeAll(() => {
    synthesized = [everyOption, { name: "every option and the edge", props: { ...everyOption.props, edge } }].map(synthesizeCurrent);
  }, 180_000);

  afterAll(() => {
    for (const { assemblyDir } of synthesized) rmSync(assemblyDir, { recursive: true, force: true });
  });

  it("keep their pinned logical ids, and there are no others", () => {
    expect(keptIn(synthesized[0]!.template)).toEqual(pinned(PINNED_LOGICAL_IDS));
    expect(keptIn(synthesized[1]!.template)).toEqual(pinned(PINNED_EDGE_LOGICAL_IDS));
  });

  it("the outputs keep their keys", () => {
    expect(Object.keys(synthesized[0]!.template.Outputs ?? {})).toEqual(expect.arrayContaining(PINNED_OUTPUTS));
  });
});
