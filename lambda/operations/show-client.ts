/** One client as operators see it: its counts, bytes, snapshot and the ends of its stored chain. */
import type { ClientDetails, Storage } from "../storage/types.ts";
import type { Uuid } from "../uuid.ts";
import { inTxn } from "../storage/in-txn.ts";

/** The client's details, or null when it does not exist. */
export function showClient(storage: Storage, clientId: Uuid): Promise<ClientDetails | null> {
  return inTxn(storage, clientId, (txn) => txn.getClientDetails());
}
