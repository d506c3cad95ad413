/**
 * Stopping a dev process (`npm run start:emulated`, the bench) on SIGINT or SIGTERM: the first
 * signal runs the stop steps once, in order, then the process exits; later signals change
 * nothing. The same steps can be run without a signal (at the normal end): still only once.
 */
import { constants } from "node:os";
import { STOP_SIGNALS, type StopSignal } from "../bin/stop-signal.ts";

export type { StopSignal };

/** How shells report a process that a signal ended: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

export interface StopOnSignalsOptions {
  /** Says what is being stopped; called on the first signal, before the steps run. */
  announce?: (signal: StopSignal) => void;
  /** The exit code after a signal when every step succeeded (default: `signalExitCode`); a failed step makes it 1. */
  exitCode?: number;
}

/**
 * Installs the SIGINT and SIGTERM handlers; returns `stop`, which runs the steps (once, however
 * often it is called, whether by a signal or not). Each step runs even when one before it
 * failed; a failure is reported on stderr, and `stop` itself never rejects.
 */
export function stopOnSignals(steps: ReadonlyArray<() => Promise<void>>, options: StopOnSignalsOptions = {}): () => Promise<void> {
  let stopping: Promise<boolean> | undefined;
  const run = (): Promise<boolean> => {
    stopping ??= runSteps(steps);
    return stopping;
  };
  let signalled = false;
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      options.announce?.(signal);
      void run().then((ok) => process.exit(ok ? (options.exitCode ?? signalExitCode(signal)) : 1));
    });
  }
  return async () => {
    await run();
  };
}

async function runSteps(steps: ReadonlyArray<() => Promise<void>>): Promise<boolean> {
  let ok = true;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      ok = false;
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    }
  }
  return ok;
}
