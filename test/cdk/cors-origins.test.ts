/**
 * The CORS origins the construct accepts: exactly the forms API Gateway documents for an HTTP
 * API's allowOrigins (`*`, `https://*`, `http://*`, or an origin: scheme, host, optional port),
 * checked at synth, so that a form API Gateway refuses fails `cdk synth` instead of rolling the
 * deployment back.
 */
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { build, only } from "../support/cdk-app.ts";

function allowOrigins(corsOrigins: string): unknown {
  return only(Template.fromStack(build({ corsOrigins })), "AWS::ApiGatewayV2::Api")[1].Properties.CorsConfiguration.AllowOrigins;
}

describe("corsOrigins", () => {
  it.each([
    ["*"],
    ["https://*"],
    ["http://*"],
    ["https://tasks.example.com"],
    ["http://localhost:8080"],
    ["https://tasks.example.com:8443"],
    ["http://127.0.0.1:3000"],
  ])("accepts %s, a form API Gateway documents", (origin) => {
    expect(allowOrigins(origin)).toEqual([origin]);
  });

  it("takes several origins of those forms together", () => {
    expect(allowOrigins("https://tasks.example.com, http://*")).toEqual(["https://tasks.example.com", "http://*"]);
  });

  it.each([
    // A wildcard within the host: not a documented form (a deployment with it rolled back).
    ["https://*.example.com"],
    ["http://*.tasks.example.com"],
    ["*.example.com"],
    ["https://tasks.*.com"],
    ["https://*:443"],
    // Not origins: a path, no scheme, another scheme, a port out of range, a trailing slash.
    ["https://tasks.example.com/app"],
    ["https://tasks.example.com/"],
    ["tasks.example.com"],
    ["ftp://tasks.example.com"],
    ["https://tasks.example.com:99999"],
    ["https://tasks.example.com:0"],
    ["https://"],
    ["https://tasks..example.com"],
  ])("refuses %s at synth, naming the forms it takes", (origin) => {
    expect(() => build({ corsOrigins: origin })).toThrow(/corsAllowedOrigins must be .*https:\/\/\*.*http:\/\/\*/s);
    expect(() => build({ corsOrigins: origin })).toThrow(JSON.stringify(origin));
  });
});
