/**
 * The deployable stack: one `TaskChampionSyncServer`, its settings from props and CDK context,
 * and the outputs an operator needs (the URL, the table and bucket names, the `task config`
 * lines). Environment-agnostic and free of lookups, so `cdk synth` needs no credentials. On
 * request, the companion stack in us-east-1 that makes the edge's web ACL (`EdgeWebAclStack`),
 * and the one that makes the vault that receives the backups' copies (`BackupCopyVaultStack`).
 *
 * The CDK context keys it reads, and how a context value overrides a prop: lib/context.ts.
 */
import { Annotations, type App, CfnOutput, Stack, type StackProps, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { Construct } from "constructs";
import { fixedVaultName } from "./backup-helper.ts";
import { BackupCopyVaultStack } from "./backup-copy-vault-stack.ts";
import {
  backupCopyVaultContext,
  booleanContext,
  edgeRateContext,
  numberContext,
  serverPropsFromContext,
  stringContext,
} from "./context.ts";
import { EdgeWebAclStack } from "./edge-web-acl-stack.ts";
import { STACK_OUTPUT_KEYS } from "./stack-output-keys.ts";
import { TaskChampionSyncServer, type TaskChampionSyncServerProps } from "./sync-server.ts";

export const DEFAULT_STACK_NAME = "TaskChampionSyncServer";

export interface SyncServerStackProps extends StackProps {
  /** The server's settings; CDK context keys override them one by one. */
  readonly server?: TaskChampionSyncServerProps;
}

export class SyncServerStack extends Stack {
  public readonly server: TaskChampionSyncServer;

  constructor(scope: Construct, id: string, props: SyncServerStackProps = {}) {
    super(scope, id, {
      description: "TaskChampion sync server for Taskwarrior 3: API Gateway, Lambda, DynamoDB, S3",
      ...props,
    });
    const { edge, backup, ...server } = { ...props.server, ...serverPropsFromContext(this) };
    // `-c edge=false` and `-c backup=false` turn off what the props ask for (context overrides props).
    const settings: TaskChampionSyncServerProps = {
      ...server,
      ...(booleanContext(this, "edge") === false || edge === undefined ? {} : { edge }),
      ...(booleanContext(this, "backup") === false || backup === undefined ? {} : { backup }),
    };
    this.server = new TaskChampionSyncServer(this, "SyncServer", settings);
    const { url } = this.server;

    new CfnOutput(this, STACK_OUTPUT_KEYS.url, { value: url, description: "The sync server's URL" });
    new CfnOutput(this, "TaskConfigUrl", {
      value: `task config sync.server.url ${url}`,
      description: "Taskwarrior 3.1 and later: run this, then set sync.server.client_id and sync.encryption_secret",
    });
    new CfnOutput(this, "TaskConfigOrigin", {
      value: `task config sync.server.origin ${url}`,
      description: "Taskwarrior 3.0 only (it reads sync.server.origin instead of sync.server.url)",
    });
    new CfnOutput(
      this,
      "TaskConfigClient",
      this.server.createsClients
        ? {
            value: "task config sync.server.client_id $(uuidgen) && task config sync.encryption_secret <a long random secret>",
            description: "Once per user: every replica of one user shares the client id and the secret",
          }
        : {
            value: `npm run admin -- add-client --stack ${this.stackName}`,
            description: "Once per user: registers a client id (the server creates none) and prints that user's task config lines",
          },
    );
    new CfnOutput(this, STACK_OUTPUT_KEYS.tableName, { value: this.server.table.tableName, description: "The DynamoDB table" });
    new CfnOutput(this, STACK_OUTPUT_KEYS.bucketName, { value: this.server.bucket.bucketName, description: "The S3 bucket" });
    new CfnOutput(this, STACK_OUTPUT_KEYS.maxClientBytes, {
      value: String(this.server.maxClientBytes),
      description: "The bytes one client may store (0: no limit); the admin command shows usage against it",
    });
    if (this.server.encryptionKey !== undefined) {
      new CfnOutput(this, "EncryptionKeyArn", {
        value: this.server.encryptionKey.keyArn,
        description: "The customer-managed KMS key of the data, logs and alarms (restore a table with it)",
      });
    }
    new CfnOutput(this, "AlarmTopicArn", { value: this.server.alarmTopic.topicArn, description: "Alarms are sent here" });
    if (this.server.dashboard !== undefined) {
      new CfnOutput(this, "DashboardName", { value: this.server.dashboard.dashboardName, description: "CloudWatch dashboard" });
    }
    if (this.server.backupVault !== undefined && this.server.backupRole !== undefined) {
      new CfnOutput(this, STACK_OUTPUT_KEYS.backupVaultArn, {
        value: this.server.backupVault.backupVaultArn,
        description: "The vault of the daily backups of the table and the bucket (kept when the stack is deleted)",
      });
      new CfnOutput(this, STACK_OUTPUT_KEYS.backupRoleArn, {
        value: this.server.backupRole.roleArn,
        description: "The role AWS Backup uses for the backups, and for restore jobs (--iam-role-arn)",
      });
    }
    const behindEdge = this.server.edgeDistribution !== undefined;
    if (this.server.customDomainTarget !== undefined) {
      // With the edge, the execute-api endpoint is off: no URL to give.
      if (!behindEdge) new CfnOutput(this, "ApiEndpoint", { value: this.server.apiEndpoint, description: "The execute-api URL" });
      new CfnOutput(this, "CustomDomainTarget", {
        value: this.server.customDomainTarget,
        description: behindEdge
          ? "Point a CNAME record of the custom domain (CloudFront's origin) here"
          : "Point a CNAME (or alias) record of the custom domain here",
      });
    }
    if (this.server.edgeTarget !== undefined) {
      new CfnOutput(this, "EdgeTarget", {
        value: this.server.edgeTarget,
        description: "Point a CNAME (or alias) record of the edge's domain name (the Url) here",
      });
    }
  }
}

/** The name of the companion vault that receives the copies of the backups of stack `stackName`. */
export function backupCopyVaultName(stackName: string): string {
  return fixedVaultName(`${stackName}-copies`);
}

/**
 * Builds the app: the stack named by context `stackName`, the companion `<stackName>-EdgeWebAcl`
 * with context `edgeWebAclStack=true`, the companion `<stackName>-BackupCopies` with context
 * `backupCopyVaultStack=true`, and cdk-nag's AwsSolutions checks (a validation plugin: any
 * unacknowledged finding fails the synthesis) unless context `nag=false`. bin/app.ts and the
 * tests both build the app with this.
 */
export function buildApp(app: App, props: SyncServerStackProps = {}): SyncServerStack {
  const stackName = stringContext(app, "stackName") ?? DEFAULT_STACK_NAME;
  if (booleanContext(app, "edgeWebAclStack") === true) {
    const throttlingRateLimit = numberContext(app, "throttleRate") ?? props.server?.throttlingRateLimit;
    new EdgeWebAclStack(app, `${stackName}-EdgeWebAcl`, {
      ...edgeRateContext(app),
      ...(throttlingRateLimit === undefined ? {} : { throttlingRateLimit }),
    });
  }
  const copies = backupCopyVaultContext(app);
  if (copies !== undefined) {
    const copyRetentionDays = props.server?.backup?.copyRetentionDays;
    new BackupCopyVaultStack(app, `${stackName}-BackupCopies`, {
      ...(copyRetentionDays === undefined ? {} : { retentionDays: copyRetentionDays }),
      ...copies,
      vaultName: backupCopyVaultName(stackName),
    });
  }
  const stack = new SyncServerStack(app, stackName, props);
  if (booleanContext(app, "nag") ?? true) {
    // The acknowledgements (with their reasons) are also written into the template's metadata.
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  } else {
    Annotations.of(stack).addInfo("cdk-nag is off (context nag=false)");
  }
  return stack;
}
