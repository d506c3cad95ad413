/**
 * Measures the local server under the attacks its limits answer, for the README's figures:
 * peak memory while many connections each upload 4.4 MB to an unknown route or to AddVersion,
 * how long a body trickled a byte every 5 s holds its connection, and how many idle
 * connections it keeps open. Runs `bin/serve.ts` (memory storage) of a checkout as a child
 * process and reads its memory from /proc (Linux).
 *
 *   npx tsx test/server/measure-limits.ts [checkout, default this one] [flood|trickle|idle ...]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { connect, type Socket } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { upload } from "../support/raw-http.ts";

const [checkout = fileURLToPath(new URL("../..", import.meta.url)), ...chosen] = process.argv.slice(2);
const runs = chosen.length > 0 ? chosen : ["flood", "trickle", "idle"];
const CLIENT_ID = "6f0a4cbb-3c5e-4b7e-9a5c-4c3f1f0d2a11";
const NIL = "00000000-0000-0000-0000-000000000000";
const UPLOAD_BYTES = 4_400_000;

interface Server {
  child: ChildProcess;
  port: number;
}

function startServer(env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", "bin/serve.ts"], {
    cwd: resolve(checkout),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, STORAGE: "memory", LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((done, fail) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) done({ child, port: Number(match[1]) });
    });
    child.once("exit", (code) => fail(new Error(`server exited with ${code}: ${out}`)));
  });
}

function stopServer(server: Server): Promise<void> {
  return new Promise((done) => {
    server.child.once("exit", () => done());
    server.child.kill("SIGKILL");
  });
}

/** Resident and peak resident memory of a process, in MB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

function postHead(path: string, length: number): string {
  return [
    `POST ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: close",
    `X-Client-Id: ${CLIENT_ID}`,
    "Content-Type: application/vnd.taskchampion.history-segment",
    `Content-Length: ${length}`,
    "",
    "",
  ].join("\r\n");
}

async function flood(connections: number, path: string): Promise<void> {
  const server = await startServer();
  const before = memory(server.child.pid!);
  let peakDuring = before.rss;
  const sampler = setInterval(() => (peakDuring = Math.max(peakDuring, memory(server.child.pid!).rss)), 20);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: connections }, () => upload(server.port, postHead(path, UPLOAD_BYTES), UPLOAD_BYTES)),
  );
  clearInterval(sampler);
  const after = memory(server.child.pid!);
  const statuses = new Map<string, number>();
  for (const { status = "none" } of results) statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
  console.log(
    `flood ${connections} x ${UPLOAD_BYTES} B to ${path}: RSS ${before.rss} MB before, peak ${after.peak} MB, ${after.rss} MB after; ` +
      `${Math.round(performance.now() - started)} ms; answers ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  await stopServer(server);
}

/** A body declared as 100 bytes, sent a byte every 5 s: seconds until the server cuts it. */
async function trickle(): Promise<void> {
  const server = await startServer();
  const started = performance.now();
  const socket: Socket = connect(server.port, "127.0.0.1", () => socket.write(postHead(`/v1/client/add-version/${NIL}`, 100)));
  const timer = setInterval(() => socket.write("x"), 5000);
  let answer = "";
  socket.on("data", (data: Buffer) => (answer += data.toString("latin1")));
  socket.on("error", () => undefined);
  await new Promise((done) => socket.on("close", done));
  clearInterval(timer);
  console.log(
    `trickle: cut after ${Math.round((performance.now() - started) / 1000)} s, answer ${JSON.stringify(answer.split("\r\n")[0] ?? "")}`,
  );
  await stopServer(server);
}

/** 3,000 connections that send nothing: how many are still open after 3 s, and whether a request is served. */
async function idle(): Promise<void> {
  const server = await startServer();
  const sockets: Socket[] = [];
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: 3000 },
      () =>
        new Promise<void>((done) => {
          const socket = connect(server.port, "127.0.0.1", () => done());
          // Read, so that a close by the server is seen.
          socket.resume();
          socket.on("close", () => closed++);
          socket.on("error", () => done());
          sockets.push(socket);
        }),
    ),
  );
  await new Promise((done) => setTimeout(done, 3000));
  const open = sockets.length - closed;
  const served = await new Promise<string>((done) => {
    const request = get({ host: "127.0.0.1", port: server.port, path: "/", timeout: 5000 }, (response) => {
      response.resume();
      done(String(response.statusCode));
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 5 s")));
    request.on("error", (error: NodeJS.ErrnoException) => done(`failed (${error.code ?? error.message})`));
  });
  console.log(`idle: ${open} of 3000 connections open after 3 s; RSS ${memory(server.child.pid!).rss} MB; GET / meanwhile: ${served}`);
  for (const s of sockets) s.destroy();
  await stopServer(server);
}

for (const run of runs) {
  if (run === "flood") {
    for (const n of [40, 150]) {
      await flood(n, "/no/such/route");
      await flood(n, `/v1/client/add-version/${NIL}`);
    }
  } else if (run === "trickle") await trickle();
  else if (run === "idle") await idle();
  else throw new Error(`no measurement ${run}`);
}
