/** Running work in one storage transaction, as the tests of every store and layer need it. */
import type { Storage, StorageTxn } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";

/** Runs `work` in a transaction of `clientId`, committing if asked, always releasing. */
export async function inTxn<T>(storage: Storage, clientId: Uuid, work: (txn: StorageTxn) => Promise<T>, commit = false): Promise<T> {
  const txn = await storage.txn(clientId);
  try {
    const result = await work(txn);
    if (commit) await txn.commit();
    return result;
  } finally {
    await txn.release();
  }
}

/** `inTxn`, committed. */
export function writeTxn<T>(storage: Storage, clientId: Uuid, work: (txn: StorageTxn) => Promise<T>): Promise<T> {
  return inTxn(storage, clientId, work, true);
}
