/**
 * `--stack NAME`: the deployed stack's outputs (lib/sync-server-stack.ts names them) that the
 * admin command needs: the server's URL, the table and the bucket.
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from "@aws-sdk/client-cloudformation";

export interface StackOutputs {
  url: string;
  tableName: string;
  bucketName: string;
}

/** The output keys read, as the stack defines them. */
export const STACK_OUTPUT_KEYS = { url: "Url", tableName: "TableName", bucketName: "BucketName" } as const;

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
    const missing = Object.values(STACK_OUTPUT_KEYS).filter((key) => !value(key));
    return {
      kind: "problem",
      message: `stack ${stackName} has no output ${missing.join(", ")} (is it a TaskChampion sync server stack, deployed?)`,
    };
  }
  return { kind: "found", outputs: { url, tableName, bucketName } };
}
