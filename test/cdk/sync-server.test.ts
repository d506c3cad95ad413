/**
 * The CDK app, asserted property by property on the synthesized template (no golden snapshot):
 * what the construct promises, that names come from the Lambda code (SETTINGS, ROUTES, the
 * table definition, the storage's env names), the defaults and their overrides through props
 * and through CDK context, cdk-nag's AwsSolutions pack, and the bundled handler itself.
 *
 * The default app is synthesized once with esbuild bundling (seconds); the other variants skip
 * bundling (context `aws:cdk:bundling-stacks: []`), which changes nothing but the asset.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type CfnElement, CfnResource, RemovalPolicy, Stack, TagManager, Tags } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AWS_MAX_CLIENT_BYTES, LAMBDA_MAX_BODY_BYTES, REQUEST_BUDGET_MS, SETTINGS } from "../../lambda/config.ts";
import { HEADER } from "../../lambda/http/protocol.ts";
import { ROUTES } from "../../lambda/http/routes.ts";
import { S3_PREFIX, TABLE } from "../../lambda/storage/dynamodb/layout.ts";
import { writeRequest } from "../../lambda/storage/dynamodb/write-request.ts";
import type { Uuid } from "../../lambda/uuid.ts";
import { ACCESS_LOG_FIELDS, ACCESS_LOG_FORMAT } from "../../lib/api-helper.ts";
import { BUNDLE_FILE, FUNCTION_ACTIONS, MAINTENANCE_ACTIONS } from "../../lib/function-helper.ts";
import { CONTEXT_KEYS } from "../../lib/context.ts";
import { NAG_REASONS } from "../../lib/nag-acknowledgements.ts";
import { TaskChampionSyncServer } from "../../lib/sync-server.ts";
import { buildApp, DEFAULT_STACK_NAME, type SyncServerStack } from "../../lib/sync-server-stack.ts";
import { createTableAndBucket } from "../../dev/dynamodb-fixtures.ts";
import {
  acknowledgements,
  build,
  CDK_JSON,
  maintenanceFunction,
  ofType,
  only,
  removeSynthOutputs,
  type Resource,
  statementsOf,
  type Synthesized,
  synth,
  syncFunction,
  type TemplateJson,
  testApp,
} from "../support/cdk-app.ts";
import { emulatorEnv, emulatorsFrom } from "../../dev/emulator-endpoints.ts";
import { assetFiles, startupFiles, totalBytes, unresolvedImports } from "../../dev/lambda-asset.ts";
import { httpEvent } from "../../dev/events.ts";

const REPO = new URL("../../", import.meta.url);
const MAX_ASSET_BYTES = 600 * 1000;
/** What the sync function's cold start loads and parses (its entry and static imports). */
const MAX_STARTUP_BYTES = 300 * 1000;

const CLIENT_A = "0666d464-418a-4a08-ad53-6f15c78270cd";
const CLIENT_B = "b0517957-f912-4d49-8330-f612e73030c4";
const CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e";

/** The source of the DynamoDB storage's files that `include` picks. */
function storageSource(include: (file: string) => boolean): string {
  const folder = new URL("lambda/storage/dynamodb/", REPO);
  return readdirSync(folder)
    .filter((file) => file.endsWith(".ts") && include(file))
    .map((file) => readFileSync(new URL(file, folder), "utf8"))
    .join("\n");
}

