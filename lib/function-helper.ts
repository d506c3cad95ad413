/**
 * The stack's Lambda functions: each is a Lambda entry of this repository, bundled locally by
 * esbuild or prebuilt into the package (function-code.ts), with its own log group and its own
 * role, and the role may do exactly what that function's code does on the table and the
 * bucket (least privilege, one statement per resource).
 */
import { CfnDeletionPolicy, type Duration, Names, RemovalPolicy } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type { Construct } from "constructs";
import type { EncryptedLogGroup } from "./encryption-helper.ts";
import { functionCode } from "./function-code.ts";
import { acknowledgeObjectsUnderPrefix, NAG_REASONS } from "./nag-acknowledgements.ts";
import { S3_PREFIX } from "./storage-contract.ts";

export { BUNDLE_FILE, LAMBDA_ENTRY, SWEEP_ENTRY } from "./function-code.ts";

/** The newest Node.js runtime this aws-cdk-lib knows; the bundle targets the oldest we support. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** What differs between the stack's functions; the runtime and the bundling are the same. */
interface BundledFunctionProps {
  readonly entry: string;
  readonly description: string;
  /** What the function's own role is for (its IAM description). */
  readonly roleDescription: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  /** Encrypts the function's log group; CloudWatch Logs' default encryption without. */
  readonly logEncryptionKey?: kms.IKey;
  readonly environment: Record<string, string>;
  readonly retryAttempts?: number;
  /** Reserved concurrency: at most this many instances at once (maxConcurrency). */
  readonly reservedConcurrentExecutions?: number;
}

/** A bundled function and its own role, for the grants. */
interface BundledFunction {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  /** With a log encryption key: its log group, by name, and the role that writes it (for the key policy). */
  readonly encryptedLogs?: EncryptedLogGroup;
}

/**
 * A Lambda entry of this repository (exporting `handler`), bundled locally by esbuild or
 * prebuilt into the package, with its own log group (`<id>Logs`) and its own role
 * (`<id>Role`), created in that order. An encrypted log group gets a name fixed at synth,
 * `/aws/lambda/<construct>-<id>`, which the key policy names (without a key, CloudFormation
 * names it, as it always did).
 */
export function bundledFunction(scope: Construct, id: string, props: BundledFunctionProps): BundledFunction {
  const encryptedName = props.logEncryptionKey
    ? `/aws/lambda/${Names.uniqueResourceName(scope, { maxLength: 200, separator: "-" })}-${id}`
    : undefined;
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    ...(props.logEncryptionKey ? { encryptionKey: props.logEncryptionKey, logGroupName: encryptedName } : {}),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  if (encryptedName) {
    // A deployment of 0.2.0 with the key had this group unnamed: naming it replaces it. The group
    // it replaces is kept with its logs (until their retention ends), not deleted with them; the
    // stack's deletion still deletes the group in use.
    (logGroup.node.defaultChild as logs.CfnLogGroup).cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
  }
  const role = functionRole(scope, `${id}Role`, logGroup, props.roleDescription);
  const { entry, memorySize, timeout, description, environment, retryAttempts, reservedConcurrentExecutions } = props;
  const fn = new nodejs.NodejsFunction(scope, id, {
    memorySize,
    timeout,
    role,
    logGroup,
    description,
    environment,
    // Passed only when given: the template's CDK metadata (Analytics) lists the props passed, in order.
    ...(retryAttempts === undefined ? {} : { retryAttempts }),
    ...(reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions }),
    runtime: LAMBDA_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    loggingFormat: lambda.LoggingFormat.JSON,
    ...functionCode(entry),
  });
  return { function: fn, role, ...(encryptedName ? { encryptedLogs: { name: encryptedName, writer: { sid: id, role } } } : {}) };
}

/**
 * Checks the sync function's concurrency cap (maxConcurrency) at synth: a whole number of
 * instances, 1 or more (0 would stop the function altogether). Lambda takes it from the
 * account's unreserved concurrency and keeps at least 100 of that unreserved, so the deploy
 * fails in an account whose quota is under the cap plus 100 (a new account's can be 10).
 */
export function checkMaxConcurrency(maxConcurrency: number | undefined): void {
  if (maxConcurrency === undefined) return;
  if (!Number.isSafeInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new Error(
      `TaskChampionSyncServer: invalid settings:\n  - maxConcurrency must be a whole number of concurrent instances, 1 or more, got ${maxConcurrency}`,
    );
  }
}

/**
 * A function's own role. An explicit role: the managed AWSLambdaBasicExecutionRole would allow
 * writing to every log group of the account; this one writes to its own log group only.
 */
function functionRole(scope: Construct, id: string, logGroup: logs.LogGroup, description: string): iam.Role {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description,
  });
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: "OwnLogs",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [logGroup.logGroupArn],
    }),
  );
  return role;
}

