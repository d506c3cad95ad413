/**
 * The DynamoDB storage's quota counts VERSION_OVERHEAD_BYTES per version besides its segment
 * (lambda/storage/dynamodb/constants.ts): checked here against the version items it really
 * writes, sized by DynamoDB's documented rules ("Item sizes and formats": an attribute is its
 * name's UTF-8 bytes and its value's; a string its UTF-8 bytes, a binary its bytes, a number
 * about one byte per two significant digits plus one) and its storage overhead of 100 bytes per
 * item. A segment in S3 is billed there as its bytes; its item holds the key instead.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { VERSION_OVERHEAD_BYTES } from "../../lambda/storage/dynamodb/constants.ts";
import { SK } from "../../lambda/storage/dynamodb/layout.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { dynamoOnEmulators } from "../support/dynamo-on-emulators.ts";
import { writeTxn } from "../support/txn.ts";

const dynamo = dynamoOnEmulators({ inlineSegmentMaxBytes: 1000 });

/** DynamoDB's per-item storage overhead (its indexing), per its pricing and size documentation. */
const ITEM_OVERHEAD = 100;

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, "utf8");
  if (value.B !== undefined) return value.B.byteLength;
  // At most: every digit a byte, and one more.
  if (value.N !== undefined) return value.N.replace(/^-|\./g, "").length + 1;
  throw new Error(`an attribute of a kind the storage does not write: ${JSON.stringify(value)}`);
}

function itemBytes(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name, "utf8") + valueBytes(value), ITEM_OVERHEAD);
}

describe("DynamoDB: a version's overhead, as the quota counts it, covers what its item is billed for", () => {
  for (const [where, size] of [
    ["inline", 1],
    ["inline", 900],
    ["in S3", 1001],
  ] as const) {
    test(`a segment of ${size} bytes ${where}`, async () => {
      const clientId = newUuid();
      const versionId = newUuid();
      await writeTxn(dynamo.storage(), clientId, async (txn) => {
        await txn.newClient(NIL_UUID);
        await txn.addVersion(versionId, NIL_UUID, new Uint8Array(size).fill(7));
      });
      const item = await dynamo.item(clientId, SK.child(NIL_UUID));
      const billed = itemBytes(item!) - (where === "inline" ? size : 0);
      expect(billed).toBeLessThanOrEqual(VERSION_OVERHEAD_BYTES);
      // Close to it: not many times what is billed.
      expect(billed).toBeGreaterThan(VERSION_OVERHEAD_BYTES / 2);
    });
  }
});
