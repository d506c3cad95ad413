/**
 * `TaskChampionSyncServer`: the whole sync server as one construct that a team can drop into
 * its own CDK app. An HTTP API (API Gateway v2) with exactly the routes of the route table,
 * one Lambda function bundled locally by esbuild, the DynamoDB table from the shared table
 * definition, an S3 bucket for what does not fit in an item, a second function on an
 * EventBridge schedule that sweeps the bucket's orphaned objects, least-privilege IAM for
 * each, alarms, an SNS topic and a dashboard.
 *
 * The construct reads no environment and does no lookups: it synthesizes offline, into an
 * environment-agnostic stack. Every name the function reads comes from the Lambda code itself
 * (SETTINGS), the routes from ROUTES, the table from TABLE: never retyped here.
 */
import { ArnFormat, Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { addCustomDomain, createSyncApi } from "./api-helper.ts";
import { createPayloadBucket, createSyncTable } from "./data-helper.ts";
import { bundledFunction, grantSweep, grantSync, LAMBDA_ENTRY, SWEEP_ENTRY } from "./function-helper.ts";
import { functionEnvironment, ORPHAN_SWEEP, resolveSettings, storageEnvironment } from "./settings-helper.ts";

export interface CustomDomainProps {
  /** For example `tasks.example.com`. Point a CNAME (or alias) at `customDomainTarget`. */
  readonly domainName: string;
  /** An ACM certificate for `domainName`, in the stack's region. */
  readonly certificateArn: string;
}

export interface TaskChampionSyncServerProps {
  /**
   * The client ids (UUIDs) that may sync. Empty or absent: every client id may sync.
   * @default - no allowlist
   */
  readonly clientIds?: readonly string[];
  /**
   * Whether AddVersion creates an unknown client. Off, only existing clients sync.
   * @default true (SETTINGS.createClients)
   */
  readonly createClients?: boolean;
  /** @default 100 (SETTINGS.snapshotVersions) */
  readonly snapshotVersions?: number;
  /** @default 14 (SETTINGS.snapshotDays) */
  readonly snapshotDays?: number;
  /** Steady requests per second across the API. @default 50 */
  readonly throttlingRateLimit?: number;
  /** Burst of requests across the API. @default 100 */
  readonly throttlingBurstLimit?: number;
  /** Lambda memory in MB, 256 or more (more memory is also more CPU). @default 512 */
  readonly memorySize?: number;
  /** Retention of the function's logs and the API's access logs. @default one month */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the table and the bucket (the users' data) when the stack is deleted.
   * RETAIN (the default) keeps them, and the table has deletion protection on; DESTROY deletes
   * them, bucket contents included.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Serve the API on a custom domain as well. @default - the execute-api URL only */
  readonly customDomain?: CustomDomainProps;
  /** Alarms are sent to the SNS topic; this address is subscribed to it. @default - no subscription */
  readonly alarmEmail?: string;
  /** When the orphan sweep function runs. @default daily (ORPHAN_SWEEP.schedule) */
  readonly orphanSweepSchedule?: events.Schedule;
}

/** The operations the storage issues, for the DynamoDB alarms (Operation dimension). */
const TABLE_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

export class TaskChampionSyncServer extends Construct {
  /** The base URL for clients, without a trailing slash (the custom domain's when there is one). */
  public readonly url: string;
  /** The execute-api URL, without a trailing slash: always reachable. */
  public readonly apiEndpoint: string;
  /** Where the custom domain's DNS record must point, when there is a custom domain. */
  public readonly customDomainTarget?: string;
  public readonly api: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly function: nodejs.NodejsFunction;
  /** The orphan sweep, run by `sweepSchedule`. */
  public readonly sweepFunction: nodejs.NodejsFunction;
  public readonly sweepSchedule: events.Rule;
  public readonly table: dynamodb.Table;
  public readonly bucket: s3.Bucket;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: readonly cloudwatch.Alarm[];
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: TaskChampionSyncServerProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props);

    // ---- Data -----------------------------------------------------------------------------
    this.table = createSyncTable(this, "Table", settings.removalPolicy);
    this.bucket = createPayloadBucket(this, "Bucket", settings.removalPolicy);

    // ---- Functions --------------------------------------------------------------------------
    const storage = storageEnvironment(this.table.tableName, this.bucket.bucketName);
    const sync = bundledFunction(this, "Function", {
      entry: LAMBDA_ENTRY,
      description: "TaskChampion sync server: every route of the HTTP API",
      roleDescription: "TaskChampion sync server function: its own logs, its table, its bucket",
      memorySize: settings.memorySize,
      timeout: Duration.seconds(settings.timeoutSeconds),
      logRetention: settings.logRetention,
      environment: functionEnvironment(settings, storage),
    });
    this.function = sync.function;
    grantSync(sync.role, this.table, this.bucket);

    const sweep = bundledFunction(this, "SweepFunction", {
      entry: SWEEP_ENTRY,
      description: "TaskChampion sync server: deletes the S3 objects that no item references (scheduled)",
      roleDescription: "TaskChampion sync server orphan sweep: its own logs, list and delete in its bucket, query its table",
      memorySize: ORPHAN_SWEEP.memorySize,
      timeout: ORPHAN_SWEEP.timeout,
      logRetention: settings.logRetention,
      environment: storage,
      // A failed run is not retried: the next scheduled run sweeps again.
      retryAttempts: 0,
    });
    this.sweepFunction = sweep.function;
    grantSweep(sweep.role, this.table, this.bucket);
    this.sweepSchedule = new events.Rule(this, "SweepSchedule", {
      description: "Runs the TaskChampion sync server's orphan sweep",
      schedule: props.orphanSweepSchedule ?? ORPHAN_SWEEP.schedule,
      targets: [new targets.LambdaFunction(this.sweepFunction)],
    });

    // ---- HTTP API -----------------------------------------------------------------------------
    const http = createSyncApi(this, this.function, settings);
    this.api = http.api;
    this.stage = http.stage;
    this.apiEndpoint = this.api.apiEndpoint;
    this.url = this.apiEndpoint;
    if (props.customDomain) {
      const domainName = addCustomDomain(this, this.api, this.stage, props.customDomain);
      this.customDomainTarget = domainName.regionalDomainName;
      this.url = `https://${props.customDomain.domainName}`;
    }

    // ---- Operations -------------------------------------------------------------------------
    this.alarmTopic = new sns.Topic(this, "AlarmTopic", {
      displayName: "TaskChampion sync server alarms",
      enforceSSL: true,
    });
    allowAlarmsToPublish(this.alarmTopic);
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    this.alarms = this.createAlarms();
    for (const alarm of this.alarms) alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
    this.dashboard = this.createDashboard();
  }

  private createAlarms(): cloudwatch.Alarm[] {
    const period = Duration.minutes(5);
    const common = {
      evaluationPeriods: 1,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    return [
      new cloudwatch.Alarm(this, "FunctionErrorsAlarm", {
        ...common,
        alarmDescription: "The sync function failed (an unhandled error or a timeout).",
        metric: this.function.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      }),
      new cloudwatch.Alarm(this, "SweepFunctionErrorsAlarm", {
        ...common,
        alarmDescription: "The orphan sweep failed (a client's sweep failed, an unhandled error or a timeout).",
        metric: this.sweepFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      }),
      new cloudwatch.Alarm(this, "FunctionThrottlesAlarm", {
        ...common,
        alarmDescription: "The sync function was throttled (the account's concurrency is exhausted).",
        metric: this.function.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
      }),
      new cloudwatch.Alarm(this, "Api5xxAlarm", {
        ...common,
        alarmDescription: "The API answered 5xx: the storage failed or the function did not answer.",
        metric: this.api.metricServerError({ period, statistic: cloudwatch.Stats.SUM }),
      }),
      new cloudwatch.Alarm(this, "TableThrottlesAlarm", {
        ...common,
        alarmDescription: "DynamoDB throttled requests on the sync table.",
        metric: this.tableOperationsSum("ThrottledRequests", "Throttled requests", period),
      }),
      new cloudwatch.Alarm(this, "TableSystemErrorsAlarm", {
        ...common,
        alarmDescription: "DynamoDB answered with system errors (5xx) on the sync table.",
        metric: this.tableOperationsSum("SystemErrors", "System errors", period),
      }),
    ];
  }

  /**
   * A per-operation DynamoDB metric summed over the storage's operations. Each term is FILLed
   * with 0: these metrics only have data points when something went wrong, and a plain sum
   * has no value where any term is missing (so it would almost never alarm).
   */
  private tableOperationsSum(metricName: string, label: string, period: Duration): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    for (const operation of TABLE_OPERATIONS) {
      usingMetrics[operation.toLowerCase()] = new cloudwatch.Metric({
        namespace: "AWS/DynamoDB",
        metricName,
        dimensionsMap: { TableName: this.table.tableName, Operation: operation },
        statistic: cloudwatch.Stats.SUM,
        period,
      });
    }
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics)
        .map((id) => `FILL(${id}, 0)`)
        .join(" + "),
      usingMetrics,
      label,
      period,
    });
  }

  private createDashboard(): cloudwatch.Dashboard {
    const period = Duration.minutes(5);
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      defaultInterval: Duration.days(7),
    });
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: [...this.alarms], width: 24, height: 3 }));
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "API requests",
        left: [this.api.metricCount(sum), this.api.metricClientError(sum), this.api.metricServerError(sum)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "API latency (ms)",
        left: [
          this.api.metricLatency({ period, statistic: cloudwatch.Stats.p(50) }),
          this.api.metricLatency({ period, statistic: cloudwatch.Stats.p(99) }),
          this.api.metricIntegrationLatency({ period, statistic: cloudwatch.Stats.p(99) }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "API data processed (bytes)",
        left: [this.api.metricDataProcessed(sum)],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Function invocations, errors, throttles",
        left: [this.function.metricInvocations(sum), this.function.metricErrors(sum), this.function.metricThrottles(sum)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Function duration (ms)",
        left: [
          this.function.metricDuration({ period, statistic: cloudwatch.Stats.p(50) }),
          this.function.metricDuration({ period, statistic: cloudwatch.Stats.p(99) }),
          this.function.metricDuration({ period, statistic: cloudwatch.Stats.MAXIMUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Function concurrency",
        left: [this.function.metric("ConcurrentExecutions", { period, statistic: cloudwatch.Stats.MAXIMUM })],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "DynamoDB capacity consumed",
        left: [this.table.metricConsumedReadCapacityUnits(sum), this.table.metricConsumedWriteCapacityUnits(sum)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: "DynamoDB throttled requests",
        left: [this.tableOperationsSum("ThrottledRequests", "Throttled requests", period)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: "DynamoDB system errors",
        left: [this.tableOperationsSum("SystemErrors", "System errors", period)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: "DynamoDB latency (ms)",
        left: TABLE_OPERATIONS.map((operation) =>
          this.table.metricSuccessfulRequestLatency({ period, dimensionsMap: { TableName: this.table.tableName, Operation: operation } }),
        ),
        width: 6,
      }),
    );
    return dashboard;
  }
}

/**
 * `enforceSSL` gives the topic a policy of its own, which replaces SNS's default one, so
 * CloudWatch may no longer publish to it: allow the alarms of this account (and only those).
 */
function allowAlarmsToPublish(topic: sns.Topic): void {
  const stack = Stack.of(topic);
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "AllowCloudWatchAlarms",
      principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
      actions: ["sns:Publish"],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnLike: {
          "aws:SourceArn": stack.formatArn({
            service: "cloudwatch",
            resource: "alarm",
            resourceName: "*",
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
}
