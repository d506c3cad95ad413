/**
 * Operations: the SNS topic the alarms publish to, the alarms (a table: one row per alarm),
 * the metrics they read from the API's access logs, and the dashboard.
 */
import { ArnFormat, Duration, Stack } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import type { ACCESS_LOG_FIELDS } from "./api-helper.ts";

/**
 * The DynamoDB operations the two functions issue (the storage's commands on their paths; a
 * TransactWriteItems is its own operation; DeleteItem is the maintenance's, a deletion mark
 * deleted with its objects). DynamoDB publishes SystemErrors per table and operation only, so
 * the alarm names each of them.
 */
export const TABLE_OPERATIONS: readonly dynamodb.Operation[] = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

/**
 * The 5xx the function answers on purpose (lambda/http/): 503 when the storage did not answer
 * in time (with Retry-After: clients retry), 507 when a client would pass its quota. Neither is
 * a failure of the server; a 500 is.
 */
export const DELIBERATE_SERVER_ERRORS = { storageUnavailable: 503, quotaExceeded: 507 } as const;

/** The namespace of the metrics the stack derives from its access logs (per API: dimension ApiId). */
const ACCESS_LOG_NAMESPACE = "TaskChampionSyncServer";

/** A field of the access log lines, as a metric filter names it. */
function accessLogField(field: keyof typeof ACCESS_LOG_FIELDS): string {
  return `$.${field}`;
}

/**
 * The metrics counted from the access log lines (metric filters: free; a metric is billed only
 * for the hours it gets data). The status is a JSON number there.
 */
const ACCESS_LOG_METRICS = {
  /** 5xx answers but the deliberate ones: the function failed, or API Gateway could not reach it. */
  serverErrors: {
    metricName: "ServerErrors",
    pattern: logs.FilterPattern.all(
      logs.FilterPattern.numberValue(accessLogField("status"), ">=", 500),
      ...Object.values(DELIBERATE_SERVER_ERRORS).map((status) => logs.FilterPattern.numberValue(accessLogField("status"), "!=", status)),
    ),
  },
  /** 503 answers: the storage did not answer in time (or API Gateway's own timeout). */
  unavailable: {
    metricName: "Unavailable",
    pattern: logs.FilterPattern.numberValue(accessLogField("status"), "=", DELIBERATE_SERVER_ERRORS.storageUnavailable),
  },
} as const;
type AccessLogMetric = keyof typeof ACCESS_LOG_METRICS;

/** What the alarms and the dashboard watch. */
interface MonitoredResources {
  readonly function: lambda.IFunction;
  readonly maintenanceFunction: lambda.IFunction;
  readonly api: apigwv2.HttpApi;
  readonly table: dynamodb.ITable;
  /** The API's access log group, whose lines the access-log metrics count. */
  readonly accessLogs: logs.ILogGroup;
}

/**
 * The TLS-only topic the alarms publish to, with `alarmEmail` subscribed when given; encrypted
 * with `key` when given.
 */
export function createAlarmTopic(scope: Construct, id: string, alarmEmail: string | undefined, key?: kms.IKey): sns.Topic {
  const topic = new sns.Topic(scope, id, {
    displayName: "TaskChampion sync server alarms",
    enforceSSL: true,
    ...(key ? { masterKey: key } : {}),
  });
  allowAlarmsToPublish(topic);
  if (alarmEmail) {
    topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
  }
  return topic;
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
      conditions: fromThisAccountsAlarms(stack),
    }),
  );
}

