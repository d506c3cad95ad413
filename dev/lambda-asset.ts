/** Reading a synthesized function's asset: its files, their imports, what a cold start loads. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { BUNDLE_FILE } from "../lib/function-bundling.ts";

/** Every file of the asset, relative to it. */
export function assetFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** The module specifiers a bundled file imports, statically and dynamically. */
export function importsOf(code: string): { static: string[]; dynamic: string[] } {
  return {
    static: [...code.matchAll(/(?:^|[;}\s])import\s*(?:[\w*{}\s,$]*from\s*)?["']([^"']+)["']/g)].map((m) => m[1] ?? ""),
    dynamic: [...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? ""),
  };
}

/** The files a cold start loads: the entry and, transitively, what it imports statically. */
export function startupFiles(dir: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of importsOf(readFileSync(join(dir, file), "utf8")).static) {
      if (specifier.startsWith(".")) visit(relative(dir, join(dirname(join(dir, file)), specifier)));
    }
  };
  visit(BUNDLE_FILE);
  return [...seen];
}

export function totalBytes(dir: string, files: readonly string[]): number {
  return files.reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
}

/** Imports that would be resolved outside the asset (anything but Node's own modules and the asset's files). */
export function unresolvedImports(dir: string): string[] {
  const outside: string[] = [];
  for (const file of assetFiles(dir)) {
    const { static: fixed, dynamic } = importsOf(readFileSync(join(dir, file), "utf8"));
    for (const specifier of [...fixed, ...dynamic]) {
      if (specifier.startsWith("node:")) continue;
      if (specifier.startsWith(".") && existsSync(join(dirname(join(dir, file)), specifier))) continue;
      outside.push(`${file}: ${specifier}`);
    }
  }
  return outside;
}