/**
 * The IAM actions of the storage's calls on a protocol path (lambda/storage/dynamodb/):
 * GetItem (consistent reads), Query (within one client's partition: an old version by id, the
 * one-time upgrade of a client stored by 0.1.0), PutItem and UpdateItem (alone, or as the Put
 * and Update items of a TransactWriteItems, which has no IAM action of its own),
 * Get/Put/DeleteObject under the storage's prefix (GetObject also covers HeadObject).
 * ListBucket makes S3 answer a missing object with 404 (NoSuchKey, which the storage handles)
 * instead of 403; the function lists nothing, so a listing is allowed only under the prefix
 * (LIST_UNDER_PREFIX_IF_LISTING). The orphan sweep's ListObjectsV2 of the whole prefix and the
 * pruning of old history are not run by this function: they are the maintenance function's,
 * under its own role (MAINTENANCE_ACTIONS).
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 */
export const FUNCTION_ACTIONS = {
  dynamodb: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"],
  s3Objects: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
  s3Bucket: ["s3:ListBucket"],
} as const;

/**
 * The IAM actions of the maintenance function. The orphan sweep (`sweepAllOrphans`):
 * ListObjectsV2 (s3:ListBucket, only under the storage's prefix) for every client's keys,
 * GetItem (consistent reads of the one item that would reference each candidate), Query of the
 * client's deletion marks (ORPHAN# items), UpdateItem to mark an orphan no commit marked (which
 * creates its mark) and to count its bytes against the client's quota, DeleteObject of what a
 * mark has held for the deletion grace, and DeleteItem of a mark once its objects are gone. The
 * pruning of old history, through the storage's transaction: GetItem (the client, the walk from
 * the chain's start), one TransactWriteItems of an Update of the client item, Deletes of the
 * removed versions' items and an Update that writes the deletion mark of their segments
 * (UpdateItem, DeleteItem); and, once for a client stored by 0.1.0, the upgrade (legacy.ts):
 * Query of its versions, HeadObject of its snapshot (s3:GetObject), an UpdateItem. It reads no
 * payload, puts no item and uploads nothing.
 */
export const MAINTENANCE_ACTIONS = {
  dynamodb: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
  s3Objects: ["s3:GetObject", "s3:DeleteObject"],
  s3Bucket: ["s3:ListBucket"],
} as const;

/**
 * The sync function's ListBucket: a listing only under the storage's prefix. IfExists because
 * the check S3 makes for a GetObject or HeadObject of a missing object (404 with ListBucket,
 * 403 without) is no listing and carries no s3:prefix: a plain StringLike would fail it, and a
 * missing object would be answered 403. (The maintenance function's listing has a plain
 * StringLike: it lists, and a 403 for a missing object is handled where it reads one.)
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
 */
const LIST_UNDER_PREFIX_IF_LISTING = { StringLikeIfExists: { "s3:prefix": [`${S3_PREFIX}*`] } };

/** Exactly what the storage does on a protocol path, on this table and this bucket only. */
export function grantSync(role: iam.Role, table: dynamodb.ITable, bucket: s3.IBucket): void {
  grantActions(role, table, bucket, "Sync", FUNCTION_ACTIONS, LIST_UNDER_PREFIX_IF_LISTING);
  acknowledgeObjectsUnderPrefix(role, bucket, NAG_REASONS.bucketObjects);
}

/**
 * Exactly what the maintenance function does (the orphan sweep, the pruning), on this table and
 * this bucket only; it lists only under the prefix.
 */
export function grantMaintenance(role: iam.Role, table: dynamodb.ITable, bucket: s3.IBucket): void {
  grantActions(role, table, bucket, "Maintenance", MAINTENANCE_ACTIONS, { StringLike: { "s3:prefix": [`${S3_PREFIX}*`] } });
  acknowledgeObjectsUnderPrefix(role, bucket, NAG_REASONS.maintenanceObjects);
}

/** Three statements: the table (it has no index: its ARN is the only resource), the payload objects under the storage's prefix, the bucket. */
function grantActions(
  role: iam.Role,
  table: dynamodb.ITable,
  bucket: s3.IBucket,
  sidPrefix: string,
  actions: { readonly dynamodb: readonly string[]; readonly s3Objects: readonly string[]; readonly s3Bucket: readonly string[] },
  listConditions?: Record<string, unknown>,
): void {
  role.addToPolicy(new iam.PolicyStatement({ sid: `${sidPrefix}Table`, actions: [...actions.dynamodb], resources: [table.tableArn] }));
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: `${sidPrefix}BucketObjects`,
      actions: [...actions.s3Objects],
      resources: [bucket.arnForObjects(`${S3_PREFIX}*`)],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: `${sidPrefix}BucketList`,
      actions: [...actions.s3Bucket],
      resources: [bucket.bucketArn],
      ...(listConditions ? { conditions: listConditions } : {}),
    }),
  );
}
