/**
 * The HTTP API (API Gateway v2): exactly the routes of the route table on the `$default`
 * stage, throttled, with JSON access logs; CORS when origins are allowed; and the optional
 * custom domain.
 */
import { Annotations, Arn, ArnFormat, Duration, Names, RemovalPolicy, Stack, Token } from "aws-cdk-lib";
import * as apigw from "aws-cdk-lib/aws-apigateway";
import * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { HEADER } from "../lambda/http/protocol.ts";
import { ROUTES } from "../lambda/http/routes.ts";
import { acknowledgeRouteWithoutAuthorizer } from "./nag-acknowledgements.ts";
import type { ResolvedSettings } from "./settings-helper.ts";

/** JSON access log lines. Headers are never logged: X-Client-Id is the user's credential. */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  method: "$context.httpMethod",
  path: "$context.path",
  routeKey: "$context.routeKey",
  protocol: "$context.protocol",
  status: "$context.status",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationStatus: "$context.integrationStatus",
  integrationLatency: "$context.integrationLatency",
  integrationError: "$context.integrationErrorMessage",
  error: "$context.error.message",
};
const ACCESS_LOG_FORMAT = apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS));

/** The API and its one stage. */
interface SyncApi {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
}

/**
 * The API ("Api"), its routes to `handler`, its access log group ("AccessLogs") and its
 * `$default` stage ("DefaultStage"), created in that order in `scope`. With
 * `disableExecuteApiEndpoint` (the edge), the API answers only on its custom domain.
 */
export function createSyncApi(
  scope: Construct,
  handler: lambda.IFunction,
  settings: Pick<ResolvedSettings, "throttlingRateLimit" | "throttlingBurstLimit" | "logRetention" | "corsAllowedOrigins">,
  logEncryptionKey?: kms.IKey,
  disableExecuteApiEndpoint = false,
): SyncApi {
  const corsPreflight = corsConfiguration(settings.corsAllowedOrigins);
  const api = new apigwv2.HttpApi(scope, "Api", {
    description: "TaskChampion sync server",
    ...(corsPreflight ? { corsPreflight } : {}),
    // Passed only when on: the template's CDK metadata lists the props passed.
    ...(disableExecuteApiEndpoint ? { disableExecuteApiEndpoint } : {}),
    // The stage is declared below: `$default` (no path prefix: Taskwarrior 3.0's
    // sync.server.origin has no path) with throttling and access logs.
    createDefaultStage: false,
  });
  const integration = new HttpLambdaIntegration("Lambda", handler, {
    payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
  });
  // Exactly the routes of the route table: anything else is rejected by API Gateway (404),
  // without invoking (and paying for) the function.
  for (const route of ROUTES) {
    for (const httpRoute of api.addRoutes({ path: route.path, methods: [apigwv2.HttpMethod[route.method]], integration })) {
      acknowledgeRouteWithoutAuthorizer(httpRoute);
    }
  }

  const accessLogGroup = new logs.LogGroup(scope, "AccessLogs", {
    // Under /aws/vendedlogs/: log delivery then uses CloudWatch Logs' one wildcard entry for
    // that prefix in the account's resource policy (5,120 characters, entries of deleted
    // stacks included) instead of adding one per log group; when that policy is full, a
    // stage with access logs to any other name fails to create.
    logGroupName: accessLogGroupName(scope),
    retention: settings.logRetention,
    ...(logEncryptionKey ? { encryptionKey: logEncryptionKey } : {}),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stage = new apigwv2.HttpStage(scope, "DefaultStage", {
    httpApi: api,
    stageName: "$default",
    autoDeploy: true,
    throttle: { rateLimit: settings.throttlingRateLimit, burstLimit: settings.throttlingBurstLimit },
    accessLogSettings: {
      destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
      format: ACCESS_LOG_FORMAT,
    },
  });
  return { api, stage };
}

/**
 * CORS for browser-based TaskChampion clients (taskchampion's HTTP client also builds for
 * WebAssembly, where the browser enforces CORS): the given origins may call the routes'
 * methods with the headers a client sends, and read the protocol's response headers. API
 * Gateway answers the preflight (OPTIONS) itself, since no route has that method, and adds the
 * headers to the function's responses. Off (undefined) without origins.
 */
export function corsConfiguration(allowOrigins: readonly string[]): apigwv2.CorsPreflightOptions | undefined {
  if (allowOrigins.length === 0) return undefined;
  const methods = [...new Set(ROUTES.map((route) => route.method))].sort();
  return {
    allowOrigins: [...allowOrigins],
    allowMethods: methods.map((method) => apigwv2.CorsHttpMethod[method]),
    allowHeaders: [HEADER.clientId, HEADER.contentType],
    exposeHeaders: [HEADER.versionId, HEADER.parentVersionId, HEADER.snapshotRequest],
    // The client id is a header, never a cookie: no credentials mode.
    allowCredentials: false,
    maxAge: Duration.days(1),
  };
}

/**
 * The custom domain ("Domain", with its imported "Certificate") mapped to the stage
 * ("DomainMapping"). Point the domain's DNS record at its `regionalDomainName`.
 */
export function addCustomDomain(
  scope: Construct,
  api: apigwv2.HttpApi,
  stage: apigwv2.HttpStage,
  customDomain: { readonly domainName: string; readonly certificateArn: string },
): apigwv2.DomainName {
  checkCertificateRegion(scope, customDomain.certificateArn);
  const domainName = new apigwv2.DomainName(scope, "Domain", {
    domainName: customDomain.domainName,
    certificate: acm.Certificate.fromCertificateArn(scope, "Certificate", customDomain.certificateArn),
    securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
  });
  new apigwv2.ApiMapping(scope, "DomainMapping", { api, domainName, stage });
  return domainName;
}

/**
 * A regional API domain serves only a certificate of its own region: a certificate from
 * another region fails the deploy. Checked at synth when the stack's region is known, else a
 * warning says so.
 */
function checkCertificateRegion(scope: Construct, certificateArn: string): void {
  const stackRegion = Stack.of(scope).region;
  if (Token.isUnresolved(certificateArn)) return;
  const certificateRegion = Arn.split(certificateArn, ArnFormat.SLASH_RESOURCE_NAME).region;
  if (Token.isUnresolved(stackRegion)) {
    Annotations.of(scope).addWarningV2(
      "taskchampion:certificateRegion",
      `The custom domain's certificate is in ${certificateRegion ?? "an unknown region"}; it must be in the region the ` +
        "stack is deployed to (a regional API domain), which this environment-agnostic stack does not know at synth.",
    );
    return;
  }
  if (certificateRegion !== stackRegion) {
    throw new Error(
      `TaskChampionSyncServer: the custom domain's certificate is in ${certificateRegion ?? "no region"}, but the stack ` +
        `deploys to ${stackRegion}: a regional API domain needs an ACM certificate in its own region (${stackRegion}).`,
    );
  }
}

/** `/aws/vendedlogs/apigateway/<stack>-<construct path>`: unique per construct, stable across deploys. */
function accessLogGroupName(scope: Construct): string {
  return `/aws/vendedlogs/apigateway/${Names.uniqueResourceName(scope, { maxLength: 200, separator: "-" })}-access`;
}
