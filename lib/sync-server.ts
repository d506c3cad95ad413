/**
 * `TaskChampionSyncServer`: the whole sync server as one construct that a team can drop into
 * its own CDK app. An HTTP API (API Gateway v2) with exactly the routes of the route table,
 * one Lambda function bundled locally by esbuild, the DynamoDB table from the shared table
 * definition, an S3 bucket for what does not fit in an item, a maintenance function on an
 * EventBridge schedule (it sweeps the bucket's orphaned objects and prunes old history),
 * least-privilege IAM for each, alarms, an SNS topic, saved Logs Insights queries and, on
 * request, a dashboard, an edge (CloudFront with a WAF rate limit per source address) and
 * backups outside the deployment (AWS Backup plans copied to another region or account).
 *
 * The construct reads no environment and does no lookups: it synthesizes offline, into an
 * environment-agnostic stack. Every name the function reads comes from the Lambda code itself
 * (SETTINGS), the routes from ROUTES, the table from TABLE: never retyped here.
 *
 * This file holds the props and the wiring; each kind of resource is built by a helper beside
 * it (settings-helper, data-helper, encryption-helper, function-helper, api-helper, edge-helper,
 * backup-helper, monitoring, log-queries, nag-acknowledgements). The public API is this file's
 * `TaskChampionSyncServer`, `TaskChampionSyncServerProps`, `CustomDomainProps`, `EdgeProps`,
 * `BackupProps` and `BackupVaultLockProps`, edge-web-acl-stack.ts's `EdgeWebAclStack`,
 * backup-copy-vault-stack.ts's `BackupCopyVaultStack`, and sync-server-stack.ts's
 * `SyncServerStack`, `SyncServerStackProps` and `buildApp`; the helpers' exports are internal
 * (for this construct and its tests).
 */
import { Duration, type RemovalPolicy, Stack, Tags } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import type * as backup from "aws-cdk-lib/aws-backup";
import type * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { addCustomDomain, createSyncApi } from "./api-helper.ts";
import { createBackups, resolveBackup } from "./backup-helper.ts";
import { createPayloadBucket, createSyncTable } from "./data-helper.ts";
import { createEdge, resolveEdge } from "./edge-helper.ts";
import { allowFunctions, allowLogGroups, createEncryptionKey } from "./encryption-helper.ts";
import { bundledFunction, checkMaxConcurrency, grantMaintenance, grantSync, LAMBDA_ENTRY, SWEEP_ENTRY } from "./function-helper.ts";
import { createLogQueries } from "./log-queries.ts";
import { createAlarms, createAlarmTopic, createDashboard } from "./monitoring.ts";
import {
  functionEnvironment,
  MAINTENANCE,
  maintenanceEnvironment,
  resolveSettings,
  storageEnvironment,
  warnOfReadableAllowlist,
} from "./settings-helper.ts";

export interface CustomDomainProps {
  /** For example `tasks.example.com`. Point a CNAME (or alias) at `customDomainTarget`. */
  readonly domainName: string;
  /** An ACM certificate for `domainName`, in the stack's region. */
  readonly certificateArn: string;
}

/**
 * The edge: a CloudFront distribution in front of the API, with an AWS WAF web ACL whose
 * rate-based rule answers 429 to a source address that sends more than `rateLimit` requests in
 * `rateWindow`, so one source cannot hold every user at the stage's throttle. The API's
 * execute-api endpoint is turned off; CloudFront reaches the API through `customDomain`, which
 * the edge needs. Clients use the construct's `url` (CloudFront's).
 */
export interface EdgeProps {
  /**
   * An existing web ACL for CloudFront (scope CLOUDFRONT, made in us-east-1), such as the one
   * `EdgeWebAclStack` makes. Absent, the construct creates one, which it can only do in a stack
   * whose region is us-east-1, known at synth.
   * @default - a web ACL of the construct's own (stack in us-east-1 only)
   */
  readonly webAclArn?: string;
  /**
   * The requests one source address may send in `rateWindow` before it gets 429 (WAF: 10 or
   * more); under the stage's own rate. Not with `webAclArn`.
   * @default 1000
   */
  readonly rateLimit?: number;
  /** WAF's evaluation window: 1, 2, 5 or 10 minutes. Not with `webAclArn`. @default Duration.minutes(5) */
  readonly rateWindow?: Duration;
  /**
   * A domain name for CloudFront (with `certificateArn`), e.g. `tasks.example.com`: the URL
   * clients use. Point its DNS record at the distribution. It cannot be `customDomain`'s name,
   * which is CloudFront's origin.
   * @default - CloudFront's own `*.cloudfront.net` name
   */
  readonly domainName?: string;
  /** The ACM certificate of `domainName`, in us-east-1 (CloudFront's region). @default - none */
  readonly certificateArn?: string;
}

