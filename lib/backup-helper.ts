/**
 * Backups outside the deployment (the construct's opt-in `backup`): an AWS Backup vault of the
 * stack, a daily plan for the table and one for the bucket, each recovery point copied to vaults
 * in another region and/or account (the companion stack, backup-copy-vault-stack.ts, makes one),
 * and an optional vault lock. README.md, "Backups outside the deployment", gives the argument
 * in full; the parts this file enforces:
 *
 * - A table backup D and a bucket backup S restore together (they "pair") when S started after
 *   D finished and S finished less than DELETION_GRACE_DAYS after D started. The storage deletes
 *   an object only that long after no item references it any more, so every object an item of D
 *   references is current for the whole of S, and an S3 restore brings back exactly the current
 *   versions ("AWS Backup creates a backup of all your S3 versions, but restores only the latest
 *   version from the version stack",
 *   https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-s3.html).
 * - Hence two plans, not one: a plan backs up each of its selections by each of its rules, so
 *   one plan cannot order the table before the bucket. The table's job is scheduled first, the
 *   bucket's hours later, and both windows are short enough that each day's pair meets the rule
 *   (`checkPairing`, at synth).
 * - A window bounds a job: it must start within its start window (at least 60 minutes) or it is
 *   not run, and finish within its completion window or it is cancelled. AWS counts the
 *   completion window from the job's start for a plan's rule, but from the scheduled time for
 *   StartBackupJob; the check takes the later bound, schedule + start window + completion
 *   window (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupRule.html,
 *   https://docs.aws.amazon.com/aws-backup/latest/devguide/API_StartBackupJob.html).
 * - DynamoDB puts into a backup everything committed up to a minute before its time and nothing
 *   committed more than a minute after it
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html): the
 *   minute is part of the margin.
 * - The selections name exactly the table and the bucket the functions use (an existing or
 *   restored one too): resources assigned by ARN are backed up whatever the Region's service
 *   opt-in (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_UpdateRegionSettings.html).
 * - Copies to another region or account need DynamoDB's advanced backups (AWS Backup encrypts
 *   the recovery point with the vault's key, and may copy it), on by default in accounts that
 *   made no vault before November 2021
 *   (https://docs.aws.amazon.com/aws-backup/latest/devguide/advanced-ddb-backup.html); a copy
 *   keeps its source's creation date, and is a full copy for DynamoDB every day.
 */
import { Annotations, Aws, Duration, Fn, RemovalPolicy, Stack, Token } from "aws-cdk-lib";
import * as backup from "aws-cdk-lib/aws-backup";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type { Construct } from "constructs";
import { DATA_SERVICE_ACTIONS } from "./encryption-helper.ts";
import { acknowledgeAwsManagedPolicies, NAG_REASONS } from "./nag-acknowledgements.ts";
import { DELETION_GRACE_DAYS } from "./storage-contract.ts";

/** The defaults of the backup props (BackupProps in sync-server.ts). */
export const BACKUP_DEFAULTS = {
  /** The table's daily backup is scheduled at this hour (UTC), when few people sync in Europe and the Americas. */
  hourUtc: 3,
  /** The bucket's is scheduled this many hours after the table's: the table's windows (3 h) and a margin. */
  bucketDelayHours: 4,
  /** Days a recovery point stays in the stack's own vault: AWS's advice of a week at least. */
  retentionDays: 7,
  /** Days the copies stay in the other vaults: DynamoDB's point-in-time window, the longest restore this stack offers. */
  copyRetentionDays: 35,
  /** A compliance lock's cooling-off: the shortest AWS allows (72 hours). */
  changeableForDays: 3,
} as const;

/**
 * Each plan's windows. The start windows are AWS's least (60 minutes). DynamoDB builds a backup
 * from its last full snapshot of the table and the changes since, "available for restore within
 * minutes" (CreateBackup); 2 hours is room for a slow day, and a job not done by then is
 * cancelled (that day's pair is then the next day's). The bucket's 12 hours is room for an S3
 * backup of the cost table's size, a few thousand objects and a few GB (AWS's table of initial
 * S3 backups, as quoted by third parties, runs at about 1,200 objects a second).
 */