/** The SDK commands constructed in `source` (`new XCommand(`). */
function commandsIn(source: string): Set<string> {
  return new Set([...source.matchAll(/new (\w+Command)\(/g)].map((m) => m[1]!));
}

function functionEnv(synthesized: Pick<Synthesized, "stack" | "template">): Record<string, unknown> {
  return syncFunction(synthesized).Properties.Environment.Variables as Record<string, unknown>;
}

function nagReport(scope: IConstruct) {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(scope);
  const describe = (severity: string) =>
    report.violations
      .filter((v) => v.severity === severity)
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`);
  return { errors: describe("error"), warnings: describe("warning"), all: report.violations };
}

/** cdk-nag's AwsSolutions checks, run again on `scope`, find nothing unacknowledged. */
function expectNagClean(scope: IConstruct): void {
  const report = nagReport(scope);
  expect(report.errors).toEqual([]);
  expect(report.warnings).toEqual([]);
}

afterAll(removeSynthOutputs);

describe("the default stack (bundled, as `cdk synth` builds it)", () => {
  let synthesized: Synthesized;
  let template: Template;
  const id = {} as Record<
    | "table"
    | "bucket"
    | "function"
    | "api"
    | "integration"
    | "topic"
    | "stage"
    | "role"
    | "functionLogs"
    | "accessLogs"
    | "maintenance"
    | "maintenanceRole"
    | "maintenanceLogs"
    | "schedule",
    string
  >;

  beforeAll(() => {
    synthesized = synth({}, undefined, true);
    template = synthesized.template;
    id.table = only(template, "AWS::DynamoDB::Table")[0];
    id.bucket = only(template, "AWS::S3::Bucket")[0];
    const logicalId = (construct: IConstruct) => synthesized.stack.getLogicalId(construct.node.defaultChild as CfnElement);
    id.function = logicalId(synthesized.stack.server.function);
    id.maintenance = logicalId(synthesized.stack.server.maintenanceFunction);
    id.api = only(template, "AWS::ApiGatewayV2::Api")[0];
    id.integration = only(template, "AWS::ApiGatewayV2::Integration")[0];
    id.topic = only(template, "AWS::SNS::Topic")[0];
    id.stage = only(template, "AWS::ApiGatewayV2::Stage")[0];
    const fn = syncFunction(synthesized);
    id.role = fn.Properties.Role["Fn::GetAtt"][0];
    id.functionLogs = fn.Properties.LoggingConfig.LogGroup.Ref;
    const maintenance = maintenanceFunction(synthesized);
    id.maintenanceRole = maintenance.Properties.Role["Fn::GetAtt"][0];
    id.maintenanceLogs = maintenance.Properties.LoggingConfig.LogGroup.Ref;
    id.schedule = only(template, "AWS::Events::Rule")[0];
    const [, stage] = only(template, "AWS::ApiGatewayV2::Stage");
    id.accessLogs = stage.Properties.AccessLogSettings.DestinationArn["Fn::GetAtt"][0];
  });

  it("is named by default and environment-agnostic", () => {
    expect(synthesized.stack.stackName).toBe(DEFAULT_STACK_NAME);
    expect(synthesized.stack.resolve(synthesized.stack.account)).toEqual({ Ref: "AWS::AccountId" });
    expect(synthesized.stack.resolve(synthesized.stack.region)).toEqual({ Ref: "AWS::Region" });
  });

  describe("HTTP API", () => {
    it("is one HTTP API whose routes are exactly the route table's", () => {
      template.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" });
      template.resourceCountIs("AWS::ApiGatewayV2::Route", ROUTES.length);
      const routeKeys = ofType(template, "AWS::ApiGatewayV2::Route").map(([, r]) => r.Properties.RouteKey as string);
      expect(routeKeys.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
      expect(routeKeys).not.toContain("$default");
      for (const [, route] of ofType(template, "AWS::ApiGatewayV2::Route")) {
        expect(route.Properties.ApiId).toEqual({ Ref: id.api });
        expect(route.Properties.Target).toEqual({ "Fn::Join": ["", ["integrations/", { Ref: id.integration }]] });
        expect(route.Properties.AuthorizationType ?? "NONE").toBe("NONE");
      }
    });

    it("sends every route to the one function, payload format 2.0", () => {
      template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
        ApiId: { Ref: id.api },
        IntegrationType: "AWS_PROXY",
        IntegrationUri: { "Fn::GetAtt": [id.function, "Arn"] },
        PayloadFormatVersion: "2.0",
      });
      const permissions = ofType(template, "AWS::Lambda::Permission").filter(
        ([, p]) => p.Properties.Principal === "apigateway.amazonaws.com",
      );
      expect(permissions).toHaveLength(ROUTES.length);
      for (const [, permission] of permissions) {
        expect(permission.Properties).toMatchObject({
          Action: "lambda:InvokeFunction",
          FunctionName: { "Fn::GetAtt": [id.function, "Arn"] },
          Principal: "apigateway.amazonaws.com",
        });
      }
    });

    it("is named after its stack, so that each deployment's API is told apart in the console", () => {
      // Name is updated in place (no replacement: the URL stays).
      template.hasResourceProperties("AWS::ApiGatewayV2::Api", { Name: DEFAULT_STACK_NAME });
      template.hasResourceProperties("AWS::ApiGatewayV2::Api", { Name: synthesized.stack.stackName });
      Template.fromStack(build({ stackName: "OtherTasks" })).hasResourceProperties("AWS::ApiGatewayV2::Api", { Name: "OtherTasks" });
    });

    it("has no CORS configuration unless origins are given", () => {
      const [, api] = only(template, "AWS::ApiGatewayV2::Api");
      expect(api.Properties.CorsConfiguration).toBeUndefined();
    });

    it("serves at the root of its URL: the $default stage, auto-deployed, throttled", () => {
      template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
        ApiId: { Ref: id.api },
        StageName: "$default",
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
    });

    it("writes JSON access logs, without any header, to a log group with a retention", () => {
      const [, stage] = only(template, "AWS::ApiGatewayV2::Stage");
      const { DestinationArn, Format } = stage.Properties.AccessLogSettings;
      expect(DestinationArn).toEqual({ "Fn::GetAtt": [id.accessLogs, "Arn"] });
      // Each line's fields (what a line holds whatever the request carries: access-log-format.test.ts).
      expect(Format).toBe(ACCESS_LOG_FORMAT);
      expect(ACCESS_LOG_FIELDS.requestId).toBe("$context.requestId");
      expect(ACCESS_LOG_FIELDS.status).toBe("$context.status");
      // X-Client-Id is the user's credential: no header ever reaches a log.
      expect(Format).not.toMatch(/header/i);
      expect(template.findResources("AWS::Logs::LogGroup")[id.accessLogs]?.Properties).toEqual({
        RetentionInDays: 30,
        LogGroupName: expect.stringMatching(/^\/aws\/vendedlogs\/apigateway\/[\w-]+-access$/),
      });
    });

    it("names the access log group under /aws/vendedlogs/, uniquely per stack", () => {
      // Delivery to any other name adds an entry to the account's CloudWatch Logs resource
      // policy (5,120 characters); once that is full, the stage fails to create.
      const name = template.findResources("AWS::Logs::LogGroup")[id.accessLogs]?.Properties.LogGroupName as string;
      expect(name.startsWith("/aws/vendedlogs/")).toBe(true);
      expect(name).toContain(DEFAULT_STACK_NAME);
      const other = build({ stackName: "OtherTasks" });
      const otherName = Object.values(Template.fromStack(other).findResources("AWS::Logs::LogGroup"))
        .map((g) => g.Properties.LogGroupName as string | undefined)
        .find((n) => n?.startsWith("/aws/vendedlogs/"));
      expect(otherName).toBeDefined();
      expect(otherName).not.toBe(name);
    });
  });

  describe("Lambda", () => {
    it("is one of two functions (with the maintenance function): arm64, Node.js 22 or newer, at least 256 MB, under API Gateway's 30 s", () => {
      expect(
        ofType(template, "AWS::Lambda::Function")
          .map(([logicalId]) => logicalId)
          .sort(),
      ).toEqual([id.function, id.maintenance].sort());
      const fn = syncFunction(synthesized);
      const runtime = /^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime as string);
      expect(Number(runtime?.[1])).toBeGreaterThanOrEqual(22);
      expect(fn.Properties.Architectures).toEqual(["arm64"]);
      expect(fn.Properties.MemorySize).toBe(512);
      expect(fn.Properties.Handler).toBe("index.handler");
      const timeout = fn.Properties.Timeout as number;
      expect(timeout).toBeLessThan(30);
      // The storage gives up first (its deadline) and answers; the function is never cut.
      expect(timeout * 1000).toBeGreaterThan(REQUEST_BUDGET_MS);
      expect(fn.Properties.Role).toEqual({ "Fn::GetAtt": [id.role, "Arn"] });
    });

    it("logs JSON into its own log group with a retention", () => {
      template.hasResourceProperties("AWS::Lambda::Function", {
        LoggingConfig: { LogFormat: "JSON", LogGroup: { Ref: id.functionLogs } },
      });
      expect(template.findResources("AWS::Logs::LogGroup")[id.functionLogs]?.Properties).toEqual({ RetentionInDays: 30 });
      // Its own, the maintenance function's, the API's access logs.
      template.resourceCountIs("AWS::Logs::LogGroup", 3);
    });

    it("gets its settings under the names the function reads (SETTINGS), with their defaults", () => {
      const env = functionEnv(synthesized);
      expect(env).toEqual({
        // Secure by default on AWS: only the clients registered in the table sync.
        [SETTINGS.createClients.name]: "false",
        [SETTINGS.snapshotVersions.name]: String(SETTINGS.snapshotVersions.defaultValue),
        [SETTINGS.snapshotDays.name]: String(SETTINGS.snapshotDays.defaultValue),
        [SETTINGS.maxBodyBytes.name]: String(LAMBDA_MAX_BODY_BYTES),
        // Bounded growth: AWS's own default, not the local server's.
        [SETTINGS.maxClientBytes.name]: String(AWS_MAX_CLIENT_BYTES),
        [SETTINGS.tableName.name]: { Ref: id.table },
        [SETTINGS.bucketName.name]: { Ref: id.bucket },
      });
      // No allowlist variable at all: absent means everyone may sync.
      expect(env).not.toHaveProperty(SETTINGS.clientIdAllowlist.name);
      // Every name is a setting, every literal value is accepted by its cold-start parser.
      const settings = Object.values(SETTINGS) as { name: string; parse: (raw: string) => unknown }[];
      for (const [name, value] of Object.entries(env)) {
        const setting = settings.find((s) => s.name === name);
        expect(setting, name).toBeDefined();
        if (typeof value === "string") expect(setting!.parse(value), name).not.toBeUndefined();
      }
    });
  });

  describe("DynamoDB", () => {
    it("is the shared table definition: keys, no index, no TTL", () => {
      const [, table] = only(template, "AWS::DynamoDB::Table");
      const key = (k: { name: string; type: string }, keyType: string) => ({
        schema: { AttributeName: k.name, KeyType: keyType },
        attribute: { AttributeName: k.name, AttributeType: k.type },
      });
      const pk = key(TABLE.partitionKey, "HASH");
      const sk = key(TABLE.sortKey, "RANGE");
      expect(table.Properties.KeySchema).toEqual([pk.schema, sk.schema]);
      expect(table.Properties.AttributeDefinitions).toEqual([pk.attribute, sk.attribute]);
      expect(TABLE.globalSecondaryIndexes).toHaveLength(0);
      expect(TABLE.localSecondaryIndexes).toHaveLength(0);
      expect(TABLE.timeToLiveAttribute).toBeUndefined();
      template.hasResourceProperties("AWS::DynamoDB::Table", {
        GlobalSecondaryIndexes: Match.absent(),
        LocalSecondaryIndexes: Match.absent(),
        TimeToLiveSpecification: Match.absent(),
      });
    });

    it("is on-demand, with point-in-time recovery, AWS-managed encryption and deletion protection", () => {
      template.hasResourceProperties("AWS::DynamoDB::Table", {
        BillingMode: TABLE.billingMode,
        ProvisionedThroughput: Match.absent(),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 },
        SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
        DeletionProtectionEnabled: true,
      });
    });

    it("is retained when the stack is deleted or the table replaced", () => {
      template.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    });
  });

  describe("S3", () => {
    it("blocks all public access, encrypts, disables ACLs", () => {
      template.hasResourceProperties("AWS::S3::Bucket", {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
      });
    });

    it("refuses every request without TLS", () => {
      template.hasResourceProperties("AWS::S3::BucketPolicy", {
        Bucket: { Ref: id.bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: "s3:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    });

    it("aborts abandoned multipart uploads, and never expires the storage's objects by age", () => {
      const [, bucket] = only(template, "AWS::S3::Bucket");
      const rules = bucket.Properties.LifecycleConfiguration.Rules as Record<string, unknown>[];
      expect(rules).toContainEqual(
        expect.objectContaining({ Status: "Enabled", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
      );
      // Committed segments and snapshots share the storage's prefix with its orphans.
      for (const rule of rules) {
        expect(rule).not.toHaveProperty("ExpirationInDays");
        expect(rule).not.toHaveProperty("ExpirationDate");
      }
    });

    it("keeps a deleted object's data longer than the table's point-in-time recovery window, then expires it and its delete marker", () => {
      const [, bucket] = only(template, "AWS::S3::Bucket");
      const [, table] = only(template, "AWS::DynamoDB::Table");
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: "Enabled" });
      const rules = bucket.Properties.LifecycleConfiguration.Rules as Record<string, TemplateJson>[];
      const window = table.Properties.PointInTimeRecoverySpecification.RecoveryPeriodInDays as number;
      const noncurrent = rules.filter((rule) => rule.NoncurrentVersionExpiration);
      expect(noncurrent).toEqual([expect.objectContaining({ Status: "Enabled", NoncurrentVersionExpiration: { NoncurrentDays: 40 } })]);
      // A table restored to the window's earliest point finds every object it references.
      expect(noncurrent[0]!.NoncurrentVersionExpiration.NoncurrentDays).toBeGreaterThan(window);
      expect(rules).toContainEqual(expect.objectContaining({ Status: "Enabled", ExpiredObjectDeleteMarker: true }));
      // No rule filters by prefix or tag: every object of the bucket is covered.
      for (const rule of rules) expect(rule.Prefix ?? rule.Filter).toBeUndefined();
    });

    it("lets the storage delete only by delete markers under versioning: the sweep, the pruning and client removal keep working", () => {
      // DeleteObject without a version id adds a delete marker: the object disappears from
      // every read and listing (ListObjectsV2 lists current objects only), its data stays for the
      // restore window. No role may delete a version for good or change the bucket's rules.
      for (const [roleId] of ofType(template, "AWS::IAM::Role")) {
        const actions = statementsOf(template, roleId).flatMap((s) => [s.Action].flat());
        expect(actions).toContain("s3:DeleteObject");
        for (const action of actions) {
          expect(action).not.toMatch(/^s3:(DeleteObjectVersion|PutBucketVersioning|PutLifecycleConfiguration|PutBucket|\*)/);
        }
      }
      // The storage's deletes and listings name no version: its listings skip deleted objects.
      const source = storageSource(() => true);
      expect(source).toMatch(/new ListObjectsV2Command\(/);
      expect(source).not.toMatch(/ListObjectVersions|DeleteObjectsCommand|[{,]\s*VersionId\s*:/);
    });

    it("is retained when the stack is deleted, with its TLS-only policy, and nothing empties it", () => {
      template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
      // Also when a later deployment serves it as an existing bucket (and so stops declaring it).
      template.hasResource("AWS::S3::BucketPolicy", { DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
      expect(template.findResources("Custom::S3AutoDeleteObjects")).toEqual({});
    });
  });

  describe("IAM", () => {
    it("gives each function its own role with no managed policy", () => {
      expect(
        ofType(template, "AWS::IAM::Role")
          .map(([logicalId]) => logicalId)
          .sort(),
      ).toEqual([id.role, id.maintenanceRole].sort());
      for (const [, role] of ofType(template, "AWS::IAM::Role")) {
        expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
          { Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" } },
        ]);
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
        expect(role.Properties.Policies).toBeUndefined();
      }
      expect(ofType(template, "AWS::IAM::Policy")).toHaveLength(2);
    });

    it("allows exactly the storage's actions, on this table, this bucket and its own log group", () => {
      const statements = statementsOf(template, id.role);
      const actions = (s: { Action: string | string[] }) => [s.Action].flat().sort();
      expect(statements.map((s) => ({ ...s, Action: actions(s) }))).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: { "Fn::GetAtt": [id.functionLogs, "Arn"] },
          }),
          expect.objectContaining({
            Action: [...FUNCTION_ACTIONS.dynamodb].sort(),
            Resource: { "Fn::GetAtt": [id.table, "Arn"] },
          }),
          expect.objectContaining({
            Action: [...FUNCTION_ACTIONS.s3Objects].sort(),
            Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [id.bucket, "Arn"] }, `/${S3_PREFIX}*`]] },
          }),
          expect.objectContaining({
            Action: [...FUNCTION_ACTIONS.s3Bucket].sort(),
            Resource: { "Fn::GetAtt": [id.bucket, "Arn"] },
            // A listing only under the storage's prefix. IfExists: the check S3 makes for a
            // missing object (404 rather than 403) carries no s3:prefix, and must pass.
            Condition: { StringLikeIfExists: { "s3:prefix": [`${S3_PREFIX}*`] } },
          }),
        ]),
      );
      expect(statements).toHaveLength(4);
      for (const statement of statements) {
        expect(statement.Effect).toBe("Allow");
        for (const action of actions(statement)) expect(action).not.toContain("*");
        // Every resource is one of this stack's: never "*", never another table or bucket.
        const resources = JSON.stringify(statement.Resource);
        expect(resources).not.toBe('"*"');
        const referenced = [...resources.matchAll(/"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1]);
        expect(referenced.length).toBeGreaterThan(0);
        for (const logicalId of referenced) expect([id.table, id.bucket, id.functionLogs]).toContain(logicalId);
      }
    });

    it("covers every call the storage makes on a protocol path, and nothing the function does not run", () => {
      // The SDK commands of the storage (lambda/storage/dynamodb/) and the IAM actions they
      // need. The orphan sweep and the pruning are the maintenance function's, and listing, removing and importing
      // whole clients are the operators' (the admin command, with their own credentials).
      const needs: Record<string, string[]> = {
        GetItemCommand: ["dynamodb:GetItem"],
        QueryCommand: ["dynamodb:Query"],
        PutItemCommand: ["dynamodb:PutItem"],
        UpdateItemCommand: ["dynamodb:UpdateItem"],
        TransactWriteItemsCommand: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
        GetObjectCommand: ["s3:GetObject", "s3:ListBucket"],
        HeadObjectCommand: ["s3:GetObject", "s3:ListBucket"],
        PutObjectCommand: ["s3:PutObject"],
        DeleteObjectCommand: ["s3:DeleteObject"],
        // The call helpers can list a prefix; only the sweep and a client's removal do.
        ListObjectsV2Command: [],
      };
      const operatorsOnly = new Set([
        "orphan-sweep.ts",
        "client-listing.ts",
        "client-removal.ts",
        "client-import.ts",
        "client-verify.ts",
        "table-scan.ts",
      ]);
      const used = commandsIn(storageSource((file) => !operatorsOnly.has(file)));
      for (const command of used) expect(Object.keys(needs), `a new storage call: ${command}`).toContain(command);
      const granted = new Set<string>(Object.values(FUNCTION_ACTIONS).flat());
      const needed = new Set([...used].flatMap((command) => needs[command] ?? []));
      expect([...granted].sort()).toEqual([...needed].sort());
      // Nothing of the maintenance function's that the protocol path did not already need.
      const mainActions = statementsOf(template, id.role).flatMap((s) => [s.Action].flat());
      // Query only within the one client's partition: the rare lookup of an old version by id,
      // and the one-time upgrade of a client stored by 0.1.0. Never a Scan of the table.
      expect(mainActions).not.toContain("dynamodb:Scan");
      expect(mainActions.filter((action) => action.startsWith("s3:")).sort()).toEqual([
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
      ]);
    });

    it("gives the maintenance function exactly what the orphan sweep and the pruning call, on this table and under the prefix of this bucket", () => {
      const statements = statementsOf(template, id.maintenanceRole);
      const sorted = (s: { Action: string | string[] }) => ({ ...s, Action: [s.Action].flat().sort() });
      const objects = { "Fn::Join": ["", [{ "Fn::GetAtt": [id.bucket, "Arn"] }, `/${S3_PREFIX}*`]] };
      expect(statements.map(sorted)).toEqual([
        {
          Sid: "OwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: { "Fn::GetAtt": [id.maintenanceLogs, "Arn"] },
        },
        {
          Sid: "MaintenanceTable",
          Effect: "Allow",
          Action: [...MAINTENANCE_ACTIONS.dynamodb].sort(),
          Resource: { "Fn::GetAtt": [id.table, "Arn"] },
        },
        { Sid: "MaintenanceBucketObjects", Effect: "Allow", Action: [...MAINTENANCE_ACTIONS.s3Objects].sort(), Resource: objects },
        {
          Sid: "MaintenanceBucketList",
          Effect: "Allow",
          Action: ["s3:ListBucket"],
          Resource: { "Fn::GetAtt": [id.bucket, "Arn"] },
          Condition: { StringLike: { "s3:prefix": [`${S3_PREFIX}*`] } },
        },
      ]);

      // What the code calls, and the IAM action of each call.
      const needs: Record<string, string[]> = {
        ListObjectsV2Command: ["s3:ListBucket"],
        GetItemCommand: ["dynamodb:GetItem"],
        QueryCommand: ["dynamodb:Query"],
        UpdateItemCommand: ["dynamodb:UpdateItem"],
        DeleteItemCommand: ["dynamodb:DeleteItem"],
        DeleteObjectCommand: ["s3:DeleteObject"],
        HeadObjectCommand: ["s3:GetObject"],
      };
      const calledThroughHelpers = (source: string, into: Set<string>) => {
        if (/calls\.(getItem|readClient)\(/.test(source)) into.add("GetItemCommand");
        if (/calls\.queryItems\(/.test(source)) into.add("QueryCommand");
        if (/calls\.objectSize\(/.test(source)) into.add("HeadObjectCommand");
        if (/calls\.deleteObjects?\(/.test(source)) into.add("DeleteObjectCommand");
        return into;
      };
      // The orphan sweep: its own listing and deletes, its reads through the storage's helpers.
      const sweepSource = storageSource((file) => file === "orphan-sweep.ts");
      expect(sweepSource.length).toBeGreaterThan(1000);
      const sweep = calledThroughHelpers(sweepSource, commandsIn(sweepSource));
      // It reads the client's deletion marks (Query), marks what it finds unreferenced and counts
      // their bytes on the client item (UpdateItem, which also creates a mark), and deletes the
      // objects marked a grace ago, then their marks (DeleteItem).
      expect([...sweep].sort()).toEqual([
        "DeleteItemCommand",
        "DeleteObjectCommand",
        "GetItemCommand",
        "ListObjectsV2Command",
        "QueryCommand",
        "UpdateItemCommand",
      ]);
      // The pruning, through the storage's transaction (transaction.ts, its version reads and
      // its commit): it walks the oldest versions item by item, removes them in one write, then
      // deletes their segments' objects; on the way a client stored by 0.1.0 is upgraded once
      // (legacy.ts).
      const ownSource = storageSource((file) => file === "transaction.ts");
      const removal = ownSource.slice(ownSource.indexOf("async removeOldestVersions("));
      expect(removal).toMatch(/this\.oldest\(/);
      expect(ownSource).toMatch(/private async oldest\([\s\S]*?oldestVersions\(/);
      expect(storageSource((file) => file === "version-reads.ts")).toMatch(/function oldestVersions\([\s\S]*?calls\.getItem\(/);
      const transactionSource = storageSource((file) => ["transaction.ts", "version-reads.ts", "commit.ts"].includes(file));
      const legacySource = storageSource((file) => file === "legacy.ts");
      const prune = calledThroughHelpers(legacySource, commandsIn(legacySource));
      calledThroughHelpers(transactionSource, new Set()).forEach((command) => {
        if (command !== "QueryCommand" && command !== "HeadObjectCommand") prune.add(command);
      });
      expect([...prune].sort()).toEqual([
        "DeleteObjectCommand",
        "GetItemCommand",
        "HeadObjectCommand",
        "QueryCommand",
        "UpdateItemCommand",
      ]);
      // The removal's one write: a TransactWriteItems whose items (from the storage's own request
      // builder) need the actions of their kinds: Update of the client, Delete of version items.
      const versionId = "5f1c0d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f" as Uuid;
      const parentId = "0b6e1d2c-3b4a-4d5c-9e8f-0a1b2c3d4e5f" as Uuid;
      const request = writeRequest({
        tableName: "table",
        clientId: CLIENT_A as Uuid,
        created: undefined,
        base: undefined,
        writes: [{ kind: "remove-oldest", expectedBase: parentId, versions: [{ versionId, parentId, bytes: 10, segmentKey: undefined }] }],
        uploads: new Map(),
        maxClientBytes: undefined,
        lease: undefined,
        now: 0,
      });
      expect(request.kind).toBe("transaction");
      const itemActions: Record<string, string> = {
        Put: "dynamodb:PutItem",
        Update: "dynamodb:UpdateItem",
        Delete: "dynamodb:DeleteItem",
        ConditionCheck: "dynamodb:ConditionCheckItem",
      };
      const transactWrite =
        request.kind === "transaction" ? request.items.flatMap((item) => Object.keys(item).map((kind) => itemActions[kind]!)) : [];
      expect(new Set(transactWrite)).toEqual(new Set(["dynamodb:UpdateItem", "dynamodb:DeleteItem"]));
      expect(transactionSource).toMatch(/new TransactWriteItemsCommand\(/);

      const needed = new Set([...sweep, ...prune].flatMap((command) => needs[command]!).concat(transactWrite));
      expect(Object.values(MAINTENANCE_ACTIONS).flat().sort()).toEqual([...needed].sort());
    });
  });

  describe("operations", () => {
    it("alarms on function errors and throttles, maintenance errors, API 5xx, storage stalls, DynamoDB throttles and system errors, into the topic", () => {
      const alarms = ofType(template, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties);
      expect(alarms).toHaveLength(7);
      for (const alarm of alarms) {
        expect(alarm.AlarmActions).toEqual([{ Ref: id.topic }]);
        expect(alarm.Threshold).toBe(1);
        expect(alarm.ComparisonOperator).toBe("GreaterThanOrEqualToThreshold");
        expect(alarm.TreatMissingData).toBe("notBreaching");
      }
      const simple = alarms.filter((a) => a.MetricName).map((a) => `${a.Namespace} ${a.MetricName} ${JSON.stringify(a.Dimensions)}`);
      expect(simple.sort()).toEqual(
        [
          `TaskChampionSyncServer ServerErrors ${JSON.stringify([{ Name: "ApiId", Value: { Ref: id.api } }])}`,
          `TaskChampionSyncServer Unavailable ${JSON.stringify([{ Name: "ApiId", Value: { Ref: id.api } }])}`,
          `AWS/Lambda Errors ${JSON.stringify([{ Name: "FunctionName", Value: { Ref: id.function } }])}`,
          `AWS/Lambda Throttles ${JSON.stringify([{ Name: "FunctionName", Value: { Ref: id.function } }])}`,
          `AWS/Lambda Errors ${JSON.stringify([{ Name: "FunctionName", Value: { Ref: id.maintenance } }])}`,
        ].sort(),
      );
      // The DynamoDB alarms (what they read, and how they fire: alarms.test.ts).
      const math = alarms.filter((a) => a.Metrics);
      const metricNames = math.map((a) =>
        [...new Set((a.Metrics as TemplateJson[]).filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric.MetricName))].sort().join(" "),
      );
      expect(metricNames.sort()).toEqual(["ReadThrottleEvents WriteThrottleEvents", "SystemErrors"]);
      for (const alarm of math) {
        for (const term of (alarm.Metrics as TemplateJson[]).filter((m) => m.MetricStat)) {
          expect(term.MetricStat.Metric.Dimensions).toContainEqual({ Name: "TableName", Value: { Ref: id.table } });
        }
      }
    });

    it("has a TLS-only alarm topic with no subscription unless an e-mail is given", () => {
      template.resourceCountIs("AWS::SNS::Subscription", 0);
      template.hasResourceProperties("AWS::SNS::TopicPolicy", {
        Topics: [{ Ref: id.topic }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]),
        },
      });
    });

    it("lets CloudWatch alarms of this account, and only those, publish to the topic", () => {
      // enforceSSL replaces SNS's default policy: without this statement no alarm is delivered.
      const [, policy] = only(template, "AWS::SNS::TopicPolicy");
      const statements = policy.Properties.PolicyDocument.Statement as {
        Effect: string;
        Principal?: unknown;
        Action: unknown;
        Condition?: unknown;
        Resource: unknown;
      }[];
      const publish = statements.filter((s) => s.Effect === "Allow");
      expect(publish).toEqual([
        expect.objectContaining({
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: "sns:Publish",
          Resource: { Ref: id.topic },
          Condition: {
            StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
            ArnLike: {
              "aws:SourceArn": {
                "Fn::Join": [
                  "",
                  ["arn:", { Ref: "AWS::Partition" }, ":cloudwatch:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, ":alarm:*"],
                ],
              },
            },
          },
        }),
      ]);
    });

    it("costs nothing while idle but its alarms and its storage: no resource billed by the hour or the month", () => {
      // What each resource type of the default stack costs when nobody syncs.
      const idleCost: Record<string, "nothing" | "storage" | "monthly"> = {
        "AWS::ApiGatewayV2::Api": "nothing",
        "AWS::ApiGatewayV2::Integration": "nothing",
        "AWS::ApiGatewayV2::Route": "nothing",
        "AWS::ApiGatewayV2::Stage": "nothing",
        "AWS::Lambda::Function": "nothing",
        "AWS::Lambda::Permission": "nothing",
        "AWS::Lambda::EventInvokeConfig": "nothing",
        "AWS::IAM::Role": "nothing",
        "AWS::IAM::Policy": "nothing",
        "AWS::Events::Rule": "nothing",
        "AWS::SNS::Topic": "nothing",
        "AWS::SNS::TopicPolicy": "nothing",
        "AWS::S3::BucketPolicy": "nothing",
        "AWS::Logs::QueryDefinition": "nothing",
        // A metric filter is free; its metric is billed only for the hours it gets data.
        "AWS::Logs::MetricFilter": "nothing",
        "AWS::CDK::Metadata": "nothing",
        "AWS::DynamoDB::Table": "storage",
        "AWS::S3::Bucket": "storage",
        "AWS::Logs::LogGroup": "storage",
        "AWS::CloudWatch::Alarm": "monthly",
      };
      const types = Object.values(template.toJSON().Resources as Record<string, Resource>).map((r) => r.Type);
      for (const type of new Set(types)) expect(idleCost, `the idle cost of ${type}`).toHaveProperty([type]);
      // The only fixed monthly cost: the alarms, $0.10 a month for each metric they read (no dashboard, no KMS key).
      expect(types.filter((type) => idleCost[type] === "monthly")).toEqual(Array(7).fill("AWS::CloudWatch::Alarm"));
    });

    it("has no dashboard unless asked: it is the largest fixed cost of an idle deployment", () => {
      template.resourceCountIs("AWS::CloudWatch::Dashboard", 0);
      expect(template.findOutputs("DashboardName")).toEqual({});
    });

    it("outputs the URL, the exact task config lines, the table and the bucket", () => {
      const endpoint = { "Fn::GetAtt": [id.api, "ApiEndpoint"] };
      template.hasOutput("Url", { Value: endpoint });
      template.hasOutput("TaskConfigUrl", { Value: { "Fn::Join": ["", ["task config sync.server.url ", endpoint]] } });
      template.hasOutput("TaskConfigOrigin", { Value: { "Fn::Join": ["", ["task config sync.server.origin ", endpoint]] } });
      // The server creates no client: each user is registered by the admin command, which prints their lines.
      template.hasOutput("TaskConfigClient", { Value: `npm run admin -- add-client --stack ${DEFAULT_STACK_NAME}` });
      template.hasOutput("TableName", { Value: { Ref: id.table } });
      template.hasOutput("BucketName", { Value: { Ref: id.bucket } });
      // The admin command shows each client's usage against it.
      template.hasOutput("MaxClientBytes", { Value: String(AWS_MAX_CLIENT_BYTES) });
      expect(template.findOutputs("CustomDomainTarget")).toEqual({});
    });
  });

  describe("cdk-nag AwsSolutions", () => {
    it("has no unacknowledged error or warning", () => {
      const report = nagReport(synthesized.app);
      expect(report.errors).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.all).toEqual([]);
      // cdk-nag 3 reports through CDK's validation plugins, not annotations; and nothing else
      // in the stack reports an error or a warning either.
      const annotations = Annotations.fromStack(synthesized.stack);
      expect(annotations.findError("*", Match.stringLikeRegexp("AwsSolutions-.*"))).toEqual([]);
      expect(annotations.findWarning("*", Match.stringLikeRegexp("AwsSolutions-.*"))).toEqual([]);
      annotations.hasNoError("*", Match.anyValue());
      annotations.hasNoWarning("*", Match.anyValue());
    });

    it("runs in the app: a finding fails the synthesis", () => {
      const stack = build({});
      new s3.Bucket(stack, "Unsafe");
      expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-S1/);
    });

    it("acknowledges only these findings, each with its reason, also written into the template", () => {
      const acks = acknowledgements(synthesized.app);
      const bucketAck = [...acks.keys()].find((rule) => rule.startsWith("AwsSolutions-IAM5["));
      expect(bucketAck).toBe(`AwsSolutions-IAM5[Resource::<${id.bucket}.Arn>/${S3_PREFIX}*]`);
      expect([...acks.keys()].sort()).toEqual(["AwsSolutions-APIG4", "AwsSolutions-S1", bucketAck].sort());
      expect(acks.get("AwsSolutions-APIG4")).toEqual(Array(ROUTES.length).fill(NAG_REASONS.apiAuthorization));
      expect(acks.get("AwsSolutions-S1")).toEqual([NAG_REASONS.bucketAccessLogs]);
      // One for each function's role: its object actions under the prefix.
      expect(acks.get(bucketAck!)).toEqual([NAG_REASONS.bucketObjects, NAG_REASONS.maintenanceObjects]);
      for (const reason of Object.values(NAG_REASONS)) {
        expect(reason.length).toBeGreaterThan(150);
        expect(reason).not.toMatch(/TODO|FIXME|not needed|n\/a/i);
      }
      const inTemplate = Object.values(template.toJSON().Resources as Record<string, Resource>).flatMap(
        (r) => (r.Metadata?.cdk_nag?.rules_to_suppress ?? []) as { id: string; reason: string }[],
      );
      expect(inTemplate.length).toBeGreaterThan(0);
      for (const { id: rule, reason } of inTemplate) expect(acks.get(rule)).toContain(reason);
    });
  });

  describe("the bundled handler asset", () => {
    let assetDir: string;

    beforeAll(() => {
      const zip = syncFunction(synthesized).Properties.Code.S3Key as string;
      assetDir = join(synthesized.outdir, `asset.${zip.replace(/\.zip$/, "")}`);
    });

    it(`is an ESM entry and its chunks, under ${MAX_ASSET_BYTES / 1000} KB, with nothing to resolve outside it, without SQLite`, () => {
      const files = assetFiles(assetDir);
      expect(files).toContain(BUNDLE_FILE);
      for (const file of files) expect(file === BUNDLE_FILE || /^chunks\/[\w-]+\.mjs$/.test(file), file).toBe(true);
      expect(totalBytes(assetDir, files)).toBeLessThan(MAX_ASSET_BYTES);
      // The SDK is inside: every import is Node's own or a file of the asset.
      expect(unresolvedImports(assetDir)).toEqual([]);
      for (const file of files) expect(readFileSync(join(assetDir, file), "utf8").includes("better-sqlite3"), file).toBe(false);
    });

    it(`loads at a cold start only what every request needs (under ${MAX_STARTUP_BYTES / 1000} KB): not the S3 client, not the SDK's credential chain`, () => {
      const startup = startupFiles(assetDir);
      expect(totalBytes(assetDir, startup)).toBeLessThan(MAX_STARTUP_BYTES);
      const loaded = startup.map((file) => readFileSync(join(assetDir, file), "utf8")).join("\n");
      const all = assetFiles(assetDir)
        .map((file) => readFileSync(join(assetDir, file), "utf8"))
        .join("\n");
      // The S3 client is in the asset, in chunks loaded when a request first needs S3.
      expect(all).toContain('"AmazonS3"');
      expect(loaded).not.toContain('"AmazonS3"');
      // On Lambda the credentials are in the environment: no shared config files, SSO, web identity.
      for (const marker of ["sso_start_url", "web_identity_token_file", "credential_process"]) expect(all).not.toContain(marker);
    });

    it("loads, outside the repository, with the template's environment, and answers", () => {
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(functionEnv(synthesized))) {
        env[name] = typeof value === "string" ? value : `test-${name.toLowerCase()}`;
      }
      const events = [
        httpEvent("GET", "/"),
        httpEvent("GET", "/v1/client/snapshot"),
        httpEvent("POST", `/v1/client/add-version/${CLIENT_B}`, {
          headers: { "x-client-id": CLIENT_A, "content-type": "text/plain" },
          body: "x",
        }),
        // Reaches the storage: the bundled SDK signs and sends a request to a dead endpoint.
        httpEvent("GET", "/v1/client/snapshot", { headers: { "x-client-id": CLIENT_A } }),
      ];
      const script = `
        const chunks = [];
        for await (const chunk of process.stdin) chunks.push(chunk);
        const { handler } = await import(process.env.TEST_BUNDLE_URL);
        const results = [];
        for (const event of JSON.parse(Buffer.concat(chunks).toString())) results.push(await handler(event));
        process.stdout.write("RESULTS " + JSON.stringify(results) + "\\n");
      `;
      const stdout = execFileSync(process.execPath, ["--no-warnings", "--input-type=module", "-e", script], {
        input: JSON.stringify(events),
        encoding: "utf8",
        env: {
          PATH: process.env.PATH ?? "",
          ...env,
          TEST_BUNDLE_URL: pathToFileURL(join(assetDir, BUNDLE_FILE)).href,
          // Never reach AWS: fake credentials, no instance metadata, dead endpoints.
          AWS_REGION: "eu-west-1",
          AWS_ACCESS_KEY_ID: "AKIDTESTTESTTESTTEST",
          AWS_SECRET_ACCESS_KEY: "test",
          AWS_EC2_METADATA_DISABLED: "true",
          AWS_ENDPOINT_URL: "http://127.0.0.1:9",
          AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9",
          AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9",
        },
        timeout: 20_000,
      });
      const line = stdout.split("\n").find((l) => l.startsWith("RESULTS "));
      const [root, noClient, wrongType, storage] = JSON.parse(line!.slice("RESULTS ".length)) as { statusCode: number; body?: string }[];
      expect(root!.statusCode).toBe(200);
      expect(root!.body).toMatch(/TaskChampion/);
      expect(noClient!.statusCode).toBe(400);
      expect(wrongType!.statusCode).toBe(400);
      // Storage unreachable: the protocol's "try later", not a crash of the function.
      expect(storage!.statusCode).toBe(503);
    });
  });

  describe("the maintenance function", () => {
    it("runs daily by an EventBridge schedule, which alone may invoke it", () => {
      const [, rule] = only(template, "AWS::Events::Rule");
      expect(rule.Properties).toMatchObject({
        ScheduleExpression: "rate(1 day)",
        State: "ENABLED",
        Targets: [{ Arn: { "Fn::GetAtt": [id.maintenance, "Arn"] }, Id: expect.any(String) }],
      });
      expect(rule.Properties.Targets[0].Input).toBeUndefined();
      const permissions = ofType(template, "AWS::Lambda::Permission").filter(([, p]) =>
        JSON.stringify(p.Properties.FunctionName).includes(id.maintenance),
      );
      expect(permissions.map(([, p]) => p.Properties)).toEqual([
        {
          Action: "lambda:InvokeFunction",
          FunctionName: { "Fn::GetAtt": [id.maintenance, "Arn"] },
          Principal: "events.amazonaws.com",
          SourceArn: { "Fn::GetAtt": [id.schedule, "Arn"] },
        },
      ]);
    });

    it("is its own function: the sync function's runtime and architecture, 10 minutes, 256 MB, not retried", () => {
      const maintenance = maintenanceFunction(synthesized);
      const sync = syncFunction(synthesized);
      expect(maintenance.Properties.Runtime).toBe(sync.Properties.Runtime);
      expect(maintenance.Properties.Architectures).toEqual(["arm64"]);
      expect(maintenance.Properties.Timeout).toBe(600);
      expect(maintenance.Properties.MemorySize).toBe(256);
      expect(maintenance.Properties.Handler).toBe("index.handler");
      expect(maintenance.Properties.Role).toEqual({ "Fn::GetAtt": [id.maintenanceRole, "Arn"] });
      expect(maintenance.Properties.Code.S3Key).not.toBe(sync.Properties.Code.S3Key);
      // A failed run is not retried by Lambda: the next scheduled run goes on.
      template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: id.maintenance },
        MaximumRetryAttempts: 0,
        Qualifier: "$LATEST",
      });
      template.resourceCountIs("AWS::Lambda::EventInvokeConfig", 1);
    });

    it("logs JSON into its own log group with the same retention", () => {
      expect(maintenanceFunction(synthesized).Properties.LoggingConfig).toEqual({
        LogFormat: "JSON",
        LogGroup: { Ref: id.maintenanceLogs },
      });
      expect(id.maintenanceLogs).not.toBe(id.functionLogs);
      expect(template.findResources("AWS::Logs::LogGroup")[id.maintenanceLogs]?.Properties).toEqual({ RetentionInDays: 30 });
    });

    it("reads its settings under SETTINGS' names: this table, this bucket, the history to keep", () => {
      expect(maintenanceFunction(synthesized).Properties.Environment.Variables).toEqual({
        [SETTINGS.historyDays.name]: String(SETTINGS.historyDays.defaultValue),
        [SETTINGS.tableName.name]: { Ref: id.table },
        [SETTINGS.bucketName.name]: { Ref: id.bucket },
      });
    });

    it("alarms into the topic when it fails", () => {
      const alarms = ofType(template, "AWS::CloudWatch::Alarm").filter(([, a]) =>
        JSON.stringify(a.Properties.Dimensions ?? []).includes(id.maintenance),
      );
      expect(alarms.map(([, a]) => a.Properties)).toEqual([
        expect.objectContaining({
          Namespace: "AWS/Lambda",
          MetricName: "Errors",
          Statistic: "Sum",
          Threshold: 1,
          AlarmActions: [{ Ref: id.topic }],
        }),
      ]);
    });

    describe("its bundled asset", () => {
      let bundle: string;

      beforeAll(() => {
        const zip = maintenanceFunction(synthesized).Properties.Code.S3Key as string;
        bundle = join(synthesized.outdir, `asset.${zip.replace(/\.zip$/, "")}`, BUNDLE_FILE);
      });

      it(`is an ESM entry and its chunks, under ${MAX_ASSET_BYTES / 1000} KB, without SQLite or the HTTP handler`, () => {
        const dir = join(bundle, "..");
        const files = assetFiles(dir);
        expect(files).toContain(BUNDLE_FILE);
        expect(totalBytes(dir, files)).toBeLessThan(MAX_ASSET_BYTES);
        expect(unresolvedImports(dir)).toEqual([]);
        const code = files.map((file) => readFileSync(join(dir, file), "utf8")).join("\n");
        expect(code.includes("better-sqlite3")).toBe(false);
        expect(code.includes("X-Client-Id")).toBe(false);
      });

      it("loads outside the repository with the template's environment and sweeps a bucket on the emulators", async () => {
        const emulators = emulatorsFrom(inject("emulators"));
        const name = `cdk-sweep-${Date.now()}`;
        await createTableAndBucket({ ...emulators, tableName: name, bucketName: name });
        const client = "0666d464-418a-4a08-ad53-6f15c78270cd";
        const env = emulatorEnv({ ...emulators, tableName: name, bucketName: name });
        const script = `
          import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
          const s3 = new S3Client({ forcePathStyle: true });
          await s3.send(new PutObjectCommand({ Bucket: process.env.BUCKET_NAME, Key: "clients/${client}/segments/v/n", Body: "x" }));
          const { handler } = await import(process.env.TEST_BUNDLE_URL);
          const context = (ms) => ({ getRemainingTimeInMillis: () => ms });
          const results = [await handler({ source: "aws.events" }, context(60_000)), await handler({}, context(1_000))];
          process.stdout.write("RESULTS " + JSON.stringify(results) + "\\n");
        `;
        const stdout = execFileSync(process.execPath, ["--no-warnings", "--input-type=module", "-e", script], {
          cwd: fileURLToPath(REPO),
          encoding: "utf8",
          env: {
            PATH: process.env.PATH ?? "",
            [SETTINGS.tableName.name]: name,
            [SETTINGS.bucketName.name]: name,
            // Only the emulator needs these; the deployed function gets the SDK's defaults.
            [SETTINGS.s3ForcePathStyle.name]: "true",
            AWS_REGION: env.AWS_REGION!,
            AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID!,
            AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY!,
            AWS_ENDPOINT_URL_DYNAMODB: env.AWS_ENDPOINT_URL_DYNAMODB!,
            AWS_ENDPOINT_URL_S3: env.AWS_ENDPOINT_URL_S3!,
            AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
            AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
            AWS_EC2_METADATA_DISABLED: "true",
            TEST_BUNDLE_URL: pathToFileURL(bundle).href,
          },
          timeout: 30_000,
        });
        const lines = stdout.split("\n").filter((line) => line !== "");
        const results = JSON.parse(lines.find((l) => l.startsWith("RESULTS "))!.slice("RESULTS ".length)) as unknown[];
        // A young object (under an hour) is not an orphan yet; no time left: nothing is done.
        const nothingPruned = { prunedClients: 0, removedVersions: 0, removedBytes: 0, contended: 0 };
        expect(results).toEqual([
          { clients: 1, deleted: 0, marked: 0, skipped: 0, failed: 0, stopped: false, ...nothingPruned },
          { clients: 0, deleted: 0, marked: 0, skipped: 0, failed: 0, stopped: true, ...nothingPruned },
        ]);
        const logged = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
        // HISTORY_DAYS comes from the template (180 by default).
        expect(logged.map((l) => [l.level, l.msg, l.clients, l.historyDays])).toEqual([
          ["info", "maintenance", 1, 180],
          ["info", "maintenance", 0, 180],
        ]);
        expect(stdout).not.toContain(client);
      });
    });
  });
});

