/**
 * Deletes everything of one client. The storage makes the client unknown to the protocol first,
 * and a re-run after a crash finishes what an interrupted one left.
 */
import type { Progress, Storage } from "../storage/types.ts";
import type { Uuid } from "../uuid.ts";

export type RemoveClientOutcome = { kind: "removed" } | { kind: "not-found" };

export async function removeClient(storage: Storage, clientId: Uuid, onProgress?: Progress): Promise<RemoveClientOutcome> {
  return (await storage.removeClient(clientId, onProgress)) ? { kind: "removed" } : { kind: "not-found" };
}
