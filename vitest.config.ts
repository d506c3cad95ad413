import { defineConfig } from "vitest/config";

// The AWS SDK's notice that it will need Node 22 says nothing about the code under test.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts DynamoDB Local and the S3 emulator once per run; tests get their endpoints by inject().
    globalSetup: ["test/support/emulator-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
