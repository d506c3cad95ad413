/**
 * What a refused request costs the owner, and the most one client can make the owner store, on
 * DynamoDB Local + s3rver through the HTTP handler (README.md, "What a refused request
 * costs"): a refusal stores nothing anywhere (no S3 call at all, so not even a deleted object
 * that a versioned bucket would keep), and what a client gets the server to keep, deleted
 * objects included, stays within its quota but for one payload in flight.
 */
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, test } from "vitest";
import { createApp } from "../../lambda/app.ts";
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import type { SyncRules } from "../../lambda/core/sync.ts";
import type { Handler, HttpResult } from "../../lambda/http/handler.ts";
import { createLogger } from "../../lambda/log.ts";
import { ATTR, KEPT_PREFIX, SK } from "../../lambda/storage/dynamodb/layout.ts";
import { keptWeek, versionUsed } from "../../lambda/storage/dynamodb/quota.ts";
import { NIL_UUID, newUuid, type Uuid } from "../../lambda/uuid.ts";
import { httpEvent } from "../../dev/events.ts";
import { callName, dynamoOnEmulators } from "../support/dynamo-on-emulators.ts";

const SEGMENT = "application/vnd.taskchampion.history-segment";
const SNAPSHOT = "application/vnd.taskchampion.snapshot";
/** Segments over this go to S3 here, so that modest bodies take the S3 path. */
const INLINE = 1024;
const MAX_BODY = 4_500_000;

const dynamo = dynamoOnEmulators({ inlineSegmentMaxBytes: INLINE });

interface Server {
  handler: Handler;
  /** Every SDK call, "service:Command", with the bytes it sent to S3. */
  calls: { name: string; bytes: number }[];
}

function server(rules: Partial<SyncRules> = {}, hold?: (name: string) => Promise<void>): Server {
  const calls: Server["calls"] = [];
  const storage = dynamo.storage({
    around: async (call, send) => {
      const name = callName(call);
      const body = call.input.Body;
      calls.push({ name, bytes: body instanceof Uint8Array ? body.byteLength : 0 });
      await hold?.(name);
      return send();
    },
  });
  const config = { rules: { ...DEFAULT_SYNC_RULES, createClients: false, ...rules }, maxBodyBytes: MAX_BODY };
  return {
    handler: createApp(
      storage,
      config,
      createLogger(() => {}),
    ),
    calls,
  };
}

const names = (s: Server) => s.calls.map((call) => call.name).sort();
const s3Calls = (s: Server) => s.calls.filter((call) => call.name.startsWith("s3:"));

function addVersion(s: Server, clientId: Uuid, parent: Uuid, body: Uint8Array): Promise<HttpResult> {
  return s.handler(
    httpEvent("POST", `/v1/client/add-version/${parent}`, { headers: { "x-client-id": clientId, "content-type": SEGMENT }, body }),
  );
}

function addSnapshot(s: Server, clientId: Uuid, versionId: Uuid, body: Uint8Array): Promise<HttpResult> {
  return s.handler(
    httpEvent("POST", `/v1/client/add-snapshot/${versionId}`, { headers: { "x-client-id": clientId, "content-type": SNAPSHOT }, body }),
  );
}

function versionOf(result: HttpResult): Uuid {
  expect(result.statusCode).toBe(200);
  return result.headers?.["x-version-id"] as Uuid;
}

const clientItem = (clientId: Uuid) => dynamo.clientItem(clientId);

/** A registered client (as `admin add-client` makes one) with one small version; returns its id and the version's. */
async function registered(): Promise<{ clientId: Uuid; v1: Uuid }> {
  const clientId = newUuid();
  const v1 = versionOf(await addVersion(server({ createClients: true }), clientId, NIL_UUID, new Uint8Array(10)));
  return { clientId, v1 };
}

const big = (size: number) => new Uint8Array(size).map((_, i) => (i * 31) % 251);

