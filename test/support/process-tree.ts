/** The processes a test started, read from /proc: to prove that none outlives a stop. */
import { readdirSync, readFileSync } from "node:fs";

/** The processes below `root` (from /proc), with their command lines. */
export function descendants(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const found = new Map<number, string>();
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      try {
        found.set(child, readFileSync(`/proc/${child}/cmdline`, "utf8").replaceAll("\0", " "));
      } catch {
        continue;
      }
      visit(child);
    }
  };
  visit(root);
  return found;
}

/** Whether `pid` is a live process (a zombie, dead but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** The processes of `pids` still alive after up to `withinMs` (children may take a moment to follow their parent). */
export async function survivors(pids: Iterable<number>, withinMs = 3000): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const left = [...pids].filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
