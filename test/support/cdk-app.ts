/**
 * Synthesizing the CDK app in tests, and reading its template: the app as `cdk synth` builds
 * it (cdk.json's feature flags), its stacks (the server's and the companions'), the template's
 * resources by type, the two functions, a role's statements, the cdk-nag acknowledgements.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, type CfnElement, Stack, Validations } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
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

/**
 * An empty app as `cdk synth` starts it: cdk.json's context (feature flags) plus `context`, the
 * functions not bundled (which changes nothing but their assets) unless `bundle`.
 */
export function testApp(context: Record<string, unknown> = {}, options: { outdir?: string; bundle?: boolean } = {}): App {
  const skipBundling = options.bundle ? {} : { "aws:cdk:bundling-stacks": [] };
  return new App({ ...(options.outdir ? { outdir: options.outdir } : {}), context: { ...CDK_JSON.context, ...skipBundling, ...context } });
}

/** The app as `cdk synth` builds it (`testApp`), synthesized into a directory of its own. */
export function synth(context: Record<string, unknown> = {}, props?: SyncServerStackProps, bundle = false): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), "cdk-sync-server-"));
  outdirs.push(outdir);
  const app = testApp(context, { outdir, bundle });
  const stack = buildApp(app, props);
  // Synthesizes the whole app: the cdk-nag validation plugin fails this on any finding.
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir };
}

/** The server stack of the app as `cdk synth` builds it (`testApp`), not synthesized yet. */
export function build(context: Record<string, unknown>, props?: SyncServerStackProps): SyncServerStack {
  return buildApp(testApp(context), props);
}

/** The names of the app's stacks: the server's, and the companions context asked for. */
export function stackNames(app: App): string[] {
  return app.node.children.filter((child): child is Stack => child instanceof Stack).map((stack) => stack.stackName);
}

/**
 * The app built with `context` (and the server stack's `props`), and its companion stack
 * `<stackName>-<suffix>`, which must be a `type` (the server stack's `-EdgeWebAcl`, `-BackupCopies`).
 */
export function companionOf<T extends Stack>(
  type: abstract new (...args: never[]) => T,
  suffix: string,
  context: Record<string, unknown>,
  props?: SyncServerStackProps,
): { app: App; stack: T } {
  const app = testApp(context);
  const server = buildApp(app, props);
  const stack = app.node.tryFindChild(`${server.stackName}-${suffix}`);
  expect(stack).toBeInstanceOf(type);
  return { app, stack: stack as T };
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

/** The type of each of the template's resources. */
export function resourceTypes(template: Template): string[] {
  return Object.values(template.toJSON().Resources as Record<string, Resource>).map((resource) => resource.Type);
}

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
export function syncFunction(synthesized: Pick<Synthesized, "stack" | "template">): Resource {
  return functionResource(synthesized, "function", "the sync function");
}

/** The maintenance function (orphan sweep, pruning). */
export function maintenanceFunction(synthesized: Pick<Synthesized, "stack" | "template">): Resource {
  return functionResource(synthesized, "maintenanceFunction", "the maintenance function");
}

function functionResource(
  { stack, template }: Pick<Synthesized, "stack" | "template">,
  which: "function" | "maintenanceFunction",
  what: string,
): Resource {
  const logicalId = stack.getLogicalId(stack.server[which].node.defaultChild as CfnElement);
  const fn = template.findResources("AWS::Lambda::Function")[logicalId] as Resource | undefined;
  expect(fn, what).toBeDefined();
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

/**
 * The cdk-nag rules acknowledged on `scope` and every construct below it: rule id (as cdk-nag
 * names it, without CDK's `annotation::` prefix) → the reasons, one per acknowledgement.
 */
export function acknowledgements(scope: IConstruct): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const node of scope.node.findAll()) {
    for (const [rule, reason] of acknowledgedRules(node)) found.set(rule, [...(found.get(rule) ?? []), reason]);
  }
  return found;
}

/** The cdk-nag rules acknowledged on `construct` itself: rule id → reason. */
export function acknowledgedOn(construct: IConstruct): Record<string, string> {
  return Object.fromEntries(acknowledgedRules(construct));
}

function acknowledgedRules(construct: IConstruct): [string, string][] {
  return construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
    .map(([id, reason]) => [id.replace(/^annotation::/i, ""), reason]);
}