describe("settings through CDK context (`cdk deploy -c key=value`)", () => {
  let synthesized: Synthesized;
  let template: Template;

  beforeAll(() => {
    synthesized = synth({
      stackName: "TeamTasks",
      clientIds: ` ${CLIENT_A},${CLIENT_B} `,
      createClients: "true",
      snapshotVersions: "50",
      snapshotDays: "7",
      maxClientBytes: "0",
      historyDays: "0",
      throttleRate: "10",
      throttleBurst: "20",
      memory: "1024",
      logRetentionDays: "90",
      removalPolicy: "destroy",
      domainName: "tasks.example.com",
      certificateArn: CERTIFICATE_ARN,
      alarmEmail: "ops@example.com",
      dashboard: "true",
      corsOrigins: "https://tasks.example.com, http://*",
    });
    template = synthesized.template;
  });

  it("names the stack", () => {
    expect(synthesized.stack.stackName).toBe("TeamTasks");
  });

  it("createClients=true: an open server, whose outputs say to pick a client id", () => {
    template.hasOutput("TaskConfigClient", {
      Value: Match.stringLikeRegexp("task config sync.server.client_id .*sync.encryption_secret"),
    });
  });

  it("passes the server settings to the function under SETTINGS' names", () => {
    expect(functionEnv(synthesized)).toMatchObject({
      [SETTINGS.clientIdAllowlist.name]: `${CLIENT_A},${CLIENT_B}`,
      [SETTINGS.createClients.name]: "true",
      [SETTINGS.snapshotVersions.name]: "50",
      [SETTINGS.snapshotDays.name]: "7",
      [SETTINGS.maxClientBytes.name]: "0",
    });
    expect(maintenanceFunction(synthesized).Properties.Environment.Variables).toMatchObject({ [SETTINGS.historyDays.name]: "0" });
    template.hasOutput("MaxClientBytes", { Value: "0" });
    const allowlist = SETTINGS.clientIdAllowlist.parse(functionEnv(synthesized)[SETTINGS.clientIdAllowlist.name] as string);
    expect(allowlist && [...allowlist]).toEqual([CLIENT_A, CLIENT_B]);
  });

  it("sets throttling, memory and log retention", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
    });
    expect(syncFunction(synthesized).Properties.MemorySize).toBe(1024);
    const groups = ofType(template, "AWS::Logs::LogGroup");
    expect(groups).toHaveLength(3);
    for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(90);
  });

  it("destroy: no deletion protection, the table and the bucket are deleted, the bucket emptied first", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Delete",
      UpdateReplacePolicy: "Delete",
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Delete", UpdateReplacePolicy: "Delete" });
    template.hasResource("AWS::S3::BucketPolicy", { DeletionPolicy: "Delete" });
    template.resourceCountIs("Custom::S3AutoDeleteObjects", 1);
  });

  it("serves the custom domain from the $default stage and outputs its URL and DNS target", () => {
    const [stageId] = only(template, "AWS::ApiGatewayV2::Stage");
    const [apiId] = only(template, "AWS::ApiGatewayV2::Api");
    const [domainId] = only(template, "AWS::ApiGatewayV2::DomainName");
    template.hasResourceProperties("AWS::ApiGatewayV2::DomainName", {
      DomainName: "tasks.example.com",
      DomainNameConfigurations: [
        Match.objectLike({ CertificateArn: CERTIFICATE_ARN, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2" }),
      ],
    });
    template.hasResource("AWS::ApiGatewayV2::ApiMapping", {
      Properties: { ApiId: { Ref: apiId }, DomainName: { Ref: domainId }, Stage: "$default", ApiMappingKey: Match.absent() },
      DependsOn: Match.arrayWith([stageId]),
    });
    template.hasOutput("Url", { Value: "https://tasks.example.com" });
    template.hasOutput("TaskConfigUrl", { Value: "task config sync.server.url https://tasks.example.com" });
    template.hasOutput("TaskConfigOrigin", { Value: "task config sync.server.origin https://tasks.example.com" });
    template.hasOutput("CustomDomainTarget", { Value: { "Fn::GetAtt": [domainId, "RegionalDomainName"] } });
  });

  it("dashboard=true: a dashboard of the alarms, the API, the function and the table, and its name as an output", () => {
    const [dashboardId, dashboard] = only(template, "AWS::CloudWatch::Dashboard");
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    const [apiId] = only(template, "AWS::ApiGatewayV2::Api");
    const [tableId] = only(template, "AWS::DynamoDB::Table");
    expect(body).toContain(`{"Ref":"${apiId}"}`);
    expect(body).toContain(`{"Ref":"${tableId}"}`);
    expect(body).toContain(
      `{"Ref":"${synthesized.stack.getLogicalId(synthesized.stack.server.function.node.defaultChild as CfnElement)}"}`,
    );
    for (const [alarmId] of ofType(template, "AWS::CloudWatch::Alarm")) expect(body).toContain(`"${alarmId}","Arn"`);
    template.hasOutput("DashboardName", { Value: { Ref: dashboardId } });
  });

  it("corsOrigins: browsers of those origins may call the routes, and read the protocol's headers; API Gateway answers the preflight", () => {
    const [, api] = only(template, "AWS::ApiGatewayV2::Api");
    expect(api.Properties.CorsConfiguration).toEqual({
      AllowOrigins: ["https://tasks.example.com", "http://*"],
      AllowMethods: [...new Set(ROUTES.map((route) => route.method))].sort(),
      AllowHeaders: [HEADER.clientId, HEADER.contentType],
      ExposeHeaders: [HEADER.versionId, HEADER.parentVersionId, HEADER.snapshotRequest],
      AllowCredentials: false,
      MaxAge: 86400,
    });
    expect(api.Properties.CorsConfiguration.ExposeHeaders).toEqual(["x-version-id", "x-parent-version-id", "x-snapshot-request"]);
    // No route takes OPTIONS (nor $default): API Gateway answers every preflight itself, and
    // the function is never invoked for one.
    const routeKeys = ofType(template, "AWS::ApiGatewayV2::Route").map(([, r]) => r.Properties.RouteKey as string);
    expect(routeKeys.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    expect(routeKeys.some((key) => key.startsWith("OPTIONS") || key.startsWith("ANY") || key === "$default")).toBe(false);
  });

  it("subscribes the alarm e-mail to the topic", () => {
    const [topicId] = only(template, "AWS::SNS::Topic");
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: { Ref: topicId },
    });
  });

  it("is still cdk-nag clean (custom domain, auto-delete, subscription)", () => {
    expectNagClean(synthesized.app);
  });
});

