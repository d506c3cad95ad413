/** A chain of versions as `importClient` reads it, for tests that import a client whole. */
import type { Version } from "../../lambda/storage/types.ts";
import { NIL_UUID, type Uuid } from "../../lambda/uuid.ts";

/** What each version of the chain holds, by its index. */
export type VersionContent = (i: number) => { historySegment: Uint8Array; addedAt: Date };

/** The versions `ids`, oldest first, each the child of the one before it, the first of `start`. */
export async function* chainVersions(
  ids: readonly Uuid[],
  content: VersionContent,
  start: Uuid = NIL_UUID,
): AsyncGenerator<Version & { addedAt: Date }> {
  for (const [i, versionId] of ids.entries()) {
    yield { versionId, parentVersionId: i === 0 ? start : (ids[i - 1] as Uuid), ...content(i) };
  }
}
