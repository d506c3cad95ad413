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

/**
 * JSON access log lines, one field per entry. API Gateway substitutes each variable as it is,
 * escaping nothing: a value quoted here must never hold a `"` or a `\`, so only variables of a
 * fixed shape (ids, numbers, times, addresses, methods, route keys, API Gateway's error type)
 * are logged. Free text stays out: what a client writes (its User-Agent, its path: it could
 * break the line, or write fields of its own into it) and the error messages. The integration's
 * has no quoted form, and `$context.error.messageString`, documented as "the quoted value of
 * $context.error.message", is written as a bare `-` when there is no error (as access logs of
 * HTTP APIs show): no placement of it is JSON both with and without an error. The error's type
 * and the status tell what happened; the function's own errors are in its log group. Headers
 * are never logged: X-Client-Id is the user's credential.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
 */
export const ACCESS_LOG_FIELDS = {
  apiId: "$context.apiId",
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  method: "$context.httpMethod",
  routeKey: "$context.routeKey",
  protocol: "$context.protocol",
  status: "$context.status",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationStatus: "$context.integrationStatus",
  integrationLatency: "$context.integrationLatency",
  errorType: "$context.error.responseType",
} as const;

/**
 * The variables written without quotes, as the JSON value they are: the status, which every
 * response has, a number (metric filters compare it as one).
 */
const UNQUOTED: ReadonlySet<string> = new Set([ACCESS_LOG_FIELDS.status]);

/** The stage's access log format: one JSON object per request. */
export const ACCESS_LOG_FORMAT = `{${Object.entries(ACCESS_LOG_FIELDS)
  .map(([field, variable]) => `"${field}":${UNQUOTED.has(variable) ? variable : `"${variable}"`}`)
  .join(",")}}`;

/** The API, its one stage, and its access log group (with the name it is created with, fixed at synth). */
interface SyncApi {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  readonly accessLogsName: string;
}

/**
 * The API ("Api", named after the stack), its routes to `handler`, its access log group
 * ("AccessLogs") and its `$default` stage ("DefaultStage"), created in that order in `scope`.
 * With `disableExecuteApiEndpoint` (the edge), the API answers only on its custom domain.
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
    // After the stack, so that deployments are told apart (updated in place: the URL stays).
    apiName: Stack.of(scope).stackName,
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

  const accessLogsName = accessLogGroupName(scope);
  const accessLogGroup = new logs.LogGroup(scope, "AccessLogs", {
    // Under /aws/vendedlogs/: log delivery then uses CloudWatch Logs' one wildcard entry for
    // that prefix in the account's resource policy (5,120 characters, entries of deleted
    // stacks included) instead of adding one per log group; when that policy is full, a
    // stage with access logs to any other name fails to create.
    logGroupName: accessLogsName,
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
      format: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
    },
  });
  return { api, stage, accessLogs: accessLogGroup, accessLogsName };
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
