#!/usr/bin/env node
/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy -c key=value`): see lib/context.ts
 * for the context keys. Environment-agnostic and offline: no credentials needed to synthesize.
 */
import { App } from "aws-cdk-lib";
import { buildApp } from "../lib/sync-server-stack.ts";

buildApp(new App());
