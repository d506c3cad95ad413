import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { storageConformance } from "./conformance.ts";

// Memory locks per client: a transaction on one client never waits for another client's.
storageConformance("MemoryStorage", async () => ({ storage: new MemoryStorage() }), { parallelClients: true });
