/** Work in one storage transaction, as the core and every operation do it: commit when asked, always release. */
import type { Storage, StorageTxn, TxnOptions } from "./types.ts";
import type { Uuid } from "../uuid.ts";

export async function inTxn<T>(
  storage: Storage,
  clientId: Uuid,
  work: (txn: StorageTxn) => Promise<T>,
  commit = false,
  options?: TxnOptions,
): Promise<T> {
  const txn = await storage.txn(clientId, options);
  try {
    const result = await work(txn);
    if (commit) await txn.commit();
    return result;
  } finally {
    await txn.release();
  }
}
