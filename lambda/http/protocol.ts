/**
 * The protocol's header names and content types, as the TaskChampion HTTP representation
 * defines them (https://gothenburgbitfactory.org/taskchampion/http.html).
 */
export const HEADER = {
  clientId: "x-client-id",
  versionId: "x-version-id",
  parentVersionId: "x-parent-version-id",
  snapshotRequest: "x-snapshot-request",
  contentType: "content-type",
  contentLength: "content-length",
  cacheControl: "cache-control",
  retryAfter: "retry-after",
  allow: "allow",
} as const;

/** Clients compare these for equality: never add parameters to them. */
export const CONTENT_TYPE = {
  historySegment: "application/vnd.taskchampion.history-segment",
  snapshot: "application/vnd.taskchampion.snapshot",
  text: "text/plain; charset=utf-8",
} as const;

export const CACHE_CONTROL = "no-store, max-age=0";
