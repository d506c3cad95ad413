/**
 * Saved CloudWatch Logs Insights queries (free: a query costs only the data it scans when it
 * is run) for the questions an operator asks, one row per query. They read the JSON lines the
 * functions write: the sync function one `request` line per request (lambda/http/handler.ts:
 * route, status, durationMs, client = a 12-hex tag of the client id, outcome, bytes), the
 * maintenance function one line per run (with its counts and durationMs). In the console they
 * are under Logs Insights, "Saved queries", in a folder named after the stack.
 */
import { Stack } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/** The log groups the queries read. */
interface QueriedLogs {
  readonly function: logs.ILogGroup;
  readonly maintenanceFunction: logs.ILogGroup;
}

/** One saved query: its construct id, its name in the console, where it looks, what it asks. */
interface LogQuery {
  readonly id: string;
  readonly title: string;
  readonly logGroups: (groups: QueriedLogs) => logs.ILogGroup[];
  readonly query: logs.QueryStringProps;
}

/** The sync function's line for each request. */
const REQUEST_LINE = 'msg = "request"';

/** The queries, one row each. */
export const LOG_QUERIES: readonly LogQuery[] = [
  {
    id: "RequestsByRouteAndStatusQuery",
    title: "Requests by route and status",
    logGroups: (g) => [g.function],
    query: {
      filterStatements: [REQUEST_LINE],
      statsStatements: ["count(*) as requests, avg(durationMs) as avgMs, max(durationMs) as maxMs by route, status"],
      sort: "requests desc",
    },
  },
  {
    id: "ConflictsAndRetriesQuery",
    title: "Conflicts (409) and storage unavailable (503, retried by clients), per hour",
    logGroups: (g) => [g.function],
    query: {
      filterStatements: [REQUEST_LINE, 'outcome = "conflict" or status = 409 or status = 503'],
      statsStatements: ["count(*) as answers by bin(1h) as hour, route, status, outcome"],
      sort: "hour desc",
    },
  },
  {
    id: "SlowestRequestsQuery",
    title: "Slowest requests",
    logGroups: (g) => [g.function],
    query: {
      fields: ["@timestamp", "route", "status", "durationMs", "outcome", "bytes", "client", "requestId"],
      filterStatements: [REQUEST_LINE],
      sort: "durationMs desc",
      limit: 50,
    },
  },
  {
    id: "ErrorsQuery",
    title: "Errors and warnings of both functions (5xx, failed runs, timeouts)",
    logGroups: (g) => [g.function, g.maintenanceFunction],
    query: {
      fields: ["@timestamp", "@log", "level", "msg", "route", "status", "error", "message", "client", "requestId"],
      // The functions' own lines by level (lower case, lambda/log.ts) or status; Lambda's by
      // level (upper case: the runtime's, and the console's), by errorType (an uncaught
      // error) and by the runtime's status (a timeout). Comparisons are case-sensitive.
      // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
      filterStatements: [
        'level in ["error", "warn", "ERROR", "WARN", "FATAL"] or status >= 500 or ispresent(errorType) or record.status = "timeout"',
      ],
      sort: "@timestamp desc",
      limit: 200,
    },
  },
  {
    id: "BusiestClientsQuery",
    title: "Busiest clients (by the tag of the client id)",
    logGroups: (g) => [g.function],
    query: {
      filterStatements: [REQUEST_LINE, "ispresent(client)"],
      statsStatements: ["count(*) as requests, sum(bytes) as totalBytes, max(durationMs) as maxMs by client"],
      sort: "requests desc",
      limit: 25,
    },
  },
  {
    id: "BytesInAndOutQuery",
    title: "Bytes in (add-version, add-snapshot) and out (get-child-version, get-snapshot) by route",
    logGroups: (g) => [g.function],
    query: {
      filterStatements: [REQUEST_LINE, "ispresent(bytes)"],
      statsStatements: ["sum(bytes) as totalBytes, avg(bytes) as avgBytes, max(bytes) as maxBytes, count(*) as requests by route"],
      sort: "totalBytes desc",
    },
  },
  {
    id: "MaintenanceRunsQuery",
    title: "Maintenance runs",
    logGroups: (g) => [g.maintenanceFunction],
    query: {
      fields: ["@timestamp", "level", "msg", "durationMs", "@message"],
      // Its one line per run, whatever the run did: the one that reports its duration.
      filterStatements: ["ispresent(durationMs)"],
      sort: "@timestamp desc",
      limit: 100,
    },
  },
];

/** The saved queries of LOG_QUERIES, in `scope`, named `<stack name>/<title>`. */
export function createLogQueries(
  scope: Construct,
  functions: { readonly function: lambda.Function; readonly maintenanceFunction: lambda.Function },
): logs.QueryDefinition[] {
  const groups: QueriedLogs = { function: functions.function.logGroup, maintenanceFunction: functions.maintenanceFunction.logGroup };
  const folder = Stack.of(scope).stackName;
  return LOG_QUERIES.map(
    ({ id, title, logGroups, query }) =>
      new logs.QueryDefinition(scope, id, {
        queryDefinitionName: `${folder}/${title}`,
        queryString: new logs.QueryString(query),
        logGroups: logGroups(groups),
      }),
  );
}