export const BACKUP_WINDOWS = {
  table: { start: Duration.hours(1), completion: Duration.hours(2) },
  bucket: { start: Duration.hours(1), completion: Duration.hours(12) },
} as const;

/**
 * DynamoDB's documented uncertainty around a backup's time: committed more than a minute before
 * it is in, more than a minute after it is not.
 */
const DYNAMODB_BACKUP_SKEW = Duration.minutes(1);

/** AWS's managed policies for a backup role, as AWS Backup documents them (S3 needs its own two). */
export const BACKUP_ROLE_POLICIES = [
  "service-role/AWSBackupServiceRolePolicyForBackup",
  "service-role/AWSBackupServiceRolePolicyForRestores",
  "AWSBackupServiceRolePolicyForS3Backup",
  "AWSBackupServiceRolePolicyForS3Restore",
] as const;

/** A role that only restores (the companion stack's, in the account that holds the copies). */
export const RESTORE_ROLE_POLICIES = [
  "service-role/AWSBackupServiceRolePolicyForRestores",
  "AWSBackupServiceRolePolicyForS3Restore",
] as const;

/** What AWS Backup accepts in a lock's retentions, and for a recovery point's (100 years). */
const MAX_RETENTION_DAYS = 36_500;
/** A vault's name, as AWS Backup takes it. */
const VAULT_NAME = /^[A-Za-z0-9_-]{2,50}$/;
/** A vault's ARN: `arn:aws:backup:<region>:<account>:backup-vault:<name>`. */
const VAULT_ARN = /^arn:(aws[a-z-]*):backup:([a-z0-9-]+):(\d{12}):backup-vault:([A-Za-z0-9_-]{2,50})$/;

/**
 * The backup props (BackupProps and BackupVaultLockProps in sync-server.ts, documented there),
 * typed here again so that this file does not import the construct that imports it.
 */
export interface BackupVaultLockInput {
  readonly mode: "governance" | "compliance";
  readonly changeableForDays?: number;
  readonly minRetentionDays?: number;
  readonly maxRetentionDays?: number;
}
interface BackupInput {
  readonly hourUtc?: number;
  readonly bucketHourUtc?: number;
  readonly retentionDays?: number;
  readonly copyVaultArns?: readonly string[];
  readonly copyRetentionDays?: number;
  readonly vaultLock?: BackupVaultLockInput;
}

export interface ResolvedVaultLock {
  readonly mode: "governance" | "compliance";
  /** Compliance only: the days before the lock becomes immutable. */
  readonly changeableForDays?: number;
  readonly minRetentionDays: number;
  readonly maxRetentionDays?: number;
}

export interface ResolvedBackup {
  readonly hourUtc: number;
  readonly bucketHourUtc: number;
  readonly retentionDays: number;
  readonly copyVaultArns: readonly string[];
  readonly copyRetentionDays: number;
  readonly vaultLock?: ResolvedVaultLock;
}

