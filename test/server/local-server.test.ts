/**
 * The local server through real sockets, on SQLite and on the DynamoDB + S3 storage (DynamoDB
 * Local and the S3 emulator): races, parallel clients, large bodies, limits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../bin/serve.ts";
import { NIL_UUID, newUuid } from "../../lambda/uuid.ts";
import { everyByte, protocolClient } from "../support/http-client.ts";
import { startTestServer } from "../support/local-server.ts";

describe.each(["sqlite", "dynamodb"] as const)("local server on %s, over real sockets", (storage) => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(storage, { MAX_BODY_BYTES: String(4_500_000) });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("of 20 parallel AddVersions on one parent, exactly one gets 200 and the rest 409 naming it", async () => {
    const client = protocolClient(server.url, newUuid());
    const first = await client.addVersion(NIL_UUID, "first");
    const parent = first.headers.get("x-version-id")!;
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => client.addVersion(parent, `racer ${i}`)));
    const winners = responses.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!.headers.get("x-version-id");
    const losers = responses.filter((r) => r.status === 409);
    expect(losers).toHaveLength(19);
    for (const r of losers) expect(r.headers.get("x-parent-version-id")).toBe(winner);
    // The chain has exactly the winner after the parent.
    const child = await client.getChildVersion(parent);
    expect(child.headers.get("x-version-id")).toBe(winner);
    expect((await client.getChildVersion(winner!)).status).toBe(404);
  });

  it("of parallel first versions of a new client, exactly one wins", async () => {
    const client = protocolClient(server.url, newUuid());
    const responses = await Promise.all(Array.from({ length: 10 }, () => client.addVersion(NIL_UUID, "first")));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    const winner = responses.find((r) => r.status === 200)!.headers.get("x-version-id");
    const losers = responses.filter((r) => r.status === 409);
    expect(losers).toHaveLength(9);
    for (const r of losers) expect(r.headers.get("x-parent-version-id")).toBe(winner);
  });

  it("keeps every chain intact when 10 clients write in parallel", async () => {
    const clients = Array.from({ length: 10 }, () => protocolClient(server.url, newUuid()));
    await Promise.all(
      clients.map(async (client) => {
        let parent: string = NIL_UUID;
        for (let i = 0; i < 5; i++) {
          const r = await client.addVersion(parent, `v${i}`);
          expect(r.status).toBe(200);
          parent = r.headers.get("x-version-id")!;
        }
      }),
    );
    await Promise.all(
      clients.map(async (client) => {
        let parent: string = NIL_UUID;
        const bodies: string[] = [];
        for (;;) {
          const r = await client.getChildVersion(parent);
          if (r.status === 404) break;
          expect(r.status).toBe(200);
          bodies.push(await r.text());
          parent = r.headers.get("x-version-id")!;
        }
        expect(bodies).toEqual(["v0", "v1", "v2", "v3", "v4"]);
      }),
    );
  });

  it("round-trips a 4 MB history segment and a 4 MB snapshot byte for byte", async () => {
    const client = protocolClient(server.url, newUuid());
    const segment = everyByte(4 * 1024 * 1024, 1);
    const added = await client.addVersion(NIL_UUID, segment);
    expect(added.status).toBe(200);
    const child = await client.getChildVersion(NIL_UUID);
    expect(Buffer.from(await child.arrayBuffer()).equals(Buffer.from(segment))).toBe(true);
    const snapshot = everyByte(4 * 1024 * 1024, 2);
    const version = added.headers.get("x-version-id")!;
    expect((await client.addSnapshot(version, snapshot)).status).toBe(200);
    const got = await client.getSnapshot();
    expect(got.headers.get("x-version-id")).toBe(version);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(snapshot))).toBe(true);
  });

  it("answers 413 to a body over the limit, stores nothing, and keeps serving", async () => {
    const client = protocolClient(server.url, newUuid());
    const tooBig = await client.addVersion(NIL_UUID, everyByte(4_500_001));
    expect(tooBig.status).toBe(413);
    expect(await tooBig.text()).toMatch(/larger than this server accepts/);
    expect((await client.getChildVersion(NIL_UUID)).status).toBe(404);
    expect((await client.addVersion(NIL_UUID, everyByte(4_500_000))).status).toBe(200);
  });
});
