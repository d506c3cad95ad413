/**
 * What `cdk deploy` of this version does to a stack that an earlier release deployed, worked out
 * offline from the two templates: the earlier release's construct synthesized from its packed
 * package (dev/release-fixtures.ts), this one from source, with the same settings. The upgrade
 * test holds it to "no stored data is replaced or deleted"; the release script writes its summary
 * into the changelog.
 *
 * Without AWS no change set can be made, so two offline judges: the properties CloudFormation
 * documents as replacing a resource (KEPT_RESOURCES, each with its source), and the CDK CLI's
 * own `cdk diff --template`, whose resource specification marks each change `replace`, `may be
 * replaced`, `destroy` or `orphan`.
 */
import { spawnSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App } from "aws-cdk-lib";
import { buildApp } from "../lib/sync-server-stack.ts";
import type { TaskChampionSyncServerProps } from "../lib/sync-server.ts";
import { type InstalledRelease, PACKAGE_NAME } from "./release-fixtures.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The stack's name and the construct's id in it, as this repository's app has always named them. */
export const STACK_NAME = "TaskChampionSyncServer";
export const CONSTRUCT_ID = "SyncServer";

const TEMPLATE_REFERENCE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference";

/**
 * The resources an upgrade must keep (same logical id, same type, none of `replacing` changed):
 * the users' data (table, bucket, the key that encrypts them), what operators set up around the
 * stack (the alarm topic's subscriptions, the log groups' history) and the URL every replica is
 * configured with (the HTTP API, the custom domain, the edge's CloudFront distribution). `replacing`: the properties whose change
 * makes CloudFormation replace the resource ("Update requires: Replacement" on each type's page
 * of the CloudFormation Template Reference, `source`), or, for a KMS key, makes the update fail.
 */
