/** The operators' smoke test passes on a correct server and catches a deviating one. */
import { DEFAULT_SYNC_RULES } from "../../lambda/config.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSmoke } from "../../bin/smoke.ts";
import { serveHandler, type LocalHttpServer } from "../../bin/local-http.ts";
import { createApp } from "../../lambda/app.ts";
import type { Handler } from "../../lambda/http/handler.ts";
import { createLogger } from "../../lambda/log.ts";
import { MemoryStorage } from "../../lambda/storage/memory.ts";
import { newUuid } from "../../lambda/uuid.ts";

const rules = DEFAULT_SYNC_RULES;

async function serve(wrap: (h: Handler) => Handler = (h) => h): Promise<LocalHttpServer> {
  const app = createApp(
    new MemoryStorage(),
    { rules, maxBodyBytes: 1_000_000 },
    createLogger(() => {}),
  );
  return serveHandler(wrap(app), { host: "127.0.0.1", port: 0, maxBodyBytes: 1_000_000 });
}

describe("npm run smoke", () => {
  let good: LocalHttpServer;
  let charset: LocalHttpServer;
  beforeAll(async () => {
    good = await serve();
    // A server that adds a charset to binary content types: real clients reject that.
    charset = await serve((h) => async (event) => {
      const result = await h(event);
      const type = result.headers?.["content-type"];
      if (typeof type === "string" && type.startsWith("application/vnd")) result.headers!["content-type"] = `${type}; charset=utf-8`;
      return result;
    });
  });
  afterAll(async () => {
    await good?.close();
    await charset?.close();
  });

  it("passes against the local server, with a fresh client and again with a reused one", async () => {
    const quiet = () => {};
    expect((await runSmoke({ url: good.url, log: quiet })).ok).toBe(true);
    const clientId = newUuid();
    expect((await runSmoke({ url: good.url, clientId, log: quiet })).ok).toBe(true);
    const again = await runSmoke({ url: `${good.url}/`, clientId, log: quiet });
    expect(again.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("fails, naming the deviation, against a server that bends the protocol", async () => {
    const lines: string[] = [];
    const result = await runSmoke({ url: charset.url, log: (line) => lines.push(line) });
    expect(result.ok).toBe(false);
    expect(lines.join("\n")).toMatch(/Content-Type is "application\/vnd\.taskchampion\.history-segment; charset=utf-8"/);
  });

  it("fails against an allowlisted server with a throwaway id, and says why", async () => {
    const app = createApp(
      new MemoryStorage(),
      { rules: { ...rules, allowedClientIds: new Set([newUuid()]) }, maxBodyBytes: 1000 },
      createLogger(() => {}),
    );
    const locked = await serveHandler(app, { host: "127.0.0.1", port: 0, maxBodyBytes: 1000 });
    try {
      const lines: string[] = [];
      expect((await runSmoke({ url: locked.url, log: (l) => lines.push(l) })).ok).toBe(false);
      expect(lines.join("\n")).toContain("not on the deployment's allowlist");
    } finally {
      await locked.close();
    }
  });
});
