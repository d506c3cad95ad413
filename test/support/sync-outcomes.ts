/** The protocol core's outcomes, as tests take them apart. */
import type { AddVersionOutcome } from "../../lambda/core/sync.ts";
import type { Uuid } from "../../lambda/uuid.ts";

/** The id of the version an AddVersion added; any other outcome fails the test, naming it. */
export function added(outcome: AddVersionOutcome): Uuid {
  if (outcome.kind !== "added") throw new Error(`expected added, got ${JSON.stringify(outcome)}`);
  return outcome.versionId;
}