/**
 * A lock on a backup vault (AWS Backup Vault Lock: write-once, read-many). No one, the account's
 * root user included, can delete a recovery point of a locked vault before its retention ends,
 * nor shorten it; a job whose retention is outside `minRetentionDays`..`maxRetentionDays` fails.
 * https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
 */
export interface BackupVaultLockProps {
  /**
   * `governance`: the lock binds everyone but principals allowed to remove it, who can (a
   * rehearsal, or a first deployment). `compliance`: once `changeableForDays` have passed, no
   * one can remove it or delete the vault, ever, nor shorten a retention.
   */
  readonly mode: "governance" | "compliance";
  /**
   * Compliance only: the days during which the lock can still be changed or removed (AWS's
   * cooling-off, 3 at least); after them it is immutable.
   * @default 3
   */
  readonly changeableForDays?: number;
  /**
   * The shortest retention the vault accepts. It must not be longer than what the plans keep in
   * that vault, or every job fails.
   * @default - the retention of the recovery points the plans put in that vault
   */
  readonly minRetentionDays?: number;
  /** The longest retention the vault accepts. @default - no maximum */
  readonly maxRetentionDays?: number;
}

/**
 * Backups outside the deployment: AWS Backup backs up the table and the bucket every day into a
 * vault of the stack, and copies each recovery point to the vaults `copyVaultArns` names, in
 * another region and/or account, which survive this region, this account's data or this stack.
 * The table's backup is scheduled first and the bucket's hours later, so that each day's pair
 * restores together (README.md, "Backups outside the deployment"). It costs money every month
 * (about $27 for the README's cost table: 1000 users), hence off by default.
 */
export interface BackupProps {
  /** The hour (UTC, 0 to 23) of the table's daily backup. @default 3 */
  readonly hourUtc?: number;
  /**
   * The hour (UTC) of the bucket's daily backup: 4 to 23 hours after the table's, so that it
   * starts after the table's has finished and ends within the storage's deletion grace.
   * @default - 4 hours after `hourUtc`
   */
  readonly bucketHourUtc?: number;
  /** Days a recovery point stays in the stack's vault (7 or more, as AWS advises). @default 7 */
  readonly retentionDays?: number;
  /**
   * The ARNs of existing vaults, in another region and/or another account, that receive a copy
   * of every recovery point (such as the companion `BackupCopyVaultStack`'s). Another account
   * must be in this account's AWS Organizations organization, with cross-account backup turned
   * on in its management account, and its vault's access policy must let this account copy in.
   * @default - no copies: every backup stays in this region and account (synth warns)
   */
  readonly copyVaultArns?: readonly string[];
  /** Days the copies stay in those vaults (7 or more). @default 35 */
  readonly copyRetentionDays?: number;
  /** A lock on the stack's vault. @default - no lock */
  readonly vaultLock?: BackupVaultLockProps;
}

