/**
 * Policy as code: AWS Control Tower's proactive controls (the CloudFormation Guard rules and the
 * cfn-guard binary that @cdklabs/cdk-validator-cfnguard ships) run against the synthesized
 * stack, in the configurations a team deploys. Every finding must be one that
 * lib/control-tower-exemptions.ts records with its reason, on the kind of resource it names;
 * every recorded exemption must still find something; and a setting said to meet a control
 * must meet it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CfnGuardValidator } from "@cdklabs/cdk-validator-cfnguard";
import type { IPolicyValidationContextBeta1, Stack } from "aws-cdk-lib";
import * as s3 from "aws-cdk-lib/aws-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../lambda/http/routes.ts";
import { CONTROL_TOWER_EXEMPTIONS, EDGE_CONTEXT } from "../../lib/control-tower-exemptions.ts";
import { buildApp, type SyncServerStack, type SyncServerStackProps } from "../../lib/sync-server-stack.ts";
import { type Resource, testApp } from "../support/cdk-app.ts";

const CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e";
const EDGE_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/9f8e7d6c-5b4a-3f2e-1d0c-ba9876543210";
const BACKUP_COPY_VAULT = "arn:aws:backup:eu-west-1:210987654321:backup-vault:TaskChampionSyncServer-copies";

/** The configurations checked: CDK context for each. */
const CONFIGURATIONS: Record<string, Record<string, string>> = {
  defaults: {},
  "every option on": {
    customerManagedKey: "true",
    logRetentionDays: "365",
    dashboard: "true",
    corsOrigins: "https://tasks.example.com",
    domainName: "tasks.example.com",
    certificateArn: CERTIFICATE_ARN,
    alarmEmail: "ops@example.com",
    createClients: "true",
    tags: "team=tasks",
    edge: "true",
    edgeWebAclArn: EDGE_CONTEXT.edgeWebAclArn!,
    edgeDomainName: "sync.example.com",
    edgeCertificateArn: EDGE_CERTIFICATE_ARN,
    maxConcurrency: "50",
    backup: "true",
    backupCopyVaultArns: BACKUP_COPY_VAULT,
    backupVaultLock: "compliance",
  },
  "the edge": { ...EDGE_CONTEXT },
  "removalPolicy=destroy": { removalPolicy: "destroy" },
  "an existing table and bucket": { tableName: "TaskChampionSyncServer-restored", bucketName: "taskchampion-kept-bucket" },
  "backups outside the deployment": { backup: "true", backupCopyVaultArns: BACKUP_COPY_VAULT },
};

interface Finding {
  control: string;
  logicalId: string;
  type: string;
  resource: Resource;
}

interface Checked {
  findings: Finding[];
  resources: Record<string, Resource>;
}

// Room for the findings of several templates at once (cfn-guard's JSON report).
const validator = new CfnGuardValidator({ maxBuffer: 64 * 1024 * 1024 });
const outdirs: string[] = [];

/** A configuration in us-east-1, where the edge makes its own web ACL. */
const US_EAST_1: SyncServerStackProps = { env: { account: "123456789012", region: "us-east-1" } };
const EDGE_HERE = "the edge with its own web ACL, in us-east-1";

/** The companion stack of the backups' copies, in another account, locked and open to the server's account. */
const COPY_VAULT = "the copies' vault (the companion stack, another account)";
const COPY_VAULT_CONTEXT: Record<string, string> = {
  backupCopyVaultStack: "true",
  backupCopyRegion: "eu-west-1",
  backupCopyAccount: "210987654321",
  backupCopySourceAccounts: "123456789012",
  backupCopyVaultLock: "compliance",
};

/**
 * The app synthesized with `context` and `props` (and `extend` applied to its stack): its
 * template file and resources.
 */
function synthesize(
  context: Record<string, string>,
  extend?: (stack: SyncServerStack) => void,
  props?: SyncServerStackProps,
  companion?: string,
) {
  const outdir = mkdtempSync(join(tmpdir(), "cdk-control-tower-"));
  outdirs.push(outdir);
  // cdk-nag is checked by its own tests; here only the controls.
  const app = testApp({ nag: "false", ...context }, { outdir });
  const stack = buildApp(app, props);
  extend?.(stack);
  // A companion stack's template instead of the server's, when named (its id beside the server's).
  const checked = companion === undefined ? stack : (app.node.findChild(`${stack.stackName}-${companion}`) as Stack);
  const artifact = app.synth().getStackArtifact(checked.artifactId);
  return { path: join(outdir, artifact.templateFile), resources: artifact.template.Resources as Record<string, Resource> };
}

/**
 * Every control against every template at once (one cfn-guard run: it reads its 200-odd rules
 * once), each finding with the control's id, the resource and its type.
 */