/** The backup props with their defaults, checked at synth (every problem at once). */
export function resolveBackup(input: BackupInput, stack: { readonly account: string; readonly region: string }): ResolvedBackup {
  const problems: string[] = [];
  const hourUtc = hour("backup hourUtc", input.hourUtc ?? BACKUP_DEFAULTS.hourUtc, problems);
  const bucketHourUtc = hour("backup bucketHourUtc", input.bucketHourUtc ?? (hourUtc + BACKUP_DEFAULTS.bucketDelayHours) % 24, problems);
  if (problems.length === 0) problems.push(...checkPairing(hourUtc, bucketHourUtc));
  const retentionDays = retention("backup retentionDays", input.retentionDays ?? BACKUP_DEFAULTS.retentionDays, problems);
  const copyRetentionDays = retention("backup copyRetentionDays", input.copyRetentionDays ?? BACKUP_DEFAULTS.copyRetentionDays, problems);
  const copyVaultArns = input.copyVaultArns ?? [];
  if (input.copyRetentionDays !== undefined && copyVaultArns.length === 0) {
    problems.push("backup copyRetentionDays is the retention of the copies: it needs copyVaultArns");
  }
  if (new Set(copyVaultArns).size !== copyVaultArns.length) problems.push("backup copyVaultArns names a vault twice");
  for (const arn of copyVaultArns) {
    if (Token.isUnresolved(arn)) continue;
    const match = VAULT_ARN.exec(arn);
    if (!match) {
      problems.push(`backup copyVaultArns must be backup vault ARNs (arn:aws:backup:<region>:<account>:backup-vault:<name>), got ${arn}`);
    } else if (match[2] === stack.region && match[3] === stack.account) {
      problems.push(
        `backup copyVaultArns: ${arn} is in this stack's own region and account, where a lost region or account loses it ` +
          "with the data: copy to another region or account",
      );
    }
  }
  const vaultLock = input.vaultLock ? resolveVaultLock("backup vaultLock", input.vaultLock, [retentionDays], problems) : undefined;
  if (problems.length > 0) {
    throw new Error(`TaskChampionSyncServer: invalid backup settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return { hourUtc, bucketHourUtc, retentionDays, copyVaultArns, copyRetentionDays, ...(vaultLock ? { vaultLock } : {}) };
}

/**
 * A vault lock, checked against the retentions of the recovery points the plans put in that
 * vault: a job whose retention is outside the lock's bounds fails
 * (https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html). The minimum defaults
 * to the shortest of them, so that no job fails.
 */
export function resolveVaultLock(
  name: string,
  lock: BackupVaultLockInput,
  retentions: readonly number[],
  problems: string[],
): ResolvedVaultLock {
  if (lock.mode !== "governance" && lock.mode !== "compliance") {
    problems.push(`${name} mode must be governance or compliance, got ${JSON.stringify(lock.mode)}`);
  }
  const shortest = Math.min(...retentions);
  const longest = Math.max(...retentions);
  const minRetentionDays = lock.minRetentionDays ?? shortest;
  if (!Number.isInteger(minRetentionDays) || minRetentionDays < 1 || minRetentionDays > MAX_RETENTION_DAYS) {
    problems.push(`${name} minRetentionDays must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}, got ${minRetentionDays}`);
  } else if (minRetentionDays > shortest) {
    problems.push(
      `${name} minRetentionDays ${minRetentionDays} is longer than the ${shortest} days the plans keep recovery points in ` +
        "that vault: AWS Backup would fail every such job; lower it or raise the retention",
    );
  }
  const { maxRetentionDays } = lock;
  if (maxRetentionDays !== undefined) {
    if (!Number.isInteger(maxRetentionDays) || maxRetentionDays < 1 || maxRetentionDays > MAX_RETENTION_DAYS) {
      problems.push(`${name} maxRetentionDays must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}, got ${maxRetentionDays}`);
    } else if (maxRetentionDays < longest) {
      problems.push(
        `${name} maxRetentionDays ${maxRetentionDays} is shorter than the ${longest} days the plans keep recovery points in ` +
          "that vault: AWS Backup would fail every such job",
      );
    } else if (maxRetentionDays <= minRetentionDays) {
      problems.push(`${name} maxRetentionDays must be more than minRetentionDays (${minRetentionDays}), got ${maxRetentionDays}`);
    }
  }
  let changeableForDays: number | undefined;
  if (lock.mode === "compliance") {
    changeableForDays = lock.changeableForDays ?? BACKUP_DEFAULTS.changeableForDays;
    if (!Number.isInteger(changeableForDays) || changeableForDays < 3 || changeableForDays > MAX_RETENTION_DAYS) {
      problems.push(
        `${name} changeableForDays must be a whole number of days, 3 or more (AWS Backup's 72-hour cooling-off), got ${changeableForDays}`,
      );
    }
  } else if (lock.changeableForDays !== undefined) {
    problems.push(
      `${name} changeableForDays sets when a compliance lock becomes immutable: a governance lock has none (it can be removed at any time)`,
    );
  }
  return {
    mode: lock.mode,
    ...(changeableForDays === undefined ? {} : { changeableForDays }),
    minRetentionDays,
    ...(maxRetentionDays === undefined ? {} : { maxRetentionDays }),
  };
}

