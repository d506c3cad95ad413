/**
 * The alarms that watch what can fail without a caller noticing: what each watches, and that
 * the way CloudWatch evaluates it cannot keep it from firing.
 *
 * - DynamoDB: on metrics that cover every operation the functions issue; CloudWatch treats a
 *   missing data point of an AWS/DynamoDB metric as "keep the current state", and DynamoDB
 *   publishes these metrics only when they are not zero, so the alarm's expression fills the
 *   gaps with 0 once (else an alarm that fired would never return to OK), and is an "M out of
 *   N" alarm, CloudWatch's documented remedy for FILL hiding a late data point.
 * - The API's 5xx: not the ones the function answers on purpose (503 while the storage does
 *   not answer, retried by clients; 507 for a client over its quota); a storage stall has an
 *   alarm of its own, which waits for it to last.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCESS_LOG_FIELDS } from "../../lib/api-helper.ts";
import { DELIBERATE_SERVER_ERRORS, TABLE_OPERATIONS } from "../../lib/monitoring.ts";
import { build, ofType, only, type Resource, type TemplateJson } from "../support/cdk-app.ts";

const REPO = new URL("../../", import.meta.url);

/** The DynamoDB commands the storage issues on the functions' paths (the admin command's excepted). */
function functionsDynamoDbOperations(): Set<string> {
  const folder = new URL("lambda/storage/dynamodb/", REPO);
  const operatorsOnly = new Set(["client-listing.ts", "client-removal.ts", "client-import.ts", "client-verify.ts", "table-scan.ts"]);
  const source = readdirSync(folder)
    .filter((file) => file.endsWith(".ts") && !operatorsOnly.has(file))
    .map((file) => readFileSync(new URL(file, folder), "utf8"))
    .join("\n");
  const dynamodb = new Set(["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem", "Scan"]);
  return new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!).filter((command) => dynamodb.has(command)));
}

/** The 5xx statuses the HTTP edge answers (lambda/http/), from its code, comments left out. */
function serverStatusesOfTheFunction(): Set<number> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith(".ts")) files.push(join(dir, entry.name));
    }
  };
  walk(new URL("lambda/http/", REPO).pathname);
  const code = files
    .map((file) => readFileSync(file, "utf8"))
    .join("\n")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "");
  return new Set([...code.matchAll(/\b(5\d\d)\b/g)].map((m) => Number(m[1])));
}

/** Which statuses a metric filter's pattern counts: its `$.status` comparisons, all of them. */
function counts(pattern: string, status: number): boolean {
  const comparisons = [...pattern.matchAll(/\$\.status\s*(>=|<=|!=|=|>|<)\s*(\d+)/g)];
  expect(comparisons.length, pattern).toBeGreaterThan(0);
  // Only conjunctions of comparisons on the status are read here.
  expect(pattern.replace(/\(?\$\.status\s*(>=|<=|!=|=|>|<)\s*\d+\)?/g, "").replace(/[{}\s]|&&/g, ""), pattern).toBe("");
  return comparisons.every(([, op, value]) => {
    const v = Number(value);
    return { ">=": status >= v, "<=": status <= v, "!=": status !== v, "=": status === v, ">": status > v, "<": status < v }[op!]!;
  });
}

