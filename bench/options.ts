/** The bench's options, from its arguments and environment. */

/** The parts of the bench, in the order they run. */
export const SECTIONS = ["operations", "history", "concurrency", "memory", "cold-start"] as const;
export type Section = (typeof SECTIONS)[number];

/** The command line: `npm run bench -- [--iterations=N] [--warmup=N] [--strict] [--no-capacity-check] [--only=a,b]`. */
export interface Options {
  iterations: number;
  warmup: number;
  strict: boolean;
  capacityCheck: boolean;
  /** The sections to run (all by default). */
  sections: ReadonlySet<Section>;
}

function isSection(name: string): name is Section {
  return (SECTIONS as readonly string[]).includes(name);
}

/** Reads the options from the arguments; BENCH_ITERATIONS and BENCH_WARMUP set the defaults. */
export function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    iterations: Number(process.env.BENCH_ITERATIONS ?? 200),
    warmup: Number(process.env.BENCH_WARMUP ?? 20),
    strict: false,
    capacityCheck: true,
    sections: new Set(SECTIONS),
  };
  for (const arg of argv) {
    const [name, value] = arg.split("=", 2);
    if (name === "--iterations") options.iterations = Number(value);
    else if (name === "--warmup") options.warmup = Number(value);
    else if (name === "--strict") options.strict = true;
    else if (name === "--no-capacity-check") options.capacityCheck = false;
    else if (name === "--only") {
      const names = (value ?? "").split(",").filter((n) => n !== "");
      const unknown = names.filter((n) => !isSection(n));
      if (names.length === 0 || unknown.length > 0) throw new Error(`--only takes a list of ${SECTIONS.join(", ")}; got ${value}`);
      options.sections = new Set(names.filter(isSection));
    } else {
      throw new Error(
        `unknown argument ${arg} (known: --iterations=N --warmup=N --strict --no-capacity-check --only=${SECTIONS.join(",")})`,
      );
    }
  }
  if (!Number.isInteger(options.iterations) || options.iterations < 1) throw new Error("--iterations must be a whole number >= 1");
  if (!Number.isInteger(options.warmup) || options.warmup < 0) throw new Error("--warmup must be a whole number >= 0");
  return options;
}