/**
 * The pairing rule for the schedules: the bucket's job starts after the table's has finished
 * (with DynamoDB's minute), and it finishes within DELETION_GRACE_DAYS of the table's start,
 * counting each job at its latest (schedule + start window + completion window). Each day's
 * table backup then has a bucket backup to restore with, taken the same day.
 */
export function checkPairing(hourUtc: number, bucketHourUtc: number): string[] {
  const gapMinutes = ((((bucketHourUtc - hourUtc) % 24) + 24) % 24) * 60;
  const tableDone = BACKUP_WINDOWS.table.start.toMinutes() + BACKUP_WINDOWS.table.completion.toMinutes();
  const bucketDone = gapMinutes + BACKUP_WINDOWS.bucket.start.toMinutes() + BACKUP_WINDOWS.bucket.completion.toMinutes();
  const skew = DYNAMODB_BACKUP_SKEW.toMinutes();
  const grace = Duration.days(DELETION_GRACE_DAYS).toMinutes();
  const problems: string[] = [];
  if (gapMinutes < tableDone + skew) {
    problems.push(
      `backup bucketHourUtc ${bucketHourUtc} must be at least ${Math.ceil((tableDone + skew) / 60)} hours after hourUtc ` +
        `${hourUtc}: the bucket's backup must start after the table's has finished (its windows: ${tableDone / 60} hours), ` +
        "or a restore of the pair may miss objects the table references",
    );
  }
  if (bucketDone > grace - skew) {
    problems.push(
      `backup bucketHourUtc ${bucketHourUtc}: the bucket's backup may finish ${bucketDone / 60} hours after the table's starts, ` +
        `past the ${DELETION_GRACE_DAYS} days the storage keeps an object no item references any more`,
    );
  }
  return problems;
}

/** How many days' bucket backups after a table backup can pair with it (the same day's first). */
export function pairableBucketBackups(hourUtc: number, bucketHourUtc: number): number {
  const gapMinutes = ((((bucketHourUtc - hourUtc) % 24) + 24) % 24) * 60;
  const bucketWindows = BACKUP_WINDOWS.bucket.start.toMinutes() + BACKUP_WINDOWS.bucket.completion.toMinutes();
  const room = Duration.days(DELETION_GRACE_DAYS).toMinutes() - DYNAMODB_BACKUP_SKEW.toMinutes() - gapMinutes - bucketWindows;
  return room < 0 ? 0 : Math.floor(room / Duration.days(1).toMinutes()) + 1;
}

function hour(name: string, value: number, problems: string[]): number {
  if (!Number.isInteger(value) || value < 0 || value > 23) problems.push(`${name} must be an hour of the day (UTC), 0 to 23, got ${value}`);
  return value;
}

function retention(name: string, value: number, problems: string[]): number {
  if (!Number.isInteger(value) || value < 7 || value > MAX_RETENTION_DAYS) {
    problems.push(
      `${name} must be a whole number of days from 7 (AWS's advice: a shorter retention turns incremental backups into ` +
        `full ones) to ${MAX_RETENTION_DAYS}, got ${value}`,
    );
  }
  return value;
}

/** The backups as the construct made them. */
export interface Backups {
  readonly vault: backup.BackupVault;
  readonly tablePlan: backup.BackupPlan;
  readonly bucketPlan: backup.BackupPlan;
  /** The role AWS Backup uses for the jobs, and for restores. */
  readonly role: iam.Role;
}

/**
 * The vault ("BackupVault"), the role ("BackupRole") and the two plans ("TableBackupPlan",
 * "BucketBackupPlan") with exactly the table and the bucket selected. With `key` (the stack's
 * customer-managed key) the vault is encrypted with it, else with AWS Backup's own key.
 */
