/**
 * The CDK context keys the app reads (`npx cdk deploy -c key=value`, or "context" in
 * cdk.json), parsed and checked here so that a wrong value fails the synthesis, naming its key.
 * A context value overrides the stack's props, which override the construct's defaults:
 *
 *   stackName          the CloudFormation stack name                     default TaskChampionSyncServer
 *   clientIds          comma-separated client ids (UUIDs) allowed to sync (in cdk.json also a
 *                      list); absent or empty = every client id may sync (about 90 at most)
 *   createClients      true | false: AddVersion creates unknown clients (an open server)
 *                                                                        default false
 *   snapshotVersions   versions after which a snapshot is requested      default 100
 *   snapshotDays       days after which a snapshot is requested          default 14
 *   maxClientBytes     bytes one client may store; 0 = no limit          default 104857600 (100 MiB)
 *   historyDays        days after which versions before a client's snapshot are removed;
 *                      0 = keep every version                            default 180
 *   throttleRate       API steady-state requests per second              default 50
 *   throttleBurst      API burst requests                                default 100
 *   memory             Lambda memory in MB, 256 or more                  default 512
 *   maxConcurrency     the most concurrent instances of the sync function (reserved
 *                      concurrency; the account keeps 100 unreserved)    default none
 *   logRetentionDays   days of function and access logs: any value CloudWatch Logs accepts
 *                      (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
 *                      1827, 2192, 2557, 2922, 3288, 3653) or infinite   default 30
 *   removalPolicy      retain | destroy: what stack deletion does to the table and bucket
 *                      (retain also turns on the table's deletion protection)
 *                                                                        default retain
 *   tableName          serve this existing table (e.g. restored by point-in-time recovery)
 *                      instead of creating one                           default none
 *   bucketName         serve this existing bucket instead of creating one
 *                                                                        default none
 *   customerManagedKey true | false: a KMS key of the stack's own for the table, the bucket,
 *                      the log groups and the alarm topic ($1 a month)   default false
 *   corsOrigins        comma-separated origins (https://tasks.example.com, or *, https://*,
 *                      http://*) whose web pages may call the API (in cdk.json also a list)
 *                                                                        default none
 *   domainName         a custom domain for the API, e.g. tasks.example.com (with certificateArn)
 *   certificateArn     the ACM certificate of domainName, in the stack's region (with domainName)
 *   edge               true | false: CloudFront with a WAF rate limit per source address in
 *                      front of the API, whose execute-api endpoint is turned off (needs
 *                      domainName and certificateArn: CloudFront's origin) default false
 *   edgeWebAclArn      the edge's web ACL: an existing CloudFront web ACL (us-east-1); absent,
 *                      the stack makes one, which it can only in us-east-1 default none
 *   edgeRateLimit      requests one source address may send per window   default 1000
 *   edgeRateWindow     WAF's evaluation window in seconds: 60, 120, 300 or 600
 *                                                                        default 300
 *   edgeDomainName     CloudFront's own domain name (with edgeCertificateArn)
 *   edgeCertificateArn the ACM certificate of edgeDomainName, in us-east-1
 *   edgeWebAclStack    true | false: also synthesize the companion stack <stackName>-EdgeWebAcl
 *                      (us-east-1) that makes the edge's web ACL, with edgeRateLimit and
 *                      edgeRateWindow                                    default false
 *   alarmEmail         an address subscribed to the alarm topic (confirm the e-mail AWS sends)
 *   dashboard          true | false: a CloudWatch dashboard ($3 a month) default false
 *   backup             true | false: backups outside the deployment, daily AWS Backup plans for
 *                      the table and the bucket into a vault of the stack (about $27 a month
 *                      for 1000 users, copies included)                  default false
 *   backupHour         UTC hour of the table's daily backup              default 3
 *   backupBucketHour   UTC hour of the bucket's, 4 to 23 hours after the table's
 *                                                                        default backupHour + 4
 *   backupRetentionDays  days a recovery point stays in the stack's vault (7 or more)
 *                                                                        default 7
 *   backupCopyVaultArns  comma-separated ARNs of vaults in another region and/or account that
 *                      receive a copy of each recovery point (in cdk.json also a list)
 *                                                                        default none
 *   backupCopyRetentionDays  days the copies are kept (7 or more)       default 35
 *   backupVaultLock    none | governance | compliance: lock the stack's vault
 *                                                                        default none
 *   backupVaultLockChangeableDays  a compliance lock's days before it is immutable (3 or more)
 *                                                                        default 3
 *   backupVaultLockMinDays  the shortest retention a locked vault accepts
 *                                                                        default its plans' retention
 *   backupVaultLockMaxDays  the longest retention a locked vault accepts default none
 *   backupCopyVaultStack  true | false: also synthesize the companion stack
 *                      <stackName>-BackupCopies, the vault that receives the copies, in
 *                      backupCopyRegion (and backupCopyAccount)          default false
 *   backupCopyRegion   that stack's region (needed with it)
 *   backupCopyAccount  that stack's account                              default the CLI's
 *   backupCopySourceAccounts  comma-separated accounts allowed to copy into that vault (the
 *                      server's, when the vault is in another account)   default none
 *   backupCopySourceOrganization  an AWS Organizations id (o-...) whose accounts may copy
 *                      into that vault                                   default none
 *   backupCopyVaultLock  none | governance | compliance: lock that vault default none
 *   tags               key=value,key=value: tags for every resource (in cdk.json also an
 *                      object)                                           default none
 *   nag                true | false: run cdk-nag's AwsSolutions checks at synth
 *                                                                        default true
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import type { Construct } from "constructs";
import type { BackupCopyVaultStackProps } from "./backup-copy-vault-stack.ts";
import type { BackupProps, BackupVaultLockProps, EdgeProps, TaskChampionSyncServerProps } from "./sync-server.ts";

/** The context keys this app reads: see the comment at the top. */
export const CONTEXT_KEYS = [
  "stackName",
  "clientIds",
  "createClients",
  "snapshotVersions",
  "snapshotDays",
  "maxClientBytes",
  "historyDays",
  "throttleRate",
  "throttleBurst",
  "memory",
  "maxConcurrency",
  "logRetentionDays",
  "removalPolicy",
  "customerManagedKey",
  "tableName",
  "bucketName",
  "corsOrigins",
  "domainName",
  "certificateArn",
  "edge",
  "edgeWebAclArn",
  "edgeRateLimit",
  "edgeRateWindow",
  "edgeDomainName",
  "edgeCertificateArn",
  "edgeWebAclStack",
  "alarmEmail",
  "dashboard",
  "backup",
  "backupHour",
  "backupBucketHour",
  "backupRetentionDays",
  "backupCopyVaultArns",
  "backupCopyRetentionDays",
  "backupVaultLock",
  "backupVaultLockChangeableDays",
  "backupVaultLockMinDays",
  "backupVaultLockMaxDays",
  "backupCopyVaultStack",
  "backupCopyRegion",
  "backupCopyAccount",
  "backupCopySourceAccounts",
  "backupCopySourceOrganization",
  "backupCopyVaultLock",
  "tags",
  "nag",
] as const;
type ContextKey = (typeof CONTEXT_KEYS)[number];