/** The condition that lets CloudWatch act for the alarms of this stack's account and no other's. */
export function fromThisAccountsAlarms(stack: Stack): Record<string, Record<string, string>> {
  return {
    StringEquals: { "aws:SourceAccount": stack.account },
    ArnLike: {
      "aws:SourceArn": stack.formatArn({
        service: "cloudwatch",
        resource: "alarm",
        resourceName: "*",
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
}

/** One alarm: its construct id, what it means when it fires, the metric it watches, how it fires. */
interface AlarmDefinition {
  readonly id: string;
  readonly description: string;
  readonly metric: (resources: MonitoredResources, period: Duration) => cloudwatch.IMetric;
  /** How many of the last periods are evaluated, and how many must breach. @default ALARM_CONDITION's 1 of 1 */
  readonly periods?: { readonly evaluated: number; readonly breaching: number };
}

/**
 * For the DynamoDB alarms: any 1 of the last 3 periods. Their expression fills missing data
 * points with 0 (FILL_MISSING), and CloudWatch documents that a FILL can hide a data point that
 * arrives late behind the filled latest one, the remedy being an "M out of N" alarm: the late
 * point is still among the last 3 when it arrives.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
 */
const DYNAMODB_PERIODS = { evaluated: 3, breaching: 1 };

/** The alarms, one row each; every one but the DynamoDB ones and the stall fires on the first occurrence (ALARM_CONDITION). */
const ALARMS: readonly AlarmDefinition[] = [
  {
    id: "FunctionErrorsAlarm",
    description: "The sync function failed (an unhandled error or a timeout).",
    metric: (r, period) => r.function.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
  },
  {
    id: "MaintenanceFunctionErrorsAlarm",
    description: "The maintenance function failed (a client's sweep or pruning failed, an unhandled error or a timeout).",
    metric: (r, period) => r.maintenanceFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
  },
  {
    id: "FunctionThrottlesAlarm",
    description: "The sync function was throttled (the account's concurrency is exhausted).",
    metric: (r, period) => r.function.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
  },
  {
    id: "Api5xxAlarm",
    description:
      "The API answered 5xx, other than the function's deliberate 503 (storage unavailable, retried by clients) and 507 " +
      "(a client over its quota): the function failed, or API Gateway could not reach it.",
    metric: (r, period) => accessLogMetric(r, "serverErrors", period),
  },
  {
    id: "StorageUnavailableAlarm",
    description:
      "The API answered 503 (storage unavailable) in each of the last 15 minutes: the storage is not answering in time, " +
      "and not just for a moment (a single 503 is retried by the client).",
    metric: (r, period) => accessLogMetric(r, "unavailable", period),
    periods: { evaluated: 3, breaching: 3 },
  },
  {
    id: "TableThrottlesAlarm",
    description: "DynamoDB throttled reads or writes on the sync table.",
    metric: (r, period) => tableThrottles(r.table, period),
    periods: DYNAMODB_PERIODS,
  },
  {
    id: "TableSystemErrorsAlarm",
    description: "DynamoDB answered with system errors (5xx) on the sync table.",
    metric: (r, period) => tableSystemErrors(r.table, period),
    periods: DYNAMODB_PERIODS,
  },
];

const ALARM_PERIOD = Duration.minutes(5);

/**
 * At least 1 in one 5-minute period: none of these metrics counts anything in normal
 * operation, so a single error, throttle or 5xx is worth a look; no data is not a problem.
 */
const ALARM_CONDITION = {
  evaluationPeriods: 1,
  threshold: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
};

/** The alarms of ALARMS, in `scope`, each publishing to `topic`; and the access-log metric filters they read. */
export function createAlarms(scope: Construct, resources: MonitoredResources, topic: sns.Topic): cloudwatch.Alarm[] {
  createAccessLogMetricFilters(scope, resources.accessLogs);
  return ALARMS.map(({ id, description, metric, periods }) => {
    const alarm = new cloudwatch.Alarm(scope, id, {
      ...ALARM_CONDITION,
      ...(periods ? { evaluationPeriods: periods.evaluated, datapointsToAlarm: periods.breaching } : {}),
      alarmDescription: description,
      metric: metric(resources, ALARM_PERIOD),
    });
    alarm.addAlarmAction(new cwActions.SnsAction(topic));
    return alarm;
  });
}

/**
 * The metric filters of ACCESS_LOG_METRICS on the access log group, each counting 1 per
 * matching line under the API's id (no default value: no data points, and no cost, while
 * nothing matches).
 */
function createAccessLogMetricFilters(scope: Construct, accessLogs: logs.ILogGroup): void {
  for (const { metricName, pattern } of Object.values(ACCESS_LOG_METRICS)) {
    new logs.MetricFilter(scope, `${metricName}MetricFilter`, {
      logGroup: accessLogs,
      filterPattern: pattern,
      metricNamespace: ACCESS_LOG_NAMESPACE,
      metricName,
      metricValue: "1",
      dimensions: { ApiId: accessLogField("apiId") },
    });
  }
}

/** A metric of ACCESS_LOG_METRICS for this API. */
function accessLogMetric(resources: MonitoredResources, metric: AccessLogMetric, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: ACCESS_LOG_NAMESPACE,
    metricName: ACCESS_LOG_METRICS[metric].metricName,
    dimensionsMap: { ApiId: resources.api.apiId },
    statistic: cloudwatch.Stats.SUM,
    period,
  });
}

/**
 * The table's throttled read and write events: published per table (no Operation dimension),
 * they count every operation's.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
 */
function tableThrottles(table: dynamodb.ITable, period: Duration): cloudwatch.MathExpression {
  const metric = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: "AWS/DynamoDB",
      metricName,
      dimensionsMap: { TableName: table.tableName },
      statistic: cloudwatch.Stats.SUM,
      period,
    });
  return sumOfMetrics({ reads: metric("ReadThrottleEvents"), writes: metric("WriteThrottleEvents") }, "Throttled events", period);
}

