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
 * it, which the tests check).
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
}

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
];