/** The server props given by CDK context; only the keys present. */
export function serverPropsFromContext(scope: Construct): TaskChampionSyncServerProps {
  const props: { -readonly [K in keyof TaskChampionSyncServerProps]: TaskChampionSyncServerProps[K] } = {};
  const clientIds = listContext(scope, "clientIds");
  if (clientIds !== undefined) props.clientIds = clientIds;
  const corsOrigins = listContext(scope, "corsOrigins");
  if (corsOrigins !== undefined) props.corsAllowedOrigins = corsOrigins;
  props.createClients = booleanContext(scope, "createClients");
  props.snapshotVersions = numberContext(scope, "snapshotVersions");
  props.snapshotDays = numberContext(scope, "snapshotDays");
  props.maxClientBytes = numberContext(scope, "maxClientBytes");
  props.historyDays = numberContext(scope, "historyDays");
  props.throttlingRateLimit = numberContext(scope, "throttleRate");
  props.throttlingBurstLimit = numberContext(scope, "throttleBurst");
  props.memorySize = numberContext(scope, "memory");
  props.maxConcurrency = numberContext(scope, "maxConcurrency");

  props.logRetention = retentionContext(scope);

  const removal = stringContext(scope, "removalPolicy")?.toLowerCase();
  if (removal !== undefined) {
    if (removal !== "retain" && removal !== "destroy") throw contextError("removalPolicy", removal, "retain or destroy");
    props.removalPolicy = removal === "retain" ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
  }

  // An existing table or bucket, imported by name into the stack (`scope`).
  const tableName = stringContext(scope, "tableName");
  if (tableName !== undefined) {
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(tableName)) throw contextError("tableName", tableName, "a DynamoDB table name");
    props.existingTable = dynamodb.Table.fromTableName(scope, "ExistingTable", tableName);
  }
  const bucketName = stringContext(scope, "bucketName");
  if (bucketName !== undefined) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) throw contextError("bucketName", bucketName, "an S3 bucket name");
    props.existingBucket = s3.Bucket.fromBucketName(scope, "ExistingBucket", bucketName);
  }

  const domainName = stringContext(scope, "domainName");
  const certificateArn = stringContext(scope, "certificateArn");
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error("context domainName and certificateArn go together: give both or neither");
  }
  if (domainName !== undefined && certificateArn !== undefined) {
    if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(certificateArn)) {
      throw contextError("certificateArn", certificateArn, "an ACM certificate ARN");
    }
    props.customDomain = { domainName, certificateArn };
  }

  props.edge = edgeContext(scope);

  const alarmEmail = stringContext(scope, "alarmEmail");
  if (alarmEmail !== undefined) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) throw contextError("alarmEmail", alarmEmail, "an e-mail address");
    props.alarmEmail = alarmEmail;
  }

  props.dashboard = booleanContext(scope, "dashboard");
  props.backup = backupContext(scope);
  props.customerManagedKey = booleanContext(scope, "customerManagedKey");
  props.tags = tagsContext(scope);

  for (const key of Object.keys(props) as (keyof TaskChampionSyncServerProps)[]) {
    if (props[key] === undefined) delete props[key];
  }
  return props;
}