describe("a customer-managed KMS key (customerManagedKey)", () => {
  let synthesized: Synthesized;
  let template: Template;
  let keyId: string;
  let key: Resource;

  beforeAll(() => {
    synthesized = synth({ customerManagedKey: "true", alarmEmail: "ops@example.com" });
    template = synthesized.template;
    [keyId, key] = only(template, "AWS::KMS::Key");
  });

  it("is off by default: AWS's own keys, no key to pay for", () => {
    const stack = build({});
    const defaults = Template.fromStack(stack);
    defaults.resourceCountIs("AWS::KMS::Key", 0);
    for (const [, group] of ofType(defaults, "AWS::Logs::LogGroup")) expect(group.Properties?.KmsKeyId).toBeUndefined();
    defaults.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: Match.absent() });
    expect(defaults.findOutputs("EncryptionKeyArn")).toEqual({});
  });

  it("encrypts the table, the bucket (with a bucket key), every log group and the alarm topic", () => {
    const keyArn = { "Fn::GetAtt": [keyId, "Arn"] };
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      SSESpecification: { SSEEnabled: true, SSEType: "KMS", KMSMasterKeyId: keyArn },
    });
    template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: keyArn } },
        ],
      },
    });
    const groups = ofType(template, "AWS::Logs::LogGroup");
    expect(groups).toHaveLength(3);
    for (const [, group] of groups) expect(group.Properties.KmsKeyId).toEqual(keyArn);
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: keyArn });
    template.hasOutput("EncryptionKeyArn", { Value: keyArn });
  });

  it("rotates, and is kept with the data (RETAIN) unless the data is destroyed", () => {
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe("Retain");
    expect(
      only(Template.fromStack(build({ customerManagedKey: "true", removalPolicy: "destroy" })), "AWS::KMS::Key")[1].DeletionPolicy,
    ).toBe("Delete");
  });

  it("lets exactly those services, and the functions through DynamoDB and S3, use it; the account only administers it", () => {
    type Statement = { Sid: string; Effect: string; Principal: TemplateJson; Action: string | string[]; Condition?: TemplateJson };
    const statements = key.Properties.KeyPolicy.Statement as Statement[];
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    const account = { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":iam::", { Ref: "AWS::AccountId" }, ":root"]] };
    const region = (service: string) => ({ "Fn::Join": ["", [`${service}.`, { Ref: "AWS::Region" }, ".amazonaws.com"]] });
    const use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"].sort();
    const roles = [syncFunction(synthesized), maintenanceFunction(synthesized)].map((fn) => fn.Properties.Role);

    expect(Object.keys(bySid).sort()).toEqual(
      [
        "KeyAdministration",
        "GrantsOnlyForAwsServices",
        "AccountThroughDynamoDbAndS3",
        "CloudWatchLogs",
        "CloudWatchAlarmsToTopic",
        "FunctionsThroughDynamoDbAndS3",
        // The log groups, each function's own through CloudWatch Logs: log-encryption.test.ts.
        "FunctionLogsThroughCloudWatchLogs",
        "MaintenanceFunctionLogsThroughCloudWatchLogs",
        "FunctionsDescribeKeyThroughCloudWatchLogs",
      ].sort(),
    );
    // The account administers the key: no cryptographic action outside the services.
    expect(bySid.KeyAdministration!.Principal).toEqual({ AWS: account });
    for (const action of [bySid.KeyAdministration!.Action].flat()) expect(action).not.toMatch(/Encrypt|Decrypt|GenerateDataKey|kms:\*/);
    // Only AWS services create grants (DynamoDB, for the table).
    expect(bySid.GrantsOnlyForAwsServices).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "kms:CreateGrant",
      Condition: { BoolIfExists: { "kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false" } },
    });
    // The account's principals (CloudFormation, operators) and the functions: through DynamoDB and S3 only.
    expect(bySid.AccountThroughDynamoDbAndS3).toMatchObject({
      Principal: { AWS: account },
      Action: use,
      Condition: { StringEquals: { "kms:ViaService": [region("dynamodb"), region("s3")], "kms:CallerAccount": { Ref: "AWS::AccountId" } } },
    });
    expect(bySid.FunctionsThroughDynamoDbAndS3).toMatchObject({
      Principal: { AWS: roles },
      Action: use,
      Condition: { StringEquals: { "kms:ViaService": [region("dynamodb"), region("s3")] } },
    });
    // CloudWatch Logs for this stack's three log groups (log-encryption.test.ts); CloudWatch
    // alarms of this account to the topic.
    expect(bySid.CloudWatchLogs).toMatchObject({
      Principal: { Service: region("logs") },
      Condition: { ArnEquals: { "kms:EncryptionContext:aws:logs:arn": expect.any(Array) } },
    });
    expect(bySid.CloudWatchLogs!.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"]).toHaveLength(3);
    expect(JSON.stringify(bySid.CloudWatchLogs!.Condition)).not.toContain(":log-group:*");
    expect(bySid.CloudWatchAlarmsToTopic).toMatchObject({
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
    });
    // The whole condition: this account's alarms, and only those (an account alone would let
    // any of its CloudWatch features use the key).
    expect(bySid.CloudWatchAlarmsToTopic!.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
      ArnLike: {
        "aws:SourceArn": {
          "Fn::Join": [
            "",
            ["arn:", { Ref: "AWS::Partition" }, ":cloudwatch:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, ":alarm:*"],
          ],
        },
      },
    });
    // Every Allow that can encrypt or decrypt names a service: a condition on it, or its principal.
    for (const st of statements.filter((s) => s.Effect === "Allow" && s.Sid !== "KeyAdministration")) {
      const viaService = JSON.stringify(st.Condition ?? {}).includes("kms:ViaService");
      expect(viaService || st.Principal.Service !== undefined, st.Sid).toBe(true);
    }
    // The functions' own policies stay as they were: the key policy is what lets them.
    for (const role of roles) {
      const actions = statementsOf(template, role["Fn::GetAtt"][0]).flatMap((st) => [st.Action].flat());
      expect(actions.filter((action) => action.startsWith("kms:"))).toEqual([]);
    }
  });

  it("is cdk-nag clean", () => {
    expectNagClean(synthesized.app);
  });
});

