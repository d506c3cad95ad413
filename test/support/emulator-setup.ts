/**
 * vitest globalSetup: starts DynamoDB Local and s3rver once per test run (see dev/emulators.ts),
 * creates the table and the bucket, hands their endpoints to the tests, and stops both at the
 * end. Tests read them with `inject("emulators")`.
 *
 * Wire it in vitest.config.ts: `globalSetup: ["test/support/emulator-setup.ts"]`.
 * If Java is missing the run fails here with how to install it; it does not skip.
 */
import type { TestProject } from "vitest/node";
import { startEmulators } from "../../dev/emulators.ts";
import type { EmulatorEndpoints } from "../../dev/emulator-endpoints.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The emulators of this test run: endpoints, credentials, table and bucket. */
    emulators: EmulatorEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const emulators = await startEmulators({ log: (line) => console.log(`[emulators] ${line}`) });
  const { stop, ...endpoints } = emulators;
  project.provide("emulators", endpoints);
  console.log(
    `[emulators] DynamoDB Local at ${endpoints.dynamodbEndpoint}, s3rver at ${endpoints.s3Endpoint} (${Date.now() - started} ms)`,
  );
  return stop;
}