/** The rate keys, which the companion web ACL stack reads too. */
const EDGE_RATE_KEYS = ["edgeRateLimit", "edgeRateWindow"] as const satisfies readonly ContextKey[];
const EDGE_KEYS = ["edgeWebAclArn", ...EDGE_RATE_KEYS, "edgeDomainName", "edgeCertificateArn"] as const satisfies readonly ContextKey[];

/**
 * `-c edge=true` and its keys. An edge key without `edge=true` is refused (it would change
 * nothing), but for the rate keys given to the companion stack (`edgeWebAclStack=true`).
 */
function edgeContext(scope: Construct): EdgeProps | undefined {
  if (booleanContext(scope, "edge") !== true) {
    const forCompanion = booleanContext(scope, "edgeWebAclStack") === true;
    const stray = EDGE_KEYS.filter(
      (key) => stringContext(scope, key) !== undefined && !(forCompanion && (EDGE_RATE_KEYS as readonly string[]).includes(key)),
    );
    refuseWhileOff(stray, "the edge, which is off", "edge");
    return undefined;
  }
  return {
    ...givenProps<Pick<EdgeProps, "webAclArn" | "domainName" | "certificateArn">>(scope, {
      webAclArn: ["edgeWebAclArn", stringContext],
      domainName: ["edgeDomainName", stringContext],
      certificateArn: ["edgeCertificateArn", stringContext],
    }),
    ...edgeRateContext(scope),
  };
}

