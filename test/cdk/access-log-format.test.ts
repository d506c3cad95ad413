/**
 * The API's access log lines stay JSON whatever a request carries. API Gateway substitutes each
 * `$context` variable into the format as it is, without escaping: a free-text value quoted by
 * hand breaks the line at its first `"` (and lets a client write fields of its own into it).
 * Only values of a fixed shape (ids, numbers, times, addresses, methods, route keys) may sit
 * between quotes; the one free-text value, API Gateway's error message, is logged through
 * `$context.error.messageString`, which API Gateway quotes itself.
 */
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCESS_LOG_FIELDS, ACCESS_LOG_FORMAT } from "../../lib/api-helper.ts";
import { build, only } from "../support/cdk-app.ts";

/** What each variable can hold: a fixed shape (never a `"` nor a `\`), or API Gateway's own quoted string. */
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
};
/** Variables API Gateway renders as a JSON value itself: the status (a number) and the quoted message. */
const RENDERED_AS_JSON = new Set(["$context.status", "$context.error.messageString"]);

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

  it("stays JSON when API Gateway's error message holds quotes and backslashes", () => {
    const message = 'Invalid "parentVersionId" \\ value';
    const line = render(format, {
      ...FIXED_SHAPE,
      "$context.status": "500",
      // The quoted value of $context.error.message, as API Gateway renders it.
      "$context.error.messageString": JSON.stringify(message),
    });
    const fields = JSON.parse(line) as Record<string, unknown>;
    expect(fields.error).toBe(message);
    expect(fields.status).toBe(500);
    expect(fields.apiId).toBe(FIXED_SHAPE["$context.apiId"]);
  });

  it("quotes by hand only variables of a fixed shape, and logs nothing a client writes", () => {
    const variables = [...format.matchAll(/\$context\.[A-Za-z.]+[A-Za-z]/g)].map((m) => m[0]);
    expect(new Set(variables).size).toBe(variables.length);
    for (const variable of variables) {
      expect(Object.keys(FIXED_SHAPE).includes(variable) || RENDERED_AS_JSON.has(variable), variable).toBe(true);
      // A variable API Gateway renders as JSON is never inside quotes; a fixed-shape one always is.
      expect(format.includes(`"${variable}"`), variable).toBe(!RENDERED_AS_JSON.has(variable));
    }
    // Free text: the raw error messages (no quoted form is documented for the integration's),
    // and what the client sends (its User-Agent, its path): none of it in the line.
    for (const freeText of ['error.message"', "integrationErrorMessage", "integration.error", "userAgent", "$context.path"]) {
      expect(format).not.toContain(freeText);
    }
  });

  it("has one field per entry of ACCESS_LOG_FIELDS, and never a header (X-Client-Id is the user's credential)", () => {
    const line = render(format, { ...FIXED_SHAPE, "$context.status": "200", "$context.error.messageString": '"-"' });
    expect(Object.keys(JSON.parse(line) as object).sort()).toEqual(Object.keys(ACCESS_LOG_FIELDS).sort());
    expect(format).not.toMatch(/header/i);
  });
});
