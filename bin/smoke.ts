/**
 * The operators' smoke test: `npm run smoke -- --url <deployed URL>`, or
 * `taskchampion-sync-server-aws smoke --url <deployed URL>` from the package.
 *
 * With a throwaway client id and TaskChampion's real encryption it runs every protocol call
 * (AddVersion, GetChildVersion, AddSnapshot, GetSnapshot, plus the conflict, up-to-date, gone
 * and bad-request answers), checks each status, header and content type against the protocol,
 * prints the latency of each call, and exits non-zero on any deviation.
 *
 * A deployment with a client-id allowlist answers 403 to a throwaway id: add a dedicated
 * smoke-test id to the allowlist and pass it with --client-id (never a real user's id: the
 * smoke test adds versions to that client's chain).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { deflateSync, inflateSync } from "node:zlib";
import { Cryptor } from "../client/crypto.ts";
import { CACHE_CONTROL, CONTENT_TYPE, HEADER } from "../lambda/http/protocol.ts";
import { pathOf } from "../lambda/http/routes.ts";
import { NIL_UUID, newUuid, parseUuid } from "../lambda/uuid.ts";

export interface SmokeCheck {
  name: string;
  ok: boolean;
  status: number | undefined;
  ms: number;
  problems: string[];
}

export interface SmokeOptions {
  url: string;
  /** A dedicated smoke-test client id; a fresh one by default. */
  clientId?: string;
  log?: (line: string) => void;
}

interface Expectation {
  status: number;
  /** Exact content type of a 200 body; absent means the body must be empty (or, for 4xx, anything). */
  contentType?: string;
  headers?: Record<string, string | RegExp>;
  emptyBody?: boolean;
}