export function createBackups(
  scope: Construct,
  config: ResolvedBackup,
  data: { readonly table: dynamodb.ITable; readonly bucket: s3.IBucket },
  key?: kms.Key,
): Backups {
  const vault = new backup.BackupVault(scope, "BackupVault", {
    backupVaultName: uniqueVaultName(scope),
    ...(key ? { encryptionKey: key } : {}),
    ...(config.vaultLock ? { lockConfiguration: lockConfiguration(config.vaultLock) } : {}),
    // The vault holds the backups: it outlives the stack whatever the data's removal policy (a
    // vault with recovery points cannot be deleted anyway, nor a locked one once immutable).
    removalPolicy: RemovalPolicy.RETAIN,
  });

  const role = createBackupServiceRole(scope, "BackupRole", BACKUP_ROLE_POLICIES, "AWS Backup for the sync server: its table and bucket");
  const copyVaults = config.copyVaultArns.map((arn, i) => backup.BackupVault.fromBackupVaultArn(scope, `BackupCopyVault${i + 1}`, arn));
  const plan = (id: string, what: string, hourUtc: number, windows: (typeof BACKUP_WINDOWS)["table"]) =>
    new backup.BackupPlan(scope, id, {
      backupPlanName: Fn.join("-", [Aws.STACK_NAME, what]),
      backupVault: vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: "Daily",
          scheduleExpression: dailyAt(hourUtc),
          startWindow: windows.start,
          completionWindow: windows.completion,
          deleteAfter: Duration.days(config.retentionDays),
          ...(copyVaults.length === 0
            ? {}
            : {
                copyActions: copyVaults.map((destinationBackupVault) => ({
                  destinationBackupVault,
                  deleteAfter: Duration.days(config.copyRetentionDays),
                })),
              }),
        }),
      ],
    });
  const tablePlan = plan("TableBackupPlan", "table", config.hourUtc, BACKUP_WINDOWS.table);
  tablePlan.addSelection("Table", {
    backupSelectionName: "table",
    resources: [backup.BackupResource.fromDynamoDbTable(data.table)],
    role,
    disableDefaultBackupPolicy: true,
  });
  const bucketPlan = plan("BucketBackupPlan", "bucket", config.bucketHourUtc, BACKUP_WINDOWS.bucket);
  bucketPlan.addSelection("Bucket", {
    backupSelectionName: "bucket",
    resources: [backup.BackupResource.fromArn(data.bucket.bucketArn)],
    role,
    disableDefaultBackupPolicy: true,
  });
  if (key) allowBackups(key, role, config.copyVaultArns);
  if (config.copyVaultArns.length === 0) {
    Annotations.of(scope).addWarningV2(
      "taskchampion:backupWithoutCopies",
      "backup: without copyVaultArns every recovery point stays in this stack's region and account, which a lost region " +
        "or a compromised account loses with the data: copy to a vault in another region or account (the companion " +
        "stack: -c backupCopyVaultStack=true -c backupCopyRegion=...)",
    );
  }
  return { vault, tablePlan, bucketPlan, role };
}

/** `cron(0 <hour> * * ? *)`: every day at that hour, UTC (AWS Backup's schedules are UTC unless a timezone is set). */
export function dailyAt(hourUtc: number): events.Schedule {
  return events.Schedule.cron({ minute: "0", hour: String(hourUtc) });
}

/** A role that AWS Backup assumes, with exactly AWS's managed policies `policies` (acknowledged for cdk-nag). */
export function createBackupServiceRole(scope: Construct, id: string, policies: readonly string[], description: string): iam.Role {
  const role = new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal("backup.amazonaws.com"),
    managedPolicies: policies.map((name) => iam.ManagedPolicy.fromAwsManagedPolicyName(name)),
  });
  acknowledgeAwsManagedPolicies(role, policies, NAG_REASONS.backupManagedPolicies);
  return role;
}

/** CloudFormation's lock configuration: a compliance lock has the days before it is immutable, a governance lock none. */
export function lockConfiguration(lock: ResolvedVaultLock): backup.LockConfiguration {
  return {
    minRetention: Duration.days(lock.minRetentionDays),
    ...(lock.maxRetentionDays === undefined ? {} : { maxRetention: Duration.days(lock.maxRetentionDays) }),
    ...(lock.changeableForDays === undefined ? {} : { changeableFor: Duration.days(lock.changeableForDays) }),
  };
}

