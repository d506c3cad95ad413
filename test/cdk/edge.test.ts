/**
 * The opt-in edge (CloudFront with a WAF rate limit per source address, the API's execute-api
 * endpoint turned off) and the sync function's concurrency cap: the synthesized template with
 * each on, proof that neither adds anything while off, the companion stack that makes the web
 * ACL in us-east-1, and every invalid value refused at synth.
 */
import { App, Duration, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDGE_DEFAULTS, RATE_LIMITED_BODY } from "../../lib/edge-helper.ts";
import { EdgeWebAclStack } from "../../lib/edge-web-acl-stack.ts";
import { NAG_REASONS } from "../../lib/nag-acknowledgements.ts";
import { TaskChampionSyncServer } from "../../lib/sync-server.ts";
import { buildApp, DEFAULT_STACK_NAME, type SyncServerStackProps } from "../../lib/sync-server-stack.ts";
import {
  acknowledgedOn,
  build,
  companionOf,
  maintenanceFunction,
  ofType,
  only,
  removeSynthOutputs,
  resourceTypes as types,
  type Synthesized,
  stackNames,
  synth,
  syncFunction,
  testApp,
  type Resource,
} from "../support/cdk-app.ts";

const ORIGIN = "origin.tasks.example.com";
const REGIONAL_CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e";
const EDGE_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/9f8e7d6c-5b4a-3f2e-1d0c-ba9876543210";
const WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/tasks-edge/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const US_EAST_1 = { env: { account: "123456789012", region: "us-east-1" } };

/** The edge with an existing web ACL, in front of the API's custom domain. */
const EDGE = { edge: "true", edgeWebAclArn: WEB_ACL_ARN, domainName: ORIGIN, certificateArn: REGIONAL_CERTIFICATE };

/** The IDs AWS documents for the managed policies (not the CDK's constants, which the code uses). */
const CACHING_DISABLED_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const ALL_VIEWER_EXCEPT_HOST_HEADER_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

/** The edge's resource types, and what each costs while nobody syncs. */
const EDGE_TYPES = ["AWS::CloudFront::Distribution", "AWS::WAFv2::WebACL"];

afterAll(removeSynthOutputs);

