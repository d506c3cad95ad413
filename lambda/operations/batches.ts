/**
 * How operators' work reads versions a batch at a time (an export, an import from the reference
 * server): at most a count of versions, and a count of bytes unless one alone is larger, so that
 * a batch holds a bounded amount of memory whatever the history's length.
 */
const BATCH_VERSIONS = 32;
const BATCH_BYTES = 8 * 1024 * 1024;

/** Where the batch of `items` that starts at `start` ends (exclusive), by each item's `bytes`. */
export function batchEnd(items: readonly { bytes: number }[], start: number): number {
  let end = start;
  let bytes = 0;
  while (end < items.length && end - start < BATCH_VERSIONS) {
    const size = items[end]?.bytes ?? 0;
    if (end > start && bytes + size > BATCH_BYTES) break;
    bytes += size;
    end += 1;
  }
  return end;
}
