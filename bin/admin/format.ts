/** How the admin command shows clients: human columns and the stable `--json` objects (README, "Operating"). */
import type { ClientDetails, ClientSummary } from "../../lambda/storage/types.ts";

/** Bytes in binary units: 512 B, 1.5 KiB, 12.0 MiB. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A client's share of its quota (what the quota counts: `usedBytes`): 12.5%, "no limit" (quota 0), or "?" when either number is unknown. */
export function formatQuotaUse(usedBytes: number | null, quotaBytes: number | null): string {
  if (quotaBytes === 0) return "no limit";
  if (usedBytes === null || quotaBytes === null) return "?";
  return `${((usedBytes / quotaBytes) * 100).toFixed(1)}%`;
}

/** How long ago, in its largest unit or two: 40s, 12m, 5h 3m, 3d 4h. */
export function formatAge(from: Date, now: Date): string {
  const seconds = Math.max(0, Math.floor((now.getTime() - from.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** A time to the second, in UTC. */
export function formatTime(date: Date | null): string {
  return date === null ? "-" : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The columns of `list-clients`: fixed widths, so that rows print as they come. */
const COLUMNS = [
  ["CLIENT ID", 36],
  ["VERSIONS", 9],
  ["STORED", 10],
  ["QUOTA USED", 10],
  ["SNAPSHOT VERSION", 36],
  ["SNAPSHOT AGE", 12],
  ["LAST VERSION ADDED", 20],
] as const;

function row(cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i]?.[1] ?? 0;
      return i >= 1 && i <= 3 ? cell.padStart(width) : cell.padEnd(width);
    })
    .join("  ")
    .trimEnd();
}

export function clientTableHeader(): string {
  return row(COLUMNS.map(([title]) => title));
}

export function clientTableRow(client: ClientSummary, quotaBytes: number | null, now: Date): string {
  return row([
    client.clientId,
    String(client.versions),
    formatBytes(client.storedBytes),
    formatQuotaUse(client.usedBytes, quotaBytes),
    client.snapshot?.versionId ?? "-",
    client.snapshot ? formatAge(client.snapshot.timestamp, now) : "-",
    formatTime(client.latestAddedAt),
  ]);
}

/** `show-client`: one field a line. */
export function clientDetailLines(client: ClientDetails, quotaBytes: number | null, now: Date): string[] {
  const snapshot = client.snapshot;
  const quota =
    quotaBytes === null
      ? "quota unknown"
      : quotaBytes === 0
        ? "no quota"
        : `${formatQuotaUse(client.usedBytes, quotaBytes)} of ${formatBytes(quotaBytes)}`;
  return [
    `client id:           ${client.clientId}`,
    `versions:            ${client.versions}`,
    `stored:              ${formatBytes(client.storedBytes)} (${client.storedBytes} bytes)`,
    `quota counts:        ${formatBytes(client.usedBytes)} (${client.usedBytes} bytes: with each version's overhead and deleted data still kept), ${quota}`,
    `first version:       ${client.oldestVersion?.versionId ?? "-"}`,
    `  its parent:        ${client.oldestVersion?.parentVersionId ?? "-"}`,
    `latest version:      ${client.latestVersionId}`,
    `last version added:  ${formatTime(client.latestAddedAt)}`,
    snapshot
      ? `snapshot:            version ${snapshot.versionId}, ${formatAge(snapshot.timestamp, now)} old (${formatTime(snapshot.timestamp)}), ${snapshot.versionsSince} versions since`
      : "snapshot:            none",
  ];
}

/** The stable `--json` form of a client in a list; `quotaBytes` 0 is no limit, null unknown. */
export function clientJson(client: ClientSummary, quotaBytes: number | null): Record<string, unknown> {
  return {
    clientId: client.clientId,
    latestVersionId: client.latestVersionId,
    versions: client.versions,
    storedBytes: client.storedBytes,
    usedBytes: client.usedBytes,
    quotaBytes,
    snapshot: client.snapshot && {
      versionId: client.snapshot.versionId,
      timestamp: client.snapshot.timestamp.toISOString(),
      versionsSince: client.snapshot.versionsSince,
    },
    latestAddedAt: client.latestAddedAt?.toISOString() ?? null,
  };
}

/** The stable `--json` form of one client: the list's fields and the stored chain's start. */
export function clientDetailsJson(client: ClientDetails, quotaBytes: number | null): Record<string, unknown> {
  return { ...clientJson(client, quotaBytes), oldestVersion: client.oldestVersion };
}
