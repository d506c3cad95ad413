/**
 * The opt-in backups outside the deployment: the stack's vault, the table's and the bucket's
 * daily plans (whose windows must make each day's pair restorable: checked on the synthesized
 * template, against the storage's deletion grace), the copies to other vaults, the retentions
 * and the lock, the backup role, the selection of exactly the table and the bucket, the key
 * policy with the stack's key, the companion stack that makes the copies' vault, proof that
 * nothing is added while off, and every invalid value refused at synth.
 */
import { App, Stack } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DELETION_GRACE_DAYS } from "../../lambda/storage/dynamodb/constants.ts";
import { BackupCopyVaultStack } from "../../lib/backup-copy-vault-stack.ts";
import { pairableBucketBackups } from "../../lib/backup-helper.ts";
import { NAG_REASONS } from "../../lib/nag-acknowledgements.ts";
import { TaskChampionSyncServer } from "../../lib/sync-server.ts";
import { buildApp, DEFAULT_STACK_NAME, type SyncServerStackProps } from "../../lib/sync-server-stack.ts";
import {
  acknowledgedOn,
  build,
  companionOf,
  ofType,
  only,
  removeSynthOutputs,
  type Resource,
  resourceTypes as types,
  type Synthesized,
  stackNames,
  synth,
  type TemplateJson,
  testApp,
} from "../support/cdk-app.ts";

const OTHER_REGION_VAULT = "arn:aws:backup:eu-west-1:123456789012:backup-vault:TaskChampionSyncServer-copies";
const OTHER_ACCOUNT_VAULT = "arn:aws:backup:eu-central-1:210987654321:backup-vault:tasks-copies";
const BACKUP = { backup: "true", backupCopyVaultArns: OTHER_REGION_VAULT };

