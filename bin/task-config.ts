/**
 * What a user pastes into Taskwarrior: the server's URL, their client id and an encryption
 * secret (the admin command prints real ones; the local server's start-up lines, commands that
 * make them).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** Encryption secrets are 24 random bytes (192 bits), made here or by the command below. */
const SECRET_BYTES = 24;

export function newEncryptionSecret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

/** A shell command that makes a secret of the same strength, for lines that must name none. */
export const NEW_SECRET_COMMAND = `"$(openssl rand -base64 ${SECRET_BYTES})"`;

export function taskConfigLines(url: string, clientId: string, secret: string): string[] {
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
