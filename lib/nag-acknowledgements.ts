/**
 * cdk-nag's AwsSolutions findings this construct acknowledges rather than fixes, each with its
 * reason. An acknowledgement names one rule on one construct (and, for IAM5, the one wildcard
 * resource), so any other finding still fails the synthesis.
 */
import { Stack, Validations } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import type * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { S3_PREFIX } from "./storage-contract.ts";

/** Why each cdk-nag AwsSolutions finding is acknowledged rather than fixed. */
export const NAG_REASONS = {
  apiAuthorization:
    "The TaskChampion sync protocol has no authorization header that clients could send: a client proves nothing " +
    "but its X-Client-Id, a random UUID that is the user's shared secret, and every payload is encrypted end to end " +
    "by the replicas. Access is limited by the construct's clientIds allowlist (403 in the function), and unknown " +
    "routes are rejected by API Gateway. An authorizer would lock out every Taskwarrior client.",
  bucketObjects:
    "Objects are keyed clients/<client id>/<kind>/<version id>/<random nonce>, created at run time, so no narrower " +
    "resource than the storage's own prefix in this one bucket exists; the actions are limited to Get, Put and " +
    "DeleteObject.",
  maintenanceObjects:
    "The maintenance function deletes objects keyed clients/<client id>/<kind>/<version id>/<random nonce> that it " +
    "finds by listing (the orphan sweep, only objects no item of the table references) or by reading the versions " +
    "it prunes, and measures a 0.1.0 client's snapshot (HeadObject, s3:GetObject), so no narrower resource than the " +
    "storage's own prefix in this one bucket exists; its object actions are GetObject and DeleteObject only.",
  bucketAccessLogs:
    "The bucket is private, reached only by this stack's function (IAM role scoped to its prefix) over TLS, and holds " +
    "only client-side encrypted payloads; every request that leads to an S3 call is already in the API access logs " +
    "and the function's logs. Server access logs would need a second bucket for no extra audit value here; enable " +
    "CloudTrail S3 data events if your organisation requires object-level audit.",
  edgeAccessLogs:
    "The edge's distribution has no access logs of its own: every request it forwards is in the API's JSON access logs " +
    "(with the function's logs), and the requests the web ACL blocks are counted in its CloudWatch metrics and sampled " +
    "in the WAF console, both free. CloudFront's standard logs would need a bucket with ACLs enabled, and a flood the " +
    "edge blocks would then also fill that bucket at the owner's expense.",
  edgeGeoRestriction:
    "No geographic restriction: a sync server's users travel and sync from anywhere, and the edge's web ACL already " +
    "limits what one source address may send; a country allowlist would lock out a user abroad while a flood can come " +
    "from inside any allowed country.",
  edgeDefaultCertificate:
    "Without an edge domainName, the distribution serves its own *.cloudfront.net name with CloudFront's default " +
    "certificate, for which CloudFront does not let a distribution set a minimum TLS version; Taskwarrior's client " +
    "speaks TLS 1.2 or 1.3. Give the edge a domainName and a certificateArn (us-east-1) to set TLS 1.2 as the minimum.",
  backupManagedPolicies:
    "AWS Backup documents these AWS managed policies as what its service role needs: AWSBackupServiceRolePolicyForBackup " +
    "and ...ForRestores for DynamoDB, and the S3 pair, which AWS Backup requires for S3 buckets. AWS keeps them current as " +
    "AWS Backup's own calls change (a hand-written copy would silently fall behind and fail a backup job), and the role " +
    "is assumable by backup.amazonaws.com only; which resources it touches is decided by the plans' selections (this " +
    "table and this bucket), not by the role.",
} as const;

/** APIG4: a sync route has no authorizer, since the protocol has nothing for one to check. */
export function acknowledgeRouteWithoutAuthorizer(route: apigwv2.HttpRoute): void {
  Validations.of(route).acknowledge({ id: "AwsSolutions-APIG4", reason: NAG_REASONS.apiAuthorization });
}

/**
 * The edge's distribution: no access logs (CFR3), no geographic restriction (CFR1), and, on
 * CloudFront's default certificate, no minimum TLS version it could set (CFR4).
 */
export function acknowledgeEdgeDistribution(distribution: cloudfront.Distribution, ownCertificate: boolean): void {
  Validations.of(distribution).acknowledge(
    { id: "AwsSolutions-CFR3", reason: NAG_REASONS.edgeAccessLogs },
    { id: "AwsSolutions-CFR1", reason: NAG_REASONS.edgeGeoRestriction },
  );
  if (!ownCertificate) Validations.of(distribution).acknowledge({ id: "AwsSolutions-CFR4", reason: NAG_REASONS.edgeDefaultCertificate });
}

/**
 * IAM4 on a role that AWS's own managed policies (`policies`, as `fromAwsManagedPolicyName`
 * names them) are meant for: cdk-nag names each by its ARN as it flattens the template's join.
 */
export function acknowledgeAwsManagedPolicies(role: iam.Role, policies: readonly string[], reason: string): void {
  for (const name of policies) {
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`, reason });
  }
}

/** S1: the payload bucket has no server access logs. */
export function acknowledgeBucketWithoutAccessLogs(bucket: s3.Bucket): void {
  Validations.of(bucket).acknowledge({ id: "AwsSolutions-S1", reason: NAG_REASONS.bucketAccessLogs });
}

/**
 * IAM5 on a role's object actions under the storage's prefix: cdk-nag names the wildcard
 * resource as it flattens the template's reference (`<Bucket1234.Arn>/clients/*` for the
 * construct's own bucket, `arn:<AWS::Partition>:s3:::name/clients/*` for an existing one), so
 * only that one resource is acknowledged.
 */
export function acknowledgeObjectsUnderPrefix(role: iam.Role, bucket: s3.IBucket, reason: string): void {
  const resource = flattenReference(Stack.of(role).resolve(bucket.arnForObjects(`${S3_PREFIX}*`)));
  Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
}

/** A template reference as cdk-nag writes it in a finding: Ref and GetAtt as `<...>`, joins joined. */
function flattenReference(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    if ("Ref" in value && typeof value.Ref === "string") return `<${value.Ref}>`;
    if ("Fn::GetAtt" in value && Array.isArray(value["Fn::GetAtt"])) return `<${value["Fn::GetAtt"].join(".")}>`;
    if ("Fn::Join" in value && Array.isArray(value["Fn::Join"])) {
      const [delimiter, parts] = value["Fn::Join"] as [string, unknown[]];
      return parts.map(flattenReference).join(delimiter);
    }
  }
  return JSON.stringify(value);
}
