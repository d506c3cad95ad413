/**
 * A consistent Scan of the whole table, for operators only (the client listing, verify): it
 * reads, and is billed for, every item whatever it returns. Apart from the protocol path's call
 * helpers (sdk-calls.ts) so that no function's code holds a Scan, and its role grants none.
 */
import { type AttributeValue, ScanCommand } from "@aws-sdk/client-dynamodb";
import { TABLE } from "./layout.ts";
import { projection, type SdkCalls } from "./sdk-calls.ts";

/** Every item of the table whose sort key is `sk` (undefined: every item), a page at a time; `attributes` limits what is returned. */
export async function* scanTable(
  calls: SdkCalls,
  what: string,
  sk?: string,
  attributes?: readonly string[],
): AsyncGenerator<Record<string, AttributeValue>> {
  const { ExpressionAttributeNames: names, ...projected } = projection(attributes);
  yield* calls.pagedItems(
    (startKey) =>
      new ScanCommand({
        TableName: calls.tableName,
        ...(sk === undefined
          ? { ExpressionAttributeNames: names }
          : {
              FilterExpression: "#sk = :sk",
              ExpressionAttributeNames: { ...names, "#sk": TABLE.sortKey.name },
              ExpressionAttributeValues: { ":sk": { S: sk } },
            }),
        ...projected,
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    what,
  );
}