function check(
  variants: Record<
    string,
    { context: Record<string, string>; extend?: (stack: SyncServerStack) => void; props?: SyncServerStackProps; companion?: string }
  >,
): Map<string, Checked> {
  const synthesized = Object.entries(variants).map(([name, { context, extend, props, companion }]) => ({
    name,
    ...synthesize(context, extend, props, companion),
  }));
  const report = validator.validate({ templatePaths: synthesized.map((t) => t.path) } as IPolicyValidationContextBeta1);
  const checked = new Map<string, Checked>(synthesized.map((t) => [t.name, { findings: [], resources: t.resources }]));
  for (const violation of report.violations) {
    const control = /\[(CT\.[A-Z0-9]+\.PR\.\d+)\]/.exec(violation.description ?? "")?.[1];
    expect(control, violation.ruleName).toBeDefined();
    for (const { resourceLogicalId, templatePath } of violation.violatingResources) {
      const template = synthesized.find((t) => t.path === templatePath);
      expect(template, templatePath).toBeDefined();
      const resource = template!.resources[resourceLogicalId]!;
      checked.get(template!.name)!.findings.push({ control: control!, logicalId: resourceLogicalId, type: resource.Type, resource });
    }
  }
  return checked;
}

/** The exemption that covers `finding` in a configuration with `context`, if any. */
function exemptionOf(finding: Finding, context: Record<string, string>) {
  return CONTROL_TOWER_EXEMPTIONS.find(
    (e) =>
      e.control === finding.control &&
      e.resourceTypes.includes(finding.type) &&
      // A control a setting meets is exempt only while that setting is not given.
      !(e.metWith && Object.entries(e.metWith).every(([key, value]) => context[key] === value)),
  );
}

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