export interface TaskChampionSyncServerProps {
  /**
   * The client ids (UUIDs) that may sync. Empty or absent: every client id may sync. Each is a
   * user's only credential, and they sit in the template, the function's configuration and
   * cdk.out, readable by whoever reads those (synth warns): prefer the client registry
   * (`createClients` off, `npm run admin -- add-client` per user).
   * @default - no allowlist
   */
  readonly clientIds?: readonly string[];
  /**
   * Whether AddVersion creates an unknown client. Off (the default), only the clients
   * registered in the table sync (`npm run admin -- add-client`); on, anyone who can reach the
   * URL can store data in your account (within `maxClientBytes` per client id).
   * @default false
   */
  readonly createClients?: boolean;
  /** @default 100 (SETTINGS.snapshotVersions) */
  readonly snapshotVersions?: number;
  /** @default 14 (SETTINGS.snapshotDays) */
  readonly snapshotDays?: number;
  /**
   * The most bytes one client may store (history segments and snapshot); AddVersion is refused
   * beyond it. 0: no limit.
   * @default 100 MiB (AWS_MAX_CLIENT_BYTES in lambda/config.ts)
   */
  readonly maxClientBytes?: number;
  /**
   * The maintenance function removes the versions older than this many days that lie before a
   * client's snapshot (a replica never needs them). 0 keeps every version.
   * @default 180 (SETTINGS.historyDays)
   */
  readonly historyDays?: number;
  /** Steady requests per second across the API. @default 50 */
  readonly throttlingRateLimit?: number;
  /** Burst of requests across the API. @default 100 */
  readonly throttlingBurstLimit?: number;
  /** Lambda memory in MB, 256 or more (more memory is also more CPU). @default 512 */
  readonly memorySize?: number;
  /**
   * Caps the sync function at this many concurrent instances (reserved concurrency, free), so a
   * flood cannot take the account's whole Lambda concurrency, which every function of the
   * account shares; requests beyond it are refused with an error from API Gateway, without
   * running the function, and the throttles alarm fires. Lambda reserves it out of the
   * account's unreserved concurrency and keeps at least 100 unreserved: the deploy fails in an
   * account whose quota is below the cap plus 100.
   * @default - no cap: the account's unreserved concurrency
   */
  readonly maxConcurrency?: number;
  /** Retention of the function's logs and the API's access logs. @default one month */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Serve an existing table instead of creating one: a table restored by point-in-time
   * recovery, or the table of an earlier deployment. It must have the layout of the storage's
   * table definition (TABLE). Its settings (point-in-time recovery, deletion protection,
   * encryption) are its own: the construct changes nothing of it and only grants its functions
   * their actions on it.
   * @default - a new table
   */
  readonly existingTable?: dynamodb.ITable;
  /**
   * Serve an existing bucket instead of creating one (the bucket of an earlier deployment,
   * which a restored table references). Its settings (versioning, lifecycle rules, policy) are
   * its own.
   * @default - a new bucket
   */
  readonly existingBucket?: s3.IBucket;
  /**
   * What happens to the table and the bucket (the users' data) when the stack is deleted.
   * RETAIN (the default) keeps them, and the table has deletion protection on; DESTROY deletes
   * them, bucket contents included.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Origins whose web pages may call the API: CORS for browser-based TaskChampion clients. The
   * forms API Gateway documents: an origin (`https://tasks.example.com`, with a port if any),
   * `*` (any), `https://*` or `http://*` (any of that scheme); no wildcard within a host. API
   * Gateway answers the preflight and exposes X-Version-Id, X-Parent-Version-Id and
   * X-Snapshot-Request.
   * @default - no CORS: browsers refuse other origins' calls
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * Encrypt the table, the bucket, the log groups and the alarm topic with a customer-managed
   * KMS key the construct creates (rotated yearly, kept with the data on RETAIN), whose policy
   * lets exactly those services, and the functions through DynamoDB and S3, use it. Off: AWS's
   * own keys (free; a key costs $1 a month). An existing table or bucket keeps its own
   * encryption.
   * @default false
   */
  readonly customerManagedKey?: boolean;
  /**
   * Serve the API on a custom domain as well (with the edge: only there, as CloudFront's origin).
   * @default - the execute-api URL only
   */
  readonly customDomain?: CustomDomainProps;
  /**
   * An edge in front of the API: CloudFront with a WAF rate limit per source address (about $6
   * a month for the web ACL and its rule, plus per request). Needs `customDomain`.
   * @default - no edge: clients reach the API directly
   */
  readonly edge?: EdgeProps;
  /** Alarms are sent to the SNS topic; this address is subscribed to it. @default - no subscription */
  readonly alarmEmail?: string;
  /**
   * A CloudWatch dashboard of the API, the function and the table. Off by default: it costs $3 a
   * month beyond an account's first three, the largest fixed cost of an idle deployment; the
   * alarms and the saved Logs Insights queries cost nothing while idle.
   * @default false
   */
  readonly dashboard?: boolean;
  /**
   * Tags for every resource of the construct (those CloudFormation can tag), beside any the
   * app or the stack adds (`Tags.of(app).add(...)`, which reaches them too).
   * @default - no tags of its own
   */
  readonly tags?: Readonly<Record<string, string>>;
  /** When the maintenance function (orphan sweep, pruning) runs. @default daily (MAINTENANCE.schedule) */
  readonly maintenanceSchedule?: events.Schedule;
  /**
   * Backups outside the deployment: daily AWS Backup plans for the table and the bucket, into a
   * vault of the stack (kept when the stack is deleted), copied to vaults in another region
   * and/or account. The table's point-in-time recovery and the bucket's versions stay as they are.
   * @default - none (nothing billed)
   */
  readonly backup?: BackupProps;
}

