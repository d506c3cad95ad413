/**
 * Synthesizing the CDK app in tests, and reading its template: the app as `cdk synth` builds
 * it (cdk.json's feature flags), the template's resources by type, the two functions, a role's
 * statements.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, type CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { expect } from "vitest";
import { buildApp, type SyncServerStack, type SyncServerStackProps } from "../../lib/sync-server-stack.ts";

export const CDK_JSON = JSON.parse(readFileSync(new URL("../../cdk.json", import.meta.url), "utf8")) as {
  app: string;
  context: Record<string, unknown>;
};

export interface Synthesized {
  app: App;
  stack: SyncServerStack;
  template: Template;
  outdir: string;
}

const outdirs: string[] = [];

/** Removes the output directories of `synth` (call it in afterAll). */
export function removeSynthOutputs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The app as `cdk synth` builds it: cdk.json's context (feature flags) plus `context`. */
export function synth(context: Record<string, unknown> = {}, props?: SyncServerStackProps, bundle = false): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), "cdk-sync-server-"));
  outdirs.push(outdir);
  const skipBundling = bundle ? {} : { "aws:cdk:bundling-stacks": [] };
  const app = new App({ outdir, context: { ...CDK_JSON.context, ...skipBundling, ...context } });
  const stack = buildApp(app, props);
  // Synthesizes the whole app: the cdk-nag validation plugin fails this on any finding.
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir };
}

export function build(context: Record<string, unknown>, props?: SyncServerStackProps): SyncServerStack {
  return buildApp(new App({ context: { ...CDK_JSON.context, "aws:cdk:bundling-stacks": [], ...context } }), props);
}

/**
 * Template JSON as the assertions read it: deep property paths into CloudFormation's untyped
 * output, where a path that is not there fails the assertion. The tests' one `any`, named here.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type TemplateJson = any;
export type Resource = {
  Type: string;
  Properties: TemplateJson;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: TemplateJson;
};

/** The one resource of `type`: its logical id and body. */
export function only(template: Template, type: string): [string, Resource] {
  const found = Object.entries(template.findResources(type)) as [string, Resource][];
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0]!;
}

export function ofType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.findResources(type)) as [string, Resource][];
}

/** The sync function (with DESTROY, the bucket's auto-delete provider is a function too). */
export function syncFunction({ stack, template }: Pick<Synthesized, "stack" | "template">): Resource {
  const logicalId = stack.getLogicalId(stack.server.function.node.defaultChild as CfnElement);
  const fn = template.findResources("AWS::Lambda::Function")[logicalId] as Resource | undefined;
  expect(fn, "the sync function").toBeDefined();
  return fn!;
}

/** The maintenance function (orphan sweep, pruning). */
export function maintenanceFunction({ stack, template }: Pick<Synthesized, "stack" | "template">): Resource {
  const logicalId = stack.getLogicalId(stack.server.maintenanceFunction.node.defaultChild as CfnElement);
  const fn = template.findResources("AWS::Lambda::Function")[logicalId] as Resource | undefined;
  expect(fn, "the maintenance function").toBeDefined();
  return fn!;
}

/** The statements of the one policy attached to `roleId`. */
export function statementsOf(
  template: Template,
  roleId: string,
): { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = ofType(template, "AWS::IAM::Policy").filter(
    ([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
  );
  expect(policies, `exactly one policy of ${roleId}`).toHaveLength(1);
  return policies[0]![1].Properties.PolicyDocument.Statement;
}
