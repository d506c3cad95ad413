/**
 * The direction of imports (README, "Layout"), checked by `npm run lint`:
 *   bin/, lib/ -> lambda/http, lambda/operations -> lambda/core -> lambda/storage (interface)
 * Storage implementations are chosen at the edges; the CDK app never loads an AWS SDK client.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-is-pure",
      comment: "The protocol core knows no storage implementation, no AWS SDK, no HTTP.",
      severity: "error",
      from: { path: "^lambda/core/" },
      to: {
        path: [
          "^lambda/storage/(memory|sqlite|dynamodb)",
          "^lambda/(http|operations)/",
          "^lambda/(index|maintenance|app)\\.ts$",
          "node_modules/@aws-sdk/",
          "node_modules/better-sqlite3/",
        ],
      },
    },
    {
      name: "core-has-no-http",
      severity: "error",
      from: { path: "^lambda/core/" },
      to: { dependencyTypes: ["core"], path: "^(node:)?(http|https|http2|net)$" },
    },
    {
      name: "storage-below-core",
      comment: "Storage implements the interface; it never calls up into the protocol or the edges.",
      severity: "error",
      from: { path: "^lambda/storage/" },
      to: { path: "^lambda/(core|http|operations)/" },
    },
    {
      name: "operations-use-the-interface",
      comment: "Operator logic works through the storage interface, for every storage; implementations are chosen at the edges.",
      severity: "error",
      from: { path: "^lambda/operations/" },
      to: {
        path: [
          "^lambda/storage/(memory|sqlite|dynamodb)",
          "^lambda/http/",
          "^lambda/(index|maintenance|app)\\.ts$",
          "node_modules/@aws-sdk/",
          "node_modules/better-sqlite3/",
          "node_modules/pg/",
        ],
      },
    },
    {
      name: "lambda-stands-alone",
      comment: "Code that runs in the functions imports nothing from the edges, the bench, the tests or dev helpers.",
      severity: "error",
      from: { path: "^lambda/" },
      to: { path: "^(lib|bin|bench|test|scripts|dev|client)/" },
    },
    {
      name: "lib-loads-no-sdk-client",
      comment: "The CDK app takes the table layout and settings from lambda/, never an AWS SDK client.",
      severity: "error",
      from: { path: "^lib/" },
      to: { path: "node_modules/@aws-sdk/client-", reachable: true },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
    exclude: { path: "^(cdk\\.out|\\.cache|dist)/" },
  },
};