export class TaskChampionSyncServer extends Construct {
  /**
   * The base URL for clients, without a trailing slash: the edge's when there is one, else the
   * custom domain's when there is one.
   */
  public readonly url: string;
  /** The execute-api URL, without a trailing slash: reachable unless the edge turned it off. */
  public readonly apiEndpoint: string;
  /** Where the custom domain's DNS record must point, when there is a custom domain. */
  public readonly customDomainTarget?: string;
  /** The edge's distribution, when `edge` is given. */
  public readonly edgeDistribution?: cloudfront.Distribution;
  /** The ARN of the edge's web ACL (given, or the construct's own), when `edge` is given. */
  public readonly edgeWebAclArn?: string;
  /** Where the DNS record of the edge's `domainName` must point, when it has one. */
  public readonly edgeTarget?: string;
  /** Whether the function creates unknown clients (the resolved `createClients`). */
  public readonly createsClients: boolean;
  /** The bytes one client may store (history segments and snapshot); 0: no limit. */
  public readonly maxClientBytes: number;
  public readonly api: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly function: nodejs.NodejsFunction;
  /** The maintenance function (the orphan sweep, the pruning of old history), run by `maintenanceSchedule`. */
  public readonly maintenanceFunction: nodejs.NodejsFunction;
  public readonly maintenanceSchedule: events.Rule;
  /** The table the functions use: the construct's own, or `existingTable`. */
  public readonly table: dynamodb.ITable;
  /** The bucket the functions use: the construct's own, or `existingBucket`. */
  public readonly bucket: s3.IBucket;
  /** The customer-managed key, when `customerManagedKey` is on. */
  public readonly encryptionKey?: kms.Key;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** Saved CloudWatch Logs Insights queries over the functions' logs (free). */
  public readonly logQueries: readonly logs.QueryDefinition[];
  /** The dashboard, when `dashboard` is on. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The stack's backup vault, when `backup` is given. */
  public readonly backupVault?: backup.BackupVault;
  /** The daily plans of the table and of the bucket, when `backup` is given. */
  public readonly backupPlans?: { readonly table: backup.BackupPlan; readonly bucket: backup.BackupPlan };
  /** The role AWS Backup uses for the jobs and for restores, when `backup` is given. */
  public readonly backupRole?: iam.Role;

  constructor(scope: Construct, id: string, props: TaskChampionSyncServerProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props);
    checkMaxConcurrency(props.maxConcurrency);
    warnOfReadableAllowlist(this, settings);
    const backups = props.backup ? resolveBackup(props.backup, Stack.of(this)) : undefined;
    const edge = props.edge
      ? resolveEdge(props.edge, {
          throttlingRateLimit: settings.throttlingRateLimit,
          ...(props.customDomain ? { customDomain: props.customDomain } : {}),
        })
      : undefined;
    this.createsClients = settings.createClients;
    this.maxClientBytes = settings.maxClientBytes;
    for (const [key, value] of Object.entries(settings.tags)) Tags.of(this).add(key, value);

    // ---- Data ---------------------------------------------------------------------------------
    const key = props.customerManagedKey ? createEncryptionKey(this, "EncryptionKey", settings.removalPolicy) : undefined;
    this.encryptionKey = key;
    this.table = props.existingTable ?? createSyncTable(this, "Table", settings.removalPolicy, key);
    this.bucket = props.existingBucket ?? createPayloadBucket(this, "Bucket", settings.removalPolicy, key);
    if (backups) {
      const made = createBackups(this, backups, { table: this.table, bucket: this.bucket }, key);
      this.backupVault = made.vault;
      this.backupPlans = { table: made.tablePlan, bucket: made.bucketPlan };
      this.backupRole = made.role;
    }

