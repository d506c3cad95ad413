/**
 * The optional edge in front of the HTTP API: a CloudFront distribution with an AWS WAF web ACL
 * whose rate-based rule limits each source address, so that one source cannot take the stage's
 * whole throttle. The API's execute-api endpoint is turned off (api-helper.ts) and CloudFront
 * reaches the API through the API's custom domain.
 *
 * Why this shape, as AWS documents it:
 * - WAF protects REST APIs but not HTTP APIs; it protects CloudFront distributions
 *   (https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html).
 * - A web ACL for CloudFront (scope CLOUDFRONT) exists only in us-east-1 (same page): the
 *   construct creates one only in a stack known to deploy there, else it takes the ARN of one.
 * - With the default endpoint disabled, an HTTP API answers only on its custom domains
 *   (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-disable-default-endpoint.html):
 *   that domain is CloudFront's origin, and CloudFront checks the origin's certificate against it.
 * - AllViewerExceptHostHeader is the managed origin request policy meant for API Gateway
 *   origins: every viewer header (X-Client-Id, Content-Type) and the path go to the API, and the
 *   Host header is the origin's, which API Gateway routes on
 *   (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html).
 * - CachingDisabled: nothing is cached (every answer is also `Cache-Control: no-store`).
 *   Compression is off: CloudFront never re-encodes an answer, so Content-Type and the body
 *   reach the client as the function wrote them.
 */
import { Duration, Names, Stack, Token } from "aws-cdk-lib";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as origins from "aws-cdk-lib/aws-cloudfront-origins";
import * as wafv2 from "aws-cdk-lib/aws-wafv2";
import type { Construct } from "constructs";
import { acknowledgeEdgeDistribution } from "./nag-acknowledgements.ts";

/** CloudFront's web ACLs, and the certificates of its own domain names, live in this region only. */
export const EDGE_REGION = "us-east-1";

/**
 * The edge's defaults. A replica syncs a few requests a minute, and a replica far behind walks
 * the versions it missed one request each; a team behind one NAT address shares one count. So
 * 1,000 requests per 5 minutes from one address (3.3 a second on average) lets a team of dozens
 * sync, while one address takes at most a fifteenth of the stage's default 50 requests a second.
 */
export const EDGE_DEFAULTS = {
  rateLimit: 1000,
  rateWindow: Duration.minutes(5),
} as const;

/** What WAF accepts in a rate-based rule (its evaluation windows, its least and greatest limit). */
const RATE_WINDOW_SECONDS = [60, 120, 300, 600] as const;
const MIN_RATE_LIMIT = 10;
const MAX_RATE_LIMIT = 2_000_000_000;

/**
 * CloudFront waits this long for the API's answer: the API's own limit (30 s), past the
 * function's timeout, so the function's 503 arrives rather than CloudFront's 504.
 */
const ORIGIN_READ_TIMEOUT = Duration.seconds(30);

/** The body of the 429 the rate rule answers (WAF's custom response; it sets `text/plain`). */
export const RATE_LIMITED_BODY = "Too many requests from this address: try again in a few minutes.\n";

/**
 * The edge's props (EdgeProps in sync-server.ts, documented there), typed here again so that this
 * file does not import the construct that imports it.
 */
interface EdgeInput {
  readonly webAclArn?: string;
  readonly rateLimit?: number;
  readonly rateWindow?: Duration;
  readonly domainName?: string;
  readonly certificateArn?: string;
}

/** The rate-based rule of a web ACL the construct (or the companion stack) creates. */
export interface EdgeRate {
  readonly rateLimit: number;
  readonly rateWindowSeconds: number;
}

export interface ResolvedEdge {
  /** An existing web ACL; absent: the construct creates one (with `rate`). */
  readonly webAclArn?: string;
  readonly rate: EdgeRate;
  /** CloudFront's own domain name and its certificate (us-east-1), when given. */
  readonly domainName?: string;
  readonly certificateArn?: string;
  /** The API's custom domain: CloudFront's origin. */
  readonly originDomainName: string;
}

/** A web ACL ARN of CloudFront's scope: `arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>`. */
const GLOBAL_WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]{1,128}\/[0-9a-f-]{36}$/;
const REGIONAL_WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\//;
const DOMAIN_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/**
 * The rate of a web ACL's rule, checked: what WAF accepts, and below the stage's own rate (a
 * limit at or above it would let one address take the whole stage, which the edge is for).
 */
