/**
 * Loaded with `node --import` before a program: prints `loaded <url>` on stderr for each AWS SDK
 * module the program imports, so that a test can see which storage's code a process loaded.
 */
import { register } from "node:module";

const hooks = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes("/@aws-sdk/")) process.stderr.write("loaded " + resolved.url + "\\n");
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
