import { MEMORY_VERSION_OVERHEAD_BYTES, MemoryStorage } from "../../lambda/storage/memory.ts";
import { storageConformance } from "./conformance.ts";

// Memory locks per client: a transaction on one client never waits for another client's.
storageConformance("MemoryStorage", async () => ({ storage: new MemoryStorage() }), {
  parallelClients: true,
  accounting: { version: (bytes) => bytes + MEMORY_VERSION_OVERHEAD_BYTES, snapshot: (bytes) => bytes, keepsReplaced: false },
});
