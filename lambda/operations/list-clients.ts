/**
 * Every client's summary, a page at a time from the storage: memory stays bounded however many
 * clients there are, so a caller should print each as it comes rather than collect them.
 */
import type { ClientSummary, Storage } from "../storage/types.ts";

export function listClients(storage: Storage): AsyncIterable<ClientSummary> {
  return storage.listClients();
}
