/**
 * `npm run start:emulated`: the local server on the DynamoDB + S3 storage, against DynamoDB
 * Local and an S3 emulator that it starts itself (in memory: data is gone when it stops).
 * Honours LISTEN, SNAPSHOT_VERSIONS and every other setting of the local server; one Ctrl-C
 * or SIGTERM stops the server and both emulators. It prints the `export` lines that let another
 * shell reach the same storage (`npm run admin`, the AWS CLI).
 */
import { startServer, stopGracefully } from "../bin/serve.ts";
import { ConfigError } from "../lambda/config.ts";
import { checkJava } from "../dev/dynamodb-local.ts";
import { emulatorEnv } from "../dev/emulator-endpoints.ts";
import { startEmulators } from "../dev/emulators.ts";
import { shellExports } from "../dev/shell-exports.ts";
import { stopOnSignals } from "../dev/shutdown.ts";

try {
  checkJava();
} catch (error) {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
const emulators = await startEmulators({ log: (line) => process.stdout.write(`[emulators] ${line}\n`) });
const storageEnv = emulatorEnv(emulators);
// The AWS SDK reads its endpoints and credentials from process.env itself.
Object.assign(process.env, storageEnv);

let server: Awaited<ReturnType<typeof startServer>>;
try {
  server = await startServer(process.env);
} catch (error) {
  await emulators.stop();
  process.stderr.write(
    error instanceof ConfigError ? `${error.message}\n` : `error: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(error instanceof ConfigError ? 2 : 1);
}
process.stdout.write(
  [
    `TaskChampion sync server listening on ${server.url}, storage: ${server.description}`,
    `DynamoDB Local at ${emulators.dynamodbEndpoint}, S3 emulator at ${emulators.s3Endpoint} (in memory)`,
    `Try it: npm run smoke -- --url ${server.url}`,
    "To reach this storage from another shell (npm run admin, the AWS CLI), run there:",
    ...shellExports(storageEnv),
    "",
  ].join("\n"),
);

// In-flight requests get the server's grace period, so that a stalled one cannot hold the stop.
stopOnSignals([() => stopGracefully(server), () => emulators.stop()], {
  announce: (signal) => process.stdout.write(`${signal}: stopping the server and the emulators\n`),
  exitCode: 0,
});
