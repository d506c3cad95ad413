/**
 * The companion stack of a server whose edge needs a web ACL: CloudFront's web ACLs exist only
 * in us-east-1, so a server stack in another region cannot make its own. Part of the package's
 * library (a team's app can add it beside its own server stack) and of this repository's app
 * (context `edgeWebAclStack=true`).
 */
import { CfnOutput, type Duration, Stack, type StackProps } from "aws-cdk-lib";
import type * as wafv2 from "aws-cdk-lib/aws-wafv2";
import type { Construct } from "constructs";
import { createEdgeWebAcl, EDGE_REGION, resolveEdgeRate } from "./edge-helper.ts";
import { DEFAULTS } from "./settings-helper.ts";

export interface EdgeWebAclStackProps extends Omit<StackProps, "env"> {
  /** The account; the region is always us-east-1. @default - the CLI's account */
  readonly account?: string;
  /** As EdgeProps.rateLimit. @default 1000 */
  readonly rateLimit?: number;
  /** As EdgeProps.rateWindow. @default Duration.minutes(5) */
  readonly rateWindow?: Duration;
  /** The stage's rate of the server it protects, which the rate limit must stay under. @default 50 */
  readonly throttlingRateLimit?: number;
}

/**
 * The companion stack that makes the edge's web ACL where AWS requires it, in us-east-1, for a
 * server stack in any region: deploy it first, then give its `WebAclArn` output to the server
 * (`edge.webAclArn`, context `edgeWebAclArn`). Nothing but the web ACL, billed $5 a month and
 * $1 for its rule.
 */
export class EdgeWebAclStack extends Stack {
  public readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: EdgeWebAclStackProps = {}) {
    const { account, rateLimit, rateWindow, throttlingRateLimit, ...stackProps } = props;
    super(scope, id, {
      description: "TaskChampion sync server: the edge's web ACL (CloudFront's, so in us-east-1)",
      ...stackProps,
      env: { region: EDGE_REGION, ...(account === undefined ? {} : { account }) },
    });
    const problems: string[] = [];
    const rate = resolveEdgeRate(
      { ...(rateLimit === undefined ? {} : { rateLimit }), ...(rateWindow === undefined ? {} : { rateWindow }) },
      throttlingRateLimit ?? DEFAULTS.throttlingRateLimit,
      problems,
    );
    if (problems.length > 0) throw new Error(`EdgeWebAclStack: invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.webAcl = createEdgeWebAcl(this, "WebAcl", rate);
    new CfnOutput(this, "WebAclArn", {
      value: this.webAcl.attrArn,
      description: "Give it to the server stack: -c edge=true -c edgeWebAclArn=<this>",
    });
  }
}