export function resolveEdgeRate(
  input: { readonly rateLimit?: number; readonly rateWindow?: Duration },
  throttlingRateLimit: number,
  problems: string[],
): EdgeRate {
  const rateLimit = input.rateLimit ?? EDGE_DEFAULTS.rateLimit;
  const rateWindowSeconds = (input.rateWindow ?? EDGE_DEFAULTS.rateWindow).toSeconds();
  if (!Number.isInteger(rateLimit) || rateLimit < MIN_RATE_LIMIT || rateLimit > MAX_RATE_LIMIT) {
    problems.push(`edge rateLimit must be a whole number of requests from ${MIN_RATE_LIMIT} to ${MAX_RATE_LIMIT}, got ${rateLimit}`);
  }
  if (!(RATE_WINDOW_SECONDS as readonly number[]).includes(rateWindowSeconds)) {
    problems.push(
      `edge rateWindow must be one of WAF's evaluation windows (${RATE_WINDOW_SECONDS.join(", ")} seconds), got ${rateWindowSeconds} s`,
    );
  } else if (rateLimit / rateWindowSeconds >= throttlingRateLimit) {
    problems.push(
      `edge rateLimit ${rateLimit} per ${rateWindowSeconds} s lets one address send ${(rateLimit / rateWindowSeconds).toFixed(1)} ` +
        `requests a second, as much as the stage's whole throttle (${throttlingRateLimit}/s): lower it`,
    );
  }
  return { rateLimit, rateWindowSeconds };
}

