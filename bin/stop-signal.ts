/**
 * The signals that stop the local server: SIGINT (Ctrl-C) and SIGTERM (kill, systemd, Docker,
 * npm forwarding either to its script).
 */
export type StopSignal = "SIGINT" | "SIGTERM";

export const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM"];

/**
 * Resolves with the first SIGINT or SIGTERM from now on. The handlers stay installed: a second
 * signal changes nothing (Ctrl-C under npm reaches the server twice, from the terminal and
 * forwarded by npm), where Node's default would end the process in the middle of its stop.
 */
export function nextStopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    for (const signal of STOP_SIGNALS) process.on(signal, () => resolve(signal));
  });
}