/** `-c edgeRateLimit=2000 -c edgeRateWindow=600`: only the keys given. */
export function edgeRateContext(scope: Construct): Pick<EdgeProps, "rateLimit" | "rateWindow"> {
  return givenProps<Pick<EdgeProps, "rateLimit" | "rateWindow">>(scope, {
    rateLimit: ["edgeRateLimit", numberContext],
    rateWindow: ["edgeRateWindow", secondsContext],
  });
}

/** The keys of the server's backups, and those of the companion stack's vault. */
const BACKUP_KEYS = [
  "backupHour",
  "backupBucketHour",
  "backupRetentionDays",
  "backupCopyVaultArns",
  "backupCopyRetentionDays",
  "backupVaultLock",
] as const satisfies readonly ContextKey[];
const LOCK_DAYS_KEYS = [
  "backupVaultLockChangeableDays",
  "backupVaultLockMinDays",
  "backupVaultLockMaxDays",
] as const satisfies readonly ContextKey[];
const COPY_VAULT_KEYS = [
  "backupCopyRegion",
  "backupCopyAccount",
  "backupCopySourceAccounts",
  "backupCopySourceOrganization",
  "backupCopyVaultLock",
] as const satisfies readonly ContextKey[];

/**
 * `-c backup=true` and its keys. A backup key without `backup=true` is refused (it would change
 * nothing), but for those the companion stack reads too (`backupCopyVaultStack=true`: the
 * copies' retention, the lock's days); so is a lock's days without a vault locked.
 */
function backupContext(scope: Construct): BackupProps | undefined {
  const companion = booleanContext(scope, "backupCopyVaultStack") === true;
  const lockDays = lockDaysContext(scope);
  if (booleanContext(scope, "backup") !== true) {
    const sharedWithCompanion: readonly string[] = ["backupCopyRetentionDays", ...LOCK_DAYS_KEYS];
    const stray = [...BACKUP_KEYS, ...LOCK_DAYS_KEYS].filter(
      (key) => givenContext(scope, key) && !(companion && sharedWithCompanion.includes(key)),
    );
    refuseWhileOff(stray, "the backups, which are off", "backup");
    return undefined;
  }
  const backup = givenProps<Omit<BackupProps, "vaultLock">>(scope, {
    hourUtc: ["backupHour", numberContext],
    bucketHourUtc: ["backupBucketHour", numberContext],
    retentionDays: ["backupRetentionDays", numberContext],
    copyVaultArns: ["backupCopyVaultArns", nonEmptyListContext],
    copyRetentionDays: ["backupCopyRetentionDays", numberContext],
  });
  const vaultLock = vaultLockContext(scope, "backupVaultLock", lockDays);
  return { ...backup, ...(vaultLock === undefined ? {} : { vaultLock }) };
}

/** The lock's days (`backupVaultLock*Days`), shared by the stack's vault and the companion's; only the keys given. */
function lockDaysContext(scope: Construct): Omit<BackupVaultLockProps, "mode"> {
  const locked = (["backupVaultLock", "backupCopyVaultLock"] as const).map((key) => stringContext(scope, key)?.toLowerCase());
  const compliance = locked.includes("compliance");
  const anyLock = locked.some((mode) => mode !== undefined && mode !== "none");
  const days = givenProps<Omit<BackupVaultLockProps, "mode">>(scope, {
    changeableForDays: ["backupVaultLockChangeableDays", numberContext],
    minRetentionDays: ["backupVaultLockMinDays", numberContext],
    maxRetentionDays: ["backupVaultLockMaxDays", numberContext],
  });
  if (days.changeableForDays !== undefined && !compliance) {
    throw new Error(
      "context backupVaultLockChangeableDays is a compliance lock's: set backupVaultLock or backupCopyVaultLock to compliance",
    );
  }
  if ((days.minRetentionDays !== undefined || days.maxRetentionDays !== undefined) && !anyLock) {
    throw new Error(
      "context backupVaultLockMinDays and backupVaultLockMaxDays bound a locked vault: set backupVaultLock or backupCopyVaultLock",
    );
  }
  return days;
}