/** The table's system errors, summed over TABLE_OPERATIONS (the metric exists per operation only). */
function tableSystemErrors(table: dynamodb.ITable, period: Duration): cloudwatch.MathExpression {
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  for (const operation of TABLE_OPERATIONS) {
    usingMetrics[operation.toLowerCase()] = new cloudwatch.Metric({
      namespace: "AWS/DynamoDB",
      metricName: "SystemErrors",
      dimensionsMap: { TableName: table.tableName, Operation: operation },
      statistic: cloudwatch.Stats.SUM,
      period,
    });
  }
  return sumOfMetrics(usingMetrics, "System errors", period);
}

/**
 * The sum of DynamoDB metrics, its gaps filled with 0 once. DynamoDB publishes these metrics
 * only when they are not zero, and CloudWatch keeps an alarm on an AWS/DynamoDB metric in its
 * current state where data is missing, whatever TreatMissingData says: without the filled 0s,
 * an alarm that fired would never return to OK, and never fire again. The sum itself needs no
 * FILL per term: metric math counts a term's missing value as 0 (its remedy for a late point:
 * DYNAMODB_PERIODS).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
 */
function sumOfMetrics(usingMetrics: Record<string, cloudwatch.IMetric>, label: string, period: Duration): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `FILL(${Object.keys(usingMetrics).join(" + ")}, 0)`,
    usingMetrics,
    label,
    period,
  });
}

/** One dashboard: the alarms' states, then the API, the sync function and the table. */
export function createDashboard(
  scope: Construct,
  id: string,
  resources: MonitoredResources,
  alarms: readonly cloudwatch.Alarm[],
): cloudwatch.Dashboard {
  const period = Duration.minutes(5);
  const sum = { period, statistic: cloudwatch.Stats.SUM };
  const dashboard = new cloudwatch.Dashboard(scope, id, {
    defaultInterval: Duration.days(7),
  });
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: [...alarms], width: 24, height: 3 }));
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: "API requests",
      left: [resources.api.metricCount(sum), resources.api.metricClientError(sum), resources.api.metricServerError(sum)],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "API latency (ms)",
      left: [
        resources.api.metricLatency({ period, statistic: cloudwatch.Stats.p(50) }),
        resources.api.metricLatency({ period, statistic: cloudwatch.Stats.p(99) }),
        resources.api.metricIntegrationLatency({ period, statistic: cloudwatch.Stats.p(99) }),
      ],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "API data processed (bytes)",
      left: [resources.api.metricDataProcessed(sum)],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: "Function invocations, errors, throttles",
      left: [resources.function.metricInvocations(sum), resources.function.metricErrors(sum), resources.function.metricThrottles(sum)],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Function duration (ms)",
      left: [
        resources.function.metricDuration({ period, statistic: cloudwatch.Stats.p(50) }),
        resources.function.metricDuration({ period, statistic: cloudwatch.Stats.p(99) }),
        resources.function.metricDuration({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      ],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Function concurrency",
      left: [resources.function.metric("ConcurrentExecutions", { period, statistic: cloudwatch.Stats.MAXIMUM })],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: "DynamoDB capacity consumed",
      left: [resources.table.metricConsumedReadCapacityUnits(sum), resources.table.metricConsumedWriteCapacityUnits(sum)],
      width: 6,
    }),
    new cloudwatch.GraphWidget({
      title: "DynamoDB throttled events",
      left: [tableThrottles(resources.table, period)],
      width: 6,
    }),
    new cloudwatch.GraphWidget({
      title: "DynamoDB system errors",
      left: [tableSystemErrors(resources.table, period)],
      width: 6,
    }),
    new cloudwatch.GraphWidget({
      title: "DynamoDB latency (ms)",
      left: TABLE_OPERATIONS.map((operation) =>
        resources.table.metricSuccessfulRequestLatency({
          period,
          dimensionsMap: { TableName: resources.table.tableName, Operation: operation },
        }),
      ),
      width: 6,
    }),
  );
  return dashboard;
}
