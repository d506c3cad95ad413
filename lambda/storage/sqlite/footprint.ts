/**
 * What a version and a snapshot cost in the SQLite file, as the quota counts them: the payload
 * plus what SQLite spends on it besides, an upper bound measured on the database this storage
 * creates (test/storage/sqlite-footprint.test.ts checks it against the file's growth).
 *
 * A version is one row of `versions` (the segment and three ids) and an entry in each of its two
 * indexes. Rows fill B-tree pages of PAGE_BYTES whole: a page holds as many rows as fit, so a
 * row of just over half a page takes a page of its own (2 KB segments cost 4 KB); a row too large
 * for a page overflows into pages of its own, the last one partly empty.
 */

/** SQLite's default page size, which the databases this storage creates have. */
const PAGE_BYTES = 4096;
/** A versions row besides its segment: the ids, the time, the record and cell headers. */
const ROW_BYTES = 160;
/** The row's entries in the table's two indexes (client and version id; client and parent id). */
const INDEX_BYTES = 224;
/** A page's header and each cell's pointer. */
const PAGE_HEADER_BYTES = 8;
const CELL_POINTER_BYTES = 4;

/** What a version whose segment has `segmentBytes` costs in the file, at most. */
export function versionFootprint(segmentBytes: number): number {
  const row = segmentBytes + ROW_BYTES;
  const perPage = Math.floor((PAGE_BYTES - PAGE_HEADER_BYTES) / (row + CELL_POINTER_BYTES));
  const rowBytes = perPage >= 1 ? Math.ceil(PAGE_BYTES / perPage) : row + PAGE_BYTES;
  return rowBytes + INDEX_BYTES;
}

/** What the snapshot of `bytes` costs in the file, at most: one row of its own, overflowing. */
export function snapshotFootprint(bytes: number): number {
  return bytes + PAGE_BYTES;
}
