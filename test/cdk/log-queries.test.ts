/**
 * The saved Logs Insights queries: each reads the right log groups, and every field it names
 * is one the functions really log (the sync function's request line is produced here by the
 * handler itself; the maintenance run line by its source).
 */
import { readFileSync } from "node:fs";
import type { CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../lambda/app.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { CONTENT_TYPE, HEADER } from "../../lambda/http/protocol.ts";
import { createLogger } from "../../lambda/log.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { LOG_QUERIES } from "../../lib/log-queries.ts";
import { DEFAULT_STACK_NAME, type SyncServerStack } from "../../lib/sync-server-stack.ts";
import { httpEvent } from "../../dev/events.ts";
import { build, ofType, type Resource } from "../support/cdk-app.ts";

/** Words of the query language, its functions, and what a query names itself (`as x`). */
const QUERY_WORDS = new Set([
  "fields",
  "filter",
  "stats",
  "sort",
  "limit",
  "by",
  "as",
  "desc",
  "asc",
  "and",
  "or",
  "not",
  "in",
  "like",
  "count",
  "sum",
  "avg",
  "max",
  "min",
  "bin",
  "ispresent",
]);

/** The log fields a query string names: neither @-fields, nor literals, nor the query's own words and aliases. */
function fieldsOf(query: string): Set<string> {
  const withoutLiterals = query.replace(/"[^"]*"/g, " ").replace(/@\w+/g, " ");
  const aliases = new Set([...withoutLiterals.matchAll(/\bas\s+(\w+)/g)].map((m) => m[1]!));
  const words = [...withoutLiterals.matchAll(/\b([A-Za-z][\w.]*)\b/g)].map((m) => m[1]!);
  return new Set(words.filter((word) => !QUERY_WORDS.has(word) && !aliases.has(word) && !/^\d/.test(word)));
}

/** The lines the handler logs for a few requests, parsed. */
async function handlerLines(): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const handler = createApp(
    new MemoryStorage(),
    { rules: { ...DEFAULT_SYNC_RULES, createClients: true }, maxBodyBytes: 1_000_000 },
    createLogger((line) => lines.push(line)),
  );
  const clientId = newUuid();
  const headers = { [HEADER.clientId]: clientId, [HEADER.contentType]: CONTENT_TYPE.historySegment };
  await handler(httpEvent("POST", `/v1/client/add-version/${NIL_UUID}`, { headers, body: "segment" }));
  await handler(httpEvent("POST", `/v1/client/add-version/${NIL_UUID}`, { headers, body: "segment" }));
  await handler(httpEvent("GET", `/v1/client/get-child-version/${NIL_UUID}`, { headers: { [HEADER.clientId]: clientId } }));
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("saved Logs Insights queries", () => {
  let stack: SyncServerStack;
  let template: Template;
  let queries: [string, Resource][];
  let functionLogs: string;
  let maintenanceLogs: string;

  beforeAll(() => {
    stack = build({});
    template = Template.fromStack(stack);
    queries = ofType(template, "AWS::Logs::QueryDefinition");
    const logGroupOf = (fn: { node: { defaultChild?: unknown } }) => {
      const resource = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as CfnElement)];
      return resource.Properties.LoggingConfig.LogGroup.Ref as string;
    };
    functionLogs = logGroupOf(stack.server.function);
    maintenanceLogs = logGroupOf(stack.server.maintenanceFunction);
  });

  it("answers an operator's questions, in a folder named after the stack", () => {
    const names = queries.map(([, q]) => q.Properties.Name as string);
    expect(names).toHaveLength(LOG_QUERIES.length);
    for (const name of names) expect(name.startsWith(`${DEFAULT_STACK_NAME}/`)).toBe(true);
    const titles = names.map((name) => name.slice(DEFAULT_STACK_NAME.length + 1));
    for (const question of [/route and status/, /[Cc]onflicts/, /[Ss]lowest/, /[Ee]rrors/, /[Bb]usiest clients/, /[Bb]ytes in .* out/]) {
      expect(
        titles.some((title) => question.test(title)),
        String(question),
      ).toBe(true);
    }
    expect(stack.server.logQueries).toHaveLength(LOG_QUERIES.length);
  });

  it("reads the functions' own log groups: the sync function's, and the maintenance function's for its runs and errors", () => {
    const groupsOf = (title: RegExp) => {
      const found = queries.find(([, q]) => title.test(q.Properties.Name as string));
      expect(found, String(title)).toBeDefined();
      return (found![1].Properties.LogGroupNames as { Ref: string }[]).map((g) => g.Ref);
    };
    expect(groupsOf(/route and status/)).toEqual([functionLogs]);
    expect(groupsOf(/Slowest/)).toEqual([functionLogs]);
    expect(groupsOf(/Errors/)).toEqual([functionLogs, maintenanceLogs]);
    expect(groupsOf(/Maintenance runs/)).toEqual([maintenanceLogs]);
  });

  it("names only fields that the sync function logs on its request lines", async () => {
    const lines = await handlerLines();
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests.map((line) => line.status)).toEqual([200, 409, 200]);
    const logged = new Set(requests.flatMap((line) => Object.keys(line)));
    // The line of each request carries these (and a 409 its outcome, which a query counts).
    for (const field of ["route", "status", "durationMs", "client", "outcome", "bytes", "requestId"]) expect(logged).toContain(field);
    expect(requests.map((line) => line.outcome)).toContain("conflict");
    expect(String(requests[0]!.client)).toMatch(/^[0-9a-f]{12}$/);
    for (const [, query] of queries) {
      const groups = (query.Properties.LogGroupNames as { Ref: string }[]).map((g) => g.Ref);
      if (groups.length !== 1 || groups[0] !== functionLogs) continue;
      const fields = fieldsOf(query.Properties.QueryString as string);
      expect(fields.size, query.Properties.Name).toBeGreaterThan(0);
      for (const field of fields) expect(logged, `${query.Properties.Name}: ${field}`).toContain(field);
    }
  });

  it("finds errors by the fields the functions and Lambda write", async () => {
    const [, errors] = queries.find(([, q]) => /Errors/.test(q.Properties.Name as string))!;
    const fields = fieldsOf(errors.Properties.QueryString as string);
    const handlerSource = readFileSync(new URL("../../lambda/http/handler.ts", import.meta.url), "utf8");
    // The handler's "request failed" line, and the levels of the logger.
    for (const field of ["route", "client", "error", "message"]) expect(handlerSource).toMatch(new RegExp(`\\b${field}:`));
    const logged = new Set([...Object.keys((await handlerLines())[0]!), "error", "message"]);
    // Lambda's own JSON lines: an uncaught error's errorType, the runtime's report of a timeout.
    const lambdas = new Set(["errorType", "record.status"]);
    for (const field of fields) expect(logged.has(field) || lambdas.has(field), field).toBe(true);
  });

  it("finds the warnings and errors of the functions' logger and of Lambda's runtime, whatever the case of their level", () => {
    const [, errors] = queries.find(([, q]) => /Errors/.test(q.Properties.Name as string))!;
    const query = errors.Properties.QueryString as string;
    const levels = /level in \[([^\]]*)\]/
      .exec(query)?.[1]
      ?.match(/"[^"]*"/g)
      ?.map((level) => JSON.parse(level) as string);
    expect(levels, query).toBeDefined();
    // The functions' own lines (lambda/log.ts).
    const written: string[] = [];
    const logger = createLogger((line) => written.push(line));
    logger.warn("w");
    logger.error("e");
    for (const line of written) expect(levels).toContain((JSON.parse(line) as { level: string }).level);
    // Lambda's JSON log lines (the runtime's, and the console's): its levels are upper case.
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    for (const level of ["WARN", "ERROR", "FATAL"]) expect(levels).toContain(level);
  });

  it("finds the maintenance function's run line by its duration", () => {
    const source = readFileSync(new URL("../../lambda/maintenance-handler.ts", import.meta.url), "utf8");
    expect(source).toMatch(/durationMs: Date\.now\(\) - started/);
    const [, runs] = queries.find(([, q]) => /Maintenance runs/.test(q.Properties.Name as string))!;
    expect(runs.Properties.QueryString).toMatch(/filter ispresent\(durationMs\)/);
  });
});