describe("a refused request stores nothing: no S3 call, one read and one refused write at most", () => {
  test("an unknown client, on a server that creates none, sending 4,000,000 bytes: 404", async () => {
    const s = server();
    const result = await addVersion(s, newUuid(), NIL_UUID, big(4_000_000));
    expect(result.statusCode).toBe(404);
    expect(s3Calls(s)).toEqual([]);
    // The core's read of the client, and the lease refused (no item): nothing written.
    expect(names(s)).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
  });

  test("a registered client's conflict with a large segment: 409, nothing uploaded", async () => {
    const { clientId, v1 } = await registered();
    const v2 = versionOf(await addVersion(server(), clientId, v1, new Uint8Array(5)));
    const s = server();
    const result = await addVersion(s, clientId, v1, big(2_000_000));
    expect(result.statusCode).toBe(409);
    expect(result.headers?.["x-parent-version-id"]).toBe(v2);
    expect(s3Calls(s)).toEqual([]);
    expect(names(s)).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
  });

  test("a version over the quota, large or inline: 507, nothing uploaded", async () => {
    const { clientId, v1 } = await registered();
    const quota = versionUsed(10) + 1000;
    for (const size of [2_000_000, 900]) {
      const s = server({ maxClientBytes: quota });
      expect((await addVersion(s, clientId, v1, big(size))).statusCode).toBe(507);
      expect(s3Calls(s)).toEqual([]);
      expect(s.calls).toHaveLength(2);
    }
    expect(Number((await clientItem(clientId))?.[ATTR.used]?.N)).toBe(versionUsed(10));
  });

  test("a new client whose large first version is over the quota: 507, no client made, no lease taken, nothing uploaded", async () => {
    const s = server({ createClients: true, maxClientBytes: 100_000 });
    const clientId = newUuid();
    expect((await addVersion(s, clientId, NIL_UUID, big(200_000))).statusCode).toBe(507);
    expect(s3Calls(s)).toEqual([]);
    // As an existing client: the read, and the lease refused (no item). Then as a new one:
    // refused before any call, so neither a client item nor a lease is written.
    expect(names(s)).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    expect(await clientItem(clientId)).toBeUndefined();
  });

  test("too large, malformed, not allowed: no storage call at all", async () => {
    const { clientId } = await registered();
    const s = server({ allowedClientIds: new Set([clientId]) });
    const tooLarge = await addVersion(s, clientId, NIL_UUID, big(MAX_BODY + 1));
    expect(tooLarge.statusCode).toBe(413);
    expect((await addVersion(s, newUuid(), NIL_UUID, big(4_000_000))).statusCode).toBe(403);
    const malformed = await s.handler(
      httpEvent("POST", `/v1/client/add-version/${NIL_UUID}`, { headers: { "x-client-id": "nope", "content-type": SEGMENT }, body: "x" }),
    );
    expect(malformed.statusCode).toBe(400);
    expect(s.calls).toEqual([]);
  });

  test("a snapshot the server did not ask for: 200, nothing uploaded", async () => {
    const { clientId, v1 } = await registered();
    expect((await addSnapshot(server(), clientId, v1, big(2000))).statusCode).toBe(200);
    const v2 = versionOf(await addVersion(server(), clientId, v1, new Uint8Array(5)));
    const s = server();
    expect((await addSnapshot(s, clientId, v2, big(4_000_000))).statusCode).toBe(200);
    expect(s3Calls(s)).toEqual([]);
    expect(names(s)).toEqual(["dynamodb:GetItem"]);
  });

  test("a snapshot past the quota: 200, declined, nothing uploaded", async () => {
    const { clientId, v1 } = await registered();
    const s = server({ maxClientBytes: versionUsed(10) + 1000 });
    expect((await addSnapshot(s, clientId, v1, big(4_000_000))).statusCode).toBe(200);
    expect(s3Calls(s)).toEqual([]);
    expect((await clientItem(clientId))?.[ATTR.declTime]).toBeDefined();
  });
});