export const KEPT_RESOURCES: Readonly<Record<string, { replacing: readonly string[]; source: string }>> = {
  "AWS::DynamoDB::Table": {
    // LocalSecondaryIndexes: "can only be created when its parent table is created".
    replacing: ["TableName", "KeySchema", "LocalSecondaryIndexes", "ImportSourceSpecification"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-dynamodb-table.html`,
  },
  "AWS::S3::Bucket": {
    replacing: ["BucketName", "BucketNamePrefix", "BucketNamespace", "ObjectLockEnabled"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-s3-bucket.html`,
  },
  "AWS::KMS::Key": {
    // "If you change the value of the KeySpec, KeyUsage, Origin, or MultiRegion properties of an
    // existing KMS key, the update request fails, regardless of the value of the UpdateReplacePolicy."
    replacing: ["KeySpec", "KeyUsage", "Origin", "MultiRegion"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-kms-key.html`,
  },
  "AWS::SNS::Topic": {
    replacing: ["TopicName", "FifoTopic"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-sns-topic.html`,
  },
  "AWS::Logs::LogGroup": {
    replacing: ["LogGroupName"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-logs-loggroup.html`,
  },
  "AWS::ApiGatewayV2::Api": {
    // Its id is in the execute-api URL; UpdateApi cannot change the protocol.
    replacing: ["ProtocolType"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-apigatewayv2-api.html`,
  },
  "AWS::ApiGatewayV2::DomainName": {
    replacing: ["DomainName"],
    source: `${TEMPLATE_REFERENCE}/aws-resource-apigatewayv2-domainname.html`,
  },
  "AWS::CloudFront::Distribution": {
    // With the edge on, its *.cloudfront.net name is the URL; no property replaces it, its logical id does.
    replacing: [],
    source: `${TEMPLATE_REFERENCE}/aws-resource-cloudfront-distribution.html`,
  },
};

/**
 * Replacements of kept resources that a release makes on purpose, each with its reason; its
 * changelog's "Upgrading" says them. Only a log group may be one, and only kept on replacement
 * (UpdateReplacePolicy Retain: CloudFormation leaves the old group, with its logs, in place);
 * a table, bucket, key, topic, API, domain or distribution never is. An entry whose replacement
 * no longer happens fails the test too, so that the list stays true.
 */
export const ACCEPTED_REPLACEMENTS: readonly { from: string; configuration: string; id: string; reason: string }[] = [
  ...["SyncServerFunctionLogs0AA3889E", "SyncServerMaintenanceFunctionLogs1D894413"].map((id) => ({
    from: "0.2.0",
    configuration: "every option on",
    id,
    reason:
      "with the customer-managed key, the key policy names the functions' log groups, so they get names; 0.2.0's unnamed ones stay, with their logs",
  })),
];

/** The ids of ACCEPTED_REPLACEMENTS for an upgrade from `version` with `configuration`. */
export function acceptedReplacements(version: string, configuration: string): ReadonlySet<string> {
  return new Set(ACCEPTED_REPLACEMENTS.filter((r) => r.from === version && r.configuration === configuration).map((r) => r.id));
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: unknown;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

/** Settings an upgrade is checked with: each is synthesized by both releases. */
export interface UpgradeConfiguration {
  name: string;
  /** Props both releases' constructs accept, as JSON (the earlier one is synthesized in its own process). */
  props: TaskChampionSyncServerProps;
}

export const UPGRADE_CONFIGURATIONS: readonly UpgradeConfiguration[] = [
  { name: "default settings", props: {} },
  {
    // Every option that adds or shapes a resource an upgrade must keep.
    name: "every option on",
    props: {
      customerManagedKey: true,
      dashboard: true,
      alarmEmail: "ops@example.com",
      logRetention: 365,
      corsAllowedOrigins: ["https://tasks.example.com"],
      tags: { team: "tasks" },
      customDomain: {
        domainName: "tasks.example.com",
        certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000",
      },
      clientIds: ["0b6e6d9c-6f0e-4c4e-9a53-1d2f8a3b7c10"],
      createClients: true,
      maxClientBytes: 1_048_576,
      historyDays: 30,
    },
  },
];

export interface SynthesizedTemplate {
  template: CfnTemplate;
  /** The cloud assembly's folder (for `cdk diff --app`) and the template's file in it. */
  assemblyDir: string;
  templateFile: string;
}

function readSynthesized(assemblyDir: string): SynthesizedTemplate {
  const templateFile = join(assemblyDir, `${STACK_NAME}.template.json`);
  return { template: JSON.parse(readFileSync(templateFile, "utf8")) as CfnTemplate, assemblyDir, templateFile };
}

/**
 * The earlier release's construct in a stack named as this repository's app names it, with that
 * release's cdk.json context, synthesized in a `node` process of its own (it loads the release's
 * package, and aws-cdk-lib beside it, as a team's app would).
 */
export function synthesizeRelease(release: InstalledRelease, configuration: UpgradeConfiguration): SynthesizedTemplate {
  const assemblyDir = mkdtempSync(join(tmpdir(), `cdk-release-${release.fixture.version}-`));
  const program = join(release.workDir, "synth.mjs");
  writeFileSync(
    program,
    `import { App, Stack } from "aws-cdk-lib";
import { TaskChampionSyncServer } from "${PACKAGE_NAME}";
const { outdir, context, props, stackName, constructId } = JSON.parse(process.env.SYNTH_INPUT);
const app = new App({ outdir, context });
new TaskChampionSyncServer(new Stack(app, stackName), constructId, props);
app.synth();
`,
  );
  const input = {
    outdir: assemblyDir,
    context: release.fixture.cdkContext,
    props: configuration.props,
    stackName: STACK_NAME,
    constructId: CONSTRUCT_ID,
  };
  const run = spawnSync(process.execPath, [program], {
    cwd: release.workDir,
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SYNTH_INPUT: JSON.stringify(input) },
    timeout: 120_000,
  });
  if (run.status !== 0) throw new Error(`synthesizing ${release.fixture.version} (${configuration.name}) failed:\n${run.stderr}`);
  return readSynthesized(assemblyDir);
}

/** This version's app (bin/app.ts's stack, cdk.json's context), functions not bundled: their code is not compared. */
export function synthesizeCurrent(configuration: UpgradeConfiguration): SynthesizedTemplate {
  const assemblyDir = mkdtempSync(join(tmpdir(), "cdk-current-"));
  const cdkJson = JSON.parse(readFileSync(join(ROOT, "cdk.json"), "utf8")) as { context?: Record<string, unknown> };
  const app = new App({ outdir: assemblyDir, context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
  buildApp(app, { server: configuration.props });
  app.synth();
  return readSynthesized(assemblyDir);
}

export interface ResourceRef {
  id: string;
  type: string;
}

export interface TemplateComparison {
  added: ResourceRef[];
  removed: ResourceRef[];
  /** Resources in both whose properties or policies differ, with the names of what differs. */
  updated: (ResourceRef & { changes: string[] })[];
  /** Each way a kept resource would be replaced, deleted or lose its retention, as a sentence. */
  keptViolations: string[];
}

const byId = (a: ResourceRef, b: ResourceRef) => a.id.localeCompare(b.id);

export function compareTemplates(
  previous: CfnTemplate,
  current: CfnTemplate,
  accepted: ReadonlySet<string> = new Set(),
): TemplateComparison {
  const added: ResourceRef[] = [];
  const removed: ResourceRef[] = [];
  const updated: (ResourceRef & { changes: string[] })[] = [];
  const keptViolations: string[] = [];
  for (const [id, resource] of Object.entries(current.Resources)) {
    if (!(id in previous.Resources)) added.push({ id, type: resource.Type });
  }
  for (const [id, before] of Object.entries(previous.Resources)) {
    const after = current.Resources[id];
    const kept = KEPT_RESOURCES[before.Type];
    if (!after || after.Type !== before.Type) {
      removed.push({ id, type: before.Type });
      if (after) added.push({ id, type: after.Type });
      if (kept) keptViolations.push(`${before.Type} ${id} is ${after ? `now a ${after.Type}` : "gone"}: CloudFormation would delete it`);
      continue;
    }
    const names = new Set([...Object.keys(before.Properties ?? {}), ...Object.keys(after.Properties ?? {})]);
    const changes = [...names].filter((name) => !isDeepStrictEqual(before.Properties?.[name], after.Properties?.[name])).sort();
    for (const policy of ["DeletionPolicy", "UpdateReplacePolicy"] as const) {
      if (before[policy] !== after[policy]) changes.push(policy);
    }
    if (changes.length > 0) updated.push({ id, type: before.Type, changes });
    if (!kept) continue;
    const replacing = kept.replacing.filter((property) => changes.includes(property));
    if (accepted.has(id)) {
      if (replacing.length === 0) keptViolations.push(`${before.Type} ${id} is an accepted replacement that no longer happens`);
      else if (before.Type !== "AWS::Logs::LogGroup" || after.UpdateReplacePolicy !== "Retain") {
        keptViolations.push(`${before.Type} ${id} is an accepted replacement, but only a log group kept on replacement may be one`);
      }
      continue;
    }
    for (const name of replacing) {
      keptViolations.push(`${before.Type} ${id}: ${name} changes, which replaces it (${kept.source})`);
    }
    for (const policy of ["DeletionPolicy", "UpdateReplacePolicy"] as const) {
      if (before[policy] === "Retain" && after[policy] !== "Retain") {
        keptViolations.push(`${before.Type} ${id}: ${policy} Retain becomes ${after[policy] ?? "Delete"}`);
      }
    }
  }
  return { added: added.sort(byId), removed: removed.sort(byId), updated: updated.sort(byId), keptViolations };
}

/** One resource line of `cdk diff`'s output: `[~] AWS::S3::Bucket SyncServer/Bucket SyncServerBucketC92ACD01 replace`. */
export interface CdkDiffLine {
  change: "+" | "-" | "~";
  type: string;
  id: string;
  /** What CloudFormation would do beyond the change itself, as the CLI's resource specification says. */
  impact: "replace" | "may be replaced" | "destroy" | "orphan" | undefined;
  line: string;
}

const IMPACTS = ["may be replaced", "replace", "destroy", "orphan"] as const;

/**
 * `cdk diff --template <previous> --app <current assembly>`: the CDK CLI compares them offline,
 * with no credentials, and marks each resource's impact from its resource specification.
 */
export function cdkDiff(current: SynthesizedTemplate, previousTemplateFile: string): { lines: CdkDiffLine[]; output: string } {
  const run = spawnSync(
    join(ROOT, "node_modules", ".bin", "cdk"),
    ["diff", "--no-notices", "--no-color", "--app", current.assemblyDir, "--template", previousTemplateFile, STACK_NAME],
    {
      cwd: ROOT,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CDK_DISABLE_CLI_TELEMETRY: "true", FORCE_COLOR: "0" },
      timeout: 120_000,
    },
  );
  const output = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) throw new Error(`cdk diff failed (${run.status}):\n${output}`);
  const lines: CdkDiffLine[] = [];
  for (const line of output.split("\n")) {
    const match = /^\[([+~-])\] (\S+) (.+)$/.exec(line.trimEnd());
    if (!match?.[3] || !match[2]?.includes("::")) continue;
    const rest = match[3];
    const impact = IMPACTS.find((word) => rest.endsWith(` ${word}`) || rest === word);
    const words = (impact ? rest.slice(0, -impact.length) : rest).trim().split(" ");
    lines.push({ change: match[1] as CdkDiffLine["change"], type: match[2], id: words[words.length - 1] ?? "", impact, line });
  }
  return { lines, output };
}

/** The changelog's lines for one configuration: what `cdk deploy` over the earlier release does. */
export function summaryLines(configuration: string, comparison: TemplateComparison, diff: readonly CdkDiffLine[]): string[] {
  const replaced = diff.filter((line) => line.change === "~" && line.impact !== undefined);
  const list = (refs: readonly ResourceRef[]) => refs.map((ref) => `\`${ref.id}\` (${ref.type})`).join(", ");
  const lines = [
    `- ${configuration}: ${comparison.added.length} added, ${comparison.removed.length} removed, ` +
      `${comparison.updated.length} updated, of which ${replaced.length} replaced`,
  ];
  if (comparison.added.length > 0) lines.push(`  - added: ${list(comparison.added)}`);
  if (comparison.removed.length > 0) lines.push(`  - removed: ${list(comparison.removed)}`);
  for (const resource of comparison.updated) {
    const impact = replaced.find((line) => line.id === resource.id)?.impact;
    lines.push(`  - ${impact ? `${impact}` : "updated"}: \`${resource.id}\` (${resource.type}): ${resource.changes.join(", ")}`);
  }
  return lines;
}

/** One configuration's templates, their comparison and `cdk diff`'s reading of it. */
export interface UpgradeReport {
  configuration: UpgradeConfiguration;
  previous: SynthesizedTemplate;
  current: SynthesizedTemplate;
  comparison: TemplateComparison;
  /** The kept resources this release replaces on purpose (ACCEPTED_REPLACEMENTS). */
  accepted: ReadonlySet<string>;
  diff: CdkDiffLine[];
  /** `cdk diff`'s whole output, for a person to read. */
  diffOutput: string;
}

/** Every configuration, synthesized by the earlier release and by this one, compared both ways. */
export function upgradeReports(release: InstalledRelease): UpgradeReport[] {
  return UPGRADE_CONFIGURATIONS.map((configuration) => {
    const previous = synthesizeRelease(release, configuration);
    const current = synthesizeCurrent(configuration);
    const { lines, output } = cdkDiff(current, previous.templateFile);
    const accepted = acceptedReplacements(release.fixture.version, configuration.name);
    const comparison = compareTemplates(previous.template, current.template, accepted);
    return { configuration, previous, current, comparison, accepted, diff: lines, diffOutput: output };
  });
}

/** Deletes the reports' cloud assemblies. */
export function removeReports(reports: readonly UpgradeReport[]): void {
  for (const report of reports) {
    for (const dir of [report.previous.assemblyDir, report.current.assemblyDir]) rmSync(dir, { recursive: true, force: true });
  }
}