describe("AWS Control Tower proactive controls", () => {
  const results = new Map<string, Finding[]>();
  const templates = new Map<string, Record<string, Resource>>();
  /** Each setting said to meet a control, alone (with what makes its resource), and what makes a resource alone. */
  const settings = new Map<string, Finding[]>();
  let withPlainBucket: Finding[];
  let withWebAcl: Checked;
  let copyVault: Checked;

  beforeAll(() => {
    const variants: Parameters<typeof check>[0] = {};
    for (const [name, context] of Object.entries(CONFIGURATIONS)) variants[name] = { context };
    for (const { metWith, requires } of CONTROL_TOWER_EXEMPTIONS) {
      if (requires) variants[JSON.stringify(requires)] = { context: { ...requires } };
      if (metWith) variants[JSON.stringify({ ...requires, ...metWith })] = { context: { ...requires, ...metWith } };
    }
    // A plain bucket added to the stack: unversioned, so CT.S3.PR.11 must find it.
    variants["a plain bucket added"] = { context: {}, extend: (stack) => new s3.Bucket(stack, "Plain") };
    const { edgeWebAclArn: _, ...edgeHere } = EDGE_CONTEXT;
    variants[EDGE_HERE] = { context: { ...edgeHere, certificateArn: EDGE_CERTIFICATE_ARN }, props: US_EAST_1 };
    variants[COPY_VAULT] = { context: COPY_VAULT_CONTEXT, companion: "BackupCopies" };
    const checked = check(variants);
    for (const [name, { findings, resources }] of checked) {
      if (name in CONFIGURATIONS) {
        results.set(name, findings);
        templates.set(name, resources);
      } else if (name === "a plain bucket added") withPlainBucket = findings;
      else if (name === EDGE_HERE) withWebAcl = { findings, resources };
      else if (name === COPY_VAULT) copyVault = { findings, resources };
      else settings.set(name, findings);
    }
  }, 300_000);

  it("runs every bundled control, and fails what breaks one", () => {
    expect(validator.ruleIds?.length).toBeGreaterThan(200);
    const plain = withPlainBucket.filter((f) => f.logicalId.startsWith("Plain"));
    expect(plain.map((f) => f.control)).toContain("CT.S3.PR.11");
    expect(plain.filter((f) => !exemptionOf(f, {}))).not.toEqual([]);
  });

  it.each(Object.keys(CONFIGURATIONS))("finds nothing but the recorded exemptions: %s", (name) => {
    const unexempted = results.get(name)!.filter((f) => !exemptionOf(f, CONFIGURATIONS[name]!));
    expect(unexempted.map((f) => `${f.control} on ${f.type} ${f.logicalId}`)).toEqual([]);
  });

  it("finds nothing but the recorded exemptions: the edge with its own web ACL, in us-east-1 (its rule passes CT.WAFV2.PR.1)", () => {
    expect(Object.values(withWebAcl.resources).map((r) => r.Type)).toContain("AWS::WAFv2::WebACL");
    const unexempted = withWebAcl.findings.filter((f) => !exemptionOf(f, EDGE_CONTEXT));
    expect(unexempted.map((f) => `${f.control} on ${f.type} ${f.logicalId}`)).toEqual([]);
  });

  it("finds nothing but the recorded exemptions: the copies' vault of the backups (companion stack, another account, locked)", () => {
    expect(Object.values(copyVault.resources).map((r) => r.Type)).toContain("AWS::Backup::BackupVault");
    const unexempted = copyVault.findings.filter((f) => !exemptionOf(f, COPY_VAULT_CONTEXT));
    expect(unexempted.map((f) => `${f.control} on ${f.type} ${f.logicalId}`)).toEqual([]);
  });

  it("records each exemption with its reason, and each still finds something on each type it names", () => {
    const all = [...results.values()].flat();
    for (const exemption of CONTROL_TOWER_EXEMPTIONS) {
      expect(exemption.reason.length, exemption.control).toBeGreaterThan(150);
      expect(exemption.reason).not.toMatch(/TODO|FIXME|not needed|n\/a/i);
      expect(exemption.resourceTypes.length, exemption.control).toBeGreaterThan(0);
      // A type that finds nothing would exempt that control on a resource nobody looked at.
      for (const type of exemption.resourceTypes) {
        const found = all.filter((f) => f.control === exemption.control && f.type === type);
        expect(found.length, `${exemption.control} is exempt on ${type} but finds nothing there`).toBeGreaterThan(0);
      }
    }
    expect(new Set(CONTROL_TOWER_EXEMPTIONS.map((e) => e.control)).size).toBe(CONTROL_TOWER_EXEMPTIONS.length);
  });

  it("meets the controls a setting is said to meet, with that setting", () => {
    const withOptions = results.get("every option on")!.map((f) => f.control);
    const defaults = results.get("defaults")!.map((f) => f.control);
    for (const exemption of CONTROL_TOWER_EXEMPTIONS.filter((e) => e.metWith)) {
      // Found without the setting: in the defaults, or with what makes the resource it reports on.
      const without = exemption.requires ? settings.get(JSON.stringify(exemption.requires))!.map((f) => f.control) : defaults;
      expect(without, exemption.control).toContain(exemption.control);
      expect(withOptions, exemption.control).not.toContain(exemption.control);
      const alone = settings.get(JSON.stringify({ ...exemption.requires, ...exemption.metWith }))!.map((f) => f.control);
      expect(alone, `${exemption.control} with ${JSON.stringify(exemption.metWith)}`).not.toContain(exemption.control);
    }
    // With every option on, only the controls that do not apply to this design remain.
    expect(new Set(withOptions)).toEqual(new Set(CONTROL_TOWER_EXEMPTIONS.filter((e) => !e.metWith).map((e) => e.control)));
  });

  it("CT.LAMBDA.PR.2 flags only API Gateway's invoke permissions of this API's routes, whose SourceArn is a join", () => {
    for (const [name, found] of results) {
      const resources = Object.entries(templates.get(name)!);
      const [apiId] = resources.find(([, r]) => r.Type === "AWS::ApiGatewayV2::Api")!;
      const [, integration] = resources.find(([, r]) => r.Type === "AWS::ApiGatewayV2::Integration")!;
      const flagged = found.filter((f) => f.control === "CT.LAMBDA.PR.2");
      expect(flagged, name).toHaveLength(ROUTES.length);
      const paths = flagged.map(({ resource }) => {
        const { Principal, SourceArn, Action, FunctionName } = resource.Properties;
        expect(Action).toBe("lambda:InvokeFunction");
        // The sync function, the one behind the API's integration.
        expect(FunctionName).toEqual(integration.Properties.IntegrationUri);
        expect(Principal).toBe("apigateway.amazonaws.com");
        const [delimiter, parts] = SourceArn["Fn::Join"] as [string, unknown[]];
        expect(delimiter).toBe("");
        expect(parts.slice(0, 7)).toEqual([
          "arn:",
          { Ref: "AWS::Partition" },
          ":execute-api:",
          { Ref: "AWS::Region" },
          ":",
          { Ref: "AWS::AccountId" },
          ":",
        ]);
        // This API, any stage, any method, one route's path: what API Gateway invokes for that route.
        expect(parts[7]).toEqual({ Ref: apiId });
        expect(parts).toHaveLength(9);
        return String(parts[8]).replace(/^\/\*\/\*/, "");
      });
      expect(paths.sort()).toEqual(ROUTES.map((route) => route.path).sort());
    }
  });
});