/**
 * The vault's name: the stack's name and the end of the stack's id (unique to this stack, fixed
 * for its life). A retained vault keeps its name after its stack is gone (with its recovery
 * points it cannot be deleted, and a compliance lock never can), so a name from the stack's
 * name alone would fail the deploy of a new stack of that name: exactly the restore after a
 * stack was deleted.
 */
function uniqueVaultName(scope: Construct): string {
  const { stackName } = Stack.of(scope);
  const prefix = Token.isUnresolved(stackName) ? "taskchampion" : stackName.slice(0, 30);
  const stackIdEnd = Fn.select(4, Fn.split("-", Fn.select(2, Fn.split("/", Aws.STACK_ID))));
  return Fn.join("-", [prefix, "backups", stackIdEnd]);
}

/** A fixed vault name for `base` (the companion's: its ARN is known before it exists), within AWS Backup's 50 characters. */
export function fixedVaultName(base: string): string {
  const name = base.replace(/[^A-Za-z0-9_-]/g, "-");
  if (VAULT_NAME.test(name)) return name;
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `${name.slice(0, 41)}-${hash.toString(16).padStart(8, "0")}`;
}

/** The accounts of vault ARNs (another account's vault needs that account allowed on the key). */
export function vaultAccounts(arns: readonly string[]): string[] {
  return [...new Set(arns.flatMap((arn) => VAULT_ARN.exec(arn)?.[3] ?? []))];
}

/**
 * The stack's customer-managed key for the backups (its vault encrypts with it):
 * - the backup role may use it through AWS Backup, DynamoDB and S3 in this region: AWS Backup
 *   documents that the role must be able to use the key of what it backs up and restores, or
 *   the job "is successful but the objects are not backed up or restored"
 *   (https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html);
 * - the account's principals may use it through AWS Backup in this region: creating a vault
 *   with a key takes kms:CreateGrant, DescribeKey, RetireGrant, Decrypt and GenerateDataKey
 *   (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault.html), and so does a
 *   restore an operator starts;
 * - the accounts of the copies' vaults may use it through AWS Backup: a copy into another
 *   account needs the source key's policy to allow the destination account
 *   (https://repost.aws/knowledge-center/backup-troubleshoot-cross-account-copy).
 * Grants stay limited to AWS resources by the key's GrantsOnlyForAwsServices statement.
 */
function allowBackups(key: kms.Key, role: iam.IRole, copyVaultArns: readonly string[]): void {
  const stack = Stack.of(key);
  const viaBackup = `backup.${stack.region}.amazonaws.com`;
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "BackupRoleThroughAwsBackupDynamoDbAndS3",
      principals: [new iam.ArnPrincipal(role.roleArn)],
      actions: [...DATA_SERVICE_ACTIONS, "kms:CreateGrant"],
      resources: ["*"],
      conditions: {
        StringEquals: { "kms:ViaService": [viaBackup, `dynamodb.${stack.region}.amazonaws.com`, `s3.${stack.region}.amazonaws.com`] },
      },
    }),
  );
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "AccountThroughAwsBackup",
      principals: [new iam.AccountRootPrincipal()],
      actions: [...DATA_SERVICE_ACTIONS, "kms:CreateGrant", "kms:RetireGrant"],
      resources: ["*"],
      conditions: { StringEquals: { "kms:ViaService": viaBackup, "kms:CallerAccount": stack.account } },
    }),
  );
  const otherAccounts = vaultAccounts(copyVaultArns).filter((account) => Token.isUnresolved(stack.account) || account !== stack.account);
  if (otherAccounts.length > 0) {
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CopyAccountsThroughAwsBackup",
        principals: otherAccounts.map((account) => new iam.AccountPrincipal(account)),
        actions: ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
        resources: ["*"],
        conditions: { StringLike: { "kms:ViaService": "backup.*.amazonaws.com" } },
      }),
    );
  }
}
