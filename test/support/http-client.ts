/** Minimal protocol requests over real sockets, for tests that check raw statuses and headers. */
export const SEGMENT_TYPE = "application/vnd.taskchampion.history-segment";
export const SNAPSHOT_TYPE = "application/vnd.taskchampion.snapshot";

export function protocolClient(baseUrl: string, clientId: string) {
  const headers = { "x-client-id": clientId };
  return {
    addVersion: (parent: string, body: Uint8Array | string) =>
      fetch(`${baseUrl}/v1/client/add-version/${parent}`, { method: "POST", headers: { ...headers, "content-type": SEGMENT_TYPE }, body }),
    getChildVersion: (parent: string) => fetch(`${baseUrl}/v1/client/get-child-version/${parent}`, { headers }),
    addSnapshot: (version: string, body: Uint8Array | string) =>
      fetch(`${baseUrl}/v1/client/add-snapshot/${version}`, {
        method: "POST",
        headers: { ...headers, "content-type": SNAPSHOT_TYPE },
        body,
      }),
    getSnapshot: () => fetch(`${baseUrl}/v1/client/snapshot`, { headers }),
  };
}

/** Bytes 0..255 repeated, shifted by `seed`: every byte value, and distinct per seed. */
export function everyByte(size: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}
