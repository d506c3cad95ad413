/**
 * Serves a bundled Lambda asset (the `index.mjs` that `cdk synth` wrote) behind the local
 * payload-2.0 adapter, in its own process so that the asset reads its environment at import
 * exactly as in Lambda. Usage: tsx test/support/serve-asset.ts <asset file> <handler export>.
 * Prints `listening on <url>` when ready.
 */
import { pathToFileURL } from "node:url";
import { serveHandler } from "../../bin/local-http.ts";
import type { Handler } from "../../lambda/http/handler.ts";

const [assetFile, exportName = "handler"] = process.argv.slice(2);
if (!assetFile) throw new Error("usage: serve-asset.ts <asset file> [handler export]");
const module = (await import(pathToFileURL(assetFile).href)) as Record<string, unknown>;
const handler = module[exportName];
if (typeof handler !== "function") throw new Error(`${assetFile} exports no function ${exportName}`);
// What API Gateway can hand a function at most; the function's own limit answers 413 below it.
const server = await serveHandler(handler as Handler, { host: "127.0.0.1", port: 0, maxBodyBytes: 10 * 1024 * 1024 });
process.stdout.write(`listening on ${server.url}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
