/**
 * The customer-managed key and the stack's three log groups (the sync function's, the
 * maintenance function's, the API's access logs): CloudWatch Logs may use the key for exactly
 * those groups, and each function's role, which writes its own group, may use it through
 * CloudWatch Logs for that group only, as CloudWatch Logs documents (kms:ViaService, the
 * encryption context aws:logs:arn). Without the key, nothing about the log groups changes.
 */
import type { CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import {
  build,
  maintenanceFunction,
  ofType,
  only,
  type Resource,
  type Synthesized,
  syncFunction,
  type TemplateJson,
} from "../support/cdk-app.ts";

type Statement = { Sid: string; Effect: string; Principal: TemplateJson; Action: string | string[]; Condition?: TemplateJson };

const region = (service: string) => ({ "Fn::Join": ["", [`${service}.`, { Ref: "AWS::Region" }, ".amazonaws.com"]] });

/** The ARN of a log group as CloudWatch Logs puts it in the encryption context (no `:*`). */
const logGroupArn = (name: string) => ({
  "Fn::Join": [
    "",
    ["arn:", { Ref: "AWS::Partition" }, ":logs:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, `:log-group:${name}`],
  ],
});

/** Every Ref and GetAtt target in a piece of template. */
function referenced(json: unknown): Set<string> {
  const text = JSON.stringify(json);
  return new Set([...text.matchAll(/\{"Ref":"([^"]+)"\}|"Fn::GetAtt":\["([^"]+)"/g)].map((m) => (m[1] ?? m[2])!));
}

describe("a customer-managed key and the log groups", () => {
  let synthesized: Pick<Synthesized, "stack" | "template">;
  let statements: Statement[];
  let bySid: Record<string, Statement>;
  let keyId: string;
  let groups: Record<string, Resource>;
  let names: { sync: string; maintenance: string; access: string };
  let roles: { sync: TemplateJson; maintenance: TemplateJson };

  beforeAll(() => {
    const stack = build({ customerManagedKey: "true" });
    synthesized = { stack, template: Template.fromStack(stack) };
    const [id, key] = only(synthesized.template, "AWS::KMS::Key");
    keyId = id;
    statements = key.Properties.KeyPolicy.Statement as Statement[];
    bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    groups = Object.fromEntries(ofType(synthesized.template, "AWS::Logs::LogGroup"));
    const sync = syncFunction(synthesized);
    const maintenance = maintenanceFunction(synthesized);
    const nameOf = (logicalId: string) => groups[logicalId]!.Properties.LogGroupName as string;
    const [, stage] = only(synthesized.template, "AWS::ApiGatewayV2::Stage");
    names = {
      sync: nameOf(sync.Properties.LoggingConfig.LogGroup.Ref),
      maintenance: nameOf(maintenance.Properties.LoggingConfig.LogGroup.Ref),
      access: nameOf(stage.Properties.AccessLogSettings.DestinationArn["Fn::GetAtt"][0]),
    };
    roles = { sync: sync.Properties.Role, maintenance: maintenance.Properties.Role };
  });

  it("gives the three log groups names fixed at synth, which the key policy can name without referring to them", () => {
    expect(Object.keys(groups)).toHaveLength(3);
    for (const name of Object.values(names)) expect(typeof name).toBe("string");
    expect(new Set(Object.values(names)).size).toBe(3);
    expect(names.sync).toMatch(/^\/aws\/lambda\/.+-Function$/);
    expect(names.maintenance).toMatch(/^\/aws\/lambda\/.+-MaintenanceFunction$/);
    expect(names.access).toMatch(/^\/aws\/vendedlogs\/apigateway\//);
    // The groups refer to the key: the key referring to them would be a circular dependency.
    for (const group of Object.values(groups)) expect(referenced(group.Properties)).toContain(keyId);
    const [, key] = only(synthesized.template, "AWS::KMS::Key");
    for (const logicalId of Object.keys(groups)) expect(referenced(key)).not.toContain(logicalId);
  });

  it("keeps the function log groups a 0.2.0 deployment had (unnamed, so replaced by the named ones) with their logs", () => {
    const functionGroups = Object.values(groups).filter((group) => (group.Properties.LogGroupName as string).startsWith("/aws/lambda/"));
    expect(functionGroups).toHaveLength(2);
    for (const group of functionGroups) {
      // Replaced: the old group stays, with its logs; deleted with the stack: as the removal policy says.
      expect(group.UpdateReplacePolicy).toBe("Retain");
      expect(group.DeletionPolicy).toBe("Delete");
    }
  });

  it("lets CloudWatch Logs use the key for exactly this stack's three log groups, not any group of the account", () => {
    expect(bySid.CloudWatchLogs).toEqual({
      Sid: "CloudWatchLogs",
      Effect: "Allow",
      Principal: { Service: region("logs") },
      Action: ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
      Resource: "*",
      Condition: {
        ArnEquals: { "kms:EncryptionContext:aws:logs:arn": [names.sync, names.maintenance, names.access].map(logGroupArn) },
      },
    });
    expect(JSON.stringify(statements)).not.toContain(":log-group:*");
  });

  it("lets each function's role, which writes its own log group, use the key through CloudWatch Logs for that group only", () => {
    const through = (role: TemplateJson, name: string) => ({
      Effect: "Allow",
      Principal: { AWS: role },
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: "*",
      Condition: {
        StringEquals: { "kms:ViaService": region("logs") },
        ArnEquals: { "kms:EncryptionContext:aws:logs:arn": logGroupArn(name) },
      },
    });
    expect(bySid.FunctionLogsThroughCloudWatchLogs).toMatchObject(through(roles.sync, names.sync));
    expect(bySid.MaintenanceFunctionLogsThroughCloudWatchLogs).toMatchObject(through(roles.maintenance, names.maintenance));
    // DescribeKey carries no encryption context: through CloudWatch Logs only.
    expect(bySid.FunctionsDescribeKeyThroughCloudWatchLogs).toMatchObject({
      Effect: "Allow",
      Principal: { AWS: [roles.sync, roles.maintenance] },
      Action: "kms:DescribeKey",
      Condition: { StringEquals: { "kms:ViaService": region("logs") } },
    });
    // The access logs are written by API Gateway's log delivery, not by a role of this stack.
    const writers = statements.filter((st) => JSON.stringify(st.Condition ?? {}).includes("logs."));
    expect(writers.map((st) => st.Sid).sort()).toEqual(
      [
        "FunctionLogsThroughCloudWatchLogs",
        "FunctionsDescribeKeyThroughCloudWatchLogs",
        "MaintenanceFunctionLogsThroughCloudWatchLogs",
      ].sort(),
    );
  });

  it("keeps the log groups of a deployment without the key as they were (names CloudFormation chooses: no replacement)", () => {
    const stack = build({});
    const template = Template.fromStack(stack);
    const byId = Object.fromEntries(ofType(template, "AWS::Logs::LogGroup"));
    for (const fn of [stack.server.function, stack.server.maintenanceFunction]) {
      const logicalId = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as CfnElement)].Properties.LoggingConfig
        .LogGroup.Ref as string;
      expect(byId[logicalId]!.Properties.LogGroupName).toBeUndefined();
    }
  });
});
