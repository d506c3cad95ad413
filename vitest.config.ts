import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts DynamoDB Local and the S3 emulator once per run; tests get their endpoints by inject().
    globalSetup: ["test/support/emulator-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