describe("the edge (edge=true, with an existing web ACL)", () => {
  let synthesized: Synthesized;
  let template: Template;
  let distribution: Resource;
  let distributionId: string;

  beforeAll(() => {
    synthesized = synth(EDGE);
    template = synthesized.template;
    [distributionId, distribution] = only(template, "AWS::CloudFront::Distribution");
  });

  it("puts CloudFront in front of the API's custom domain, reached over HTTPS with TLS 1.2 only", () => {
    const config = distribution.Properties.DistributionConfig;
    expect(config.Origins).toHaveLength(1);
    const [origin] = config.Origins;
    expect(origin.DomainName).toBe(ORIGIN);
    expect(origin.CustomOriginConfig).toEqual({
      OriginProtocolPolicy: "https-only",
      OriginSSLProtocols: ["TLSv1.2"],
      // The API's own limit: past the function's timeout, so its 503 arrives rather than a 504.
      OriginReadTimeout: 30,
    });
    expect(syncFunction(synthesized).Properties.Timeout).toBeLessThan(origin.CustomOriginConfig.OriginReadTimeout);
    // Nothing added to or taken from the request on its way.
    expect(origin.OriginPath).toBeUndefined();
    expect(origin.OriginCustomHeaders).toBeUndefined();
    template.hasResourceProperties("AWS::ApiGatewayV2::DomainName", { DomainName: ORIGIN });
    template.resourceCountIs("AWS::ApiGatewayV2::ApiMapping", 1);
  });

  it("forwards every request to the API unchanged: every method, no cache, every viewer header but Host, no compression", () => {
    const config = distribution.Properties.DistributionConfig;
    expect(config.CacheBehaviors).toBeUndefined();
    const behavior = config.DefaultCacheBehavior;
    expect(behavior.TargetOriginId).toBe(config.Origins[0].Id);
    // POST for AddVersion and AddSnapshot, OPTIONS for the CORS preflight.
    expect(behavior.AllowedMethods).toEqual(expect.arrayContaining(["GET", "HEAD", "OPTIONS", "POST"]));
    expect(behavior.CachePolicyId).toBe(CACHING_DISABLED_ID);
    expect(behavior.OriginRequestPolicyId).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER_ID);
    expect(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId).toBe(CACHING_DISABLED_ID);
    expect(cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER_ID);
    // The answer is the API's: no compression (Content-Type and the body as the function wrote
    // them), no response headers policy, no function at the edge.
    expect(behavior.Compress).toBe(false);
    expect(behavior.ResponseHeadersPolicyId).toBeUndefined();
    expect(behavior.FunctionAssociations).toBeUndefined();
    expect(behavior.LambdaFunctionAssociations).toBeUndefined();
    // Refused over plain HTTP, never redirected: a redirected POST loses its body.
    expect(behavior.ViewerProtocolPolicy).toBe("https-only");
    expect(config.CustomErrorResponses).toBeUndefined();
    expect(config.DefaultRootObject).toBeUndefined();
  });

  it("attaches the given web ACL and makes none", () => {
    expect(distribution.Properties.DistributionConfig.WebACLId).toBe(WEB_ACL_ARN);
    template.resourceCountIs("AWS::WAFv2::WebACL", 0);
    expect(synthesized.stack.server.edgeWebAclArn).toBe(WEB_ACL_ARN);
  });

  it("turns the API's execute-api endpoint off: the API answers only on its custom domain, CloudFront's origin", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { DisableExecuteApiEndpoint: true });
  });

  it("gives clients CloudFront's URL, in the Url output and the task config lines, and no execute-api URL", () => {
    const url = { "Fn::Join": ["", ["https://", { "Fn::GetAtt": [distributionId, "DomainName"] }]] };
    template.hasOutput("Url", { Value: url });
    template.hasOutput("TaskConfigUrl", {
      Value: { "Fn::Join": ["", ["task config sync.server.url https://", { "Fn::GetAtt": [distributionId, "DomainName"] }]] },
    });
    template.hasOutput("TaskConfigOrigin", {
      Value: { "Fn::Join": ["", ["task config sync.server.origin https://", { "Fn::GetAtt": [distributionId, "DomainName"] }]] },
    });
    expect(template.findOutputs("ApiEndpoint")).toEqual({});
    // The custom domain's DNS record (CloudFront's origin) still needs its target.
    const [domainId] = only(template, "AWS::ApiGatewayV2::DomainName");
    template.hasOutput("CustomDomainTarget", { Value: { "Fn::GetAtt": [domainId, "RegionalDomainName"] } });
    expect(template.findOutputs("EdgeTarget")).toEqual({});
  });

  it("is cdk-nag clean, acknowledging on the distribution only its logs, its geography and the default certificate's TLS", () => {
    // synth() ran cdk-nag's checks: any unacknowledged finding would have failed it.
    expect(acknowledgedOn(synthesized.stack.server.edgeDistribution!)).toEqual({
      "AwsSolutions-CFR3": NAG_REASONS.edgeAccessLogs,
      "AwsSolutions-CFR1": NAG_REASONS.edgeGeoRestriction,
      "AwsSolutions-CFR4": NAG_REASONS.edgeDefaultCertificate,
    });
    for (const reason of [NAG_REASONS.edgeAccessLogs, NAG_REASONS.edgeGeoRestriction, NAG_REASONS.edgeDefaultCertificate]) {
      expect(reason.length).toBeGreaterThan(150);
    }
  });
});

