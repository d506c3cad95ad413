/**
 * Prefetches the pinned DynamoDB Local (from the npm package amplify-dynamodb-simulator) into
 * the git-ignored `.cache/dynamodb-local/<version>/`, so that a CI step can do it before
 * `npm test`. The tests fetch it themselves when it is missing; this only does it earlier.
 *
 *   npx tsx scripts/fetch-dynamodb-local.ts
 */
import { checkJava, fetchDynamoDbLocal } from "../dev/dynamodb-local.ts";

const dir = await fetchDynamoDbLocal((line) => console.log(line));
console.log(`DynamoDB Local: ${dir}`);
try {
  checkJava();
} catch (error) {
  // Fetching works without Java; running it does not. Say so now rather than in the tests.
  console.warn(String((error as Error).message));
  process.exitCode = 1;
}
