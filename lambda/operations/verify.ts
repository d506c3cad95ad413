/**
 * Verifies every client as a restore left it (and with `repair`, repairs what may be): the
 * storage checks each client's chain, snapshot and payloads (Storage.verifyClients); this counts
 * the outcomes and hands each client's result to the caller as it comes.
 */
import type { ClientVerification, Storage } from "../storage/types.ts";

export interface VerifyTally {
  clients: number;
  /** Nothing found. */
  ok: number;
  /** Found, not repaired: not asked to. */
  found: number;
  repaired: number;
  /** Found, and not for a repair to fix (an operator's unfinished work, a transactional storage). */
  unrepaired: number;
}

export interface VerifyAllOptions {
  repair: boolean;
  onClient?: (result: ClientVerification) => Promise<void> | void;
}

export async function verifyAllClients(storage: Storage, options: VerifyAllOptions): Promise<VerifyTally> {
  const tally: VerifyTally = { clients: 0, ok: 0, found: 0, repaired: 0, unrepaired: 0 };
  for await (const result of storage.verifyClients({ repair: options.repair })) {
    tally.clients += 1;
    tally[result.status] += 1;
    await options.onClient?.(result);
  }
  return tally;
}