describe("the edge in a stack in us-east-1, with its own web ACL", () => {
  let synthesized: Synthesized;
  let template: Template;

  beforeAll(() => {
    synthesized = synth({ edge: "true", domainName: ORIGIN, certificateArn: EDGE_CERTIFICATE }, US_EAST_1);
    template = synthesized.template;
  });

  it("limits each source address: 1,000 requests per 5 minutes, then 429 with Retry-After until its rate falls", () => {
    const [aclId, acl] = only(template, "AWS::WAFv2::WebACL");
    expect(acl.Properties.Scope).toBe("CLOUDFRONT");
    expect(acl.Properties.DefaultAction).toEqual({ Allow: {} });
    expect(acl.Properties.Rules).toEqual([
      {
        Name: "RateLimitPerSourceAddress",
        Priority: 0,
        // The address CloudFront saw the connection from: no header the sender could change or leave out.
        Statement: { RateBasedStatement: { AggregateKeyType: "IP", Limit: 1000, EvaluationWindowSec: 300 } },
        Action: {
          Block: {
            CustomResponse: {
              ResponseCode: 429,
              CustomResponseBodyKey: "rate-limited",
              ResponseHeaders: [{ Name: "retry-after", Value: "300" }],
            },
          },
        },
        VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: expect.stringMatching(/-rate$/) },
      },
    ]);
    expect(acl.Properties.CustomResponseBodies).toEqual({ "rate-limited": { ContentType: "TEXT_PLAIN", Content: RATE_LIMITED_BODY } });
    expect(acl.Properties.VisibilityConfig).toMatchObject({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true });
    expect(EDGE_DEFAULTS.rateLimit / EDGE_DEFAULTS.rateWindow.toSeconds()).toBeLessThan(50 / 10);
    const [, distribution] = only(template, "AWS::CloudFront::Distribution");
    expect(distribution.Properties.DistributionConfig.WebACLId).toEqual({ "Fn::GetAtt": [aclId, "Arn"] });
  });

  it("takes the rate limit and its window from context", () => {
    const stack = build(
      { edge: "true", domainName: ORIGIN, certificateArn: EDGE_CERTIFICATE, edgeRateLimit: "200", edgeRateWindow: "60" },
      US_EAST_1,
    );
    Template.fromStack(stack).hasResourceProperties("AWS::WAFv2::WebACL", {
      Rules: [
        Match.objectLike({
          Statement: { RateBasedStatement: { AggregateKeyType: "IP", Limit: 200, EvaluationWindowSec: 60 } },
          Action: { Block: { CustomResponse: Match.objectLike({ ResponseHeaders: [{ Name: "retry-after", Value: "60" }] }) } },
        }),
      ],
    });
  });

  it("bills by the month only its web ACL (with its rule: $6) beside the alarms; CloudFront bills per request", () => {
    const all = types(template);
    expect(all.filter((type) => EDGE_TYPES.includes(type)).sort()).toEqual(EDGE_TYPES);
    expect(all.filter((type) => type.startsWith("AWS::CloudFront::") || type.startsWith("AWS::WAFv2::")).sort()).toEqual(EDGE_TYPES);
  });
});

describe("the edge with a domain name of its own", () => {
  let synthesized: Synthesized;

  beforeAll(() => {
    synthesized = synth({ ...EDGE, edgeDomainName: "tasks.example.com", edgeCertificateArn: EDGE_CERTIFICATE });
  });

  it("serves it with its us-east-1 certificate by SNI, TLS 1.2 at least, and gives clients that URL", () => {
    const { template } = synthesized;
    const [distributionId, distribution] = only(template, "AWS::CloudFront::Distribution");
    expect(distribution.Properties.DistributionConfig.Aliases).toEqual(["tasks.example.com"]);
    expect(distribution.Properties.DistributionConfig.ViewerCertificate).toEqual({
      AcmCertificateArn: EDGE_CERTIFICATE,
      SslSupportMethod: "sni-only",
      MinimumProtocolVersion: "TLSv1.2_2021",
    });
    template.hasOutput("Url", { Value: "https://tasks.example.com" });
    template.hasOutput("TaskConfigUrl", { Value: "task config sync.server.url https://tasks.example.com" });
    template.hasOutput("EdgeTarget", { Value: { "Fn::GetAtt": [distributionId, "DomainName"] } });
  });

  it("needs no acknowledgement of the default certificate's TLS", () => {
    expect(Object.keys(acknowledgedOn(synthesized.stack.server.edgeDistribution!)).sort()).toEqual([
      "AwsSolutions-CFR1",
      "AwsSolutions-CFR3",
    ]);
  });
});

