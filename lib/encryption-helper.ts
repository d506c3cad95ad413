/**
 * The optional customer-managed KMS key: one key for the table, the bucket, the log groups and
 * the alarm topic. Its policy lets exactly those services use it, and the two functions through
 * DynamoDB and S3 only:
 *
 * - the account administers the key (never uses it directly: no Encrypt or Decrypt outside
 *   the services), so it can never become unmanageable;
 * - only AWS services may create grants on it (DynamoDB does, for the table, on behalf of
 *   whoever creates or restores it);
 * - the account's principals may use it through DynamoDB and S3 in this region only: what
 *   CloudFormation needs to create the table, and operators to run the admin commands or
 *   restore a table, each still needing IAM permissions of its own;
 * - CloudWatch Logs may use it for the stack's three log groups, and each function's role for
 *   its own log group through CloudWatch Logs (added by `allowLogGroups`, once the groups are
 *   named);
 * - CloudWatch alarms of this account may use it to publish to the encrypted topic;
 * - the sync and maintenance functions' roles may use it through DynamoDB and S3 (added by
 *   `allowFunctions`, once the roles exist).
 * - with backups, AWS Backup's role and the account through AWS Backup, and the accounts that
 *   receive copies (added by backup-helper.ts, which encrypts the backup vault with the key).
 *
 * A key costs $1 a month, which is why it is optional (AWS-managed keys cost nothing).
 */
import { ArnFormat, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type { Construct } from "constructs";
import { fromThisAccountsAlarms } from "./monitoring.ts";

/** Administering the key, without using it (AWS's key administrator actions). */
export const KEY_ADMINISTRATION_ACTIONS = [
  "kms:Create*",
  "kms:Describe*",
  "kms:Enable*",
  "kms:List*",
  "kms:Put*",
  "kms:Update*",
  "kms:Revoke*",
  "kms:Disable*",
  "kms:Get*",
  "kms:Delete*",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:RotateKeyOnDemand",
];

/** What DynamoDB and S3 do with the key for their callers (reads, writes, the table's grant). */
export const DATA_SERVICE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"];

/** The key, with every statement but the functions'; RETAIN keeps it with the data it encrypts. */
export function createEncryptionKey(scope: Construct, id: string, removalPolicy: RemovalPolicy): kms.Key {
  const stack = Stack.of(scope);
  const account = new iam.AccountRootPrincipal();
  const statements = [
    new iam.PolicyStatement({
      sid: "KeyAdministration",
      principals: [account],
      actions: KEY_ADMINISTRATION_ACTIONS,
      resources: ["*"],
    }),
    new iam.PolicyStatement({
      sid: "GrantsOnlyForAwsServices",
      effect: iam.Effect.DENY,
      principals: [new iam.StarPrincipal()],
      actions: ["kms:CreateGrant"],
      resources: ["*"],
      conditions: { BoolIfExists: { "kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false" } },
    }),
    new iam.PolicyStatement({
      sid: "AccountThroughDynamoDbAndS3",
      principals: [account],
      actions: DATA_SERVICE_ACTIONS,
      resources: ["*"],
      conditions: { StringEquals: { "kms:ViaService": dataServices(stack), "kms:CallerAccount": stack.account } },
    }),
    new iam.PolicyStatement({
      sid: "CloudWatchAlarmsToTopic",
      principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      resources: ["*"],
      conditions: fromThisAccountsAlarms(stack),
    }),
  ];
  return new kms.Key(scope, id, {
    description: "TaskChampion sync server: its table, bucket, log groups and alarm topic",
    enableKeyRotation: true,
    removalPolicy,
    policy: new iam.PolicyDocument({ statements }),
  });
}

/** The functions' roles may use the key, through DynamoDB and S3 only. */
export function allowFunctions(key: kms.Key, roles: readonly iam.IRole[]): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "FunctionsThroughDynamoDbAndS3",
      principals: roles.map((role) => new iam.ArnPrincipal(role.roleArn)),
      actions: DATA_SERVICE_ACTIONS,
      resources: ["*"],
      conditions: { StringEquals: { "kms:ViaService": dataServices(Stack.of(key)) } },
    }),
  );
}

/**
 * A log group encrypted with the key, by the name it is created with, and the role that writes
 * it, if one of the stack's does (the access logs are written by API Gateway's log delivery).
 */
export interface EncryptedLogGroup {
  /** Its name, fixed at synth: the key policy cannot refer to a group that refers to the key. */
  readonly name: string;
  /** The role that writes it (its statement's Sid is `<sid>LogsThroughCloudWatchLogs`). */
  readonly writer?: { readonly sid: string; readonly role: iam.IRole };
}

/**
 * CloudWatch Logs may use the key for exactly these log groups (the encryption context it
 * documents: the group's ARN), and the role that writes a group may use it through CloudWatch
 * Logs for that group: CloudWatch Logs documents kms:ViaService calls made on behalf of the
 * roles that call it, with the same encryption context (its managed policy for writers,
 * CloudWatchLogsAPIKeyAccess, allows kms:GenerateDataKey and kms:Decrypt that way, and
 * kms:DescribeKey, which has no encryption context).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
 */
export function allowLogGroups(key: kms.Key, groups: readonly EncryptedLogGroup[]): void {
  const stack = Stack.of(key);
  const logs = `logs.${stack.region}.amazonaws.com`;
  const groupArn = (name: string) =>
    stack.formatArn({ service: "logs", resource: "log-group", resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "CloudWatchLogs",
      principals: [new iam.ServicePrincipal(logs)],
      actions: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
      resources: ["*"],
      conditions: { ArnEquals: { "kms:EncryptionContext:aws:logs:arn": groups.map((group) => groupArn(group.name)) } },
    }),
  );
  const writers = groups.flatMap((group) => (group.writer ? [{ ...group.writer, name: group.name }] : []));
  for (const writer of writers) {
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `${writer.sid}LogsThroughCloudWatchLogs`,
        principals: [new iam.ArnPrincipal(writer.role.roleArn)],
        actions: ["kms:GenerateDataKey", "kms:Decrypt"],
        resources: ["*"],
        conditions: {
          StringEquals: { "kms:ViaService": logs },
          ArnEquals: { "kms:EncryptionContext:aws:logs:arn": groupArn(writer.name) },
        },
      }),
    );
  }
  if (writers.length > 0) {
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "FunctionsDescribeKeyThroughCloudWatchLogs",
        principals: writers.map((writer) => new iam.ArnPrincipal(writer.role.roleArn)),
        actions: ["kms:DescribeKey"],
        resources: ["*"],
        conditions: { StringEquals: { "kms:ViaService": logs } },
      }),
    );
  }
}

function dataServices(stack: Stack): string[] {
  return [`dynamodb.${stack.region}.amazonaws.com`, `s3.${stack.region}.amazonaws.com`];
}