describe("tags", () => {
  /** Every resource of the stack that CloudFormation can tag: its logical id, type and tags as one map. */
  function taggedResources(stack: SyncServerStack): { id: string; type: string; tags: Record<string, string> }[] {
    const template = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
    return stack.node
      .findAll()
      .filter((node): node is CfnResource => CfnResource.isCfnResource(node))
      .filter((node) => TagManager.isTaggable(node) || TagManager.isTaggableV2(node))
      .map((node) => {
        const id = stack.getLogicalId(node);
        const tags = template[id]!.Properties?.Tags as { Key: string; Value: string }[] | Record<string, string> | undefined;
        return {
          id,
          type: node.cfnResourceType,
          tags: Array.isArray(tags) ? Object.fromEntries(tags.map((t) => [t.Key, t.Value])) : (tags ?? {}),
        };
      });
  }

  it("tags every resource that can be tagged, with the props' tags and the app's", () => {
    const app = testApp({ dashboard: "true", alarmEmail: "ops@example.com" });
    Tags.of(app).add("owner", "platform-team");
    const stack = buildApp(app, { server: { tags: { project: "taskchampion", "cost-center": "42" } } });
    const resources = taggedResources(stack);
    expect(new Set(resources.map((r) => r.type))).toEqual(
      new Set([
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::Events::Rule",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::SNS::Topic",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
      ]),
    );
    for (const resource of resources) {
      expect(resource.tags, `${resource.type} ${resource.id}`).toMatchObject({
        project: "taskchampion",
        "cost-center": "42",
        owner: "platform-team",
      });
    }
  });

  it("takes them from context too: -c tags=key=value,... (an object in cdk.json)", () => {
    for (const tags of ["team=tasks, env=prod", { team: "tasks", env: "prod" }]) {
      for (const resource of taggedResources(build({ tags }))) expect(resource.tags).toMatchObject({ team: "tasks", env: "prod" });
    }
  });

  it.each([
    [{ tags: "team" }, /context tags="team" is not valid/],
    [{ tags: "aws:owner=me" }, /tags must be AWS tags/],
    [{ tags: `team=${"x".repeat(257)}` }, /tags must be AWS tags/],
  ])("rejects %j at synth time", (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});

describe("serving an existing table and bucket (a restored table, the bucket of an earlier deployment)", () => {
  const tableName = "TaskChampionSyncServer-restored-2025-06-01";
  const bucketName = "taskchampionsyncserver-syncserverbucket-1a2b3c4d5e6f";

  it("context tableName and bucketName: creates neither, and points the functions, their grants, the alarms and the outputs at them", () => {
    const synthesized = synth({ tableName, bucketName });
    const { template, stack } = synthesized;
    template.resourceCountIs("AWS::DynamoDB::Table", 0);
    template.resourceCountIs("AWS::S3::Bucket", 0);
    template.resourceCountIs("AWS::S3::BucketPolicy", 0);
    const storage = { [SETTINGS.tableName.name]: tableName, [SETTINGS.bucketName.name]: bucketName };
    expect(functionEnv(synthesized)).toMatchObject(storage);
    expect(maintenanceFunction(synthesized).Properties.Environment.Variables).toMatchObject(storage);

    const tableArn = {
      "Fn::Join": [
        "",
        ["arn:", { Ref: "AWS::Partition" }, ":dynamodb:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, `:table/${tableName}`],
      ],
    };
    const bucketArn = { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:s3:::${bucketName}`]] };
    const objectsArn = { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:s3:::${bucketName}/${S3_PREFIX}*`]] };
    for (const fn of [syncFunction(synthesized), maintenanceFunction(synthesized)]) {
      const statements = statementsOf(template, fn.Properties.Role["Fn::GetAtt"][0]);
      expect(statements.filter((st) => st.Sid?.endsWith("Table")).map((st) => st.Resource)).toEqual([tableArn]);
      expect(statements.filter((st) => st.Sid?.endsWith("BucketObjects")).map((st) => st.Resource)).toEqual([objectsArn]);
      expect(statements.filter((st) => st.Sid?.endsWith("BucketList")).map((st) => st.Resource)).toEqual([bucketArn]);
    }
    for (const [, alarm] of ofType(template, "AWS::CloudWatch::Alarm").filter(([, a]) => a.Properties.Metrics)) {
      for (const term of (alarm.Properties.Metrics as TemplateJson[]).filter((m) => m.MetricStat)) {
        expect(term.MetricStat.Metric.Dimensions).toContainEqual({ Name: "TableName", Value: tableName });
      }
    }
    template.hasOutput("TableName", { Value: tableName });
    template.hasOutput("BucketName", { Value: bucketName });
    // cdk-nag: the acknowledgement of the objects under the prefix follows the bucket.
    expectNagClean(synthesized.app);
    expect(acknowledgements(stack).has(`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucketName}/${S3_PREFIX}*]`)).toBe(true);
  });

  it("takes either one alone: a restored table with the bucket the stack already has", () => {
    const { template } = synth({ tableName });
    template.resourceCountIs("AWS::DynamoDB::Table", 0);
    template.resourceCountIs("AWS::S3::Bucket", 1);
  });

  it("existingTable and existingBucket props: the construct in a team's own stack", () => {
    const app = testApp();
    const stack = new Stack(app, "TeamStack", { env: { account: "123456789012", region: "eu-west-1" } });
    const table = dynamodb.Table.fromTableArn(stack, "Restored", `arn:aws:dynamodb:eu-west-1:123456789012:table/${tableName}`);
    const bucket = s3.Bucket.fromBucketName(stack, "Kept", bucketName);
    const server = new TaskChampionSyncServer(stack, "Tasks", { existingTable: table, existingBucket: bucket });
    expect(server.table).toBe(table);
    expect(server.bucket).toBe(bucket);
    const template = Template.fromStack(stack);
    template.resourceCountIs("AWS::DynamoDB::Table", 0);
    template.resourceCountIs("AWS::S3::Bucket", 0);
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: "SyncTable", Resource: `arn:aws:dynamodb:eu-west-1:123456789012:table/${tableName}` }),
        ]),
      },
    });
  });

  it.each([
    [{ tableName: "a" }, /context tableName="a" is not valid/],
    [{ bucketName: "Not_A_Bucket" }, /context bucketName="Not_A_Bucket" is not valid/],
  ])("rejects %j at synth time", (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});