describe("the companion stack that makes the web ACL in us-east-1 (edgeWebAclStack=true)", () => {
  function companion(context: Record<string, string>, props?: SyncServerStackProps): { app: App; stack: EdgeWebAclStack } {
    return companionOf(EdgeWebAclStack, "EdgeWebAcl", { edgeWebAclStack: "true", ...context }, props);
  }

  it("holds the web ACL alone, in us-east-1, and outputs its ARN for the server's edgeWebAclArn", () => {
    const { app, stack } = companion({});
    expect(stack.region).toBe("us-east-1");
    expect(stack.stackName).toBe(`${DEFAULT_STACK_NAME}-EdgeWebAcl`);
    // Synthesizing the app runs cdk-nag on both stacks.
    const template = Template.fromStack(stack);
    expect(types(template)).toEqual(["AWS::WAFv2::WebACL"]);
    const [aclId] = only(template, "AWS::WAFv2::WebACL");
    template.hasResourceProperties("AWS::WAFv2::WebACL", {
      Scope: "CLOUDFRONT",
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: { AggregateKeyType: "IP", Limit: 1000, EvaluationWindowSec: 300 } } })],
    });
    template.hasOutput("WebAclArn", { Value: { "Fn::GetAtt": [aclId, "Arn"] } });
    // The server stack beside it is as it was: no edge until asked.
    expect(types(Template.fromStack(app.node.findChild(DEFAULT_STACK_NAME) as Stack)).filter((t) => EDGE_TYPES.includes(t))).toEqual([]);
  });

  it("takes the rate limit and window, and the stack name, from context", () => {
    const { stack } = companion({ edgeRateLimit: "300", edgeRateWindow: "120", stackName: "TeamTasks" });
    expect(stack.stackName).toBe("TeamTasks-EdgeWebAcl");
    Template.fromStack(stack).hasResourceProperties("AWS::WAFv2::WebACL", {
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: { AggregateKeyType: "IP", Limit: 300, EvaluationWindowSec: 120 } } })],
    });
  });

  it("is not in the app unless asked, also with the edge on", () => {
    const app = testApp(EDGE);
    buildApp(app);
    expect(stackNames(app)).toEqual([DEFAULT_STACK_NAME]);
  });

  it("serves a team's own app: its web ACL passed to a server stack in another region by CDK's cross-region references", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const acl = new EdgeWebAclStack(app, "TasksEdgeWebAcl", { account: "123456789012", crossRegionReferences: true });
    const stack = new Stack(app, "Tasks", { env: { account: "123456789012", region: "eu-west-1" }, crossRegionReferences: true });
    new TaskChampionSyncServer(stack, "Sync", {
      customDomain: { domainName: ORIGIN, certificateArn: REGIONAL_CERTIFICATE },
      edge: { webAclArn: acl.webAcl.attrArn },
    });
    const [, distribution] = only(Template.fromStack(stack), "AWS::CloudFront::Distribution");
    // Read from us-east-1 at deploy time by the CDK's export reader.
    expect(JSON.stringify(distribution.Properties.DistributionConfig.WebACLId)).toMatch(/ExportsReader.*\/cdk\/exports\/Tasks\//);
    expect(acl.region).toBe("us-east-1");
  });

  it("refuses a rate that WAF or the stage would not take", () => {
    expect(() => companion({ edgeRateLimit: "5" })).toThrow(/EdgeWebAclStack: invalid settings:.*from 10 to 2000000000/s);
    expect(() => companion({ edgeRateLimit: "600", edgeRateWindow: "60", throttleRate: "10" })).toThrow(
      /as much as the stage's whole throttle \(10\/s\)/,
    );
    // The stage's rate of the server's props, too (and context over props).
    const server = { throttlingRateLimit: 10 };
    expect(() => companion({ edgeRateLimit: "600", edgeRateWindow: "60" }, { server })).toThrow(/whole throttle \(10\/s\)/);
    expect(() => companion({ edgeRateLimit: "600", edgeRateWindow: "60", throttleRate: "20" }, { server })).not.toThrow();
  });
});