const UUID_HEADER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function runSmoke(options: SmokeOptions): Promise<{ ok: boolean; checks: SmokeCheck[] }> {
  const base = options.url.replace(/\/+$/, "");
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const fresh = options.clientId === undefined;
  const clientId = options.clientId ?? newUuid();
  const cryptor = new Cryptor(clientId, randomBytes(32));
  const checks: SmokeCheck[] = [];

  async function call(
    name: string,
    method: string,
    path: string,
    expect: Expectation,
    init: { body?: Uint8Array; contentType?: string; clientId?: string | null } = {},
  ): Promise<{ response: Response | undefined; body: Buffer }> {
    const headers: Record<string, string> = { accept: "*/*" };
    const id = init.clientId === undefined ? clientId : init.clientId;
    if (id !== null) headers[HEADER.clientId] = id;
    if (init.contentType) headers[HEADER.contentType] = init.contentType;
    const problems: string[] = [];
    const started = performance.now();
    let response: Response | undefined;
    let body = Buffer.alloc(0);
    try {
      response = await fetch(`${base}${path}`, { method, headers, ...(init.body ? { body: init.body } : {}) });
      body = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      problems.push(`request failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const ms = performance.now() - started;
    if (response) {
      if (response.status !== expect.status) {
        problems.push(`status ${response.status}, expected ${expect.status}: ${body.toString("utf8").slice(0, 200).trim()}`);
        if (response.status === 403)
          problems.push("this client id is not on the deployment's allowlist: pass a dedicated one with --client-id");
      }
      const cacheControl = response.headers.get(HEADER.cacheControl);
      if (cacheControl !== CACHE_CONTROL) problems.push(`Cache-Control is ${JSON.stringify(cacheControl)}, expected "${CACHE_CONTROL}"`);
      if (expect.contentType !== undefined && response.headers.get(HEADER.contentType) !== expect.contentType) {
        problems.push(
          `Content-Type is ${JSON.stringify(response.headers.get(HEADER.contentType))}, expected exactly "${expect.contentType}"`,
        );
      }
      for (const [header, wanted] of Object.entries(expect.headers ?? {})) {
        const got = response.headers.get(header);
        const fine = typeof wanted === "string" ? got === wanted : got !== null && wanted.test(got);
        if (!fine) problems.push(`${header} is ${JSON.stringify(got)}, expected ${String(wanted)}`);
      }
      if (expect.emptyBody && body.length > 0) problems.push(`body should be empty, has ${body.length} bytes`);
    }
    const check = { name, ok: problems.length === 0, status: response?.status, ms, problems };
    checks.push(check);
    log(`${check.ok ? "ok  " : "FAIL"} ${name.padEnd(52)} ${String(check.status ?? "---").padStart(3)} ${ms.toFixed(0).padStart(6)} ms`);
    for (const problem of problems) log(`       ${problem}`);
    return { response, body };
  }

  function verify(name: string, condition: boolean, problem: string): void {
    const check = { name, ok: condition, status: undefined, ms: 0, problems: condition ? [] : [problem] };
    checks.push(check);
    log(`${condition ? "ok  " : "FAIL"} ${name}`);
    if (!condition) log(`       ${problem}`);
  }

  log(`smoke test of ${base} with client id ${fresh ? "(fresh, throwaway)" : "(given)"}`);
  await call("GET / answers", "GET", "/", { status: 200, contentType: "text/plain; charset=utf-8" });

  // The chain's tip: nil for a fresh client, else found by walking from nil.
  let tip: string = NIL_UUID;
  if (fresh) {
    await call("GetSnapshot of an unknown client is 404", "GET", pathOf("get-snapshot"), { status: 404 });
    await call("GetChildVersion of an unknown client is 404", "GET", pathOf("get-child-version", NIL_UUID), { status: 404 });
  } else {
    for (;;) {
      const r = await fetch(`${base}${pathOf("get-child-version", tip)}`, { headers: { [HEADER.clientId]: clientId } });
      await r.arrayBuffer();
      if (r.status !== 200) break;
      tip = r.headers.get(HEADER.versionId) ?? tip;
    }
  }

  const operations = { operations: [{ Create: { uuid: newUuid() } }] };
  const segment = cryptor.seal(tip, Buffer.from(JSON.stringify(operations)));
  const added = await call(
    "AddVersion is accepted",
    "POST",
    pathOf("add-version", tip),
    {
      status: 200,
      emptyBody: true,
      headers: { [HEADER.versionId]: UUID_HEADER, ...(fresh ? { [HEADER.snapshotRequest]: "urgency=high" } : {}) },
    },
    { body: segment, contentType: CONTENT_TYPE.historySegment },
  );
  const version = parseUuid(added.response?.headers.get(HEADER.versionId) ?? "") ?? newUuid();

  await call(
    "AddVersion on a stale parent is 409 naming the latest",
    "POST",
    pathOf("add-version", tip),
    { status: 409, emptyBody: true, headers: { [HEADER.parentVersionId]: version } },
    { body: cryptor.seal(tip, Buffer.from(JSON.stringify(operations))), contentType: CONTENT_TYPE.historySegment },
  );

  const child = await call("GetChildVersion returns the version", "GET", pathOf("get-child-version", tip), {
    status: 200,
    contentType: CONTENT_TYPE.historySegment,
    headers: { [HEADER.versionId]: version, [HEADER.parentVersionId]: tip },
  });
  verify(
    "the history segment comes back byte for byte and decrypts",
    decrypts(() => cryptor.unseal(tip, child.body), JSON.stringify(operations)),
    "it differs or does not decrypt",
  );

  await call("GetChildVersion of the latest is 404 (up to date)", "GET", pathOf("get-child-version", version), { status: 404 });
  await call("GetChildVersion of an unknown parent is 410", "GET", pathOf("get-child-version", newUuid()), { status: 410 });

  const database = JSON.stringify({ [newUuid()]: { description: "smoke test", status: "pending" } });
  // As a replica does it: a snapshot is stored only when the AddVersion's answer asked for one
  // (a fresh client always is; a reused one with a recent snapshot is not, and then it is not stored).
  const asked = (added.response?.headers.get(HEADER.snapshotRequest) ?? null) !== null;
  await call(
    asked ? "AddSnapshot (asked for) is accepted" : "AddSnapshot (not asked for) is answered 200",
    "POST",
    pathOf("add-snapshot", version),
    { status: 200, emptyBody: true },
    { body: cryptor.seal(version, deflateSync(database)), contentType: CONTENT_TYPE.snapshot },
  );
  if (asked) {
    const snapshot = await call("GetSnapshot returns it", "GET", pathOf("get-snapshot"), {
      status: 200,
      contentType: CONTENT_TYPE.snapshot,
      headers: { [HEADER.versionId]: version },
    });
    verify(
      "the snapshot comes back and decrypts",
      decrypts(() => inflateSync(cryptor.unseal(version, snapshot.body)), database),
      "it differs or does not decrypt",
    );
  } else {
    const kept = await call("GetSnapshot still returns the snapshot it had", "GET", pathOf("get-snapshot"), {
      status: 200,
      contentType: CONTENT_TYPE.snapshot,
      headers: { [HEADER.versionId]: UUID_HEADER },
    });
    verify(
      "the snapshot not asked for was not stored",
      kept.response?.headers.get(HEADER.versionId) !== version,
      "the server stored a snapshot it did not ask for",
    );
  }

  await call("a request without X-Client-Id is 400", "GET", pathOf("get-snapshot"), { status: 400 }, { clientId: null });
  await call(
    "AddVersion with a wrong Content-Type is 400",
    "POST",
    pathOf("add-version", version),
    { status: 400 },
    { body: segment, contentType: "application/octet-stream" },
  );

  const ok = checks.every((c) => c.ok);
  const timed = checks
    .filter((c) => c.status !== undefined)
    .map((c) => c.ms)
    .sort((a, b) => a - b);
  log(
    `${ok ? "PASSED" : "FAILED"}: ${checks.filter((c) => c.ok).length} of ${checks.length} checks; median call ${timed[Math.floor(timed.length / 2)]?.toFixed(0)} ms, slowest ${timed.at(-1)?.toFixed(0)} ms`,
  );
  return { ok, checks };
}

function decrypts(open: () => Uint8Array, expected: string): boolean {
  try {
    return Buffer.from(open()).toString("utf8") === expected;
  } catch {
    return false;
  }
}

/**
 * `npm run smoke -- --url <url>`, `taskchampion-sync-server-aws smoke --url <url>`: resolves
 * with the exit code (0 passed, 1 a deviation, 2 wrong arguments).
 */
export async function main(argv: readonly string[]): Promise<number> {
  const usage = "usage: smoke --url <server URL> [--client-id <dedicated smoke-test client id>]\n";
  let values: { url?: string | undefined; "client-id"?: string | undefined };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { url: { type: "string" }, "client-id": { type: "string" } } }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }
  if (!values.url) {
    process.stderr.write(usage);
    return 2;
  }
  if (values["client-id"] !== undefined && !parseUuid(values["client-id"])) {
    process.stderr.write("--client-id must be a UUID\n");
    return 2;
  }
  const { ok } = await runSmoke({ url: values.url, ...(values["client-id"] ? { clientId: values["client-id"] } : {}) });
  return ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await main(process.argv.slice(2)));
}
