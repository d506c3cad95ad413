/** Storage test doubles: a real storage with one behaviour changed. */
import type { Storage, StorageTxn } from "../../lambda/storage/types.ts";
import type { Uuid } from "../../lambda/uuid.ts";

/** `inner`, with its transactions made by `txn` instead. */
export function withTxn(inner: Storage, txn: (clientId: Uuid) => Promise<StorageTxn>): Storage {
  return {
    txn,
    listClients: () => inner.listClients(),
    removeClient: (clientId, onProgress) => inner.removeClient(clientId, onProgress),
    importClient: (clientId, client, onProgress) => inner.importClient(clientId, client, onProgress),
    verifyClients: (options) => inner.verifyClients(options),
    close: () => inner.close(),
  };
}

/** A storage whose every call fails with `error`. */
export function failingStorage(error: Error): Storage {
  const fail = () => Promise.reject(error);
  return {
    txn: fail,
    // biome-ignore lint/correctness/useYield: it fails before yielding anything.
    async *listClients() {
      throw error;
    },
    removeClient: fail,
    importClient: fail,
    // biome-ignore lint/correctness/useYield: it fails before yielding anything.
    async *verifyClients() {
      throw error;
    },
    close: async () => {},
  };
}

/** A transaction whose every method rejects, but those given. */
export function txnOf(methods: Partial<StorageTxn>): StorageTxn {
  const unused = () => Promise.reject(new Error("not used by this test"));
  return {
    getClient: unused,
    newClient: unused,
    setSnapshot: unused,
    declineSnapshot: unused,
    getSnapshotData: unused,
    getVersionByParent: unused,
    getVersion: unused,
    hasVersion: unused,
    addVersion: unused,
    countHighUrgencyRequest: unused,
    resetHighUrgencyRequests: unused,
    getClientDetails: unused,
    getOldestVersions: unused,
    removeOldestVersions: unused,
    commit: async () => {},
    release: async () => {},
    ...methods,
  };
}
