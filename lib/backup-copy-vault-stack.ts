/**
 * The companion stack of a server whose backups are copied elsewhere: the vault that receives
 * the copies, in another region of the server's account or in another account, and the role
 * that restores from it there. Part of the package's library (a team's app can add it beside
 * its own server stack) and of this repository's app (context `backupCopyVaultStack=true`).
 *
 * A copy is made by the source account's AWS Backup into a vault that must already exist, so
 * this stack deploys first; its vault has a fixed name, so that its ARN is known before (the
 * server's `backup.copyVaultArns`, context `backupCopyVaultArns`). Across accounts, AWS
 * documents three requirements: both accounts in one AWS Organizations organization, cross-
 * account backup turned on in the organization's management account, and an access policy on
 * the destination vault that lets the source account copy in
 * (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html);
 * this stack makes the last one.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as backup from "aws-cdk-lib/aws-backup";
import * as iam from "aws-cdk-lib/aws-iam";
import type { Construct } from "constructs";
import {
  BACKUP_DEFAULTS,
  createBackupServiceRole,
  lockConfiguration,
  RESTORE_ROLE_POLICIES,
  type ResolvedVaultLock,
  resolveVaultLock,
} from "./backup-helper.ts";
import type { BackupVaultLockProps } from "./sync-server.ts";

export interface BackupCopyVaultStackProps extends Omit<StackProps, "env"> {
  /** The region of the vault: not the server's, unless `account` is another account. */
  readonly region: string;
  /** The account of the vault. @default - the CLI's account when deployed */
  readonly account?: string;
  /** The vault's name (AWS Backup's: 2 to 50 letters, digits, - and _), fixed so that its ARN is known before it exists. */
  readonly vaultName: string;
  /**
   * Other accounts whose AWS Backup may copy into the vault (their ids). The server's account,
   * when it is another account than this stack's.
   * @default - none: only this account's own copies (another region of the same account)
   */
  readonly sourceAccounts?: readonly string[];
  /**
   * An AWS Organizations organization (`o-...`) every account of which may copy into the vault.
   * @default - none
   */
  readonly sourceOrganizationId?: string;
  /**
   * The days the server's plans keep their copies here (its `backup.copyRetentionDays`), against
   * which the lock's bounds are checked.
   * @default 35
   */
  readonly retentionDays?: number;
  /** A lock on the vault: with `compliance`, the copies that no one, in any account, can delete. @default - no lock */
  readonly vaultLock?: BackupVaultLockProps;
}

const ACCOUNT = /^\d{12}$/;
const ORGANIZATION = /^o-[a-z0-9]{10,32}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * The vault that receives the copies ("CopyVault", kept when the stack is deleted: it holds the
 * backups), its access policy when other accounts copy in, its optional lock, and a role that
 * restores from it ("RestoreRole"), for the restore in this region or account.
 */
export class BackupCopyVaultStack extends Stack {
  public readonly vault: backup.BackupVault;
  public readonly restoreRole: iam.Role;

  constructor(scope: Construct, id: string, props: BackupCopyVaultStackProps) {
    const { region, account, vaultName, sourceAccounts, sourceOrganizationId, retentionDays, vaultLock, ...stackProps } = props;
    super(scope, id, {
      description: "TaskChampion sync server: the vault that receives its backups' copies, in another region or account",
      ...stackProps,
      env: { region, ...(account === undefined ? {} : { account }) },
    });
    const problems: string[] = [];
    if (!REGION.test(region)) problems.push(`region must be an AWS region such as eu-west-1, got ${JSON.stringify(region)}`);
    if (account !== undefined && !ACCOUNT.test(account)) problems.push(`account must be an AWS account id (12 digits), got ${account}`);
    if (!/^[A-Za-z0-9_-]{2,50}$/.test(vaultName)) {
      problems.push(`vaultName must be 2 to 50 letters, digits, - and _ (AWS Backup's), got ${JSON.stringify(vaultName)}`);
    }
    for (const source of sourceAccounts ?? []) {
      if (!ACCOUNT.test(source)) problems.push(`sourceAccounts must be AWS account ids (12 digits), got ${source}`);
      else if (source === account) problems.push(`sourceAccounts: ${source} is this vault's own account, which needs no access policy`);
    }
    if (sourceOrganizationId !== undefined && !ORGANIZATION.test(sourceOrganizationId)) {
      problems.push(`sourceOrganizationId must be an AWS Organizations id (o-...), got ${sourceOrganizationId}`);
    }
    const retention = retentionDays ?? BACKUP_DEFAULTS.copyRetentionDays;
    const lock: ResolvedVaultLock | undefined = vaultLock ? resolveVaultLock("vaultLock", vaultLock, [retention], problems) : undefined;
    if (problems.length > 0) throw new Error(`BackupCopyVaultStack: invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);

    // AWS Backup's own key: the copies of S3 and of DynamoDB's advanced backups are resources
    // AWS Backup fully manages, for which the destination vault may use it, also across accounts.
    this.vault = new backup.BackupVault(this, "CopyVault", {
      backupVaultName: vaultName,
      ...(lock ? { lockConfiguration: lockConfiguration(lock) } : {}),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const source of sourceAccounts ?? []) {
      this.vault.addToAccessPolicy(
        new iam.PolicyStatement({
          sid: `CopyIntoFrom${source}`,
          principals: [new iam.AccountPrincipal(source)],
          actions: ["backup:CopyIntoBackupVault"],
          resources: ["*"],
        }),
      );
    }
    if (sourceOrganizationId !== undefined) {
      this.vault.addToAccessPolicy(
        new iam.PolicyStatement({
          sid: "CopyIntoFromTheOrganization",
          principals: [new iam.AnyPrincipal()],
          actions: ["backup:CopyIntoBackupVault"],
          resources: ["*"],
          conditions: { StringEquals: { "aws:PrincipalOrgID": sourceOrganizationId } },
        }),
      );
    }
    this.restoreRole = createBackupServiceRole(
      this,
      "RestoreRole",
      RESTORE_ROLE_POLICIES,
      "AWS Backup restores of the sync server's copies (a table and a bucket)",
    );

    new CfnOutput(this, "BackupCopyVaultArn", {
      value: this.vault.backupVaultArn,
      description: "Give it to the server stack: -c backup=true -c backupCopyVaultArns=<this>",
    });
    new CfnOutput(this, "RestoreRoleArn", {
      value: this.restoreRole.roleArn,
      description: "The role for restore jobs from this vault (--iam-role-arn)",
    });
  }
}