/** `-c backupVaultLock=compliance` (or backupCopyVaultLock): the lock with the shared days; none for `none`. */
function vaultLockContext(
  scope: Construct,
  key: "backupVaultLock" | "backupCopyVaultLock",
  days: Omit<BackupVaultLockProps, "mode">,
): BackupVaultLockProps | undefined {
  const mode = stringContext(scope, key)?.toLowerCase();
  if (mode === undefined || mode === "none") return undefined;
  if (mode !== "governance" && mode !== "compliance") throw contextError(key, mode, "none, governance or compliance");
  const { changeableForDays, ...bounds } = days;
  return { mode, ...bounds, ...(mode === "compliance" && changeableForDays !== undefined ? { changeableForDays } : {}) };
}

/**
 * The companion stack's settings (`-c backupCopyVaultStack=true` and its keys), or undefined
 * without it; its keys without it are refused. `stackName` names its vault.
 */
export function backupCopyVaultContext(scope: Construct): Omit<BackupCopyVaultStackProps, "vaultName"> | undefined {
  if (booleanContext(scope, "backupCopyVaultStack") !== true) {
    refuseWhileOff(
      COPY_VAULT_KEYS.filter((key) => givenContext(scope, key)),
      "the companion stack of the copies, which is off",
      "backupCopyVaultStack",
    );
    return undefined;
  }
  const region = stringContext(scope, "backupCopyRegion");
  if (region === undefined) throw new Error("context backupCopyVaultStack=true needs backupCopyRegion: the region of the copies' vault");
  const given = givenProps<Pick<BackupCopyVaultStackProps, "account" | "sourceAccounts" | "sourceOrganizationId" | "retentionDays">>(
    scope,
    {
      account: ["backupCopyAccount", stringContext],
      sourceAccounts: ["backupCopySourceAccounts", nonEmptyListContext],
      sourceOrganizationId: ["backupCopySourceOrganization", stringContext],
      retentionDays: ["backupCopyRetentionDays", numberContext],
    },
  );
  const vaultLock = vaultLockContext(scope, "backupCopyVaultLock", lockDaysContext(scope));
  return { region, ...given, ...(vaultLock === undefined ? {} : { vaultLock }) };
}

/**
 * Refuses context keys given for an option that is off, which they would not change: `given`
 * names them, `option` what they set, `switchOn` the key that turns it on.
 */
function refuseWhileOff(given: readonly ContextKey[], option: string, switchOn: ContextKey): void {
  if (given.length > 0) throw new Error(`context ${given.join(", ")} set ${option}: add -c ${switchOn}=true`);
}

/** How a prop is read from its context key: undefined when the key is not given. */
type ContextReader<T> = (scope: Construct, key: ContextKey) => T | undefined;

/**
 * The props that `fields` maps to context keys, each read (and checked) in the order listed,
 * with only those whose key is given: the others keep the props' values or their defaults.
 */
function givenProps<T extends object>(
  scope: Construct,
  fields: { readonly [P in keyof T]-?: readonly [key: ContextKey, read: ContextReader<NonNullable<T[P]>>] },
): T {
  const props: Partial<Record<keyof T, unknown>> = {};
  for (const prop of Object.keys(fields) as (keyof T)[]) {
    const [key, read] = fields[prop];
    const value = read(scope, key);
    if (value !== undefined) props[prop] = value;
  }
  // Every field is optional in T, and only given ones were set, each with its reader's type.
  return props as T;
}

/** Whether a context key has a value (a list key's too). */
function givenContext(scope: Construct, key: ContextKey): boolean {
  const raw: unknown = scope.node.tryGetContext(key);
  return Array.isArray(raw) ? raw.length > 0 : stringContext(scope, key) !== undefined;
}

