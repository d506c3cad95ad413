/**
 * `--stack NAME`: the deployed stack's outputs (lib/stack-output-keys.ts names them) that the
 * admin command needs: the server's URL, the table and the bucket.
 */
import { SETTINGS } from "../../lambda/config.ts";
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from "@aws-sdk/client-cloudformation";
import { STACK_OUTPUT_KEYS } from "../../lib/stack-output-keys.ts";

export interface StackOutputs {
  url: string;
  tableName: string;
  bucketName: string;
  /** 0: no limit; null: the stack has no such output (deployed before it existed). */
  maxClientBytes: number | null;
}

/** The outputs without which the command cannot work. */
const REQUIRED = [STACK_OUTPUT_KEYS.url, STACK_OUTPUT_KEYS.tableName, STACK_OUTPUT_KEYS.bucketName];

export type StackLookup = { kind: "found"; outputs: StackOutputs } | { kind: "problem"; message: string };

export async function readStackOutputs(cloudFormation: CloudFormationClient, stackName: string): Promise<StackLookup> {
  let stacks: Stack[] | undefined;
  try {
    ({ Stacks: stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })));
  } catch (error) {
    // CloudFormation says a stack it does not know is a ValidationError.
    if (error instanceof Error && error.name === "ValidationError")
      return { kind: "problem", message: `stack ${stackName}: ${error.message}` };
    throw error;
  }
  const stack = stacks?.[0];
  if (!stack) return { kind: "problem", message: `stack ${stackName} was not found` };
  const value = (key: string) => stack.Outputs?.find((output) => output.OutputKey === key)?.OutputValue;
  const url = value(STACK_OUTPUT_KEYS.url);
  const tableName = value(STACK_OUTPUT_KEYS.tableName);
  const bucketName = value(STACK_OUTPUT_KEYS.bucketName);
  if (!url || !tableName || !bucketName) {
    const missing = REQUIRED.filter((key) => !value(key));
    return {
      kind: "problem",
      message: `stack ${stackName} has no output ${missing.join(", ")} (is it a TaskChampion sync server stack, deployed?)`,
    };
  }
  const quota = value(STACK_OUTPUT_KEYS.maxClientBytes);
  // Read as the function reads MAX_CLIENT_BYTES (0: no limit); absent, or not a count: unknown.
  const maxClientBytes = quota === undefined ? null : (SETTINGS.maxClientBytes.parse(quota) ?? null);
  return { kind: "found", outputs: { url, tableName, bucketName, maxClientBytes } };
}