/** AWS's managed policies a backup role needs, as AWS Backup documents them (S3 needs its own). */
const BACKUP_POLICIES = [
  "service-role/AWSBackupServiceRolePolicyForBackup",
  "service-role/AWSBackupServiceRolePolicyForRestores",
  "AWSBackupServiceRolePolicyForS3Backup",
  "AWSBackupServiceRolePolicyForS3Restore",
];
const managedPolicyArn = (name: string) => ({ "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:iam::aws:policy/${name}`]] });

/** The plan whose selection names `resource` (a GetAtt of the table or the bucket, or an imported ARN). */
function planOf(template: Template, resource: unknown): { rule: TemplateJson; selection: TemplateJson } {
  const selections = ofType(template, "AWS::Backup::BackupSelection").filter(
    ([, s]) => JSON.stringify(s.Properties.BackupSelection.Resources) === JSON.stringify([resource]),
  );
  expect(selections, `one selection of ${JSON.stringify(resource)}`).toHaveLength(1);
  const selection = selections[0]![1].Properties;
  const planId = selection.BackupPlanId["Fn::GetAtt"][0] as string;
  const plan = template.toJSON().Resources[planId] as Resource;
  expect(plan.Properties.BackupPlan.BackupPlanRule).toHaveLength(1);
  return { rule: plan.Properties.BackupPlan.BackupPlanRule[0], selection };
}

/** The hour of a daily AWS Backup cron expression (`cron(0 H * * ? *)`). */
function dailyHour(expression: string): number {
  const match = /^cron\(0 (\d{1,2}) \* \* \? \*\)$/.exec(expression);
  expect(match, expression).not.toBeNull();
  return Number(match![1]);
}

afterAll(removeSynthOutputs);

describe("with backups off (the default)", () => {
  let defaults: Synthesized;

  beforeAll(() => {
    defaults = synth({});
  });

  it("adds no resource, property or output: the template is the same as with backup=false", () => {
    expect(synth({ backup: "false" }).template.toJSON()).toEqual(defaults.template.toJSON());
    expect(types(defaults.template).filter((type) => type.startsWith("AWS::Backup::"))).toEqual([]);
    expect(Object.keys(defaults.template.toJSON().Outputs).filter((key) => key.startsWith("Backup"))).toEqual([]);
    expect(defaults.stack.server.backupVault).toBeUndefined();
    // The backups already in place stay: the table's point-in-time recovery, the bucket's versions.
    defaults.template.hasResourceProperties("AWS::DynamoDB::Table", {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 },
    });
    defaults.template.hasResourceProperties("AWS::S3::Bucket", { VersioningConfiguration: { Status: "Enabled" } });
  });

  it("makes no companion stack unless asked, also with backups on", () => {
    const app = testApp(BACKUP);
    buildApp(app);
    expect(stackNames(app)).toEqual([DEFAULT_STACK_NAME]);
  });
});

describe("backups to another region (backup=true, backupCopyVaultArns)", () => {
  let synthesized: Synthesized;
  let template: Template;
  let vaultId: string;
  let vault: Resource;
  let roleId: string;
  let tableId: string;
  let bucketId: string;

  beforeAll(() => {
    synthesized = synth(BACKUP);
    template = synthesized.template;
    [vaultId, vault] = only(template, "AWS::Backup::BackupVault");
    [roleId] = ofType(template, "AWS::IAM::Role").find(
      ([, r]) => r.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service === "backup.amazonaws.com",
    )!;
    [tableId] = only(template, "AWS::DynamoDB::Table");
    [bucketId] = only(template, "AWS::S3::Bucket");
  });

  it("adds one vault, two plans, their selections and the backup role: nothing else changes", () => {
    const added = new Set(types(template).filter((type) => !types(synth({}).template).includes(type)));
    expect([...added].sort()).toEqual(["AWS::Backup::BackupPlan", "AWS::Backup::BackupSelection", "AWS::Backup::BackupVault"]);
    expect(
      types(template)
        .filter((t) => t.startsWith("AWS::Backup::"))
        .sort(),
    ).toEqual([
      "AWS::Backup::BackupPlan",
      "AWS::Backup::BackupPlan",
      "AWS::Backup::BackupSelection",
      "AWS::Backup::BackupSelection",
      "AWS::Backup::BackupVault",
    ]);
    // The table's PITR and the bucket's versions are as they were.
    const table = only(template, "AWS::DynamoDB::Table")[1];
    expect(table).toEqual(only(synth({}).template, "AWS::DynamoDB::Table")[1]);
  });

  it("keeps the vault when the stack is deleted, whatever the data's removal policy, encrypted with AWS Backup's key", () => {
    expect(vault.DeletionPolicy).toBe("Retain");
    expect(vault.UpdateReplacePolicy).toBe("Retain");
    expect(vault.Properties.EncryptionKeyArn).toBeUndefined();
    expect(vault.Properties.LockConfiguration).toBeUndefined();
    expect(vault.Properties.AccessPolicy).toBeUndefined();
    const destroyed = only(Template.fromStack(build({ ...BACKUP, removalPolicy: "destroy" })), "AWS::Backup::BackupVault")[1];
    expect(destroyed.DeletionPolicy).toBe("Retain");
  });

  it("names the vault after the stack and its stack id, so that a new stack of the same name never meets a retained vault's name", () => {
    expect(vault.Properties.BackupVaultName).toEqual({
      "Fn::Join": [
        "-",
        [
          `${DEFAULT_STACK_NAME}-backups`,
          { "Fn::Select": [4, { "Fn::Split": ["-", { "Fn::Select": [2, { "Fn::Split": ["/", { Ref: "AWS::StackId" }] }] }] }] },
        ],
      ],
    });
  });

  it("backs up the table daily at 03:00 UTC and the bucket at 07:00, into the vault, kept 7 days, copied to the other vault for 35", () => {
    const table = planOf(template, { "Fn::GetAtt": [tableId, "Arn"] }).rule;
    const bucket = planOf(template, { "Fn::GetAtt": [bucketId, "Arn"] }).rule;
    expect(table).toMatchObject({ ScheduleExpression: "cron(0 3 * * ? *)", StartWindowMinutes: 60, CompletionWindowMinutes: 120 });
    expect(bucket).toMatchObject({ ScheduleExpression: "cron(0 7 * * ? *)", StartWindowMinutes: 60, CompletionWindowMinutes: 720 });
    for (const rule of [table, bucket]) {
      expect(rule.TargetBackupVault).toEqual({ "Fn::GetAtt": [vaultId, "BackupVaultName"] });
      expect(rule.Lifecycle).toEqual({ DeleteAfterDays: 7 });
      expect(rule.CopyActions).toEqual([{ DestinationBackupVaultArn: OTHER_REGION_VAULT, Lifecycle: { DeleteAfterDays: 35 } }]);
      expect(rule.EnableContinuousBackup).toBeUndefined();
    }
    // One plan per stack and resource: plan names are the account's, per region.
    const names = ofType(template, "AWS::Backup::BackupPlan").map(([, p]) => p.Properties.BackupPlan.BackupPlanName);
    expect(names).toEqual(
      expect.arrayContaining([
        { "Fn::Join": ["-", [{ Ref: "AWS::StackName" }, "table"]] },
        { "Fn::Join": ["-", [{ Ref: "AWS::StackName" }, "bucket"]] },
      ]),
    );
  });

  it("makes a restorable pair every day: the bucket's job starts after the table's has ended and ends within the storage's deletion grace", () => {
    for (const context of [BACKUP, { ...BACKUP, backupHour: "22" }, { ...BACKUP, backupHour: "5", backupBucketHour: "4" }]) {
      const t = Template.fromStack(build(context));
      const table = planOf(t, { "Fn::GetAtt": [only(t, "AWS::DynamoDB::Table")[0], "Arn"] }).rule;
      const bucket = planOf(t, { "Fn::GetAtt": [only(t, "AWS::S3::Bucket")[0], "Arn"] }).rule;
      // Each job at its latest: its schedule, its start window, its completion window (AWS
      // documents the completion window both from the start and from the schedule).
      const tableEnds = dailyHour(table.ScheduleExpression) * 60 + table.StartWindowMinutes + table.CompletionWindowMinutes;
      const gap = (((dailyHour(bucket.ScheduleExpression) - dailyHour(table.ScheduleExpression)) % 24) + 24) % 24;
      const bucketStarts = dailyHour(table.ScheduleExpression) * 60 + gap * 60;
      const bucketEnds = bucketStarts + bucket.StartWindowMinutes + bucket.CompletionWindowMinutes;
      // DynamoDB's backup holds writes up to a minute after its time: the bucket's starts after that.
      expect(bucketStarts, JSON.stringify(context)).toBeGreaterThan(tableEnds + 1);
      // Every object the table's backup references stays current until DELETION_GRACE_DAYS after the table's job started.
      expect(bucketEnds - dailyHour(table.ScheduleExpression) * 60, JSON.stringify(context)).toBeLessThan(
        DELETION_GRACE_DAYS * 24 * 60 - 1,
      );
    }
  });

  describe("with a deletion grace shorter than the bucket's windows (a later storage's)", () => {
    // No schedule of today's windows ends past 3 days; the rule must still hold if the grace shrinks.
    afterEach(() => {
      vi.doUnmock("../../lambda/storage/dynamodb/constants.ts");
      vi.resetModules();
    });

    it("refuses a bucket hour whose job could end past the grace, and counts no day's backup that pairs", async () => {
      vi.resetModules();
      vi.doMock("../../lambda/storage/dynamodb/constants.ts", async (importOriginal) => ({
        ...(await importOriginal<typeof import("../../lambda/storage/dynamodb/constants.ts")>()),
        DELETION_GRACE_DAYS: 1,
      }));
      const helper = await import("../../lib/backup-helper.ts");
      // 23 hours after the table's, with its 13 hours of windows: 36 hours after the table's started.
      expect(helper.checkPairing(3, 2)).toEqual([
        "backup bucketHourUtc 2: the bucket's backup may finish 36 hours after the table's starts, past the 1 days the storage " +
          "keeps an object no item references any more",
      ]);
      expect(helper.pairableBucketBackups(3, 2)).toBe(0);
      // 4 hours after: 17 hours, within the day.
      expect(helper.checkPairing(3, 7)).toEqual([]);
      expect(helper.pairableBucketBackups(3, 7)).toBe(1);
    });
  });

  it("tolerates two failed bucket backups in a row: the next two days' still pair with the table's", () => {
    expect(pairableBucketBackups(3, 7)).toBe(3);
    // A later bucket hour leaves less room: still the same day's and the next day's.
    expect(pairableBucketBackups(3, 2)).toBe(2);
  });

  it("selects exactly the table and the bucket the functions use, with the backup role", () => {
    for (const resource of [tableId, bucketId]) {
      const { selection } = planOf(template, { "Fn::GetAtt": [resource, "Arn"] });
      expect(selection.BackupSelection.IamRoleArn).toEqual({ "Fn::GetAtt": [roleId, "Arn"] });
      expect(selection.BackupSelection.ListOfTags).toBeUndefined();
      expect(selection.BackupSelection.Conditions).toBeUndefined();
    }
  });

  it("gives the backup role exactly AWS's managed policies for AWS Backup, DynamoDB and S3, assumable by AWS Backup only", () => {
    const role = template.toJSON().Resources[roleId] as Resource;
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: "backup.amazonaws.com" } },
    ]);
    expect(role.Properties.ManagedPolicyArns).toEqual(BACKUP_POLICIES.map(managedPolicyArn));
    const inline = ofType(template, "AWS::IAM::Policy").filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId));
    expect(inline).toEqual([]);
    expect(role.Properties.Policies).toBeUndefined();
  });

  it("outputs the vault and the role for the restore runbooks", () => {
    template.hasOutput("BackupVaultArn", { Value: { "Fn::GetAtt": [vaultId, "BackupVaultArn"] } });
    template.hasOutput("BackupRoleArn", { Value: { "Fn::GetAtt": [roleId, "Arn"] } });
  });

  it("is cdk-nag clean, acknowledging on the role only AWS's four managed policies", () => {
    const role = synthesized.stack.server.backupRole!;
    const acks = acknowledgedOn(role);
    expect(Object.keys(acks).sort()).toEqual(
      BACKUP_POLICIES.map((name) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`).sort(),
    );
    for (const reason of Object.values(acks)) expect(reason).toBe(NAG_REASONS.backupManagedPolicies);
    // synth() ran the whole app through cdk-nag: no finding is left.
    Annotations.fromStack(synthesized.stack).hasNoError("*", Match.anyValue());
    Annotations.fromStack(synthesized.stack).hasNoWarning("*", Match.anyValue());
  });
});

describe("backup options", () => {
  it("warns when nothing leaves the stack's region and account (no copies)", () => {
    const stack = build({ backup: "true" });
    const warnings = Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("without copyVaultArns"));
    expect(warnings).toHaveLength(1);
    const [, plan] = ofType(Template.fromStack(stack), "AWS::Backup::BackupPlan")[0]!;
    expect(plan.Properties.BackupPlan.BackupPlanRule[0].CopyActions).toBeUndefined();
  });

  it("takes the hours, the retentions and several copies (another region and another account) from context", () => {
    const t = Template.fromStack(
      build({
        backup: "true",
        backupHour: "23",
        backupBucketHour: "5",
        backupRetentionDays: "14",
        backupCopyVaultArns: `${OTHER_REGION_VAULT},${OTHER_ACCOUNT_VAULT}`,
        backupCopyRetentionDays: "90",
      }),
    );
    const table = planOf(t, { "Fn::GetAtt": [only(t, "AWS::DynamoDB::Table")[0], "Arn"] }).rule;
    const bucket = planOf(t, { "Fn::GetAtt": [only(t, "AWS::S3::Bucket")[0], "Arn"] }).rule;
    expect(table.ScheduleExpression).toBe("cron(0 23 * * ? *)");
    expect(bucket.ScheduleExpression).toBe("cron(0 5 * * ? *)");
    for (const rule of [table, bucket]) {
      expect(rule.Lifecycle).toEqual({ DeleteAfterDays: 14 });
      expect(rule.CopyActions).toEqual([
        { DestinationBackupVaultArn: OTHER_REGION_VAULT, Lifecycle: { DeleteAfterDays: 90 } },
        { DestinationBackupVaultArn: OTHER_ACCOUNT_VAULT, Lifecycle: { DeleteAfterDays: 90 } },
      ]);
    }
  });

  it("takes backupCopyVaultArns as a list in cdk.json", () => {
    const t = Template.fromStack(build({ backup: "true", backupCopyVaultArns: [OTHER_REGION_VAULT, OTHER_ACCOUNT_VAULT] }));
    const [, plan] = ofType(t, "AWS::Backup::BackupPlan")[0]!;
    expect(plan.Properties.BackupPlan.BackupPlanRule[0].CopyActions).toHaveLength(2);
  });

  it("locks the vault: governance (removable) or compliance (immutable after its days), its minimum the plans' retention", () => {
    const lockOf = (context: Record<string, string>) =>
      only(Template.fromStack(build({ ...BACKUP, ...context })), "AWS::Backup::BackupVault")[1].Properties.LockConfiguration;
    expect(lockOf({ backupVaultLock: "governance" })).toEqual({ MinRetentionDays: 7 });
    expect(lockOf({ backupVaultLock: "compliance" })).toEqual({ MinRetentionDays: 7, ChangeableForDays: 3 });
    expect(
      lockOf({
        backupVaultLock: "compliance",
        backupRetentionDays: "30",
        backupVaultLockChangeableDays: "10",
        backupVaultLockMinDays: "14",
        backupVaultLockMaxDays: "365",
      }),
    ).toEqual({ MinRetentionDays: 14, MaxRetentionDays: 365, ChangeableForDays: 10 });
    expect(lockOf({ backupVaultLock: "none" })).toBeUndefined();
    // The mode in any case, as every named value.
    expect(lockOf({ backupVaultLock: "Governance" })).toEqual({ MinRetentionDays: 7 });
  });

  it("backs up an existing (restored) table and bucket: the selections name them", () => {
    const t = Template.fromStack(
      build({ ...BACKUP, tableName: "TaskChampionSyncServer-restored", bucketName: "taskchampion-kept-bucket" }),
    );
    const tableArn = {
      "Fn::Join": [
        "",
        [
          "arn:",
          { Ref: "AWS::Partition" },
          ":dynamodb:",
          { Ref: "AWS::Region" },
          ":",
          { Ref: "AWS::AccountId" },
          ":table/TaskChampionSyncServer-restored",
        ],
      ],
    };
    const bucketArn = { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":s3:::taskchampion-kept-bucket"]] };
    expect(planOf(t, tableArn).rule.ScheduleExpression).toBe("cron(0 3 * * ? *)");
    expect(planOf(t, bucketArn).rule.ScheduleExpression).toBe("cron(0 7 * * ? *)");
  });

  it("is a prop of the construct, in a team's own stack; -c backup=false turns the prop off (context over props)", () => {
    const server = { backup: { hourUtc: 1, copyVaultArns: [OTHER_ACCOUNT_VAULT], vaultLock: { mode: "governance" as const } } };
    const withProp = Template.fromStack(build({}, { server }));
    expect(types(withProp)).toContain("AWS::Backup::BackupVault");
    expect(types(Template.fromStack(build({ backup: "false" }, { server })))).not.toContain("AWS::Backup::BackupVault");

    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new Stack(app, "Tasks");
    const sync = new TaskChampionSyncServer(stack, "Sync", { backup: { copyVaultArns: [OTHER_ACCOUNT_VAULT], retentionDays: 10 } });
    expect(sync.backupVault).toBeDefined();
    expect(sync.backupPlans?.table).toBeDefined();
    const [, plan] = ofType(Template.fromStack(stack), "AWS::Backup::BackupPlan")[0]!;
    expect(plan.Properties.BackupPlan.BackupPlanRule[0].Lifecycle).toEqual({ DeleteAfterDays: 10 });
  });
});

describe("backups with the stack's customer-managed key", () => {
  type Statement = { Sid: string; Effect: string; Principal: TemplateJson; Action: string[]; Condition?: TemplateJson };
  const region = (service: string) => ({ "Fn::Join": ["", [`${service}.`, { Ref: "AWS::Region" }, ".amazonaws.com"]] });
  const account = { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":iam::", { Ref: "AWS::AccountId" }, ":root"]] };

  function keyPolicy(context: Record<string, string>): { template: Template; keyId: string; bySid: Record<string, Statement> } {
    const template = Template.fromStack(build({ customerManagedKey: "true", ...context }));
    const [keyId, key] = only(template, "AWS::KMS::Key");
    const statements = key.Properties.KeyPolicy.Statement as Statement[];
    return { template, keyId, bySid: Object.fromEntries(statements.map((st) => [st.Sid, st])) };
  }

  it("encrypts the vault with it, and lets the backup role use it through AWS Backup, DynamoDB and S3, the account through AWS Backup", () => {
    const { template, keyId, bySid } = keyPolicy(BACKUP);
    const [, vault] = only(template, "AWS::Backup::BackupVault");
    expect(vault.Properties.EncryptionKeyArn).toEqual({ "Fn::GetAtt": [keyId, "Arn"] });
    const [roleId] = ofType(template, "AWS::IAM::Role").find(
      ([, r]) => r.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service === "backup.amazonaws.com",
    )!;
    const use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"];
    expect(bySid.BackupRoleThroughAwsBackupDynamoDbAndS3).toEqual({
      Sid: "BackupRoleThroughAwsBackupDynamoDbAndS3",
      Effect: "Allow",
      Principal: { AWS: { "Fn::GetAtt": [roleId, "Arn"] } },
      Action: [...use, "kms:CreateGrant"].sort(),
      Resource: "*",
      Condition: { StringEquals: { "kms:ViaService": [region("backup"), region("dynamodb"), region("s3")] } },
    });
    expect(bySid.AccountThroughAwsBackup).toEqual({
      Sid: "AccountThroughAwsBackup",
      Effect: "Allow",
      Principal: { AWS: account },
      Action: [...use, "kms:CreateGrant", "kms:RetireGrant"].sort(),
      Resource: "*",
      Condition: { StringEquals: { "kms:ViaService": region("backup"), "kms:CallerAccount": { Ref: "AWS::AccountId" } } },
    });
    // Grants still only for AWS resources.
    expect(bySid.GrantsOnlyForAwsServices?.Effect).toBe("Deny");
    // Copies to another region of the stack's own account (known at synth) need no other account on the key.
    const known = Template.fromStack(
      build({ customerManagedKey: "true", ...BACKUP }, { env: { account: "123456789012", region: "us-east-1" } }),
    );
    const statements = only(known, "AWS::KMS::Key")[1].Properties.KeyPolicy.Statement as Statement[];
    expect(statements.map((st) => st.Sid)).not.toContain("CopyAccountsThroughAwsBackup");
  });

  it("lets another account that receives copies use it through AWS Backup only", () => {
    const { bySid } = keyPolicy({ backup: "true", backupCopyVaultArns: `${OTHER_REGION_VAULT},${OTHER_ACCOUNT_VAULT}` });
    const other = bySid.CopyAccountsThroughAwsBackup!;
    expect(JSON.stringify(other.Principal)).toContain("210987654321");
    // The stack is environment-agnostic: the same-region vault's account may be its own, named too.
    expect(other.Action).toEqual(["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"]);
    expect(other.Condition).toEqual({ StringLike: { "kms:ViaService": "backup.*.amazonaws.com" } });
    // Known to be in account 123456789012, the stack names only the other account.
    const known = Template.fromStack(
      build(
        { customerManagedKey: "true", backup: "true", backupCopyVaultArns: `${OTHER_REGION_VAULT},${OTHER_ACCOUNT_VAULT}` },
        { env: { account: "123456789012", region: "us-east-1" } },
      ),
    );
    const statements = only(known, "AWS::KMS::Key")[1].Properties.KeyPolicy.Statement as Statement[];
    const copies = statements.find((st) => st.Sid === "CopyAccountsThroughAwsBackup")!;
    expect(JSON.stringify(copies.Principal)).toContain("210987654321");
    expect(JSON.stringify(copies.Principal)).not.toContain("123456789012");
  });

  it("adds nothing to the key without backups", () => {
    const { bySid } = keyPolicy({});
    expect(Object.keys(bySid).filter((sid) => sid.includes("Backup"))).toEqual([]);
  });
});

describe("the companion stack that makes the copies' vault (backupCopyVaultStack=true)", () => {
  function companion(
    context: Record<string, string>,
    props?: SyncServerStackProps,
  ): { app: App; stack: BackupCopyVaultStack; template: Template } {
    const { app, stack } = companionOf(
      BackupCopyVaultStack,
      "BackupCopies",
      { backupCopyVaultStack: "true", backupCopyRegion: "eu-west-1", ...context },
      props,
    );
    // Synthesizing the app runs cdk-nag on every stack.
    return { app, stack, template: Template.fromStack(stack) };
  }

  it("holds the vault (kept, named after the server stack, AWS Backup's key) and a restore role, in its region", () => {
    const { app, stack, template } = companion({});
    expect(stack.region).toBe("eu-west-1");
    expect(stack.stackName).toBe(`${DEFAULT_STACK_NAME}-BackupCopies`);
    expect(types(template).sort()).toEqual(["AWS::Backup::BackupVault", "AWS::IAM::Role"]);
    const [vaultId, vault] = only(template, "AWS::Backup::BackupVault");
    expect(vault.Properties).toEqual({ BackupVaultName: `${DEFAULT_STACK_NAME}-copies` });
    expect(vault.DeletionPolicy).toBe("Retain");
    const [roleId, role] = only(template, "AWS::IAM::Role");
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: "backup.amazonaws.com" });
    expect(role.Properties.ManagedPolicyArns).toEqual(
      ["service-role/AWSBackupServiceRolePolicyForRestores", "AWSBackupServiceRolePolicyForS3Restore"].map(managedPolicyArn),
    );
    template.hasOutput("BackupCopyVaultArn", { Value: { "Fn::GetAtt": [vaultId, "BackupVaultArn"] } });
    template.hasOutput("RestoreRoleArn", { Value: { "Fn::GetAtt": [roleId, "Arn"] } });
    // The server stack beside it has no backups until asked, and no reference to this stack.
    const server = Template.fromStack(app.node.findChild(DEFAULT_STACK_NAME) as Stack);
    expect(types(server).filter((t) => t.startsWith("AWS::Backup::"))).toEqual([]);
    expect(stack.dependencies).toEqual([]);
  });

  it("lets other accounts, or an organization's, copy in (cross-account), and nothing else", () => {
    const { stack, template } = companion({
      backupCopyAccount: "210987654321",
      backupCopySourceAccounts: "123456789012",
      backupCopySourceOrganization: "o-a1b2c3d4e5",
    });
    expect(stack.account).toBe("210987654321");
    const [, vault] = only(template, "AWS::Backup::BackupVault");
    expect(vault.Properties.AccessPolicy.Statement).toEqual([
      {
        Sid: "CopyIntoFrom123456789012",
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::123456789012:root" },
        Action: "backup:CopyIntoBackupVault",
        Resource: "*",
      },
      {
        Sid: "CopyIntoFromTheOrganization",
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: "backup:CopyIntoBackupVault",
        Resource: "*",
        Condition: { StringEquals: { "aws:PrincipalOrgID": "o-a1b2c3d4e5" } },
      },
    ]);
  });

  it("locks its vault: compliance with the copies' retention as the minimum, and the shared lock days", () => {
    const lock = (context: Record<string, string>) =>
      only(companion(context).template, "AWS::Backup::BackupVault")[1].Properties.LockConfiguration;
    expect(lock({ backupCopyVaultLock: "compliance" })).toEqual({ MinRetentionDays: 35, ChangeableForDays: 3 });
    expect(lock({ backupCopyVaultLock: "governance", backupCopyRetentionDays: "60" })).toEqual({ MinRetentionDays: 60 });
    expect(lock({ backupCopyVaultLock: "compliance", backupVaultLockChangeableDays: "7", backupVaultLockMaxDays: "400" })).toEqual({
      MinRetentionDays: 35,
      MaxRetentionDays: 400,
      ChangeableForDays: 7,
    });
  });

  it("takes the stack name from context, and keeps the vault's name within AWS Backup's 50 characters", () => {
    expect(companion({ stackName: "TeamTasks" }).template.toJSON().Resources).toMatchObject({
      [only(companion({ stackName: "TeamTasks" }).template, "AWS::Backup::BackupVault")[0]]: {
        Properties: { BackupVaultName: "TeamTasks-copies" },
      },
    });
    const long = "A".repeat(60);
    const name = only(companion({ stackName: long }).template, "AWS::Backup::BackupVault")[1].Properties.BackupVaultName as string;
    expect(name).toMatch(/^[A-Za-z0-9_-]{2,50}$/);
    expect(name.startsWith("AAAA")).toBe(true);
  });

  it("takes the copies' retention from the server's props (context over props): the minimum of its lock", () => {
    const server = { backup: { copyVaultArns: [OTHER_ACCOUNT_VAULT], copyRetentionDays: 60 } };
    const lock = (context: Record<string, string>) =>
      only(companion({ backupCopyVaultLock: "governance", ...context }, { server }).template, "AWS::Backup::BackupVault")[1].Properties
        .LockConfiguration;
    expect(lock({})).toEqual({ MinRetentionDays: 60 });
    expect(lock({ backupCopyRetentionDays: "40" })).toEqual({ MinRetentionDays: 40 });
  });

  it("gives the shared lock days to the compliance lock only: a governance lock beside it has no cooling-off", () => {
    const { app, template } = companion({
      ...BACKUP,
      backupVaultLock: "governance",
      backupCopyVaultLock: "compliance",
      backupVaultLockChangeableDays: "5",
    });
    expect(only(template, "AWS::Backup::BackupVault")[1].Properties.LockConfiguration).toEqual({
      MinRetentionDays: 35,
      ChangeableForDays: 5,
    });
    const server = Template.fromStack(app.node.findChild(DEFAULT_STACK_NAME) as Stack);
    expect(only(server, "AWS::Backup::BackupVault")[1].Properties.LockConfiguration).toEqual({ MinRetentionDays: 7 });
  });

  it("serves a team's own app, with props", () => {
    const app = new App();
    const stack = new BackupCopyVaultStack(app, "Copies", {
      region: "eu-central-1",
      account: "210987654321",
      vaultName: "tasks-copies",
      sourceAccounts: ["123456789012"],
      vaultLock: { mode: "compliance", changeableForDays: 5 },
    });
    const [, vault] = only(Template.fromStack(stack), "AWS::Backup::BackupVault");
    expect(vault.Properties.LockConfiguration).toEqual({ MinRetentionDays: 35, ChangeableForDays: 5 });
    expect(stack.region).toBe("eu-central-1");
  });

  it.each([
    [{ region: "Europe" }, /region must be an AWS region such as eu-west-1/],
    [{ account: "12345" }, /account must be an AWS account id/],
    [{ vaultName: "no spaces" }, /vaultName must be 2 to 50 letters/],
    [{ sourceAccounts: ["abc"] }, /sourceAccounts must be AWS account ids/],
    [{ account: "210987654321", sourceAccounts: ["210987654321"] }, /is this vault's own account/],
    [{ sourceOrganizationId: "org-1" }, /sourceOrganizationId must be an AWS Organizations id/],
    [{ vaultLock: { mode: "compliance" as const, minRetentionDays: 40 } }, /minRetentionDays 40 is longer than the 35 days/],
    [{ vaultLock: { mode: "compliance" as const, changeableForDays: 2 } }, /changeableForDays must be a whole number of days, 3 or more/],
  ])("refuses the props %j", (props, message) => {
    expect(() => new BackupCopyVaultStack(new App(), "Copies", { region: "eu-west-1", vaultName: "tasks-copies", ...props })).toThrow(
      message,
    );
  });
});

describe("invalid backup values, refused at synth", () => {
  it.each([
    [{ backup: "yes" }, /context backup="yes" is not valid: expected true or false/],
    [{ ...BACKUP, backupHour: "24" }, /backup hourUtc must be an hour of the day \(UTC\), 0 to 23, got 24/],
    [{ ...BACKUP, backupHour: "three" }, /context backupHour="three" is not valid/],
    [
      { ...BACKUP, backupHour: "3", backupBucketHour: "5" },
      /bucketHourUtc 5 must be at least 4 hours after hourUtc 3: the bucket's backup must start after the table's has finished/,
    ],
    [{ ...BACKUP, backupHour: "3", backupBucketHour: "3" }, /must be at least 4 hours after/],
    // The table's windows end 3 hours after its schedule, and its backup may hold a minute's more writes.
    [{ ...BACKUP, backupHour: "3", backupBucketHour: "6" }, /bucketHourUtc 6 must be at least 4 hours after hourUtc 3/],
    [{ ...BACKUP, backupRetentionDays: "3" }, /backup retentionDays must be a whole number of days from 7/],
    [{ ...BACKUP, backupCopyRetentionDays: "6" }, /backup copyRetentionDays must be a whole number of days from 7/],
    [{ backup: "true", backupCopyRetentionDays: "60" }, /copyRetentionDays is the retention of the copies: it needs copyVaultArns/],
    [{ backup: "true", backupCopyVaultArns: "arn:aws:s3:::a-bucket" }, /backup copyVaultArns must be backup vault ARNs/],
    [{ backup: "true", backupCopyVaultArns: `${OTHER_REGION_VAULT},${OTHER_REGION_VAULT}` }, /names a vault twice/],
    [{ ...BACKUP, backupVaultLock: "forever" }, /context backupVaultLock="forever" is not valid: expected none, governance or compliance/],
    [
      { ...BACKUP, backupVaultLock: "compliance", backupVaultLockMinDays: "8" },
      /minRetentionDays 8 is longer than the 7 days the plans keep/,
    ],
    [{ ...BACKUP, backupVaultLock: "compliance", backupVaultLockMaxDays: "6" }, /maxRetentionDays 6 is shorter than the 7 days/],
    [
      { ...BACKUP, backupVaultLock: "compliance", backupVaultLockChangeableDays: "2" },
      /changeableForDays must be a whole number of days, 3 or more/,
    ],
    [
      { ...BACKUP, backupVaultLock: "governance", backupVaultLockChangeableDays: "5" },
      /backupVaultLockChangeableDays is a compliance lock's/,
    ],
    [{ ...BACKUP, backupVaultLockMinDays: "7" }, /bound a locked vault: set backupVaultLock or backupCopyVaultLock/],
    [{ backupHour: "5" }, /context backupHour set the backups, which are off: add -c backup=true/],
    // A list key given as a list in cdk.json, too.
    [{ backupCopyVaultArns: [OTHER_REGION_VAULT] }, /context backupCopyVaultArns set the backups, which are off/],
    [
      { backupCopyVaultArns: OTHER_REGION_VAULT, backupRetentionDays: "9" },
      /context backupRetentionDays, backupCopyVaultArns set the backups, which are off/,
    ],
    [
      { backupCopyRegion: "eu-west-1" },
      /context backupCopyRegion set the companion stack of the copies, which is off: add -c backupCopyVaultStack=true/,
    ],
    [{ backupCopyVaultStack: "true" }, /backupCopyVaultStack=true needs backupCopyRegion/],
    [
      { backupCopyVaultStack: "true", backupCopyRegion: "eu-west-1", backupCopyVaultLock: "always" },
      /context backupCopyVaultLock="always" is not valid/,
    ],
    [
      { backupCopyVaultStack: "true", backupCopyRegion: "eu-west-1", backupCopySourceAccounts: "12" },
      /sourceAccounts must be AWS account ids/,
    ],
  ])("rejects %j", (context, message) => {
    expect(() => build(context)).toThrow(message);
  });

  it("refuses a copy into the stack's own region and account, when the stack knows them: no backup outside the deployment", () => {
    expect(() =>
      build(
        { backup: "true", backupCopyVaultArns: "arn:aws:backup:us-east-1:123456789012:backup-vault:here" },
        {
          env: { account: "123456789012", region: "us-east-1" },
        },
      ),
    ).toThrow(/is in this stack's own region and account/);
  });

  it.each([
    [{ hourUtc: 1.5 }, /backup hourUtc must be an hour of the day/],
    [{ bucketHourUtc: -1 }, /backup bucketHourUtc must be an hour of the day/],
    [
      { copyVaultArns: [OTHER_REGION_VAULT], copyRetentionDays: 100_000 },
      /copyRetentionDays must be a whole number of days from 7 .* to 36500, got 100000/,
    ],
    [{ vaultLock: { mode: "eternal" as "governance" } }, /vaultLock mode must be governance or compliance/],
    [
      { vaultLock: { mode: "governance" as const, changeableForDays: 5 } },
      /vaultLock changeableForDays sets when a compliance lock becomes immutable: a governance lock has none/,
    ],
    [
      { vaultLock: { mode: "compliance" as const, minRetentionDays: 7, maxRetentionDays: 7 } },
      /maxRetentionDays must be more than minRetentionDays/,
    ],
  ])("rejects the props %j", (backup, message) => {
    expect(() => build({}, { server: { backup } })).toThrow(message);
  });

  it("reports every problem of the backups at once", () => {
    expect(() => build({}, { server: { backup: { hourUtc: 30, retentionDays: 1, copyVaultArns: ["nope"] } } })).toThrow(
      /hourUtc.*\n.*retentionDays.*\n.*copyVaultArns/,
    );
  });
});

// Keep the imports of types the tests name (dynamodb, s3) used: a team passes its own table and bucket.
describe("a team's own table and bucket", () => {
  it("are what the selections name", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new Stack(app, "Tasks");
    const table = dynamodb.Table.fromTableName(stack, "Kept", "kept-table");
    const bucket = s3.Bucket.fromBucketName(stack, "KeptBucket", "kept-bucket");
    new TaskChampionSyncServer(stack, "Sync", {
      existingTable: table,
      existingBucket: bucket,
      backup: { copyVaultArns: [OTHER_ACCOUNT_VAULT] },
    });
    const t = Template.fromStack(stack);
    const resources = ofType(t, "AWS::Backup::BackupSelection").map(([, s]) => JSON.stringify(s.Properties.BackupSelection.Resources));
    expect(resources.some((r) => r.includes("table/kept-table"))).toBe(true);
    expect(resources.some((r) => r.includes(":s3:::kept-bucket"))).toBe(true);
  });
});