describe("with the edge and the concurrency cap off (the default)", () => {
  let defaults: Synthesized;

  beforeAll(() => {
    defaults = synth({});
  });

  it("adds no resource, property or output: the template is the same as with edge=false", () => {
    expect(synth({ edge: "false" }).template.toJSON()).toEqual(defaults.template.toJSON());
    const all = types(defaults.template);
    expect(all.filter((type) => type.startsWith("AWS::CloudFront::") || type.startsWith("AWS::WAFv2::"))).toEqual([]);
    const [, api] = only(defaults.template, "AWS::ApiGatewayV2::Api");
    expect(api.Properties).not.toHaveProperty("DisableExecuteApiEndpoint");
    for (const [, fn] of ofType(defaults.template, "AWS::Lambda::Function")) {
      expect(fn.Properties).not.toHaveProperty("ReservedConcurrentExecutions");
    }
    expect(defaults.stack.server.edgeDistribution).toBeUndefined();
    expect(Object.keys(defaults.template.toJSON().Outputs).filter((key) => key.startsWith("Edge"))).toEqual([]);
  });

  it("costs nothing: no resource billed by the hour or the month is added (the idle-cost test covers every type)", () => {
    // The default template's types are the idle-cost test's; the edge's web ACL ($5 + $1 a month) is not among them.
    expect(types(defaults.template)).not.toContain("AWS::WAFv2::WebACL");
    const [, api] = only(defaults.template, "AWS::ApiGatewayV2::Api");
    expect(api.Properties.DisableExecuteApiEndpoint).toBeUndefined();
    defaults.template.hasOutput("Url", { Value: { "Fn::GetAtt": [only(defaults.template, "AWS::ApiGatewayV2::Api")[0], "ApiEndpoint"] } });
  });
});

describe("the edge as a prop", () => {
  const server = { customDomain: { domainName: ORIGIN, certificateArn: REGIONAL_CERTIFICATE }, edge: { webAclArn: WEB_ACL_ARN } };

  it("is on with the prop, and -c edge=false turns it off (context over props)", () => {
    expect(types(Template.fromStack(build({}, { server })))).toContain("AWS::CloudFront::Distribution");
    expect(types(Template.fromStack(build({ edge: "false" }, { server })))).not.toContain("AWS::CloudFront::Distribution");
  });
});

describe("the sync function's concurrency cap (maxConcurrency)", () => {
  it("reserves that many instances for the sync function, and caps it there; the maintenance function is not capped", () => {
    const synthesized = synth({ maxConcurrency: "20" });
    expect(syncFunction(synthesized).Properties.ReservedConcurrentExecutions).toBe(20);
    expect(maintenanceFunction(synthesized).Properties).not.toHaveProperty("ReservedConcurrentExecutions");
  });

  it("takes it as a prop too, and context over the prop", () => {
    const fromProp = build({}, { server: { maxConcurrency: 7 } });
    expect(syncFunction({ stack: fromProp, template: Template.fromStack(fromProp) }).Properties.ReservedConcurrentExecutions).toBe(7);
    const overridden = build({ maxConcurrency: "9" }, { server: { maxConcurrency: 7 } });
    expect(syncFunction({ stack: overridden, template: Template.fromStack(overridden) }).Properties.ReservedConcurrentExecutions).toBe(9);
  });
});