    // ---- Functions ----------------------------------------------------------------------------
    const storage = storageEnvironment(this.table.tableName, this.bucket.bucketName);
    const sync = bundledFunction(this, "Function", {
      entry: LAMBDA_ENTRY,
      description: "TaskChampion sync server: every route of the HTTP API",
      roleDescription: "TaskChampion sync server function: its own logs, its table, its bucket",
      memorySize: settings.memorySize,
      timeout: Duration.seconds(settings.timeoutSeconds),
      logRetention: settings.logRetention,
      logEncryptionKey: key,
      environment: functionEnvironment(settings, storage),
      ...(props.maxConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.maxConcurrency }),
    });
    this.function = sync.function;
    grantSync(sync.role, this.table, this.bucket);

    const maintenance = bundledFunction(this, "MaintenanceFunction", {
      entry: SWEEP_ENTRY,
      description: "TaskChampion sync server maintenance (scheduled): deletes orphaned S3 objects, prunes old history",
      roleDescription: "TaskChampion sync server maintenance: its own logs, its table's items, list and delete in its bucket",
      memorySize: MAINTENANCE.memorySize,
      timeout: MAINTENANCE.timeout,
      logRetention: settings.logRetention,
      logEncryptionKey: key,
      environment: maintenanceEnvironment(settings, storage),
      // A failed run is not retried: the next scheduled run goes on.
      retryAttempts: 0,
    });
    this.maintenanceFunction = maintenance.function;
    grantMaintenance(maintenance.role, this.table, this.bucket);
    this.maintenanceSchedule = new events.Rule(this, "MaintenanceSchedule", {
      description: "Runs the TaskChampion sync server's maintenance (orphan sweep, pruning)",
      schedule: props.maintenanceSchedule ?? MAINTENANCE.schedule,
      targets: [new targets.LambdaFunction(this.maintenanceFunction)],
    });
    if (key) allowFunctions(key, [sync.role, maintenance.role]);

    // ---- HTTP API -----------------------------------------------------------------------------
    const http = createSyncApi(this, this.function, settings, key, edge !== undefined);
    this.api = http.api;
    this.stage = http.stage;
    // The L2's apiEndpoint refuses to be read once the endpoint is off; the attribute still exists.
    this.apiEndpoint = edge ? (this.api.node.defaultChild as apigwv2.CfnApi).attrApiEndpoint : this.api.apiEndpoint;
    this.url = this.apiEndpoint;
    if (props.customDomain) {
      const domainName = addCustomDomain(this, this.api, this.stage, props.customDomain);
      this.customDomainTarget = domainName.regionalDomainName;
      this.url = `https://${props.customDomain.domainName}`;
    }
    if (edge) {
      const created = createEdge(this, edge);
      this.edgeDistribution = created.distribution;
      this.edgeWebAclArn = created.webAclArn;
      if (edge.domainName !== undefined) this.edgeTarget = created.distribution.distributionDomainName;
      this.url = created.url;
    }
    // The key for exactly the stack's three log groups, each function's for its own.
    if (key) {
      const functionLogs = [sync.encryptedLogs, maintenance.encryptedLogs].filter((group) => group !== undefined);
      allowLogGroups(key, [...functionLogs, { name: http.accessLogsName }]);
    }

    // ---- Operations ---------------------------------------------------------------------------
    this.alarmTopic = createAlarmTopic(this, "AlarmTopic", props.alarmEmail, key);
    const monitored = {
      function: this.function,
      maintenanceFunction: this.maintenanceFunction,
      api: this.api,
      table: this.table,
      accessLogs: http.accessLogs,
    };
    this.alarms = createAlarms(this, monitored, this.alarmTopic);
    this.logQueries = createLogQueries(this, { function: this.function, maintenanceFunction: this.maintenanceFunction });
    if (props.dashboard) this.dashboard = createDashboard(this, "Dashboard", monitored, this.alarms);
  }
}
