/**
 * What a refused request costs the owner (README.md, "What a refused request costs"): each
 * kind of refusal measured as the operations are, held to the bound that it stores nothing
 * (no S3 call at all: a versioned bucket would keep even a deleted upload for 40 days) and
 * costs at most a read of the client item and one write that DynamoDB refuses.
 */
import type { Handler } from "../lambda/http/handler.ts";
import { LAMBDA_MAX_BODY_BYTES } from "../lambda/config.ts";
import { HEADER } from "../lambda/http/protocol.ts";
import { NIL_UUID, newUuid, type Uuid } from "../lambda/uuid.ts";
import { MiB } from "./bytes.ts";
import { REFUSAL_BUDGET, SNAPSHOT_DECLINE_BUDGET } from "./budgets.ts";
import type { MeasureContext } from "./measurement.ts";
import { type BenchClient, type Operation, SMALL_SEGMENT_BYTES } from "./operations.ts";
import { addSnapshotEvent, addVersionEvent, header, payload } from "./requests.ts";

/** The largest body the function accepts, about: what an attacker would send to cost the most. */
const LARGE_BODY_BYTES = 4_000_000;
/** A quota every write passes: a client of the quota's server is always over it. */
const TINY_QUOTA = 1;

export function buildRefusals(context: MeasureContext, clients: BenchClient[]): Operation[] {
  const closed = context.withRules({ createClients: false });
  const quota = context.withRules({ maxClientBytes: TINY_QUOTA });
  const allowlisted = context.withRules({ allowedClientIds: new Set([newUuid()]) });
  const pick = (i: number) => {
    const client = clients[i % clients.length];
    if (!client) throw new Error("no bench clients");
    return client;
  };
  const latest = (client: BenchClient) => client.versions.at(-1) ?? NIL_UUID;
  const large = payload(LARGE_BODY_BYTES);
  const refusal = (
    key: string,
    name: string,
    status: number,
    outcome: string | undefined,
    handler: Handler,
    event: (i: number) => ReturnType<typeof addVersionEvent>,
    requestBytes: number,
  ): Operation => ({
    key,
    name,
    status,
    outcome,
    handler,
    requestBytes,
    refusal: true,
    budget: REFUSAL_BUDGET,
    prepare: async (i) => ({ event: event(i) }),
  });
  return [
    refusal(
      "refused-unknown-client",
      "AddVersion, unknown client, 4 MB (server creates none)",
      404,
      "unknown-client",
      closed,
      () => addVersionEvent(newUuid(), NIL_UUID, large),
      LARGE_BODY_BYTES,
    ),
    refusal(
      "refused-not-allowed",
      "AddVersion, client id not in the allowlist, 4 MB",
      403,
      undefined,
      allowlisted,
      () => addVersionEvent(newUuid(), NIL_UUID, large),
      LARGE_BODY_BYTES,
    ),
    refusal(
      "refused-conflict-large",
      "AddVersion conflict, 1 MB",
      409,
      "conflict",
      context.handler,
      (i) => {
        const client = pick(i);
        return addVersionEvent(client.id, client.versions.at(-2) ?? NIL_UUID, payload(MiB));
      },
      MiB,
    ),
    refusal(
      "refused-quota-large",
      "AddVersion over the quota, 1 MB",
      507,
      "quota-exceeded",
      quota,
      (i) => addVersionEvent(pick(i).id, latest(pick(i)), payload(MiB)),
      MiB,
    ),
    refusal(
      "refused-quota-small",
      "AddVersion over the quota, 2 KB",
      507,
      "quota-exceeded",
      quota,
      (i) => addVersionEvent(pick(i).id, latest(pick(i)), payload(SMALL_SEGMENT_BYTES)),
      SMALL_SEGMENT_BYTES,
    ),
    refusal(
      "refused-too-large",
      "AddVersion over the body limit",
      413,
      undefined,
      context.handler,
      (i) => addVersionEvent(pick(i).id, latest(pick(i)), payload(LAMBDA_MAX_BODY_BYTES + 1)),
      LAMBDA_MAX_BODY_BYTES + 1,
    ),
    refusal(
      "refused-malformed",
      "AddVersion with a malformed client id",
      400,
      undefined,
      context.handler,
      () => {
        const event = addVersionEvent(newUuid(), NIL_UUID, large);
        event.headers[HEADER.clientId] = "not-a-uuid";
        return event;
      },
      LARGE_BODY_BYTES,
    ),
    {
      ...refusal(
        "refused-snapshot-not-asked",
        "AddSnapshot not asked for, 4 MB",
        200,
        "ignored:not-requested",
        context.handler,
        () => addSnapshotEvent(NIL_UUID as Uuid, NIL_UUID, large),
        LARGE_BODY_BYTES,
      ),
      prepare: async (i) => {
        // A version past the client's fresh snapshot: a snapshot of it is one the server did not ask for.
        const client = pick(i);
        const added = await context.handler(addVersionEvent(client.id, latest(client), payload(SMALL_SEGMENT_BYTES)));
        const versionId = header(added, HEADER.versionId);
        if (!versionId) throw new Error("setup AddVersion gave no version");
        client.versions.push(versionId as Uuid);
        return { event: addSnapshotEvent(client.id, versionId as Uuid, large) };
      },
    },
    {
      ...refusal(
        "refused-snapshot-quota",
        "AddSnapshot past the quota, 4 MB",
        200,
        "declined:quota",
        quota,
        () => addSnapshotEvent(NIL_UUID as Uuid, NIL_UUID, large),
        LARGE_BODY_BYTES,
      ),
      budget: SNAPSHOT_DECLINE_BUDGET,
      prepare: async () => {
        // A client without a snapshot (always asked for one), whose quota the snapshot would pass.
        const id = newUuid();
        const first = await context.handler(addVersionEvent(id, NIL_UUID, payload(SMALL_SEGMENT_BYTES)));
        const versionId = header(first, HEADER.versionId);
        if (!versionId) throw new Error("setup AddVersion gave no version");
        return { event: addSnapshotEvent(id, versionId as Uuid, large) };
      },
    },
  ];
}