describe("one payload in flight per client", () => {
  test("five large versions on one parent at once: one uploaded and added, four 409s that uploaded nothing", async () => {
    const { clientId, v1 } = await registered();
    const s = server();
    const results = await Promise.all(Array.from({ length: 5 }, () => addVersion(s, clientId, v1, big(300_000))));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409]);
    const winner = results.find((r) => r.statusCode === 200)?.headers?.["x-version-id"];
    for (const r of results.filter((r) => r.statusCode === 409)) expect(r.headers?.["x-parent-version-id"]).toBe(winner);
    expect(s3Calls(s).map((call) => call.name)).toEqual(["s3:PutObject"]);
  });

  test("concurrent snapshots: at most one uploaded", async () => {
    const { clientId, v1 } = await registered();
    const s = server();
    const results = await Promise.all(Array.from({ length: 4 }, () => addSnapshot(s, clientId, v1, big(200_000))));
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expect(s3Calls(s).filter((call) => call.name === "s3:PutObject")).toHaveLength(1);
  });

  test("a snapshot whose lease comes after another snapshot was stored: 200, nothing uploaded", async () => {
    const { clientId, v1 } = await registered();
    let other = false;
    const s = server({}, async (name) => {
      // Between this request's read and its lease, another replica stores its snapshot.
      if (name === "dynamodb:UpdateItem" && !other) {
        other = true;
        expect((await addSnapshot(server(), clientId, v1, big(3000))).statusCode).toBe(200);
      }
    });
    expect((await addSnapshot(s, clientId, v1, big(200_000))).statusCode).toBe(200);
    expect(other).toBe(true);
    expect(s3Calls(s)).toEqual([]);
    expect(Number((await clientItem(clientId))?.[ATTR.snapSize]?.N)).toBe(3000);
  });

  test("a large version that loses its parent to an inline one during its upload: 409; its deleted object counts as kept", async () => {
    const { clientId, v1 } = await registered();
    let winner: Uuid | undefined;
    const s = server({}, async (name) => {
      // While the large segment uploads, another replica's small version takes the parent.
      if (name === "s3:PutObject" && !winner) winner = versionOf(await addVersion(server(), clientId, v1, new Uint8Array(3)));
    });
    const result = await addVersion(s, clientId, v1, big(300_000));
    expect(result.statusCode).toBe(409);
    expect(result.headers?.["x-parent-version-id"]).toBe(winner);
    const item = await clientItem(clientId);
    expect(item?.[ATTR.kept(keptWeek(Date.now()))]?.N).toBe("300000");
    expect(Number(item?.[ATTR.used]?.N)).toBe(versionUsed(10) + versionUsed(3) + 300_000);
    expect(item?.[ATTR.lease]).toBeUndefined();
  });

  test("a lease left by a transaction that died holds large versions only until it ends", async () => {
    const { clientId, v1 } = await registered();
    await dynamo.raw.dynamodb.send(
      new UpdateItemCommand({
        TableName: dynamo.tableName,
        Key: { pk: { S: clientId }, sk: { S: SK.client } },
        UpdateExpression: "SET #lease = :token, #until = :until",
        ExpressionAttributeNames: { "#lease": ATTR.lease, "#until": ATTR.leaseUntil },
        ExpressionAttributeValues: { ":token": { S: "dead" }, ":until": { N: String(Date.now() + 700) } },
      }),
    );
    const started = Date.now();
    versionOf(await addVersion(server(), clientId, v1, big(5000)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});

describe("the most one client can make the owner store", () => {
  test("snapshot churn (a tiny version, a large snapshot, again and again) stops at the quota, deleted snapshots counted", async () => {
    const quota = 3_000_000;
    const s = server({ maxClientBytes: quota, snapshotVersions: 1, createClients: true });
    const clientId = newUuid();
    let parent = NIL_UUID;
    let declined = false;
    for (let round = 0; round < 20 && !declined; round++) {
      const added = await addVersion(s, clientId, parent, new Uint8Array(1));
      if (added.statusCode === 507) break;
      parent = versionOf(added);
      expect((await addSnapshot(s, clientId, parent, big(400_000))).statusCode).toBe(200);
      declined = (await clientItem(clientId))?.[ATTR.declTime] !== undefined;
    }
    // Every byte it ever sent to S3 is either current or kept by the bucket: all within the quota.
    const uploaded = s.calls.filter((call) => call.name === "s3:PutObject").reduce((sum, call) => sum + call.bytes, 0);
    const item = await clientItem(clientId);
    const kept = Object.entries(item ?? {})
      .filter(([name]) => name.startsWith(KEPT_PREFIX))
      .reduce((sum, [, value]) => sum + Number(value.N), 0);
    expect(uploaded).toBeGreaterThan(quota / 2);
    expect(uploaded).toBe(kept + Number(item?.[ATTR.snapSize]?.N ?? 0));
    expect(Number(item?.[ATTR.used]?.N)).toBeLessThanOrEqual(quota);
    expect(uploaded).toBeLessThanOrEqual(quota);
  });

  test("weeks of deleted bytes that the bucket has expired stop counting: a refusal counts them out and tries again", async () => {
    const { clientId, v1 } = await registered();
    const oldWeek = keptWeek(Date.now() - 60 * 24 * 60 * 60 * 1000);
    await dynamo.raw.dynamodb.send(
      new UpdateItemCommand({
        TableName: dynamo.tableName,
        Key: { pk: { S: clientId }, sk: { S: SK.client } },
        UpdateExpression: "SET #old = :bytes ADD #used :bytes",
        ExpressionAttributeNames: { "#old": ATTR.kept(oldWeek), "#used": ATTR.used },
        ExpressionAttributeValues: { ":bytes": { N: "1000000" } },
      }),
    );
    // Without the expired week, the version fits exactly; with it, it would pass the quota.
    const quota = versionUsed(10) + versionUsed(300_000);
    versionOf(await addVersion(server({ maxClientBytes: quota }), clientId, v1, big(300_000)));
    const item = await clientItem(clientId);
    expect(item?.[ATTR.kept(oldWeek)]).toBeUndefined();
    expect(Number(item?.[ATTR.used]?.N)).toBe(quota);
  });
});
