/** Running work in one storage transaction, as the tests of every store and layer need it. */
import { inTxn } from "../../lambda/storage/in-txn.ts";
import type { Storage, StorageTxn } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";

/** The operations' own helper: the tests run work in a transaction exactly as the server does. */
export { inTxn };

/** `inTxn`, committed. */
export function writeTxn<T>(storage: Storage, clientId: Uuid, work: (txn: StorageTxn) => Promise<T>): Promise<T> {
  return inTxn(storage, clientId, work, true);
}
