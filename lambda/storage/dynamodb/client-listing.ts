/**
 * Every client of the table, for operators: a paged, consistent `Scan` that keeps only the
 * client items. It reads the whole table (every version item too): a listing costs read
 * units in proportion to all that is stored, which is what keeps the protocol paths free of
 * any index. Memory stays bounded: one page at a time.
 */
import type { ClientSummary } from "../types.ts";
import { parseClient, storedUuid, summaryOf } from "./client-item.ts";
import { SK, TABLE } from "./layout.ts";
import type { SdkCalls } from "./sdk-calls.ts";
import { scanTable } from "./table-scan.ts";

export async function* listClients(calls: SdkCalls): AsyncGenerator<ClientSummary> {
  for await (const item of scanTable(calls, "list the clients", SK.client)) {
    const state = parseClient(item);
    if (state) yield summaryOf(storedUuid(item[TABLE.partitionKey.name], "the client id"), state);
  }
}
