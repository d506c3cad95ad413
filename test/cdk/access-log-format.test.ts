/**
 * The API's access log lines stay JSON whatever a request carries and whatever API Gateway
 * answers. API Gateway substitutes each `$context` variable into the format as it is, without
 * escaping, and writes `-` for a variable without a value: a free-text value quoted by hand
 * breaks the line at its first `"` (and lets a client write fields of its own into it).
 * `$context.error.messageString`, "the quoted value of $context.error.message", does not help:
 * it is written as a bare `-` when there is no error (access logs of HTTP APIs show
 * `"…messageString":"-"` from a hand-quoted format), so it breaks one case or the other.
 */
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCESS_LOG_FIELDS, ACCESS_LOG_FORMAT } from "../../lib/api-helper.ts";
import { build, only } from "../support/cdk-app.ts";

/** Variables of a fixed shape (never a `"` nor a `\`), with a value each. */
const FIXED_SHAPE: Readonly<Record<string, string>> = {
  "$context.apiId": "a1b2c3d4e5",
  "$context.requestId": "JLvxbhiXoAMEbMA=",
  "$context.requestTime": "10/Jul/2025:18:14:22 +0000",
  "$context.identity.sourceIp": "203.0.113.7",
  "$context.httpMethod": "POST",
  "$context.routeKey": "POST /v1/client/add-version/{parentVersionId}",
  "$context.protocol": "HTTP/1.1",
  "$context.responseLength": "35",
  "$context.responseLatency": "29012",
  "$context.integrationStatus": "-",
  "$context.integrationLatency": "-",
  "$context.error.responseType": "INTEGRATION_FAILURE",
};
/** The status: a number, written without quotes. */
const NUMBER = "$context.status";

/** What API Gateway writes for each error variable, with an error (a message holding quotes) or without. */
function errorVariables(message: string | undefined): Record<string, string> {
  return {
    "$context.error.message": message ?? "-",
    "$context.error.messageString": message === undefined ? "-" : JSON.stringify(message),
    "$context.integrationErrorMessage": message ?? "-",
    "$context.integration.error": message ?? "-",
  };
}

/** A line as API Gateway writes it: every variable replaced by its value, nothing escaped. */
function render(format: string, values: Readonly<Record<string, string>>): string {
  return format.replace(/\$context\.[A-Za-z.]+[A-Za-z]/g, (variable) => {
    const value = values[variable];
    if (value === undefined) throw new Error(`no sample value for ${variable}`);
    return value;
  });
}

describe("the API's access log format", () => {
  let format: string;

  beforeAll(() => {
    const [, stage] = only(Template.fromStack(build({})), "AWS::ApiGatewayV2::Stage");
    format = stage.Properties.AccessLogSettings.Format as string;
  });

  it("is the format the module builds, one line", () => {
    expect(format).toBe(ACCESS_LOG_FORMAT);
    expect(format).not.toMatch(/\n/);
  });

  it.each([
    ["an error whose message holds quotes and backslashes", 'Invalid "parentVersionId" \\ value', 502],
    ["no error", undefined, 200],
  ])("stays JSON with %s", (_, message, status) => {
    const line = render(format, { ...FIXED_SHAPE, ...errorVariables(message), [NUMBER]: String(status) });
    const fields = JSON.parse(line) as Record<string, unknown>;
    expect(fields.status).toBe(status);
    expect(fields.apiId).toBe(FIXED_SHAPE["$context.apiId"]);
    expect(fields.errorType).toBe(FIXED_SHAPE["$context.error.responseType"]);
  });

  it("quotes by hand only variables of a fixed shape, and logs nothing a client writes", () => {
    const variables = [...format.matchAll(/\$context\.[A-Za-z.]+[A-Za-z]/g)].map((m) => m[0]);
    expect(new Set(variables).size).toBe(variables.length);
    for (const variable of variables) {
      expect(Object.keys(FIXED_SHAPE).includes(variable) || variable === NUMBER, variable).toBe(true);
      expect(format.includes(`"${variable}"`), variable).toBe(variable !== NUMBER);
    }
    // What the client sends (its User-Agent, its path), and free-text error messages: none of it.
    for (const freeText of ["userAgent", "$context.path", "error.message", "integrationErrorMessage", "integration.error"]) {
      expect(format).not.toContain(freeText);
    }
  });

  it("has one field per entry of ACCESS_LOG_FIELDS, and never a header (X-Client-Id is the user's credential)", () => {
    const line = render(format, { ...FIXED_SHAPE, ...errorVariables(undefined), [NUMBER]: "200" });
    expect(Object.keys(JSON.parse(line) as object).sort()).toEqual(Object.keys(ACCESS_LOG_FIELDS).sort());
    expect(format).not.toMatch(/header/i);
  });
});