describe("invalid edge and concurrency values, refused at synth", () => {
  it.each([
    [{ edge: "true" }, /edge needs customDomain \(context domainName and certificateArn\)/],
    [{ edge: "yes" }, /context edge="yes" is not valid: expected true or false/],
    [
      { ...EDGE, edgeWebAclArn: undefined, edgeRateLimit: "5" },
      /edge rateLimit must be a whole number of requests from 10 to 2000000000, got 5/,
    ],
    [{ ...EDGE, edgeRateLimit: "lots" }, /context edgeRateLimit="lots" is not valid/],
    [
      { ...EDGE, edgeWebAclArn: undefined, edgeRateWindow: "30" },
      /edge rateWindow must be one of WAF's evaluation windows \(60, 120, 300, 600 seconds\), got 30 s/,
    ],
    [
      { ...EDGE, edgeWebAclArn: undefined, edgeRateLimit: "15000" },
      /lets one address send 50.0 requests a second, as much as the stage's whole throttle \(50\/s\)/,
    ],
    [{ ...EDGE, edgeWebAclArn: undefined, edgeRateLimit: "1000", throttleRate: "3" }, /as much as the stage's whole throttle \(3\/s\)/],
    [{ ...EDGE, edgeWebAclArn: "arn:nope" }, /edge webAclArn must be the ARN of a CloudFront web ACL/],
    [
      { ...EDGE, edgeWebAclArn: "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/tasks/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" },
      /edge webAclArn is a regional web ACL, which CloudFront cannot use/,
    ],
    [{ ...EDGE, edgeRateLimit: "2000" }, /with webAclArn, set them in that web ACL/],
    [{ ...EDGE, edgeDomainName: "tasks.example.com" }, /edge domainName and certificateArn go together/],
    [
      { ...EDGE, edgeDomainName: "tasks.example.com", edgeCertificateArn: REGIONAL_CERTIFICATE },
      /edge certificateArn is in eu-west-1, but CloudFront takes certificates from us-east-1 only/,
    ],
    [
      { ...EDGE, edgeDomainName: ORIGIN, edgeCertificateArn: EDGE_CERTIFICATE },
      /edge domainName origin.tasks.example.com is the API's custom domain, CloudFront's origin/,
    ],
    [{ ...EDGE, edgeDomainName: "not a name", edgeCertificateArn: EDGE_CERTIFICATE }, /edge domainName must be a domain name/],
    [{ edgeRateLimit: "2000" }, /context edgeRateLimit set the edge, which is off: add -c edge=true/],
    [
      { edgeWebAclArn: WEB_ACL_ARN, edgeDomainName: "tasks.example.com" },
      /context edgeWebAclArn, edgeDomainName set the edge, which is off/,
    ],
    [{ maxConcurrency: "0" }, /maxConcurrency must be a whole number of concurrent instances, 1 or more, got 0/],
    [{ maxConcurrency: "-1" }, /context maxConcurrency="-1" is not valid/],
    [{ maxConcurrency: "1.5" }, /context maxConcurrency="1.5" is not valid/],
  ])("rejects %j", (context, message) => {
    const given = Object.fromEntries(Object.entries(context).filter(([, value]) => value !== undefined));
    expect(() => build(given)).toThrow(message);
  });

  it.each([
    [{ maxConcurrency: 1.5 }, /maxConcurrency must be a whole number of concurrent instances, 1 or more, got 1.5/],
    [{ maxConcurrency: 0 }, /maxConcurrency must be/],
    [{ edge: { webAclArn: WEB_ACL_ARN } }, /edge needs customDomain/],
    [
      {
        customDomain: { domainName: ORIGIN, certificateArn: REGIONAL_CERTIFICATE },
        edge: { webAclArn: WEB_ACL_ARN, rateWindow: Duration.seconds(90) },
      },
      /with webAclArn, set them in that web ACL/,
    ],
  ])("rejects the props %j", (server, message) => {
    expect(() => build({}, { server })).toThrow(message);
  });

  it("reports every problem of the edge at once", () => {
    expect(() => build({ edge: "true", edgeRateLimit: "9", edgeRateWindow: "90", edgeDomainName: "tasks.example.com" })).toThrow(
      /customDomain.*\n.*rateLimit.*\n.*rateWindow.*\n.*go together/,
    );
  });

  it("refuses to make the web ACL in a stack that is not known to deploy to us-east-1, naming what to set", () => {
    const context = { edge: "true", domainName: ORIGIN, certificateArn: REGIONAL_CERTIFICATE };
    expect(() => build(context)).toThrow(
      /us-east-1, but this stack deploys to a region unknown at synth.*edgeWebAclArn.*edgeWebAclStack=true/s,
    );
    expect(() => build(context, { env: { account: "123456789012", region: "eu-west-1" } })).toThrow(
      /web ACL is CloudFront's, which AWS creates only in us-east-1, but this stack deploys to eu-west-1/,
    );
    // With the companion's web ACL, the stack may be anywhere.
    expect(() =>
      build({ ...context, edgeWebAclArn: WEB_ACL_ARN }, { env: { account: "123456789012", region: "eu-west-1" } }),
    ).not.toThrow();
  });
});