describe("settings through props, and context over props", () => {
  it("takes the props, and lets each context key override its prop", () => {
    const synthesized = synth(
      { memory: "768" },
      {
        server: {
          memorySize: 2048,
          removalPolicy: RemovalPolicy.DESTROY,
          logRetention: logs.RetentionDays.ONE_WEEK,
          clientIds: [CLIENT_B],
          throttlingRateLimit: 5,
          throttlingBurstLimit: 10,
          snapshotDays: 30,
          maxClientBytes: 5_000_000,
          historyDays: 30,
          corsAllowedOrigins: ["*"],
        },
      },
    );
    const { template } = synthesized;
    expect(syncFunction(synthesized).Properties.MemorySize).toBe(768);
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Delete",
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 7 });
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    expect(functionEnv(synthesized)).toMatchObject({
      [SETTINGS.clientIdAllowlist.name]: CLIENT_B,
      [SETTINGS.snapshotDays.name]: "30",
      [SETTINGS.maxClientBytes.name]: "5000000",
    });
    expect(maintenanceFunction(synthesized).Properties.Environment.Variables).toMatchObject({ [SETTINGS.historyDays.name]: "30" });
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { CorsConfiguration: Match.objectLike({ AllowOrigins: ["*"] }) });
  });

  it("takes clientIds and corsOrigins as lists too (cdk.json), and an empty value as none", () => {
    const fromList = build({ clientIds: [CLIENT_A, CLIENT_B] });
    const env = (stack: SyncServerStack) =>
      Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(stack.server.function.node.defaultChild as CfnElement)].Properties
        .Environment.Variables as Record<string, unknown>;
    expect(env(fromList)[SETTINGS.clientIdAllowlist.name]).toBe(`${CLIENT_A},${CLIENT_B}`);
    expect(env(build({ clientIds: "" }))).not.toHaveProperty(SETTINGS.clientIdAllowlist.name);
    const cors = (stack: SyncServerStack) => only(Template.fromStack(stack), "AWS::ApiGatewayV2::Api")[1].Properties.CorsConfiguration;
    expect(cors(build({ corsOrigins: ["https://a.example.com", "https://b.example.com"] })).AllowOrigins).toEqual([
      "https://a.example.com",
      "https://b.example.com",
    ]);
    expect(cors(build({ corsOrigins: "" }))).toBeUndefined();
  });

  it("drops a list's empty items: a stray comma adds no client id and no origin", () => {
    const stack = build({ clientIds: `${CLIENT_A},,${CLIENT_B},`, corsOrigins: "https://a.example.com,, " });
    const template = Template.fromStack(stack);
    expect(functionEnv({ stack, template })[SETTINGS.clientIdAllowlist.name]).toBe(`${CLIENT_A},${CLIENT_B}`);
    expect(only(template, "AWS::ApiGatewayV2::Api")[1].Properties.CorsConfiguration.AllowOrigins).toEqual(["https://a.example.com"]);
  });

  it("reads true, false and the named values in any case", () => {
    const stack = build({ createClients: "TRUE", dashboard: "True", removalPolicy: "Destroy", logRetentionDays: "INFINITE" });
    const template = Template.fromStack(stack);
    expect(functionEnv({ stack, template })[SETTINGS.createClients.name]).toBe("true");
    template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    template.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Delete" });
    for (const [, group] of ofType(template, "AWS::Logs::LogGroup")) expect(group.Properties?.RetentionInDays).toBeUndefined();
  });

  it("refuses a value that is not text, naming the key, and never repeats a client id", () => {
    expect(() => build({ memory: { mb: 1024 } })).toThrow('context memory={"mb":1024} is not valid: expected a string');
    expect(() => build({ clientIds: { user: CLIENT_A } })).toThrow(/^context clientIds is not valid: expected a string$/);
  });

  it("takes the maintenance function's schedule", () => {
    const { template } = synth({}, { server: { maintenanceSchedule: events.Schedule.cron({ minute: "17", hour: "3" }) } });
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "cron(17 3 * * ? *)" });
  });

  it("takes any log retention CloudWatch Logs accepts, a year or more for compliance regimes, or infinite", () => {
    const retentions = (context: Record<string, unknown>) =>
      ofType(Template.fromStack(build(context)), "AWS::Logs::LogGroup").map(([, g]) => g.Properties?.RetentionInDays as number | undefined);
    for (const days of [1, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]) {
      expect(retentions({ logRetentionDays: String(days) })).toEqual([days, days, days]);
    }
    // Never expire: no retention at all on any log group.
    expect(retentions({ logRetentionDays: "infinite" })).toEqual([undefined, undefined, undefined]);
  });

  it("keeps RETAIN and deletion protection when asked explicitly", () => {
    const { template } = synth({ removalPolicy: "retain" }, { server: { removalPolicy: RemovalPolicy.DESTROY } });
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Retain" });
  });

  it("nag=false leaves cdk-nag out of the app", () => {
    const stack = build({ nag: "false" });
    new s3.Bucket(stack, "Unsafe");
    expect(() => Template.fromStack(stack)).not.toThrow();
  });

  it.each([
    [{ memory: "128" }, /memorySize must be a whole number from 256/],
    [{ memory: "lots" }, /context memory="lots" is not valid/],
    [
      { logRetentionDays: "31" },
      /context logRetentionDays="31" is not valid: expected one of .*1827, 2192, 2557, 2922, 3288, 3653\) or infinite/,
    ],
    [{ logRetentionDays: "9999" }, /context logRetentionDays="9999" is not valid/],
    [{ removalPolicy: "snapshot" }, /context removalPolicy="snapshot" is not valid/],
    [{ clientIds: "not-a-uuid" }, /clientIds must be a comma-separated list of client ids/],
    [{ createClients: "yes" }, /context createClients="yes" is not valid/],
    [{ snapshotVersions: "0" }, /snapshotVersions must be a whole number of versions/],
    [{ throttleBurst: "10000" }, /throttlingBurstLimit must be a whole number from 1 to 5000/],
    [{ domainName: "tasks.example.com" }, /domainName and certificateArn go together/],
    [{ domainName: "tasks.example.com", certificateArn: "arn:nope" }, /context certificateArn="arn:nope" is not valid/],
    [{ alarmEmail: "ops" }, /context alarmEmail="ops" is not valid/],
    [{ corsOrigins: "https://tasks.example.com/app" }, /corsAllowedOrigins must be \*, https:\/\/\*, http:\/\/\* or origins/],
    [{ corsOrigins: "https://*.example.org" }, /corsAllowedOrigins must be .*no wildcard within the host/],
    [{ historyDays: "-1" }, /context historyDays="-1" is not valid/],
    [{ maxClientBytes: "1e6" }, /context maxClientBytes="1e6" is not valid/],
  ])("rejects %j at synth time", (context, message) => {
    expect(() => build(context)).toThrow(message);
  });

  it.each([
    [{ historyDays: -1 }, /historyDays must be a whole number of days after which versions before the snapshot are removed/],
    [{ historyDays: 1.5 }, /historyDays must be/],
    [{ maxClientBytes: 10 ** 16 }, /maxClientBytes must be a whole number of bytes a client may store/],
    [{ maxClientBytes: -5 }, /maxClientBytes must be/],
  ])("rejects the props %j with the function's own parsers", (server, message) => {
    expect(() => build({}, { server })).toThrow(message);
  });

  it("warns that an allowlist's client ids are readable by whoever reads the template or the function's configuration, pointing to the client registry", () => {
    const warnings = (stack: SyncServerStack) => Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("clientIds"));
    const [warning] = warnings(build({ clientIds: CLIENT_A }));
    expect(String(warning?.entry.data)).toMatch(/template.*configuration.*cdk\.out.*add-client/s);
    expect(String(warning?.entry.data)).not.toContain(CLIENT_A);
    expect(warnings(build({}))).toEqual([]);
    expect(warnings(build({}, { server: { clientIds: [CLIENT_B] } }))).toHaveLength(1);
  });

  it("fails at synth, not at deploy, when the allowlist would pass Lambda's 4 KB environment, pointing to the client registry", () => {
    const ids = (n: number) => Array.from({ length: n }, () => randomUUID());
    expect(() => build({ clientIds: ids(50).join(",") })).not.toThrow();
    expect(() => build({ clientIds: ids(100).join(",") })).toThrow(/over Lambda's 4096 .*client registry/s);
    expect(() => build({}, { server: { clientIds: ids(100) } })).toThrow(/client registry/);
  });

  it("counts the table and bucket names CloudFormation fills in at their longest", () => {
    // Without that room, the largest allowlist that passes here could still fail the deploy.
    const limit = [...Array(200).keys()].find((n) => {
      try {
        build({ clientIds: Array.from({ length: n + 1 }, () => randomUUID()).join(",") });
        return false;
      } catch {
        return true;
      }
    })!;
    const env = (n: number) => {
      const stack = build({ clientIds: Array.from({ length: n }, () => randomUUID()).join(",") });
      return functionEnv({ stack, template: Template.fromStack(stack) });
    };
    const bytes = Object.entries(env(limit)).reduce(
      (sum, [name, value]) => sum + name.length + (typeof value === "string" ? value.length : 255),
      0,
    );
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(bytes + 37).toBeGreaterThan(4096);
  });

  it("fails at synth when the custom domain's certificate is not in the stack's region", () => {
    const env = (region: string) => ({ env: { account: "123456789012", region } });
    const context = { domainName: "tasks.example.com", certificateArn: CERTIFICATE_ARN };
    expect(() => build(context, env("eu-west-1"))).not.toThrow();
    expect(() => build(context, env("us-east-1"))).toThrow(/certificate is in eu-west-1, but the stack deploys to us-east-1/);
  });

  it("warns when the stack's region is unknown at synth, so the certificate's cannot be checked", () => {
    const stack = build({ domainName: "tasks.example.com", certificateArn: CERTIFICATE_ARN });
    Annotations.fromStack(stack).hasWarning("*", Match.stringLikeRegexp("certificate is in eu-west-1; it must be in the region"));
    const known = build(
      { domainName: "tasks.example.com", certificateArn: CERTIFICATE_ARN },
      { env: { account: "123456789012", region: "eu-west-1" } },
    );
    expect(Annotations.fromStack(known).findWarning("*", Match.stringLikeRegexp("certificate"))).toEqual([]);
  });

  it("documents every context key, in lib/context.ts's comment and in the README's table", () => {
    const source = readFileSync(new URL("lib/context.ts", REPO), "utf8");
    const comment = source.slice(0, source.indexOf("*/"));
    const readme = readFileSync(new URL("README.md", REPO), "utf8");
    const table = readme
      .slice(readme.indexOf("| context key (`-c key=value`)"))
      .split("\n")
      .filter((line, i, all) => line.startsWith("|") && all.slice(0, i).every((l) => l.startsWith("|")));
    expect(table.length).toBeGreaterThan(CONTEXT_KEYS.length / 2);
    for (const key of CONTEXT_KEYS) {
      expect(comment, key).toMatch(new RegExp(`^ \\*   ${key} `, "m"));
      expect(
        table.some((row) => row.split("|")[1]!.includes(`\`${key}\``)),
        key,
      ).toBe(true);
    }
  });

  it("cdk.json runs the app with tsx and writes to cdk.out", () => {
    expect(CDK_JSON.app).toBe("npx tsx bin/app.ts");
    expect((CDK_JSON as { output?: string }).output).toBe("cdk.out");
  });
});
