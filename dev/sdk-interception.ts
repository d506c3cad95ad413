/**
 * Watching and faking the AWS SDK's calls, for tests and the bench: call counts, recording,
 * fault injection. Works on any client pair with a middleware stack (`createAwsClients`).
 */

export interface SdkCall {
  service: "dynamodb" | "s3";
  command: string;
  input: Record<string, unknown>;
}

/**
 * Runs `around` for every call of the clients: it gets the call and `send` (the rest of the
 * SDK's pipeline) and returns its output, or throws instead of sending, or after it (an
 * answer lost on the way back). At step "initialize" it sees each logical call once, before
 * the SDK's retries; at step "deserialize" it runs inside each attempt (so the SDK retries
 * what it throws, when retryable).
 */
export function interceptCalls(
  clients: { dynamodb: { middlewareStack: unknown }; s3: { middlewareStack: unknown } },
  around: (call: SdkCall, send: () => Promise<unknown>) => Promise<unknown>,
  step: "initialize" | "deserialize" = "initialize",
): void {
  for (const service of ["dynamodb", "s3"] as const) {
    const stack = clients[service].middlewareStack as {
      add(middleware: unknown, options: { step: string; name: string; priority?: string }): void;
    };
    stack.add(
      (next: (args: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) =>
        (args: { input: Record<string, unknown> }) =>
          around({ service, command: context.commandName ?? "?", input: args.input }, () => next(args)),
      { step, name: `intercept-${step}-${Math.random()}`, priority: "high" },
    );
  }
}

/** An error shaped like the SDK's for an HTTP status (and an AWS error code). */
export function sdkError(status: number, name: string, message = name): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 },
  });
}
