/**
 * The route table: the one list of what the server answers. The handler dispatches from it
 * (each route's function is in routes/) and the CDK construct declares exactly these routes on
 * API Gateway.
 */
export type RouteName = "root" | "add-version" | "get-child-version" | "add-snapshot" | "get-snapshot";

export interface Route {
  readonly name: RouteName;
  readonly method: "GET" | "POST";
  /** API Gateway's path template: `{name}` is one path segment. */
  readonly path: string;
}

export const ROUTES: readonly Route[] = [
  { name: "root", method: "GET", path: "/" },
  { name: "add-version", method: "POST", path: "/v1/client/add-version/{parentVersionId}" },
  { name: "get-child-version", method: "GET", path: "/v1/client/get-child-version/{parentVersionId}" },
  { name: "add-snapshot", method: "POST", path: "/v1/client/add-snapshot/{versionId}" },
  { name: "get-snapshot", method: "GET", path: "/v1/client/snapshot" },
];

/** The route's path with its one parameter (if it has one) filled in: what a client requests. */
export function pathOf(name: RouteName, param = ""): string {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route ${name}`);
  return route.path.replace(/\{\w+\}/, encodeURIComponent(param));
}

export type RouteMatch =
  | { kind: "route"; route: Route; params: Readonly<Record<string, string>> }
  | { kind: "method-not-allowed"; allow: readonly string[] }
  | { kind: "not-found" };

const compiled = ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path
    .split("/")
    .map((segment) => {
      const name = /^\{(\w+)\}$/.exec(segment)?.[1];
      if (name === undefined) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(name);
      return "([^/]+)";
    })
    .join("/");
  return { route, names, pattern: new RegExp(`^${source}$`) };
});

export function matchRoute(method: string, path: string): RouteMatch {
  const allow: string[] = [];
  for (const { route, names, pattern } of compiled) {
    const match = pattern.exec(path);
    if (!match) continue;
    if (route.method !== method) {
      allow.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    for (const [i, name] of names.entries()) params[name] = decodeSegment(match[i + 1] ?? "");
    return { kind: "route", route, params };
  }
  return allow.length > 0 ? { kind: "method-not-allowed", allow } : { kind: "not-found" };
}

/** A percent-decoded path segment; a malformed escape is left as it is (and fails validation). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
