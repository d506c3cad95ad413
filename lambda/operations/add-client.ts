/**
 * Registers a client with no versions, so that it may sync where the server creates no clients
 * (CREATE_CLIENTS=false): its replicas' first AddVersion then extends its empty chain.
 */
import { ClientExistsError } from "../storage/errors.ts";
import type { Storage } from "../storage/types.ts";
import { NIL_UUID, type Uuid } from "../uuid.ts";
import { inTxn } from "../storage/in-txn.ts";

export type AddClientOutcome = { kind: "added" } | { kind: "exists" };

export async function addClient(storage: Storage, clientId: Uuid): Promise<AddClientOutcome> {
  try {
    await inTxn(storage, clientId, (txn) => txn.newClient(NIL_UUID), true);
    return { kind: "added" };
  } catch (error) {
    if (error instanceof ClientExistsError) return { kind: "exists" };
    throw error;
  }
}
