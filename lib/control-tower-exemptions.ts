/**
 * AWS Control Tower's proactive controls (the CloudFormation Guard rules that
 * @cdklabs/cdk-validator-cfnguard ships) that this construct does not meet, each with its
 * reason. Every other control passes: the tests (test/cdk/control-tower.test.ts) run them all
 * against the synthesized stack in several configurations, and fail on any finding not listed
 * here, on a finding here on another kind of resource, and on an entry here that no longer
 * finds anything.
 *
 * Two kinds: controls that do not apply to this design (always exempt), and controls that a
 * setting meets, off by default because it costs money (`metWith`: the CDK context that meets
 * it, which the tests check). A control on a resource only an option makes (the edge's
 * distribution) names that option's context (`requires`), with which the tests check it.
 */
import { NAG_REASONS } from "./nag-acknowledgements.ts";

export interface ControlTowerExemption {
  /** The control, as Control Tower names it. */
  readonly control: string;
  /** The CloudFormation types it is exempt on: the same control on any other resource still fails. */
  readonly resourceTypes: readonly string[];
  readonly reason: string;
  /** The CDK context that meets the control; absent: the control does not apply to this design. */
  readonly metWith?: Readonly<Record<string, string>>;
  /** The CDK context that makes the resource the control reports on, when the defaults do not. */
  readonly requires?: Readonly<Record<string, string>>;
}

/**
 * The edge, as the tests turn it on: its web ACL from the companion stack and the API's custom
 * domain as its origin (example ARNs: synthesis does not look them up).
 */
export const EDGE_CONTEXT: Readonly<Record<string, string>> = {
  edge: "true",
  edgeWebAclArn: "arn:aws:wafv2:us-east-1:123456789012:global/webacl/tasks-edge/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
  domainName: "origin.tasks.example.com",
  certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
};

/** The edge's own domain name and its certificate (us-east-1), which meet the controls on its TLS. */
const EDGE_DOMAIN: Readonly<Record<string, string>> = {
  edgeDomainName: "sync.example.com",
  edgeCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/9f8e7d6c-5b4a-3f2e-1d0c-ba9876543210",
};

