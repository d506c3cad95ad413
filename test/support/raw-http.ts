/** HTTP/1.1 over a bare socket, for tests that need byte-level control: what was sent, when, and what came back. */
import { connect, type Socket } from "node:net";

export interface RawConnection {
  socket: Socket;
  /** Everything the server wrote so far. */
  received(): string;
  /** Resolves once the server has written `pattern` (rejects after `withinMs`). */
  waitFor(pattern: RegExp, withinMs?: number): Promise<string>;
  /** Resolves with the milliseconds since the connection opened once the server closed it (rejects after `withinMs`). */
  closed(withinMs?: number): Promise<number>;
  /** Whether the server has closed the connection. */
  isClosed(): boolean;
}

/** Opens a connection and resolves once it is established. */
export function openRaw(port: number): Promise<RawConnection> {
  const opened = performance.now();
  const socket = connect(port, "127.0.0.1");
  let data = "";
  let closedAt: number | undefined;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  socket.on("data", (chunk: Buffer) => {
    data += chunk.toString("latin1");
    notify();
  });
  // A reset after the server's answer is how a refused upload may end; the test looks at the answer.
  socket.on("error", () => undefined);
  socket.on("close", () => {
    closedAt = performance.now() - opened;
    notify();
  });
  const until = <T>(check: () => T | undefined, withinMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const test = () => {
        const value = check();
        if (value === undefined) return;
        cleanup();
        resolve(value);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${what} within ${withinMs} ms; received so far: ${JSON.stringify(data.slice(0, 300))}`));
      }, withinMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(test);
      };
      waiters.add(test);
      test();
    });
  const connection: RawConnection = {
    socket,
    received: () => data,
    waitFor: (pattern, withinMs = 3000) => until(() => (pattern.test(data) ? data : undefined), withinMs, `no ${pattern}`),
    closed: (withinMs = 3000) => until(() => closedAt, withinMs, "not closed"),
    isClosed: () => closedAt !== undefined,
  };
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(connection));
    socket.once("error", reject);
  });
}

/** A request's head, CRLF-terminated, with Host. */
export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** The status of the first (or `index`th) response in `received`. */
export function statusOf(received: string, index = 0): number | undefined {
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  return statuses[index];
}

/**
 * One connection that sends `head` and then `bodyBytes` bytes as fast as it may, until the server
 * ends it: the status of its answer (undefined: none) and how many body bytes were written.
 */
export function upload(port: number, head: string, bodyBytes: number): Promise<{ status: number | undefined; sent: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    let answer = "";
    const pump = () => {
      while (sent < bodyBytes) {
        const piece = chunk.subarray(0, Math.min(chunk.length, bodyBytes - sent));
        sent += piece.length;
        if (!socket.write(piece)) return void socket.once("drain", pump);
      }
    };
    socket.on("connect", () => {
      socket.write(head);
      pump();
    });
    socket.on("data", (data: Buffer) => (answer += data.toString("latin1")));
    // The server has answered and closed: stop sending (a write still queued would hold the socket).
    socket.on("end", () => socket.destroy());
    // A reset after the answer is how a refused upload may end; the caller looks at the status.
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ status: statusOf(answer), sent }));
  });
}