describe("alarms", () => {
  let template: Template;
  let alarms: Record<string, Resource>;
  let apiId: string;
  let tableId: string;
  let accessLogsId: string;

  beforeAll(() => {
    template = Template.fromStack(build({}));
    alarms = Object.fromEntries(ofType(template, "AWS::CloudWatch::Alarm").map(([id, alarm]) => [id.replace(/[0-9A-F]{8}$/, ""), alarm]));
    [apiId] = only(template, "AWS::ApiGatewayV2::Api");
    [tableId] = only(template, "AWS::DynamoDB::Table");
    const [, stage] = only(template, "AWS::ApiGatewayV2::Stage");
    accessLogsId = stage.Properties.AccessLogSettings.DestinationArn["Fn::GetAtt"][0];
  });

  const alarm = (name: string): TemplateJson => {
    const found = Object.entries(alarms).find(([id]) => id.endsWith(name));
    expect(found, name).toBeDefined();
    return found![1].Properties;
  };

  describe("DynamoDB", () => {
    it("watches system errors of every operation the functions issue, Query included", () => {
      expect([...TABLE_OPERATIONS].sort()).toEqual([...functionsDynamoDbOperations()].sort());
      expect(TABLE_OPERATIONS).toContain("Query");
      const { Metrics } = alarm("TableSystemErrorsAlarm");
      const terms = (Metrics as TemplateJson[]).filter((m) => m.MetricStat);
      expect(terms.map((t) => t.MetricStat.Metric.MetricName)).toEqual(TABLE_OPERATIONS.map(() => "SystemErrors"));
      expect(terms.map((t) => t.MetricStat.Metric.Dimensions)).toEqual(
        TABLE_OPERATIONS.map((operation) => [
          { Name: "Operation", Value: operation },
          { Name: "TableName", Value: { Ref: tableId } },
        ]),
      );
      // An alarm on metric math reads at most 10 metrics.
      expect(terms.length).toBeLessThanOrEqual(10);
    });

    it("watches throttling by the table's own read and write throttle events, which count every operation", () => {
      const { Metrics } = alarm("TableThrottlesAlarm");
      const terms = (Metrics as TemplateJson[]).filter((m) => m.MetricStat);
      expect(terms.map((t) => t.MetricStat.Metric.MetricName).sort()).toEqual(["ReadThrottleEvents", "WriteThrottleEvents"]);
      for (const term of terms) {
        expect(term.MetricStat.Metric.Namespace).toBe("AWS/DynamoDB");
        // The table alone: no Operation dimension, so no operation is left out.
        expect(term.MetricStat.Metric.Dimensions).toEqual([{ Name: "TableName", Value: { Ref: tableId } }]);
        expect(term.MetricStat.Stat).toBe("Sum");
      }
    });

    it("fills the sum's gaps with 0 once, and fires when any of the last periods breached, so a late data point still counts", () => {
      for (const name of ["TableThrottlesAlarm", "TableSystemErrorsAlarm"]) {
        const properties = alarm(name);
        const metrics = properties.Metrics as TemplateJson[];
        const ids = metrics.filter((m) => m.MetricStat).map((m) => m.Id as string);
        const [expression] = metrics.filter((m) => m.Expression);
        // One FILL around the whole sum: a sum already counts a missing term as 0.
        expect(expression.Expression, name).toBe(`FILL(${ids.join(" + ")}, 0)`);
        expect(expression.ReturnData ?? true).toBe(true);
        expect(properties.DatapointsToAlarm, name).toBe(1);
        expect(properties.EvaluationPeriods, name).toBeGreaterThanOrEqual(3);
        expect(properties.Threshold).toBe(1);
        expect(properties.ComparisonOperator).toBe("GreaterThanOrEqualToThreshold");
      }
    });
  });

  describe("the API's server errors", () => {
    const filterOf = (metricName: string): TemplateJson => {
      const found = ofType(template, "AWS::Logs::MetricFilter").filter(
        ([, f]) => f.Properties.MetricTransformations[0].MetricName === metricName,
      );
      expect(found, metricName).toHaveLength(1);
      return found[0]![1].Properties;
    };

    it("knows the 5xx the function answers on purpose from its code: 503 and 507 (500 is a failure)", () => {
      const statuses = serverStatusesOfTheFunction();
      expect([...statuses].sort()).toEqual([500, 503, 507]);
      expect(Object.values(DELIBERATE_SERVER_ERRORS).sort()).toEqual([503, 507]);
    });

    it("counts the access log's 5xx but the deliberate ones, per API, and alarms on the first", () => {
      const filter = filterOf("ServerErrors");
      expect(filter.LogGroupName).toEqual({ Ref: accessLogsId });
      const pattern = filter.FilterPattern as string;
      for (const status of [500, 502, 504, 599]) expect(counts(pattern, status), String(status)).toBe(true);
      for (const status of [200, 404, 409, 410, 413, 429, 503, 507]) expect(counts(pattern, status), String(status)).toBe(false);
      const [transformation] = filter.MetricTransformations;
      expect(transformation).toMatchObject({
        MetricNamespace: "TaskChampionSyncServer",
        MetricValue: "1",
        Dimensions: [{ Key: "ApiId", Value: "$.apiId" }],
      });
      expect(transformation.DefaultValue).toBeUndefined();
      // The fields the filter reads are the access log's.
      expect(ACCESS_LOG_FIELDS.status).toBe("$context.status");
      expect(ACCESS_LOG_FIELDS.apiId).toBe("$context.apiId");

      const properties = alarm("Api5xxAlarm");
      expect(properties).toMatchObject({
        Namespace: "TaskChampionSyncServer",
        MetricName: "ServerErrors",
        Dimensions: [{ Name: "ApiId", Value: { Ref: apiId } }],
        Statistic: "Sum",
        Threshold: 1,
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      });
    });

    it("tells of a storage stall only once it lasts: 503s in each of three consecutive periods", () => {
      const filter = filterOf("Unavailable");
      expect(filter.LogGroupName).toEqual({ Ref: accessLogsId });
      for (const status of [200, 500, 502, 504, 507]) expect(counts(filter.FilterPattern, status)).toBe(false);
      expect(counts(filter.FilterPattern, DELIBERATE_SERVER_ERRORS.storageUnavailable)).toBe(true);
      const properties = alarm("StorageUnavailableAlarm");
      expect(properties).toMatchObject({
        Namespace: "TaskChampionSyncServer",
        MetricName: "Unavailable",
        Dimensions: [{ Name: "ApiId", Value: { Ref: apiId } }],
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: "notBreaching",
      });
    });
  });
});