export const CONTROL_TOWER_EXEMPTIONS: readonly ControlTowerExemption[] = [
  {
    control: "CT.APIGATEWAY.PR.5",
    resourceTypes: ["AWS::ApiGatewayV2::Route"],
    reason: `Routes without an authorization type. ${NAG_REASONS.apiAuthorization}`,
  },
  {
    control: "CT.LAMBDA.PR.2",
    resourceTypes: ["AWS::Lambda::Permission"],
    reason:
      "A false finding on API Gateway's invoke permissions. Each permission names the principal apigateway.amazonaws.com " +
      "and a SourceArn, the execute-api ARN of this API and one route's path (arn:<partition>:execute-api:<region>:" +
      "<account>:<api id>/*/*<path>), which CloudFormation can only build with Fn::Join; the rule accepts a " +
      "SourceArn that is a plain string or a Ref/GetAtt of a resource, not a join, and flags the permission as public. " +
      "The test checks every flagged permission is such an API Gateway permission of this API; the maintenance " +
      "function's EventBridge permission (a GetAtt SourceArn) passes.",
  },
  {
    control: "CT.LAMBDA.PR.3",
    resourceTypes: ["AWS::Lambda::Function"],
    reason:
      "The functions are not in a VPC: nothing of this stack lives in one. They call only DynamoDB and S3, AWS's " +
      "public endpoints, over TLS with signed requests, and their roles are scoped to this table and bucket. A VPC " +
      "would add subnets, security groups, route tables and endpoints to run and keep, and an interface endpoint or a " +
      "NAT gateway is billed by the hour, for no protection the IAM scoping does not give. (With removalPolicy=destroy " +
      "the CDK's bucket auto-delete function is flagged too, for the same reason.)",
  },
  {
    control: "CT.S3.PR.2",
    resourceTypes: ["AWS::S3::Bucket"],
    reason: `No server access logs. ${NAG_REASONS.bucketAccessLogs}`,
  },
  {
    control: "CT.S3.PR.4",
    resourceTypes: ["AWS::S3::Bucket"],
    reason:
      "No event notifications: nothing reacts to the bucket's objects. The storage is their only writer and reader, " +
      "and the table is the record of what exists (an object is referenced by an item or is an orphan for the " +
      "maintenance function). Sending every upload and delete to EventBridge or a queue would only add events and " +
      "their cost per sync, with no consumer.",
  },
  {
    control: "CT.S3.PR.9",
    resourceTypes: ["AWS::S3::Bucket"],
    reason:
      "No S3 Object Lock: it exists to keep objects from being deleted for a retention period, and this storage must " +
      "delete (a replaced snapshot, pruned history, orphans, a removed client: a user's data erased on request). The " +
      "backups are versioning instead (CT.S3.PR.11 passes): a deleted object's data is kept 40 days, longer than the " +
      "table's 35 days of point-in-time recovery, then expires. Object Lock cannot be turned off once on, and without " +
      "a default retention it would protect nothing.",
  },
  {
    control: "CT.CLOUDWATCH.PR.2",
    resourceTypes: ["AWS::Logs::LogGroup"],
    reason:
      "Logs are kept 30 days by default: enough to investigate an alarm, and request logs (with source IPs in the " +
      "access logs) are not kept longer than needed; log storage is billed by the GB-month. Deploy with " +
      "logRetentionDays=365 (or more, or infinite) where a year is required.",
    metWith: { logRetentionDays: "365" },
  },
  {
    control: "CT.CLOUDWATCH.PR.3",
    resourceTypes: ["AWS::Logs::LogGroup"],
    reason:
      "Log groups are encrypted by CloudWatch Logs' own keys by default (free); a customer-managed key costs $1 a " +
      "month. Deploy with customerManagedKey=true where a KMS key of your own is required.",
    metWith: { customerManagedKey: "true" },
  },
  {
    control: "CT.S3.PR.10",
    resourceTypes: ["AWS::S3::Bucket"],
    reason:
      "The bucket is encrypted with S3-managed keys by default (free); its objects are also encrypted end to end by " +
      "the replicas. Deploy with customerManagedKey=true where a KMS key of your own is required (with an S3 bucket " +
      "key, so S3 rarely calls KMS).",
    metWith: { customerManagedKey: "true" },
  },
  {
    control: "CT.CLOUDFRONT.PR.1",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason:
      "No default root object: the edge serves an API, not a website. A default root object would make CloudFront ask " +
      "the API for that object instead of the root path the server answers (GET /), and every other path is a protocol " +
      "route that the API answers itself (an unknown one 404 from API Gateway, without running the function).",
    requires: EDGE_CONTEXT,
  },
  {
    control: "CT.CLOUDFRONT.PR.4",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason:
      "No origin group (failover origin): the API, its table and its bucket are in one region, and a second origin " +
      "would need a second deployment with the users' data replicated to it. A failover origin for a sync server whose " +
      "data lives in one region would only answer from an empty server. CloudFront reaches one origin: the API's custom domain.",
    requires: EDGE_CONTEXT,
  },
  {
    control: "CT.CLOUDFRONT.PR.5",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason: `No CloudFront access logs. ${NAG_REASONS.edgeAccessLogs}`,
    requires: EDGE_CONTEXT,
  },
  {
    control: "CT.CLOUDFRONT.PR.6",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason:
      "Without an edge domain name the distribution serves its own *.cloudfront.net name, with CloudFront's default " +
      "certificate: nothing to buy or renew, and the URL clients use is the stack's Url output. Deploy with " +
      "edgeDomainName and edgeCertificateArn (an ACM certificate in us-east-1) to serve a domain of your own.",
    metWith: EDGE_DOMAIN,
    requires: EDGE_CONTEXT,
  },
  {
    control: "CT.CLOUDFRONT.PR.7",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason:
      "SNI applies to a certificate of your own: on CloudFront's default certificate (the *.cloudfront.net name) " +
      "there is no SSL support method to set. Deploy with edgeDomainName and edgeCertificateArn, which the construct " +
      "serves by SNI (no dedicated IP addresses, which cost $600 a month).",
    metWith: EDGE_DOMAIN,
    requires: EDGE_CONTEXT,
  },
  {
    control: "CT.CLOUDFRONT.PR.9",
    resourceTypes: ["AWS::CloudFront::Distribution"],
    reason: `No minimum viewer TLS version on the default certificate. ${NAG_REASONS.edgeDefaultCertificate}`,
    metWith: EDGE_DOMAIN,
    requires: EDGE_CONTEXT,
  },
];
