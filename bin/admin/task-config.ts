/** What a new user pastes into Taskwarrior: the server's URL, their client id and a fresh encryption secret. */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Uuid } from "../../lambda/uuid.ts";

/** 24 random bytes: 192 bits, as the local server's start-up lines suggest. */
export function newEncryptionSecret(): string {
  return randomBytes(24).toString("base64url");
}

export function taskConfigLines(url: string, clientId: Uuid, secret: string): string[] {
  return [
    `task config sync.server.url ${url}          # Taskwarrior 3.0: sync.server.origin`,
    `task config sync.server.client_id ${clientId}`,
    `task config sync.encryption_secret ${secret}`,
    "task sync",
  ];
}

/** The URL of a local server listening at `host:port`; a wildcard address is reached by the machine's name. */
export function localServerUrl(listen: { host: string; port: number }): string {
  const wildcard = listen.host === "0.0.0.0" || listen.host === "::";
  const host = wildcard ? hostname() : listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return `http://${host}:${listen.port}`;
}
