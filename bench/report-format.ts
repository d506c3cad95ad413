/** Number formats and the Markdown table the report is made of. */

export const ms = (value: number) => value.toFixed(1);
export const usd = (value: number) => (value >= 10 ? value.toFixed(2) : value >= 0.1 ? value.toFixed(3) : value.toFixed(4));
export const num = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(2));
/** Bytes as MB (2^20), one decimal. */
export const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

/** A Markdown table, its columns padded to their widest cell. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, align: readonly ("l" | "r")[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (align[i] === "r" ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w + 1)}:` : `${"-".repeat(w + 2)}`)).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}
