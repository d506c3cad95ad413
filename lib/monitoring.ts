/**
 * Operations: the SNS topic the alarms publish to, the alarms (a table: one row per alarm),
 * and the dashboard.
 */
import { ArnFormat, Duration, Stack } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";

/** The operations the storage issues, for the DynamoDB metrics (Operation dimension). */
const TABLE_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

/** What the alarms and the dashboard watch. */
interface MonitoredResources {
  readonly function: lambda.IFunction;
  readonly maintenanceFunction: lambda.IFunction;
  readonly api: apigwv2.HttpApi;
  readonly table: dynamodb.ITable;
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

/** One alarm: its construct id, what it means when it fires, and the metric it watches. */
interface AlarmDefinition {
  readonly id: string;
  readonly description: string;
  readonly metric: (resources: MonitoredResources, period: Duration) => cloudwatch.IMetric;
}

/** The alarms, one row each; every one fires on the first occurrence (ALARM_CONDITION). */
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
    description: "The API answered 5xx: the storage failed or the function did not answer.",
    metric: (r, period) => r.api.metricServerError({ period, statistic: cloudwatch.Stats.SUM }),
  },
  {
    id: "TableThrottlesAlarm",
    description: "DynamoDB throttled requests on the sync table.",
    metric: (r, period) => tableOperationsSum(r.table, "ThrottledRequests", "Throttled requests", period),
  },
  {
    id: "TableSystemErrorsAlarm",
    description: "DynamoDB answered with system errors (5xx) on the sync table.",
    metric: (r, period) => tableOperationsSum(r.table, "SystemErrors", "System errors", period),
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

/** The alarms of ALARMS, in `scope`, each publishing to `topic`. */
export function createAlarms(scope: Construct, resources: MonitoredResources, topic: sns.Topic): cloudwatch.Alarm[] {
  return ALARMS.map(({ id, description, metric }) => {
    const alarm = new cloudwatch.Alarm(scope, id, {
      ...ALARM_CONDITION,
      alarmDescription: description,
      metric: metric(resources, ALARM_PERIOD),
    });
    alarm.addAlarmAction(new cwActions.SnsAction(topic));
    return alarm;
  });
}

/**
 * A per-operation DynamoDB metric summed over the storage's operations. Each term is FILLed
 * with 0: these metrics only have data points when something went wrong, and a plain sum
 * has no value where any term is missing (so it would almost never alarm).
 */
function tableOperationsSum(table: dynamodb.ITable, metricName: string, label: string, period: Duration): cloudwatch.MathExpression {
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  for (const operation of TABLE_OPERATIONS) {
    usingMetrics[operation.toLowerCase()] = new cloudwatch.Metric({
      namespace: "AWS/DynamoDB",
      metricName,
      dimensionsMap: { TableName: table.tableName, Operation: operation },
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
      title: "DynamoDB throttled requests",
      left: [tableOperationsSum(resources.table, "ThrottledRequests", "Throttled requests", period)],
      width: 6,
    }),
    new cloudwatch.GraphWidget({
      title: "DynamoDB system errors",
      left: [tableOperationsSum(resources.table, "SystemErrors", "System errors", period)],
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
