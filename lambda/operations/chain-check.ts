/**
 * Checks, version by version in chain order, that versions form one linear chain as the
 * protocol needs it: each version's parent is the version before it, and no id comes twice
 * (nor the chain's start, the first version's parent, which would close a loop).
 */
import { NIL_UUID, type Uuid } from "../uuid.ts";

export class ChainCheck {
  private readonly seen = new Set<Uuid>();
  private start: Uuid | undefined;
  private previous: Uuid | undefined;

  /** Adds the next version; returns what is wrong with it, or undefined when it extends the chain. */
  add(versionId: Uuid, parentVersionId: Uuid): string | undefined {
    if (versionId === NIL_UUID) return "a version's id is the nil UUID";
    if (this.previous === undefined) {
      this.start = parentVersionId;
      this.seen.add(parentVersionId);
    } else if (parentVersionId !== this.previous) {
      return `version ${versionId} has parent ${parentVersionId}, not the version before it (${this.previous}): a gap or a fork`;
    }
    if (this.seen.has(versionId)) return `version ${versionId} comes twice in the chain`;
    this.seen.add(versionId);
    this.previous = versionId;
    return undefined;
  }

  /** Whether `versionId` is one of the versions added (the chain's start is not a version). */
  includes(versionId: Uuid): boolean {
    return versionId !== this.start && this.seen.has(versionId);
  }

  /** The last version added, or undefined before the first. */
  get latest(): Uuid | undefined {
    return this.previous;
  }
}