/** The edge's props with their defaults, checked at synth (every problem at once). */
export function resolveEdge(
  edge: EdgeInput,
  context: { readonly throttlingRateLimit: number; readonly customDomain?: { readonly domainName: string } },
): ResolvedEdge {
  const problems: string[] = [];
  if (context.customDomain === undefined) {
    problems.push(
      "edge needs customDomain (context domainName and certificateArn): with the execute-api endpoint turned off, " +
        "CloudFront reaches the API through its custom domain",
    );
  }
  const { webAclArn, domainName, certificateArn } = edge;
  let rate: EdgeRate;
  if (webAclArn !== undefined) {
    if (edge.rateLimit !== undefined || edge.rateWindow !== undefined) {
      problems.push(
        "edge rateLimit and rateWindow set the rule of the web ACL the construct creates: with webAclArn, set them in that web ACL",
      );
    }
    if (!Token.isUnresolved(webAclArn)) {
      if (REGIONAL_WEB_ACL_ARN.test(webAclArn)) {
        problems.push(
          `edge webAclArn is a regional web ACL, which CloudFront cannot use: it needs one of scope CLOUDFRONT, in ${EDGE_REGION}; got ${webAclArn}`,
        );
      } else if (!GLOBAL_WEB_ACL_ARN.test(webAclArn)) {
        problems.push(
          `edge webAclArn must be the ARN of a CloudFront web ACL (arn:aws:wafv2:${EDGE_REGION}:<account>:global/webacl/<name>/<id>), got ${webAclArn}`,
        );
      }
    }
    rate = { rateLimit: EDGE_DEFAULTS.rateLimit, rateWindowSeconds: EDGE_DEFAULTS.rateWindow.toSeconds() };
  } else {
    rate = resolveEdgeRate(edge, context.throttlingRateLimit, problems);
  }
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    problems.push("edge domainName and certificateArn go together: give both or neither");
  }
  if (domainName !== undefined && !Token.isUnresolved(domainName)) {
    if (!DOMAIN_NAME.test(domainName))
      problems.push(`edge domainName must be a domain name such as tasks.example.com, got ${JSON.stringify(domainName)}`);
    if (domainName.toLowerCase() === context.customDomain?.domainName.toLowerCase()) {
      problems.push(
        `edge domainName ${domainName} is the API's custom domain, CloudFront's origin: give CloudFront another name ` +
          "(the custom domain's DNS record points at the API, the edge's at CloudFront)",
      );
    }
  }
  if (certificateArn !== undefined && !Token.isUnresolved(certificateArn)) {
    const region = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[A-Za-z0-9-]+$/.exec(certificateArn)?.[1];
    if (region === undefined) problems.push(`edge certificateArn must be an ACM certificate ARN, got ${certificateArn}`);
    else if (region !== EDGE_REGION) {
      problems.push(`edge certificateArn is in ${region}, but CloudFront takes certificates from ${EDGE_REGION} only`);
    }
  }
  if (problems.length > 0 || context.customDomain === undefined) {
    throw new Error(`TaskChampionSyncServer: invalid edge settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return {
    ...(webAclArn === undefined ? {} : { webAclArn }),
    rate,
    ...(domainName === undefined || certificateArn === undefined ? {} : { domainName, certificateArn }),
    originDomainName: context.customDomain.domainName,
  };
}

/**
 * A web ACL of CloudFront's scope ("<id>"): requests pass unless one source address sent more
 * than `rate.rateLimit` in the last `rate.rateWindowSeconds`; those get 429 with Retry-After
 * until its rate falls below the limit. The address is the one CloudFront received the
 * connection from: a header (X-Client-Id, X-Forwarded-For) is the sender's to choose, and WAF
 * does not count a request that lacks an aggregation key, so keying on one would let a flood
 * escape the count. It must be created in us-east-1.
 */
export function createEdgeWebAcl(scope: Construct, id: string, rate: EdgeRate): wafv2.CfnWebACL {
  const metricName = Names.uniqueResourceName(scope, { maxLength: 100, separator: "-" });
  const bodyKey = "rate-limited";
  return new wafv2.CfnWebACL(scope, id, {
    description: "TaskChampion sync server edge: limits the requests of each source address",
    scope: "CLOUDFRONT",
    defaultAction: { allow: {} },
    customResponseBodies: { [bodyKey]: { contentType: "TEXT_PLAIN", content: RATE_LIMITED_BODY } },
    rules: [
      {
        name: "RateLimitPerSourceAddress",
        priority: 0,
        statement: {
          rateBasedStatement: { limit: rate.rateLimit, evaluationWindowSec: rate.rateWindowSeconds, aggregateKeyType: "IP" },
        },
        action: {
          block: {
            customResponse: {
              // 429, as the stage's own throttle answers: the server's 403 means a refused client id.
              responseCode: 429,
              customResponseBodyKey: bodyKey,
              responseHeaders: [{ name: "retry-after", value: String(rate.rateWindowSeconds) }],
            },
          },
        },
        visibilityConfig: { sampledRequestsEnabled: true, cloudWatchMetricsEnabled: true, metricName: `${metricName}-rate` },
      },
    ],
    visibilityConfig: { sampledRequestsEnabled: true, cloudWatchMetricsEnabled: true, metricName },
  });
}

/** The edge: its distribution, and the web ACL when the construct created it. */
export interface Edge {
  readonly distribution: cloudfront.Distribution;
  readonly webAcl?: wafv2.CfnWebACL;
  readonly webAclArn: string;
  /** The base URL clients use: CloudFront's own domain name, or `domainName` when given. */
  readonly url: string;
}

/**
 * The edge ("Edge", its web ACL "EdgeWebAcl" unless `edge.webAclArn` names one, the imported
 * "EdgeCertificate" when CloudFront has a domain name of its own).
 */
export function createEdge(scope: Construct, edge: ResolvedEdge): Edge {
  const webAcl = edge.webAclArn === undefined ? createWebAclHere(scope, edge.rate) : undefined;
  const webAclArn = webAcl === undefined ? (edge.webAclArn as string) : webAcl.attrArn;
  const ownName =
    edge.domainName !== undefined && edge.certificateArn !== undefined
      ? {
          domainNames: [edge.domainName],
          certificate: acm.Certificate.fromCertificateArn(scope, "EdgeCertificate", edge.certificateArn),
          minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        }
      : {};
  const distribution = new cloudfront.Distribution(scope, "Edge", {
    comment: "TaskChampion sync server: the edge in front of the API",
    defaultBehavior: {
      origin: new origins.HttpOrigin(edge.originDomainName, {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
        readTimeout: ORIGIN_READ_TIMEOUT,
      }),
      // POST for AddVersion and AddSnapshot, OPTIONS for a browser's CORS preflight.
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      // A plain-HTTP request is refused (403), never redirected: a redirected POST loses its body.
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      compress: false,
    },
    webAclId: webAclArn,
    ...ownName,
  });
  acknowledgeEdgeDistribution(distribution, edge.domainName !== undefined);
  const url = `https://${edge.domainName ?? distribution.distributionDomainName}`;
  return { distribution, ...(webAcl ? { webAcl } : {}), webAclArn, url };
}

/**
 * The web ACL in the construct's own stack, which must deploy to us-east-1, known at synth (a
 * CLOUDFRONT web ACL created anywhere else fails the deploy midway).
 */
function createWebAclHere(scope: Construct, rate: EdgeRate): wafv2.CfnWebACL {
  const region = Stack.of(scope).region;
  if (Token.isUnresolved(region) || region !== EDGE_REGION) {
    const where = Token.isUnresolved(region) ? "a region unknown at synth (an environment-agnostic stack)" : region;
    throw new Error(
      `TaskChampionSyncServer: the edge's web ACL is CloudFront's, which AWS creates only in ${EDGE_REGION}, but this stack ` +
        `deploys to ${where}. Give edge.webAclArn (context edgeWebAclArn): the ARN of a CloudFront web ACL, such as the one ` +
        `this app's companion stack makes (npx cdk deploy -c edgeWebAclStack=true); or deploy this stack to ${EDGE_REGION} ` +
        "with its env region set.",
    );
  }
  return createEdgeWebAcl(scope, "EdgeWebAcl", rate);
}
