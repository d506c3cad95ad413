/** `export NAME=value` lines for a POSIX shell, so that another terminal can take a process's environment. */

/** A value as one shell word: as it is when it is plain, else single-quoted. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export function shellExports(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
}