/** `-c tags=team=tasks,cost-center=42` on the command line; an object or that string in cdk.json. */
function tagsContext(scope: Construct): Record<string, string> | undefined {
  const raw: unknown = scope.node.tryGetContext("tags");
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, String(value)]));
  }
  const text = stringContext(scope, "tags");
  if (text === undefined) return undefined;
  const tags: Record<string, string> = {};
  for (const pair of text.split(",").map((item) => item.trim())) {
    const match = /^([^=]+)=(.*)$/.exec(pair);
    if (!match?.[1] || match[2] === undefined) throw contextError("tags", text, "key=value pairs separated by commas");
    tags[match[1].trim()] = match[2].trim();
  }
  return tags;
}

/** Every retention CloudWatch Logs accepts, in days (RetentionDays without INFINITE). */
const RETENTION_DAYS = (Object.values(logs.RetentionDays).filter((v) => typeof v === "number") as number[])
  .filter((days) => days !== logs.RetentionDays.INFINITE)
  .sort((a, b) => a - b);

/** `-c logRetentionDays=365`: one of CloudWatch Logs' retentions, or `infinite` (never expire). */
function retentionContext(scope: Construct): logs.RetentionDays | undefined {
  const text = stringContext(scope, "logRetentionDays")?.toLowerCase();
  if (text === undefined) return undefined;
  if (text === "infinite") return logs.RetentionDays.INFINITE;
  const days = /^\d+$/.test(text) ? Number(text) : undefined;
  const retention = Object.values(logs.RetentionDays).find((value) => value === days && days !== logs.RetentionDays.INFINITE);
  if (typeof retention !== "number") {
    throw contextError("logRetentionDays", text, `one of CloudWatch Logs' retentions in days (${RETENTION_DAYS.join(", ")}) or infinite`);
  }
  return retention;
}

/** Keys whose values are credentials: their errors name the key and never repeat the value. */
const SECRET_KEYS: ReadonlySet<ContextKey> = new Set(["clientIds"]);

function contextError(key: ContextKey, value: unknown, expected: string): Error {
  const given = SECRET_KEYS.has(key) ? "" : `=${JSON.stringify(value)}`;
  return new Error(`context ${key}${given} is not valid: expected ${expected}`);
}

/** A context value as text; absent and empty are both "not given". */
export function stringContext(scope: Construct, key: ContextKey): string | undefined {
  const value: unknown = scope.node.tryGetContext(key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    throw contextError(key, value, "a string");
  }
  const text = String(value).trim();
  return text === "" ? undefined : text;
}

/**
 * A list: `-c key=a,b` on the command line, a list or a comma-separated string in cdk.json.
 * Empty items are dropped (an empty value is an empty list).
 */
function listContext(scope: Construct, key: ContextKey): string[] | undefined {
  const raw: unknown = scope.node.tryGetContext(key);
  const text = Array.isArray(raw) ? raw.map(String).join(",") : stringContext(scope, key);
  if (text === undefined) return undefined;
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** A list that is given and not empty; an empty one is "not given". */
function nonEmptyListContext(scope: Construct, key: ContextKey): string[] | undefined {
  const list = listContext(scope, key);
  return list === undefined || list.length === 0 ? undefined : list;
}

/** A whole number of seconds. */
function secondsContext(scope: Construct, key: ContextKey): Duration | undefined {
  const seconds = numberContext(scope, key);
  return seconds === undefined ? undefined : Duration.seconds(seconds);
}

/** A context value `true` or `false` (any case). */
export function booleanContext(scope: Construct, key: ContextKey): boolean | undefined {
  const text = stringContext(scope, key)?.toLowerCase();
  if (text === undefined) return undefined;
  if (text === "true") return true;
  if (text === "false") return false;
  throw contextError(key, text, "true or false");
}

export function numberContext(scope: Construct, key: ContextKey): number | undefined {
  const text = stringContext(scope, key);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw contextError(key, text, "a whole number");
  return Number(text);
}
